//! ICS subscription feeds on SQLite ([`crate::db::feeds`] is the interface).

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{
    DbError,
    feeds::{Feed, FeedAccess, FeedEvent},
};

const SELECT_FEED: &str =
    "SELECT f.id, f.tenant_id, f.provider_id, p.name, f.detail, f.created_at, f.rotated_at
     FROM feeds f LEFT JOIN providers p ON p.id = f.provider_id";

fn feed(r: &rusqlite::Row) -> rusqlite::Result<Feed> {
    let provider_id: Option<i64> = r.get(2)?;
    Ok(Feed {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        scope: Feed::scope_of(provider_id),
        provider_id,
        provider: r.get(3)?,
        detail: r.get(4)?,
        created_at: r.get(5)?,
        rotated_at: r.get(6)?,
    })
}

/// Stores a new feed of `tenant` (all providers when `provider_id` is `None`).
pub fn create(
    conn: &Connection,
    tenant: i64,
    provider_id: Option<i64>,
    detail: &str,
    secret_hash: &[u8; 32],
    now: i64,
) -> Result<Feed, DbError> {
    conn.execute(
        "INSERT INTO feeds (tenant_id, provider_id, detail, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tenant, provider_id, detail, secret_hash.as_slice(), now],
    )?;
    get(conn, tenant, conn.last_insert_rowid())
}

/// One feed of `tenant`.
pub fn get(conn: &Connection, tenant: i64, id: i64) -> Result<Feed, DbError> {
    conn.query_row(
        &format!("{SELECT_FEED} WHERE f.tenant_id = ?1 AND f.id = ?2"),
        params![tenant, id],
        feed,
    )
    .optional()?
    .ok_or(DbError::NotFound)
}

/// The tenant's feeds, oldest first.
pub fn list(conn: &Connection, tenant: i64) -> Result<Vec<Feed>, DbError> {
    let mut stmt = conn.prepare(&format!(
        "{SELECT_FEED} WHERE f.tenant_id = ?1 ORDER BY f.id"
    ))?;
    let rows = stmt.query_map([tenant], feed)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes a feed of `tenant`.
pub fn delete(conn: &Connection, tenant: i64, id: i64) -> Result<(), DbError> {
    match conn.execute(
        "DELETE FROM feeds WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id],
    )? {
        0 => Err(DbError::NotFound),
        _ => Ok(()),
    }
}

/// Gives a feed of `tenant` a new secret; the old one stops working with this statement.
pub fn rotate(
    conn: &Connection,
    tenant: i64,
    id: i64,
    secret_hash: &[u8; 32],
    now: i64,
) -> Result<Feed, DbError> {
    let n = conn.execute(
        "UPDATE feeds SET secret_hash = ?3, rotated_at = ?4 WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id, secret_hash.as_slice(), now],
    )?;
    if n == 0 {
        return Err(DbError::NotFound);
    }
    get(conn, tenant, id)
}

/// Feed `id` with its secret's hash and its tenant's name, for serving its URL.
pub fn for_url(conn: &Connection, id: i64) -> Result<Option<FeedAccess>, DbError> {
    Ok(conn
        .query_row(
            "SELECT f.id, f.tenant_id, f.provider_id, p.name, f.detail, f.created_at,
                    f.rotated_at, f.secret_hash, t.slug, t.name, t.horizon_days
             FROM feeds f JOIN tenants t ON t.id = f.tenant_id
             LEFT JOIN providers p ON p.id = f.provider_id WHERE f.id = ?1",
            [id],
            |r| {
                Ok(FeedAccess {
                    feed: feed(r)?,
                    secret_hash: r.get(7)?,
                    tenant_slug: r.get(8)?,
                    tenant_name: r.get(9)?,
                    horizon_days: r.get(10)?,
                })
            },
        )
        .optional()?)
}

/// The appointments of `tenant` (of one provider, when given) starting in `[from, to)`:
/// booked ones, holds not yet expired at `now`, and cancellations changed since
/// `cancelled_since`. Ordered by start, then id.
pub fn events(
    conn: &Connection,
    tenant: i64,
    provider_id: Option<i64>,
    (from, to): (i64, i64),
    cancelled_since: i64,
    now: i64,
) -> Result<Vec<FeedEvent>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, s.name, p.name, a.customer_name, a.customer_phone, a.start_at, a.end_at,
                a.status, a.sequence, a.updated_at, a.created_at
         FROM appointments a JOIN services s ON s.id = a.service_id JOIN providers p ON p.id = a.provider_id
         WHERE a.tenant_id = ?1 AND (?2 IS NULL OR a.provider_id = ?2)
           AND a.start_at >= ?3 AND a.start_at < ?4
           AND (a.status = 'booked'
                OR (a.status = 'held' AND a.hold_expires_at > ?6)
                OR (a.status = 'cancelled' AND a.updated_at >= ?5))
         ORDER BY a.start_at, a.id",
    )?;
    let rows = stmt.query_map(
        params![tenant, provider_id, from, to, cancelled_since, now],
        |r| {
            Ok(FeedEvent {
                id: r.get(0)?,
                service: r.get(1)?,
                provider: r.get(2)?,
                customer_name: r.get(3)?,
                customer_phone: r.get(4)?,
                start_at: r.get(5)?,
                end_at: r.get(6)?,
                status: r.get(7)?,
                sequence: r.get(8)?,
                updated_at: r.get(9)?,
                created_at: r.get(10)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}
