//! Document versions on SQLite ([`crate::db::documents`] is the interface).

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{DbError, documents::Version};

/// Records `body` as the newest version of `name`. When `on_disk` (the file being replaced
/// and its modification time) differs from the newest recorded version, it is recorded
/// first as a hand edit, so no version is lost. Returns the new version's id.
pub fn record(
    conn: &mut Connection,
    tenant_id: i64,
    name: &str,
    on_disk: Option<(&str, i64)>,
    body: &str,
    saved_by: &str,
    now: i64,
) -> Result<i64, DbError> {
    let tx = crate::db::begin(conn)?;
    if let Some((previous, modified)) = on_disk {
        let newest: Option<String> = tx
            .query_row(
                "SELECT body FROM texml_versions WHERE tenant_id = ?1 AND name = ?2
                 ORDER BY id DESC LIMIT 1",
                params![tenant_id, name],
                |r| r.get(0),
            )
            .optional()?;
        if newest.as_deref() != Some(previous) {
            tx.execute(
                "INSERT INTO texml_versions (tenant_id, name, body, saved_at, saved_by)
                 VALUES (?1, ?2, ?3, ?4, 'file')",
                params![tenant_id, name, previous, modified],
            )?;
        }
    }
    tx.execute(
        "INSERT INTO texml_versions (tenant_id, name, body, saved_at, saved_by)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tenant_id, name, body, now, saved_by],
    )?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(id)
}

/// Every recorded version of `name`, oldest first.
pub fn versions(conn: &Connection, tenant_id: i64, name: &str) -> Result<Vec<Version>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, body, saved_at, saved_by FROM texml_versions
         WHERE tenant_id = ?1 AND name = ?2 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![tenant_id, name], |r| {
        Ok(Version {
            id: r.get(0)?,
            name: r.get(1)?,
            body: r.get(2)?,
            saved_at: r.get(3)?,
            saved_by: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest version of every tenant's every document, with the tenant's slug.
pub fn newest(conn: &Connection) -> Result<Vec<(String, String, String)>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT t.slug, v.name, v.body FROM texml_versions v JOIN tenants t ON t.id = v.tenant_id
             WHERE v.id = (SELECT max(w.id) FROM texml_versions w
                           WHERE w.tenant_id = v.tenant_id AND w.name = v.name)
             ORDER BY t.slug, v.name",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether `body` is a recorded version of tenant `slug`'s document `name`.
pub fn recorded(conn: &Connection, slug: &str, name: &str, body: &str) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM texml_versions v JOIN tenants t ON t.id = v.tenant_id
                        WHERE t.slug = ?1 AND v.name = ?2 AND v.body = ?3)",
        params![slug, name, body],
        |r| r.get(0),
    )?)
}
