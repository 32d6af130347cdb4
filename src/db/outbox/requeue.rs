//! Requeueing a failed text by an operator's decision: the text goes back to `queued`
//! with its attempts, lease and unknown-outcome marks cleared, so the worker sends it
//! again as if it were new. Only a `failed` text can be requeued; a text that is still
//! being tried, was delivered, or was withdrawn is left alone.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::DbError;

/// Requeues failed text `id` of `tenant` at `now` (Unix seconds). `NotFound` when the
/// tenant has no such text; `Conflict` (field `status`) when it is not failed.
pub fn requeue_failed(conn: &Connection, tenant: i64, id: i64, now: i64) -> Result<(), DbError> {
    let status: Option<String> = conn
        .query_row(
            "SELECT status FROM outbox WHERE id = ?1 AND tenant_id = ?2",
            params![id, tenant],
            |r| r.get(0),
        )
        .optional()?;
    match status.as_deref() {
        None => Err(DbError::NotFound),
        Some("failed") => {
            // The status check is repeated in the UPDATE: a text changed in between is
            // not touched.
            let changed = conn
                .prepare_cached(
                    "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_ms = 0,
                        lease_until_ms = NULL, request_started_ms = NULL, unknown_since_ms = NULL,
                        reclaims = 0, last_error = 'requeued by an operator', updated_at = ?3
                     WHERE id = ?1 AND tenant_id = ?2 AND status = 'failed'",
                )?
                .execute(params![id, tenant, now])?;
            if changed == 1 {
                Ok(())
            } else {
                Err(DbError::Conflict(
                    "status: the text changed while it was being requeued; reload and retry".into(),
                ))
            }
        }
        Some(other) => Err(DbError::Conflict(format!(
            "status: the text is {other}; only failed texts can be requeued"
        ))),
    }
}
