//! Webhook endpoints on SQLite ([`crate::db::webhooks`] is the interface).

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{DbError, webhooks::Endpoint};

const SELECT_ENDPOINT: &str = "SELECT id, url, events, created_at, failing_since_ms, disabled_at, disabled_reason FROM webhook_endpoints";

fn endpoint(r: &rusqlite::Row) -> rusqlite::Result<Endpoint> {
    let events: String = r.get(2)?;
    Ok(Endpoint {
        id: r.get(0)?,
        url: r.get(1)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        created_at: r.get(3)?,
        failing_since_ms: r.get(4)?,
        disabled_at: r.get(5)?,
        disabled_reason: r.get(6)?,
    })
}

/// Stores an endpoint of `tenant`.
pub fn create_endpoint(
    conn: &Connection,
    tenant: i64,
    url: &str,
    events: &[String],
    secret: &str,
    now: i64,
) -> Result<Endpoint, DbError> {
    let events = serde_json::to_string(events).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO webhook_endpoints (tenant_id, url, events, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tenant, url, events, secret, now],
    )?;
    get_endpoint(conn, tenant, conn.last_insert_rowid())
}

/// One endpoint of `tenant`.
pub fn get_endpoint(conn: &Connection, tenant: i64, id: i64) -> Result<Endpoint, DbError> {
    conn.query_row(
        &format!("{SELECT_ENDPOINT} WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant, id],
        endpoint,
    )
    .optional()?
    .ok_or(DbError::NotFound)
}

/// The tenant's endpoints, oldest first.
pub fn list_endpoints(conn: &Connection, tenant: i64) -> Result<Vec<Endpoint>, DbError> {
    let mut stmt = conn.prepare(&format!(
        "{SELECT_ENDPOINT} WHERE tenant_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([tenant], endpoint)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes an endpoint of `tenant` with its queue and history.
pub fn delete_endpoint(conn: &Connection, tenant: i64, id: i64) -> Result<(), DbError> {
    match conn.execute(
        "DELETE FROM webhook_endpoints WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id],
    )? {
        0 => Err(DbError::NotFound),
        _ => Ok(()),
    }
}

/// Gives an endpoint a new secret; deliveries from now on are signed with it.
pub fn rotate_endpoint(
    conn: &Connection,
    tenant: i64,
    id: i64,
    secret: &str,
) -> Result<Endpoint, DbError> {
    match conn.execute(
        "UPDATE webhook_endpoints SET secret = ?3 WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id, secret],
    )? {
        0 => Err(DbError::NotFound),
        _ => get_endpoint(conn, tenant, id),
    }
}

/// Enables a disabled endpoint of `tenant` again and forgets its failure streak; its
/// pending deliveries go out again, each until its own retry period ends.
pub fn enable_endpoint(conn: &Connection, tenant: i64, id: i64) -> Result<Endpoint, DbError> {
    match conn.execute(
        "UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, failing_since_ms = NULL
         WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id],
    )? {
        0 => Err(DbError::NotFound),
        _ => get_endpoint(conn, tenant, id),
    }
}
