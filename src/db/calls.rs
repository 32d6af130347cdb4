//! Calls as Telnyx reports them: first seen at the voice URL, updated by status callbacks.

use rusqlite::{Connection, params};

use super::DbError;

/// Records that a call reached a tenant's line (idempotent per `CallSid`).
pub fn record_start(
    conn: &Connection,
    call_sid: &str,
    tenant_id: Option<i64>,
    from: Option<&str>,
    to: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO calls (call_sid, tenant_id, from_number, to_number, status, started_at)
         VALUES (?1, ?2, ?3, ?4, 'in-progress', ?5)
         ON CONFLICT (call_sid) DO NOTHING",
    )?
    .execute(params![call_sid, tenant_id, from, to, now])?;
    Ok(())
}

/// Calls that started within the last two hours and have not ended.
pub fn active(conn: &Connection, now: i64) -> Result<i64, DbError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM calls WHERE ended_at IS NULL AND started_at > ?1",
        [now - 7200],
        |r| r.get(0),
    )?)
}
