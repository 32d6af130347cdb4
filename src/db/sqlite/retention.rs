//! Pruning on SQLite ([`crate::db::retention`] is the interface): each function removes
//! at most `limit` rows, oldest first along the index it names, in one short transaction.

use rusqlite::{Connection, params};

use crate::db::{DbError, retention::Step};

/// Runs `step`'s batch.
pub fn prune(
    conn: &mut Connection,
    step: Step,
    cutoff: i64,
    limit: usize,
) -> Result<usize, DbError> {
    let prune = match step {
        Step::CallbackAnswers => callback_answers,
        Step::MessagingEvents => messaging_events,
        Step::FinishedTexts => finished_texts,
        Step::Calls => calls,
        Step::CancelledAppointments => cancelled_appointments,
        Step::WebhookEvents => webhook_events,
        Step::ReminderCalls => reminder_calls,
    };
    prune(conn, cutoff, limit)
}

/// Stored gather answers created before `cutoff` (their state token has expired).
fn callback_answers(conn: &mut Connection, cutoff: i64, limit: usize) -> Result<usize, DbError> {
    delete_oldest(
        conn,
        "DELETE FROM callback_answers WHERE (call_sid, step) IN (SELECT call_sid, step
         FROM callback_answers INDEXED BY callback_answers_by_age
         WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
        cutoff,
        limit,
    )
}

/// Messaging webhook events handled before `cutoff`.
fn messaging_events(conn: &mut Connection, cutoff: i64, limit: usize) -> Result<usize, DbError> {
    delete_oldest(
        conn,
        "DELETE FROM messaging_events WHERE rowid IN (SELECT rowid FROM messaging_events
         INDEXED BY messaging_events_by_age WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)",
        cutoff,
        limit,
    )
}

/// Texts finished (sent, delivered, failed, dry run, skipped, cancelled) before `cutoff`;
/// queued and sending texts are never touched.
fn finished_texts(conn: &mut Connection, cutoff: i64, limit: usize) -> Result<usize, DbError> {
    delete_oldest(
        conn,
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox INDEXED BY outbox_finished
         WHERE status IN ('sent', 'delivered', 'failed', 'dry_run', 'skipped', 'cancelled')
           AND updated_at < ?1 ORDER BY updated_at LIMIT ?2)",
        cutoff,
        limit,
    )
}

/// Cancelled appointments that both started and were last changed before `cutoff` (with
/// their texts, by cascade). Booked ones are history and stay.
fn cancelled_appointments(
    conn: &mut Connection,
    cutoff: i64,
    limit: usize,
) -> Result<usize, DbError> {
    delete_oldest(
        conn,
        "DELETE FROM appointments WHERE id IN (SELECT id FROM appointments INDEXED BY appointments_cancelled
         WHERE status = 'cancelled' AND updated_at < ?1 AND start_at < ?1 ORDER BY updated_at LIMIT ?2)",
        cutoff,
        limit,
    )
}

/// Webhook events created before `cutoff` that no endpoint still waits for (every delivery
/// delivered or failed), with their deliveries and attempts by cascade. An event still
/// pending for a failing or disabled endpoint stays, so re-enabling it delivers it.
fn webhook_events(conn: &mut Connection, cutoff: i64, limit: usize) -> Result<usize, DbError> {
    delete_oldest(
        conn,
        "DELETE FROM webhook_events WHERE id IN (SELECT e.id FROM webhook_events e
         WHERE e.created_at < ?1
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d INDEXED BY webhook_deliveries_by_event
                           WHERE d.event_id = e.id AND d.status = 'pending')
         ORDER BY e.id LIMIT ?2)",
        cutoff,
        limit,
    )
}

/// Reminder-call attempts that ended (or never went) before `cutoff`; the appointment keeps
/// each attempt's outcome in its own `reminder_calls` list, and call opt-outs are kept for
/// good (they are not in this table).
fn reminder_calls(conn: &mut Connection, cutoff: i64, limit: usize) -> Result<usize, DbError> {
    delete_oldest(
        conn,
        "DELETE FROM reminder_calls WHERE id IN (SELECT id FROM reminder_calls
         WHERE status IN ('done', 'cancelled', 'skipped', 'failed', 'dry_run', 'unknown')
           AND updated_at < ?1 ORDER BY id LIMIT ?2)",
        cutoff,
        limit,
    )
}

/// Calls started before `cutoff`: the oldest `limit` (or a few more sharing the last
/// second) are added to their tenant's `call_days` and deleted, with their turns.
fn calls(conn: &mut Connection, cutoff: i64, limit: usize) -> Result<usize, DbError> {
    let tx = crate::db::begin(conn)?;
    // The batch is every call before `end`: the limit-th oldest call's second, plus one.
    let last: Option<i64> = tx
        .prepare_cached(
            "SELECT started_at FROM calls INDEXED BY calls_by_start WHERE started_at < ?1
             ORDER BY started_at LIMIT 1 OFFSET ?2",
        )?
        .query_row(params![cutoff, limit.saturating_sub(1) as i64], |r| {
            r.get(0)
        })
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let end = last.map_or(cutoff, |l| (l + 1).min(cutoff));
    tx.prepare_cached(
        "INSERT INTO call_days (tenant_id, day, calls, inbound, outbound, duration_sum,
                                duration_count, gathered, offered)
         SELECT tenant_id, started_at / 86400, COUNT(*),
                COALESCE(SUM(direction NOT LIKE 'outbound%'), 0),
                COALESCE(SUM(direction LIKE 'outbound%'), 0),
                COALESCE(SUM(duration_seconds), 0), COUNT(duration_seconds),
                COUNT(gathered_at), COUNT(offered_at)
         FROM calls INDEXED BY calls_by_start
         WHERE started_at < ?1 AND tenant_id IS NOT NULL
         GROUP BY tenant_id, started_at / 86400
         ON CONFLICT (tenant_id, day) DO UPDATE SET
           calls = calls + excluded.calls,
           inbound = inbound + excluded.inbound,
           outbound = outbound + excluded.outbound,
           duration_sum = duration_sum + excluded.duration_sum,
           duration_count = duration_count + excluded.duration_count,
           gathered = gathered + excluded.gathered,
           offered = offered + excluded.offered",
    )?
    .execute(params![end])?;
    tx.prepare_cached(
        "DELETE FROM call_turns WHERE call_sid IN
           (SELECT call_sid FROM calls INDEXED BY calls_by_start WHERE started_at < ?1)",
    )?
    .execute(params![end])?;
    let deleted = tx
        .prepare_cached("DELETE FROM calls WHERE started_at < ?1")?
        .execute(params![end])?;
    tx.commit()?;
    Ok(deleted)
}

fn delete_oldest(
    conn: &mut Connection,
    sql: &str,
    cutoff: i64,
    limit: usize,
) -> Result<usize, DbError> {
    let tx = crate::db::begin(conn)?;
    let n = tx
        .prepare_cached(sql)?
        .execute(params![cutoff, limit as i64])?;
    tx.commit()?;
    Ok(n)
}
