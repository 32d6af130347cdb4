//! Queries behind readiness, metrics and the call funnel: read-only, each answered from an
//! index so a scrape or a `/ready` stays cheap on a full database.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;

/// The due time (Unix seconds) of the oldest text due by `now` and still queued.
pub fn oldest_due_text(conn: &Connection, now: i64) -> Result<Option<i64>, DbError> {
    Ok(conn
        .prepare_cached("SELECT MIN(due_at) FROM outbox WHERE status = 'queued' AND due_at <= ?1")?
        .query_row(params![now], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}
