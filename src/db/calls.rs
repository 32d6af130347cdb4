//! Calls as Telnyx reports them: first seen at the voice URL, updated by status callbacks.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;

/// Records that a call reached a tenant's line (idempotent per `CallSid`). Starts are
/// written in batches after the call has begun, so the call's first gather answer (the
/// funnel's "gathered") or its alternatives ("offered", [`mark_offered`]) may already be
/// in: the first is read from the stored answers, the second kept from the row
/// `mark_offered` made.
pub fn record_start(
    conn: &Connection,
    call_sid: &str,
    tenant_id: Option<i64>,
    from: Option<&str>,
    to: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO calls (call_sid, tenant_id, from_number, to_number, status, started_at, gathered_at)
         VALUES (?1, ?2, ?3, ?4, 'in-progress', ?5,
                 (SELECT MIN(created_at) FROM callback_answers WHERE call_sid = ?1))
         ON CONFLICT (call_sid) DO UPDATE SET
             tenant_id = COALESCE(calls.tenant_id, excluded.tenant_id),
             from_number = COALESCE(calls.from_number, excluded.from_number),
             to_number = COALESCE(calls.to_number, excluded.to_number),
             started_at = MIN(calls.started_at, excluded.started_at),
             gathered_at = COALESCE(calls.gathered_at, excluded.gathered_at)
         WHERE calls.tenant_id IS NULL",
    )?
    .execute(params![call_sid, tenant_id, from, to, now])?;
    Ok(())
}

/// Records a batch of call starts in one transaction (idempotent per `CallSid`).
pub fn record_starts(
    conn: &mut Connection,
    starts: &[crate::calllog::CallStart],
) -> Result<(), DbError> {
    let tx = crate::db::begin(conn)?;
    for s in starts {
        record_start(
            &tx,
            &s.call_sid,
            Some(s.tenant_id),
            s.from.as_deref(),
            s.to.as_deref(),
            s.at,
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Marks that call `call_sid` was offered alternatives (first time only), for the funnel.
/// The call's start may not be written yet (starts go in batches): then a row without a
/// tenant holds the mark until [`record_start`] fills it in.
pub fn mark_offered(conn: &Connection, call_sid: &str, now: i64) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO calls (call_sid, status, started_at, offered_at) VALUES (?1, 'in-progress', ?2, ?2)
         ON CONFLICT (call_sid) DO UPDATE SET offered_at = ?2 WHERE calls.offered_at IS NULL",
    )?
    .execute(params![call_sid, now])?;
    Ok(())
}

/// A status callback's facts (PROTOCOL.md §4).
#[derive(Debug, Clone, Default)]
pub struct StatusUpdate {
    /// The call.
    pub call_sid: String,
    /// `initiated`, `ringing`, `in-progress`, `completed`, `busy`, `no-answer`, `canceled`, `failed`.
    pub status: String,
    /// Seconds, on the final callback.
    pub duration_seconds: Option<i64>,
    /// `inbound`, or `outbound…` for calls slotline did not answer itself.
    pub direction: Option<String>,
    /// Caller, as sent.
    pub from: Option<String>,
    /// Dialled number, normalised when it parses (finds the tenant for calls never seen).
    pub to: Option<String>,
}

/// True for statuses after which a call is over.
pub fn is_final(status: &str) -> bool {
    matches!(
        status,
        "completed" | "busy" | "no-answer" | "canceled" | "failed"
    )
}

/// Records a status callback; a call not seen at the voice URL is created, its tenant found
/// by the dialled number. Out-of-order callbacks never reopen an ended call. The callback
/// that ends a call queues `call.completed` in the same transaction.
pub fn record_status(conn: &mut Connection, u: &StatusUpdate, now: i64) -> Result<(), DbError> {
    let tx = crate::db::begin(conn)?;
    let ended_before: Option<Option<i64>> = tx
        .prepare_cached("SELECT ended_at FROM calls WHERE call_sid = ?1")?
        .query_row([&u.call_sid], |r| r.get(0))
        .optional()?;
    let ended = is_final(&u.status).then_some(now);
    tx.prepare_cached(
        "INSERT INTO calls (call_sid, tenant_id, from_number, to_number, direction, status, started_at, ended_at, duration_seconds)
         VALUES (?1, (SELECT id FROM tenants WHERE phone_number = ?4), ?3, ?4, COALESCE(?5, 'inbound'), ?2, ?6, ?7, ?8)
         ON CONFLICT (call_sid) DO UPDATE SET
           status = CASE WHEN calls.ended_at IS NULL OR excluded.ended_at IS NOT NULL THEN excluded.status ELSE calls.status END,
           direction = COALESCE(?5, calls.direction),
           ended_at = COALESCE(calls.ended_at, excluded.ended_at),
           duration_seconds = COALESCE(excluded.duration_seconds, calls.duration_seconds)",
    )?
    .execute(params![u.call_sid, u.status, u.from, u.to, u.direction, now, ended, u.duration_seconds])?;
    if ended.is_some() && ended_before.flatten().is_none() {
        super::webhooks::call_event(&tx, &u.call_sid, now)?;
    }
    tx.commit()?;
    Ok(())
}

/// Call and booking figures of one tenant over `[from, to)`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CallStats {
    /// Calls that started in the period.
    pub total_calls: i64,
    /// Mean duration of the calls with a known duration.
    pub avg_duration_seconds: Option<f64>,
    /// Inbound calls.
    pub inbound: i64,
    /// Outbound calls.
    pub outbound: i64,
    /// Calls per quarter hour, as (Unix seconds of the quarter's start, count), for the
    /// peak hour in the tenant's zone: every zone's offset is a whole number of quarter
    /// hours, so each quarter lies inside one local hour. A year is at most 35,040 rows,
    /// however many calls it held.
    #[serde(skip)]
    pub calls_per_quarter: Vec<(i64, i64)>,
    /// Appointments booked in the period (still booked or since cancelled).
    pub bookings: i64,
    /// Of those, booked by a phone call.
    pub bookings_by_phone: i64,
    /// Of those, cancelled since.
    pub cancelled: i64,
}

