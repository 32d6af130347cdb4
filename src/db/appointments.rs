//! Appointments and the overlap guard. Booking writes the appointment and one
//! `appointment_cells` row per occupied 5-minute cell in one IMMEDIATE transaction; the
//! cells' primary key (provider, cell) makes SQLite refuse any overlap, so two concurrent
//! callers can never both get a slot, whatever the Rust code above believes.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::{DbError, is_unique_violation};

/// Seconds per overlap cell (see `domain::tenant::CELL_MINUTES`).
pub const CELL_SECONDS: i64 = 300;

/// An appointment about to be booked. Instants are Unix seconds.
#[derive(Debug, Clone)]
pub struct NewAppointment {
    /// Owning tenant.
    pub tenant_id: i64,
    /// Service booked.
    pub service_id: i64,
    /// Provider booked.
    pub provider_id: i64,
    /// Caller's name.
    pub customer_name: String,
    /// E.164 number for texts, if known.
    pub customer_phone: Option<String>,
    /// Start.
    pub start: i64,
    /// End of the service.
    pub end: i64,
    /// End of the buffer after it; the provider is busy until then.
    pub blocked_until: i64,
    /// The call that booked it.
    pub call_sid: Option<String>,
    /// Texts to queue with the booking, in the same transaction (see
    /// `sms::reminders::plan_texts`); empty queues nothing.
    pub texts: Vec<crate::sms::PlannedText>,
}

/// What happened to a booking attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookOutcome {
    /// Booked, with the new appointment id.
    Booked(i64),
    /// Another appointment holds part of that time.
    Taken,
    /// This callback was answered before (a retry); here is that answer.
    AlreadyAnswered(String),
}

/// The cells `[start, blocked_until)` occupies.
fn cells(start: i64, blocked_until: i64) -> std::ops::Range<i64> {
    start.div_euclid(CELL_SECONDS)..(blocked_until + CELL_SECONDS - 1).div_euclid(CELL_SECONDS)
}

/// Books `appt` unless its time is taken. When `answer` is given as (call_sid, step,
/// document), the TeXML answer is stored in the same transaction, and a callback already
/// answered returns that answer instead of booking again.
pub fn book(
    conn: &mut Connection,
    appt: &NewAppointment,
    answer: Option<(&str, &str, &str)>,
) -> Result<BookOutcome, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some((sid, step, _)) = answer
        && let Some(previous) = callback_answer(&tx, sid, step)?
    {
        return Ok(BookOutcome::AlreadyAnswered(previous));
    }
    let now = jiff::Timestamp::now().as_second();
    tx.execute(
        "INSERT INTO appointments (tenant_id, service_id, provider_id, customer_name, customer_phone,
            start_at, end_at, blocked_until, status, call_sid, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'booked', ?9, ?10)",
        params![
            appt.tenant_id, appt.service_id, appt.provider_id, appt.customer_name,
            appt.customer_phone, appt.start, appt.end, appt.blocked_until, appt.call_sid, now,
        ],
    )?;
    let id = tx.last_insert_rowid();
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO appointment_cells (provider_id, cell, appointment_id) VALUES (?1, ?2, ?3)",
        )?;
        for cell in cells(appt.start, appt.blocked_until) {
            match stmt.execute(params![appt.provider_id, cell, id]) {
                Ok(_) => {}
                // Dropping `tx` rolls the appointment back.
                Err(e) if is_unique_violation(&e) => return Ok(BookOutcome::Taken),
                Err(e) => return Err(e.into()),
            }
        }
    }
    super::outbox::queue_planned(&tx, appt.tenant_id, id, &appt.texts, now)?;
    if let Some((sid, step, doc)) = answer {
        store_answer(&tx, sid, step, doc)?;
    }
    tx.commit()?;
    Ok(BookOutcome::Booked(id))
}

