//! The operator console's reads: per-tenant counts for the first screen, a day's
//! appointments with whether a reminder went out, and the rows of the latest calls with
//! what the line answered at each step (read by `store.calls().latest`; the latest reminder
//! calls by `store.reminder_calls().latest`). Read-only; every query is bounded by tenant
//! and time or a limit.

use rusqlite::{Connection, params};

use super::DbError;

/// What happened at one tenant in `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Appointments booked (not held, not cancelled) that start in the range.
    pub bookings: i64,
    /// Calls that started in the range.
    pub calls: i64,
    /// Texts due in the range that failed.
    pub failed_texts: i64,
}

/// Counts for tenant `tenant` in `[from, to)` (Unix seconds).
pub fn day_counts(
    conn: &Connection,
    tenant: i64,
    from: i64,
    to: i64,
) -> Result<DayCounts, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT
               (SELECT COUNT(*) FROM appointments WHERE tenant_id = ?1 AND status = 'booked'
                  AND start_at >= ?2 AND start_at < ?3),
               (SELECT COUNT(*) FROM calls WHERE tenant_id = ?1
                  AND started_at >= ?2 AND started_at < ?3),
               (SELECT COUNT(*) FROM outbox WHERE tenant_id = ?1 AND status = 'failed'
                  AND due_at >= ?2 AND due_at < ?3)",
        )?
        .query_row(params![tenant, from, to], |r| {
            Ok(DayCounts {
                bookings: r.get(0)?,
                calls: r.get(1)?,
                failed_texts: r.get(2)?,
            })
        })?)
}

/// One appointment on the agenda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgendaItem {
    /// Row id.
    pub id: i64,
    /// Provider row id.
    pub provider_id: i64,
    /// Service name.
    pub service: String,
    /// Caller's name.
    pub customer_name: String,
    /// Caller's number.
    pub customer_phone: Option<String>,
    /// Unix seconds.
    pub start_at: i64,
    /// Unix seconds.
    pub end_at: i64,
    /// `held`, `booked` or `cancelled`.
    pub status: String,
    /// A reminder text about it was sent (or recorded in dry run).
    pub reminded: bool,
}

/// Tenant `tenant`'s appointments starting in `[from, to)`, cancelled ones included and
/// expired holds left out, by start.
pub fn agenda(
    conn: &Connection,
    tenant: i64,
    from: i64,
    to: i64,
    now: i64,
) -> Result<Vec<AgendaItem>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.provider_id, s.name, a.customer_name, a.customer_phone, a.start_at,
                a.end_at, a.status,
                EXISTS (SELECT 1 FROM outbox o WHERE o.appointment_id = a.id
                          AND o.kind = 'reminder' AND o.status IN ('sent', 'delivered', 'dry_run'))
         FROM appointments a JOIN services s ON s.id = a.service_id
         WHERE a.tenant_id = ?1 AND a.start_at >= ?2 AND a.start_at < ?3
           AND NOT (a.status = 'held' AND a.hold_expires_at <= ?4)
         ORDER BY a.start_at, a.id",
    )?;
    let rows = stmt.query_map(params![tenant, from, to, now], |r| {
        Ok(AgendaItem {
            id: r.get(0)?,
            provider_id: r.get(1)?,
            service: r.get(2)?,
            customer_name: r.get(3)?,
            customer_phone: r.get(4)?,
            start_at: r.get(5)?,
            end_at: r.get(6)?,
            status: r.get(7)?,
            reminded: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One call, with what it heard and said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    /// Telnyx's CallSid.
    pub call_sid: String,
    /// The caller, as sent (mask before showing).
    pub from_number: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Telnyx's last reported status.
    pub status: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Seconds, once the call ended.
    pub duration_seconds: Option<i64>,
    /// What the line said first (the greeting, or `closed.xml`); `None` for calls recorded
    /// before the line kept it.
    pub first_said: Option<String>,
    /// The documents the first answer was served from.
    pub documents: Option<String>,
    /// What the call settled (`call_outcome_sql!`), if anything.
    pub outcome: Option<String>,
    /// Every later turn, in the order they were stored.
    pub turns: Vec<TurnRow>,
}

/// One stored turn of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRow {
    /// What the caller said.
    pub heard: String,
    /// What the line said, a line per spoken part.
    pub said: String,
    /// What the turn settled (`db::calls::Outcome::as_str`), if anything.
    pub outcome: Option<String>,
    /// The documents the answer was served from.
    pub documents: Option<String>,
}
