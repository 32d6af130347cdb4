//! Pruning on PostgreSQL ([`crate::db::retention`] is the interface): the same batches as
//! SQLite's, each inside the caller's transaction.

use super::cached::Cached;
use deadpool_postgres::Transaction;

use crate::db::{DbError, retention::Step};

/// Runs `step`'s batch inside `tx`.
pub async fn prune(
    tx: &Transaction<'_>,
    step: Step,
    cutoff: i64,
    limit: usize,
) -> Result<usize, DbError> {
    let limit = limit as i64;
    let sql = match step {
        Step::CallbackAnswers => {
            "DELETE FROM callback_answers WHERE (call_sid, step) IN (SELECT call_sid, step
             FROM callback_answers WHERE created_at < $1 ORDER BY created_at LIMIT $2)"
        }
        Step::MessagingEvents => {
            "DELETE FROM messaging_events WHERE event_id IN (SELECT event_id FROM messaging_events
             WHERE received_at < $1 ORDER BY received_at LIMIT $2)"
        }
        Step::FinishedTexts => {
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
             WHERE status IN ('sent', 'delivered', 'failed', 'dry_run', 'skipped', 'cancelled')
               AND updated_at < $1 ORDER BY updated_at LIMIT $2)"
        }
        Step::CancelledAppointments => {
            "DELETE FROM appointments WHERE id IN (SELECT id FROM appointments
             WHERE status = 'cancelled' AND updated_at < $1 AND start_at < $1
             ORDER BY updated_at LIMIT $2)"
        }
        Step::WebhookEvents => {
            "DELETE FROM webhook_events WHERE id IN (SELECT e.id FROM webhook_events e
             WHERE e.created_at < $1
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                               WHERE d.event_id = e.id AND d.status = 'pending')
             ORDER BY e.id LIMIT $2)"
        }
        Step::ReminderCalls => {
            "DELETE FROM reminder_calls WHERE id IN (SELECT id FROM reminder_calls
             WHERE status IN ('done', 'cancelled', 'skipped', 'failed', 'dry_run', 'unknown')
               AND updated_at < $1 ORDER BY id LIMIT $2)"
        }
        Step::Calls => return calls(tx, cutoff, limit).await,
    };
    Ok(tx.execute(sql, &[&cutoff, &limit]).await? as usize)
}

/// Calls started before `cutoff`, the oldest `limit` (or a few more sharing the last
/// second), counted into `call_days` and deleted with their turns.
async fn calls(tx: &Transaction<'_>, cutoff: i64, limit: i64) -> Result<usize, DbError> {
    let last: Option<i64> = tx
        .query_opt_cached(
            "SELECT started_at FROM calls WHERE started_at < $1
             ORDER BY started_at LIMIT 1 OFFSET $2",
            &[&cutoff, &(limit - 1).max(0)],
        )
        .await?
        .map(|r| r.get(0));
    let end = last.map_or(cutoff, |l| (l + 1).min(cutoff));
    tx.execute_cached(
        "INSERT INTO call_days AS d (tenant_id, day, calls, inbound, outbound, duration_sum,
                                     duration_count, gathered, offered)
         SELECT tenant_id, started_at / 86400, COUNT(*),
                COUNT(*) FILTER (WHERE direction NOT LIKE 'outbound%'),
                COUNT(*) FILTER (WHERE direction LIKE 'outbound%'),
                COALESCE(SUM(duration_seconds), 0), COUNT(duration_seconds),
                COUNT(gathered_at), COUNT(offered_at)
         FROM calls
         WHERE started_at < $1 AND tenant_id IS NOT NULL
         GROUP BY tenant_id, started_at / 86400
         ON CONFLICT (tenant_id, day) DO UPDATE SET
           calls = d.calls + excluded.calls,
           inbound = d.inbound + excluded.inbound,
           outbound = d.outbound + excluded.outbound,
           duration_sum = d.duration_sum + excluded.duration_sum,
           duration_count = d.duration_count + excluded.duration_count,
           gathered = d.gathered + excluded.gathered,
           offered = d.offered + excluded.offered",
        &[&end],
    )
    .await?;
    tx.execute_cached(
        "DELETE FROM call_turns WHERE call_sid IN (SELECT call_sid FROM calls WHERE started_at < $1)",
        &[&end],
    )
    .await?;
    Ok(tx
        .execute_cached("DELETE FROM calls WHERE started_at < $1", &[&end])
        .await? as usize)
}
