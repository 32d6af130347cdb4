//! The history of a tenant's wording (`wording_versions`): every set of wording fields a
//! create or change left, with when and by whom, newest last.

use rusqlite::{Connection, params};

use super::DbError;

/// Versions the console lists.
pub const LISTED: usize = 20;

/// One saved version of a tenant's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Row id; grows with every change.
    pub id: i64,
    /// The wording fields as a JSON object (`null`: the default).
    pub body: String,
    /// Unix seconds.
    pub saved_at: i64,
    /// `admin`, `admin (label)` from `X-Slotline-Actor`, `console`, or a restore.
    pub saved_by: String,
}

/// Records `body` as tenant `tenant`'s newest wording, unless it is the newest already;
/// inside the caller's transaction (the one that changed the tenant).
pub fn record(
    conn: &Connection,
    tenant: i64,
    body: &str,
    by: &str,
    now: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO wording_versions (tenant_id, body, saved_at, saved_by)
         SELECT ?1, ?2, ?3, ?4
         WHERE ?2 IS NOT (SELECT body FROM wording_versions WHERE tenant_id = ?1
                          ORDER BY id DESC LIMIT 1)",
    )?
    .execute(params![tenant, body, now, by])?;
    Ok(())
}

/// Tenant `tenant`'s latest [`LISTED`] wording versions, newest first.
pub fn versions(conn: &Connection, tenant: i64) -> Result<Vec<Version>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, body, saved_at, saved_by FROM wording_versions WHERE tenant_id = ?1
         ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![tenant, LISTED as i64], version_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A row of `SELECT id, body, saved_at, saved_by FROM wording_versions`.
fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Version> {
    Ok(Version {
        id: r.get(0)?,
        body: r.get(1)?,
        saved_at: r.get(2)?,
        saved_by: r.get(3)?,
    })
}

/// Version `id` of tenant `tenant`'s wording, if it has one.
pub fn version(conn: &Connection, tenant: i64, id: i64) -> Result<Option<Version>, DbError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT id, body, saved_at, saved_by FROM wording_versions
             WHERE tenant_id = ?1 AND id = ?2",
        )?
        .query_row(params![tenant, id], version_row)
        .optional()?)
}
