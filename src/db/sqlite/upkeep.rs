//! Upkeep queries on SQLite ([`crate::db::upkeep`] is the interface).

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{
    DbError,
    upkeep::{DELIVERY_STATUSES, Funnel, Queues, REMINDER_CALL_STATUSES, TEXT_STATUSES},
};

/// Every queue's size by status, and the oldest due text.
pub fn queues(conn: &Connection, now: i64) -> Result<Queues, DbError> {
    Ok(Queues {
        texts: texts_by_status(conn)?,
        oldest_due_text: oldest_due_text(conn, now)?,
        deliveries: deliveries_by_status(conn)?,
        reminder_calls: reminder_calls_by_status(conn)?,
    })
}

/// The due time (Unix seconds) of the oldest text due by `now` and still queued.
pub fn oldest_due_text(conn: &Connection, now: i64) -> Result<Option<i64>, DbError> {
    Ok(conn
        .prepare_cached("SELECT MIN(due_at) FROM outbox WHERE status = 'queued' AND due_at <= ?1")?
        .query_row(params![now], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}

/// Texts in the outbox per status (counted along the `outbox_due` index).
fn texts_by_status(conn: &Connection) -> Result<Vec<(&'static str, i64)>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT COUNT(*) FROM outbox WHERE status = ?1")?;
    TEXT_STATUSES
        .iter()
        .map(|s| Ok((*s, stmt.query_row(params![s], |r| r.get(0))?)))
        .collect()
}

/// How many webhook deliveries are in each of [`DELIVERY_STATUSES`] (along
/// `webhook_deliveries_pending`, which leads with the status).
fn deliveries_by_status(conn: &Connection) -> Result<Vec<(&'static str, i64)>, DbError> {
    let mut stmt =
        conn.prepare_cached("SELECT COUNT(*) FROM webhook_deliveries WHERE status = ?1")?;
    DELIVERY_STATUSES
        .iter()
        .map(|s| Ok((*s, stmt.query_row(params![s], |r| r.get(0))?)))
        .collect()
}

/// How many reminder-call attempts are in each of [`REMINDER_CALL_STATUSES`] (along
/// `reminder_calls_due`, which leads with the status).
fn reminder_calls_by_status(conn: &Connection) -> Result<Vec<(&'static str, i64)>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT COUNT(*) FROM reminder_calls WHERE status = ?1")?;
    REMINDER_CALL_STATUSES
        .iter()
        .map(|s| Ok((*s, stmt.query_row(params![s], |r| r.get(0))?)))
        .collect()
}

/// The funnel of `tenant`'s calls that started in `[from, to)` (with `call_days` for calls
/// past retention) and of the appointments booked by phone in the same period.
pub fn funnel(conn: &Connection, tenant: i64, from: i64, to: i64) -> Result<Funnel, DbError> {
    let mut f = conn
        .prepare_cached(
            "SELECT COUNT(*), COUNT(gathered_at), COUNT(offered_at) FROM calls
             WHERE tenant_id = ?1 AND started_at >= ?2 AND started_at < ?3
               AND direction NOT LIKE 'outbound%'",
        )?
        .query_row(params![tenant, from, to], |r| {
            Ok(Funnel {
                calls: r.get(0)?,
                gathered: r.get(1)?,
                offered: r.get(2)?,
                ..Funnel::default()
            })
        })?;
    let (calls, gathered, offered): (i64, i64, i64) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(inbound), 0), COALESCE(SUM(gathered), 0), COALESCE(SUM(offered), 0)
             FROM call_days WHERE tenant_id = ?1 AND day >= ?2 / 86400 AND day < (?3 + 86399) / 86400",
        )?
        .query_row(params![tenant, from, to], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    f.calls += calls;
    f.gathered += gathered;
    f.offered += offered;
    (f.booked, f.texted, f.delivered) = conn
        .prepare_cached(
            // Each booking's confirmation is found along outbox_by_appointment (named: a
            // planner that saw mostly NULL appointment ids once chose to scan the outbox
            // per booking, 1.8 s on a full database).
            "SELECT COUNT(DISTINCT a.call_sid),
                    COALESCE(SUM(EXISTS (SELECT 1 FROM outbox o INDEXED BY outbox_by_appointment
                        WHERE o.appointment_id = a.id AND o.kind = 'confirmation'
                          AND o.status IN ('sent', 'delivered', 'dry_run'))), 0),
                    COALESCE(SUM(EXISTS (SELECT 1 FROM outbox o INDEXED BY outbox_by_appointment
                        WHERE o.appointment_id = a.id AND o.kind = 'confirmation'
                          AND o.status = 'delivered')), 0)
             FROM appointments a INDEXED BY appointments_by_tenant
             WHERE a.tenant_id = ?1 AND a.call_sid IS NOT NULL AND a.status IN ('booked', 'cancelled')
               AND a.created_at >= ?2 AND a.created_at < ?3",
        )?
        .query_row(params![tenant, from, to], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(f)
}