/// The stored answer to callback (`call_sid`, `step`), if any.
pub fn callback_answer(
    conn: &Connection,
    call_sid: &str,
    step: &str,
) -> Result<Option<String>, DbError> {
    Ok(conn
        .prepare_cached("SELECT answer FROM callback_answers WHERE call_sid = ?1 AND step = ?2")?
        .query_row(params![call_sid, step], |r| r.get(0))
        .optional()?)
}

/// Stores an answer unless one exists; returns the answer that is now stored, so two
/// racing duplicates both answer with the first one.
pub fn remember_answer(
    conn: &mut Connection,
    call_sid: &str,
    step: &str,
    doc: &str,
) -> Result<String, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let stored = match callback_answer(&tx, call_sid, step)? {
        Some(previous) => previous,
        None => {
            store_answer(&tx, call_sid, step, doc)?;
            doc.to_string()
        }
    };
    tx.commit()?;
    Ok(stored)
}

fn store_answer(conn: &Connection, call_sid: &str, step: &str, doc: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO callback_answers (call_sid, step, answer, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        call_sid,
        step,
        doc,
        jiff::Timestamp::now().as_second()
    ])?;
    Ok(())
}

/// Busy time of the given providers overlapping `[from, to)`: (provider id, start,
/// blocked_until), ordered by provider then start.
pub fn busy(
    conn: &Connection,
    provider_ids: &[i64],
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64, i64)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT provider_id, start_at, blocked_until FROM appointments
         WHERE provider_id = ?1 AND status = 'booked' AND start_at < ?3 AND blocked_until > ?2
         ORDER BY start_at",
    )?;
    let mut out = Vec::new();
    for pid in provider_ids {
        for row in stmt.query_map(params![pid, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })? {
            out.push(row?);
        }
    }
    Ok(out)
}

/// An appointment as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AppointmentRow {
    /// Row id.
    pub id: i64,
    /// Service name.
    pub service: String,
    /// Provider name.
    pub provider: String,
    /// Caller's name.
    pub customer_name: String,
    /// Caller's number (full: this is the operator's own data).
    pub customer_phone: Option<String>,
    /// Unix seconds.
    pub start_at: i64,
    /// Unix seconds.
    pub end_at: i64,
    /// `booked` or `cancelled`.
    pub status: String,
    /// The call that booked it.
    pub call_sid: Option<String>,
}

/// The tenant's appointments, soonest first.
pub fn list(conn: &Connection, tenant_id: i64) -> Result<Vec<AppointmentRow>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, s.name, p.name, a.customer_name, a.customer_phone, a.start_at, a.end_at, a.status, a.call_sid
         FROM appointments a JOIN services s ON s.id = a.service_id JOIN providers p ON p.id = a.provider_id
         WHERE a.tenant_id = ?1 ORDER BY a.start_at, a.id",
    )?;
    let rows = stmt.query_map([tenant_id], |r| {
        Ok(AppointmentRow {
            id: r.get(0)?,
            service: r.get(1)?,
            provider: r.get(2)?,
            customer_name: r.get(3)?,
            customer_phone: r.get(4)?,
            start_at: r.get(5)?,
            end_at: r.get(6)?,
            status: r.get(7)?,
            call_sid: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Cancels a booked appointment: frees its time and withdraws its waiting texts, in the
/// caller's transaction. Returns false when it was not booked (already cancelled or gone).
pub fn cancel_appointment(conn: &Connection, appointment_id: i64) -> Result<bool, DbError> {
    let n = conn
        .prepare_cached(
            "UPDATE appointments SET status = 'cancelled' WHERE id = ?1 AND status = 'booked'",
        )?
        .execute([appointment_id])?;
    if n == 0 {
        return Ok(false);
    }
    conn.prepare_cached("DELETE FROM appointment_cells WHERE appointment_id = ?1")?
        .execute([appointment_id])?;
    super::outbox::cancel_texts_for(conn, appointment_id)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cover_the_whole_blocked_time_and_nothing_more() {
        assert_eq!(cells(0, 2700), 0..9);
        assert_eq!(cells(300, 600), 1..2);
        assert_eq!(cells(0, 301), 0..2, "a partial cell is occupied too");
    }
}