/// Figures for the stats endpoint.
pub fn stats(conn: &Connection, tenant: i64, from: i64, to: i64) -> Result<CallStats, DbError> {
    let mut s = conn.query_row(
        "SELECT COUNT(*), AVG(duration_seconds),
                COALESCE(SUM(direction NOT LIKE 'outbound%'), 0), COALESCE(SUM(direction LIKE 'outbound%'), 0)
         FROM calls WHERE tenant_id = ?1 AND started_at >= ?2 AND started_at < ?3",
        params![tenant, from, to],
        |r| {
            Ok(CallStats {
                total_calls: r.get(0)?,
                avg_duration_seconds: r.get(1)?,
                inbound: r.get(2)?,
                outbound: r.get(3)?,
                ..CallStats::default()
            })
        },
    )?;
    // Calls past retention live on as daily counts (whole UTC days).
    let (days_calls, days_in, days_out, days_sum, days_n): (i64, i64, i64, i64, i64) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(calls), 0), COALESCE(SUM(inbound), 0), COALESCE(SUM(outbound), 0),
                    COALESCE(SUM(duration_sum), 0), COALESCE(SUM(duration_count), 0)
             FROM call_days WHERE tenant_id = ?1 AND day >= ?2 / 86400 AND day < (?3 + 86399) / 86400",
        )?
        .query_row(params![tenant, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
    if days_calls > 0 {
        let live_n = conn.query_row(
            "SELECT COUNT(duration_seconds) FROM calls WHERE tenant_id = ?1 AND started_at >= ?2 AND started_at < ?3",
            params![tenant, from, to],
            |r| r.get::<_, i64>(0),
        )?;
        let live_sum = s.avg_duration_seconds.unwrap_or(0.0) * live_n as f64;
        let n = live_n + days_n;
        s.avg_duration_seconds = (n > 0).then(|| (live_sum + days_sum as f64) / n as f64);
        s.total_calls += days_calls;
        s.inbound += days_in;
        s.outbound += days_out;
    }
    s.calls_per_quarter = conn
        .prepare_cached(
            "SELECT (started_at / 900) * 900, COUNT(*) FROM calls
             WHERE tenant_id = ?1 AND started_at >= ?2 AND started_at < ?3 GROUP BY 1",
        )?
        .query_map(params![tenant, from, to], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    (s.bookings, s.bookings_by_phone, s.cancelled) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(call_sid IS NOT NULL), 0), COALESCE(SUM(status = 'cancelled'), 0)
         FROM appointments WHERE tenant_id = ?1 AND status IN ('booked', 'cancelled') AND created_at >= ?2 AND created_at < ?3",
        params![tenant, from, to],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_gathered_and_offered_before_its_start_is_written_keeps_both_marks() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrations::apply(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO tenants (id, slug, name, phone_number, timezone, voice, greeting, slot_minutes,
                min_notice_minutes, horizon_days, buffer_minutes, reminder_hours, max_attempts, created_at, updated_at)
             VALUES (1, 't', 'T', '+13125550100', 'UTC', 'v', 'g', 15, 0, 30, 0, '[]', 3, 0, 0);
             INSERT INTO callback_answers (call_sid, step, answer, created_at) VALUES ('v3:early', 'g1', '<Response/>', 105);",
        )
        .unwrap();
        mark_offered(&conn, "v3:early", 106).unwrap();
        // The batched start arrives last, with the time the call really began.
        record_start(&conn, "v3:early", Some(1), Some("+13125550199"), None, 100).unwrap();
        let row: (Option<i64>, i64, Option<i64>, Option<i64>, Option<String>) = conn
            .query_row(
                "SELECT tenant_id, started_at, gathered_at, offered_at, from_number FROM calls WHERE call_sid = 'v3:early'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(
            row,
            (
                Some(1),
                100,
                Some(105),
                Some(106),
                Some("+13125550199".into())
            )
        );
        // A second start (a retried voice request) changes nothing.
        record_start(&conn, "v3:early", Some(1), Some("+10000000000"), None, 200).unwrap();
        let from: String = conn
            .query_row(
                "SELECT from_number FROM calls WHERE call_sid = 'v3:early'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(from, "+13125550199");
    }
}
