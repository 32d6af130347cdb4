//! The outbox's fault paths: texts whose send outcome is unknown (held, then matched to a
//! delivery webhook or failed, never re-sent blindly), the sweep of expired leases, pauses
//! after account-level refusals, and the per-destination daily count.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use crate::db::DbError;

/// Holds a claimed text whose send outcome is unknown (Telnyx may have it): it stays
/// `sending` (listed as `unknown`) and is never re-sent; a delivery webhook settles it
/// ([`adopt_held`]), else [`sweep_leases`] fails it after the hold.
pub fn hold_unknown(conn: &Connection, id: i64, now_ms: i64, reason: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE outbox SET unknown_since_ms = ?2, lease_until_ms = NULL, last_error = ?3,
            updated_at = ?4
         WHERE id = ?1 AND status = 'sending' AND telnyx_message_id IS NULL",
    )?
    .execute(params![id, now_ms, reason, Timestamp::now().as_second()])?;
    Ok(())
}

/// Puts a text that met an account-level refusal back in the queue, not counting the
/// attempt (the refusal is about the account, not the text).
pub fn requeue_paused(conn: &Connection, id: i64, reason: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE outbox SET status = 'queued', attempts = MAX(attempts - 1, 0), next_attempt_ms = 0,
            last_error = ?2, lease_until_ms = NULL, request_started_ms = NULL, updated_at = ?3
         WHERE id = ?1 AND status = 'sending'",
    )?
    .execute(params![id, reason, Timestamp::now().as_second()])?;
    Ok(())
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Lease-expired rows sent before the process stopped: now held as unknown.
    pub held: usize,
    /// Lease-expired rows never sent: queued again.
    pub requeued: usize,
    /// Rows failed: held past the hold, or put back `max_reclaims` times already.
    pub failed: usize,
}

/// Settles rows whose lease ran out (the process stopped mid-text) and held rows past
/// `hold_ms`. A lease-expired row whose request had started is held (Telnyx may have
/// it); one that never got as far is queued again, at most `max_reclaims` times.
pub fn sweep_leases(
    conn: &mut Connection,
    now_ms: i64,
    hold_ms: i64,
    max_reclaims: u32,
) -> Result<Swept, DbError> {
    let tx = crate::db::begin(conn)?;
    let now = Timestamp::now().as_second();
    let held = tx
        .prepare_cached(
            "UPDATE outbox SET unknown_since_ms = ?1, lease_until_ms = NULL, updated_at = ?2,
                last_error = 'outcome unknown: slotline stopped while Telnyx was being asked; held, not re-sent'
             WHERE status = 'sending' AND lease_until_ms <= ?1 AND request_started_ms IS NOT NULL",
        )?
        .execute(params![now_ms, now])?;
    let failed_reclaims = tx
        .prepare_cached(
            "UPDATE outbox SET status = 'failed', lease_until_ms = NULL, updated_at = ?2,
                last_error = 'given up: slotline stopped while handling this text ' || (reclaims + 1) || ' times'
             WHERE status = 'sending' AND lease_until_ms <= ?1 AND reclaims >= ?3",
        )?
        .execute(params![now_ms, now, max_reclaims])?;
    let requeued = tx
        .prepare_cached(
            "UPDATE outbox SET status = 'queued', reclaims = reclaims + 1, lease_until_ms = NULL,
                updated_at = ?2
             WHERE status = 'sending' AND lease_until_ms <= ?1",
        )?
        .execute(params![now_ms, now])?;
    let failed_held = tx
        .prepare_cached(
            "UPDATE outbox SET status = 'failed', updated_at = ?2,
                last_error = 'outcome unknown and no word from Telnyx within the hold; not re-sent, since Telnyx may have sent it (' || COALESCE(last_error, '') || ')'
             WHERE status = 'sending' AND unknown_since_ms IS NOT NULL AND unknown_since_ms <= ?1",
        )?
        .execute(params![now_ms - hold_ms, now])?;
    tx.commit()?;
    Ok(Swept {
        held,
        requeued,
        failed: failed_reclaims + failed_held,
    })
}

/// Gives the held (or in-flight) text that went `from` → `to` with exactly `text` the
/// Telnyx id `message_id` named by a delivery webhook, when no text has that id yet, and
/// makes it `sent` (the webhook's own status is applied after). The oldest such text
/// wins. Returns whether one was matched.
pub fn adopt_held(
    conn: &Connection,
    message_id: &str,
    to: &str,
    from: &str,
    text: &str,
) -> Result<bool, DbError> {
    let known: Option<i64> = conn
        .prepare_cached("SELECT id FROM outbox WHERE telnyx_message_id = ?1")?
        .query_row([message_id], |r| r.get(0))
        .optional()?;
    if known.is_some() {
        return Ok(false);
    }
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'sent', telnyx_message_id = ?1, unknown_since_ms = NULL,
                lease_until_ms = NULL, last_error = NULL, updated_at = ?5
             WHERE id = (SELECT id FROM outbox
                         WHERE status = 'sending' AND telnyx_message_id IS NULL
                           AND request_started_ms IS NOT NULL
                           AND to_number = ?2 AND from_number = ?3 AND text = ?4
                         ORDER BY request_started_ms, id LIMIT 1)",
        )?
        .execute(params![
            message_id,
            to,
            from,
            text,
            Timestamp::now().as_second()
        ])?;
    Ok(n > 0)
}

/// How many texts slotline asked Telnyx to send to `to` since `since_ms` (wall clock),
/// across tenants; sends Telnyx refused do not count.
pub fn sent_to_since(conn: &Connection, to: &str, since_ms: i64) -> Result<u32, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM outbox WHERE to_number = ?1 AND request_started_ms >= ?2",
        )?
        .query_row(params![to, since_ms], |r| r.get(0))?)
}

/// Records that sending is paused for `scope` ('' for all sending, else a messaging
/// profile id), with the reason shown on the queued texts.
pub fn set_pause(conn: &Connection, scope: &str, reason: &str, now_ms: i64) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO sms_pauses (scope, reason, since_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope) DO UPDATE SET reason = excluded.reason",
    )?
    .execute(params![scope, reason, now_ms])?;
    Ok(())
}

/// Lifts the pause of `scope`; returns whether there was one.
pub fn lift_pause(conn: &Connection, scope: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("DELETE FROM sms_pauses WHERE scope = ?1")?
        .execute([scope])?
        > 0)
}

/// Every pause in force: (scope, reason).
pub fn pauses(conn: &Connection) -> Result<Vec<(String, String)>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT scope, reason FROM sms_pauses ORDER BY scope")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
