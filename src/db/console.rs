//! The operator console's reads: per-tenant counts for the first screen, a day's
//! appointments with whether a reminder went out, the latest calls with what the line
//! answered at each step, and the latest reminder calls. Read-only; every query is bounded by tenant and time or a limit.

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

/// One call, with what is known of how it went.
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
    /// Status of the appointment this call booked, if any.
    pub appointment_status: Option<String>,
    /// The line offered the caller other times.
    pub offered: bool,
    /// What the line answered at each callback, oldest first: (step, TeXML).
    pub answers: Vec<(String, String)>,
    /// The document versions in effect when the call started: (name, version id).
    pub documents: Vec<(String, i64)>,
}

/// Tenant `tenant`'s latest `limit` calls, newest first.
pub fn calls(conn: &Connection, tenant: i64, limit: usize) -> Result<Vec<CallRow>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.call_sid, c.from_number, c.direction, c.status, c.started_at, c.duration_seconds,
                (SELECT a.status FROM appointments a WHERE a.tenant_id = c.tenant_id
                   AND a.call_sid = c.call_sid ORDER BY a.id DESC LIMIT 1),
                c.offered_at IS NOT NULL
         FROM calls c WHERE c.tenant_id = ?1 AND c.direction = 'inbound' ORDER BY c.started_at DESC, c.call_sid LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![tenant, limit as i64], |r| {
        Ok(CallRow {
            call_sid: r.get(0)?,
            from_number: r.get(1)?,
            direction: r.get(2)?,
            status: r.get(3)?,
            started_at: r.get(4)?,
            duration_seconds: r.get(5)?,
            appointment_status: r.get(6)?,
            offered: r.get(7)?,
            answers: Vec::new(),
            documents: Vec::new(),
        })
    })?;
    let mut calls: Vec<CallRow> = rows.collect::<Result<_, _>>()?;
    let mut answers = conn.prepare_cached(
        "SELECT step, answer FROM callback_answers WHERE call_sid = ?1 ORDER BY created_at, step",
    )?;
    for call in &mut calls {
        let rows = answers.query_map([&call.call_sid], |r| Ok((r.get(0)?, r.get(1)?)))?;
        call.answers = rows.collect::<Result<_, _>>()?;
        call.documents = versions_at(conn, tenant, call.started_at)?;
    }
    Ok(calls)
}

/// The newest version of each of tenant `tenant`'s documents saved at or before `at`
/// (Unix seconds): (document name, version id). A document without one is served from the
/// defaults.
pub fn versions_at(conn: &Connection, tenant: i64, at: i64) -> Result<Vec<(String, i64)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, MAX(id) FROM texml_versions WHERE tenant_id = ?1 AND saved_at <= ?2
         GROUP BY name ORDER BY name",
    )?;
    let rows = stmt.query_map(params![tenant, at], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Tenant `tenant`'s latest `limit` reminder-call attempts, newest first (dialled, or due
/// when never dialled), as the calls list shows them.
pub fn reminder_calls(
    conn: &Connection,
    tenant: i64,
    limit: usize,
) -> Result<Vec<super::reminder_calls::CallRow>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT call_sid, to_number, COALESCE(dialed_at, due_at), status, outcome, appointment_id,
                attempt, last_error, duration_seconds, answered_by, id
         FROM reminder_calls WHERE tenant_id = ?1
         ORDER BY COALESCE(dialed_at, due_at) DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![tenant, limit as i64], |r| {
        Ok(super::reminder_calls::CallRow {
            direction: "outbound",
            call_sid: r.get(0)?,
            number: r.get(1)?,
            at: r.get(2)?,
            status: r.get(3)?,
            outcome: r.get(4)?,
            appointment_id: r.get(5)?,
            attempt: r.get(6)?,
            reason: r.get(7)?,
            duration_seconds: r.get(8)?,
            answered_by: r.get(9)?,
            key: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
