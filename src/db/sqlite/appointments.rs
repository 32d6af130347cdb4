//! Appointments and the booking transactions on SQLite ([`crate::db::appointments`] is the
//! interface). Booking writes the appointment and one `appointment_cells` row per occupied
//! 5-minute cell in one IMMEDIATE transaction; the cells' primary key (provider, cell)
//! makes SQLite refuse any overlap. Functions other SQLite code calls inside its own
//! transaction are re-exported from the interface module.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{
    DbError,
    appointments::{
        AppointmentRow, BookOutcome, ChangeOutcome, ConfirmOutcome, ListQuery, Move,
        NewAppointment, Notify, admin_json, cells,
    },
    calls::{Answer, store_answer},
    is_unique_violation, outbox, reminder_calls, webhooks,
};

/// The columns [`row`] reads, in its order.
macro_rules! row_columns {
    () => {
        "a.id, s.name, p.name, a.customer_name, a.customer_phone, a.start_at, a.end_at, a.status, a.call_sid, a.reminder_calls"
    };
}
/// Where [`row_columns`] come from.
macro_rules! row_from {
    () => {
        "FROM appointments a JOIN services s ON s.id = a.service_id JOIN providers p ON p.id = a.provider_id"
    };
}

/// Books `appt` unless its time is taken. When `answer` is given, it is stored in the same
/// transaction, and a callback already answered returns that answer instead of booking
/// again.
pub fn book(
    conn: &mut Connection,
    appt: &NewAppointment,
    answer: Option<&Answer>,
    now: i64,
) -> Result<BookOutcome, DbError> {
    let tx = crate::db::begin(conn)?;
    if let Some(a) = answer
        && let Some(previous) = callback_answer(&tx, &a.call_sid, &a.step)?
    {
        return Ok(BookOutcome::AlreadyAnswered(previous));
    }
    if let Some(cap) = appt.cap {
        let (phone, caller) = (
            appt.customer_phone.as_deref(),
            appt.caller_number.as_deref(),
        );
        if let Some(number) = phone.or(caller) {
            let held = future_bookings_of(&tx, appt.tenant_id, number, caller, now)?;
            if held >= cap {
                return Ok(BookOutcome::OverCap(held));
            }
        }
    }
    drop_expired_holds(&tx, appt.provider_id, appt.start, appt.blocked_until, now)?;
    let status = if appt.hold_until.is_some() {
        "held"
    } else {
        "booked"
    };
    // Cached: preparing this insert (seven indexes, the checks) cost more than running it.
    tx.prepare_cached(
        "INSERT INTO appointments (tenant_id, service_id, provider_id, customer_name, customer_phone,
            start_at, end_at, blocked_until, status, hold_expires_at, call_sid, created_at, updated_at,
            caller_number)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13)",
    )?
    .execute(params![
            appt.tenant_id, appt.service_id, appt.provider_id, appt.customer_name,
            appt.customer_phone, appt.start, appt.end, appt.blocked_until, status,
            appt.hold_until, appt.call_sid, now, appt.caller_number,
        ],
    )?;
    let id = tx.last_insert_rowid();
    if !claim_cells(&tx, appt.provider_id, appt.start, appt.blocked_until, id)? {
        // Dropping `tx` rolls the appointment back.
        return Ok(BookOutcome::Taken);
    }
    // A held slot texts nobody yet: its texts are queued when the caller confirms.
    if appt.hold_until.is_none() {
        outbox::queue_planned(&tx, appt.tenant_id, id, &appt.texts, now)?;
        webhooks::appointment_event(&tx, appt.tenant_id, id, "booked", now)?;
        reminder_calls::plan_for(&tx, id, now)?;
    }
    if let Some(a) = answer {
        store_answer(&tx, a)?;
    }
    tx.commit()?;
    Ok(BookOutcome::Booked(id))
}

/// Inserts the cells of `[start, blocked_until)` for `appointment`; false when any is taken.
fn claim_cells(
    tx: &crate::db::Tx<'_>,
    provider: i64,
    start: i64,
    blocked_until: i64,
    appointment: i64,
) -> Result<bool, DbError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO appointment_cells (provider_id, cell, appointment_id) VALUES (?1, ?2, ?3)",
    )?;
    for cell in cells(start, blocked_until) {
        match stmt.execute(params![provider, cell, appointment]) {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// Deletes expired holds of `provider` overlapping `[start, end)` (their cells cascade).
fn drop_expired_holds(
    tx: &crate::db::Tx<'_>,
    provider: i64,
    start: i64,
    end: i64,
    now: i64,
) -> Result<(), DbError> {
    tx.prepare_cached(
        "DELETE FROM appointments WHERE provider_id = ?1 AND status = 'held'
           AND hold_expires_at <= ?4 AND start_at < ?3 AND blocked_until > ?2
           AND start_at > ?2 - 86400",
    )?
    .execute(params![provider, start, end, now])?;
    Ok(())
}

/// Confirms the slot held for the answer's call, storing `answer` and queueing `texts` with
/// it. A hold past its expiry is still confirmed if nobody booked over it: it kept its cells.
pub fn confirm_hold(
    conn: &mut Connection,
    answer: &Answer,
    texts: &[crate::sms::PlannedText],
    now: i64,
) -> Result<ConfirmOutcome, DbError> {
    let tx = crate::db::begin(conn)?;
    let call_sid = answer.call_sid.as_str();
    if let Some(previous) = callback_answer(&tx, call_sid, &answer.step)? {
        return Ok(ConfirmOutcome::AlreadyAnswered(previous));
    }
    let held: Option<(i64, i64)> = tx
        .query_row(
            "SELECT id, tenant_id FROM appointments WHERE call_sid = ?1 AND status = 'held' ORDER BY id DESC LIMIT 1",
            [call_sid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((id, tenant_id)) = held else {
        return Ok(ConfirmOutcome::Gone);
    };
    outbox::queue_planned(&tx, tenant_id, id, texts, now)?;
    tx.execute(
        "UPDATE appointments SET status = 'booked', hold_expires_at = NULL, updated_at = ?2,
            sequence = sequence + 1 WHERE id = ?1",
        params![id, now],
    )?;
    webhooks::appointment_event(&tx, tenant_id, id, "booked", now)?;
    reminder_calls::plan_for(&tx, id, now)?;
    store_answer(&tx, answer)?;
    tx.commit()?;
    Ok(ConfirmOutcome::Confirmed(id))
}

/// The slot held for `call_sid`, if one is: (appointment id, provider id, start).
pub fn held_for_call(
    conn: &Connection,
    call_sid: &str,
) -> Result<Option<(i64, i64, i64)>, DbError> {
    Ok(conn
        .query_row(
            "SELECT id, provider_id, start_at FROM appointments WHERE call_sid = ?1 AND status = 'held' ORDER BY id DESC LIMIT 1",
            [call_sid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

/// Releases any slot held for `call_sid` (the caller said no).
pub fn release_hold(conn: &Connection, call_sid: &str) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM appointments WHERE call_sid = ?1 AND status = 'held'",
        [call_sid],
    )?;
    Ok(())
}

/// Deletes every expired hold; returns how many (housekeeping, not needed for correctness).
pub fn sweep_expired_holds(conn: &Connection, now: i64) -> Result<usize, DbError> {
    Ok(conn.execute(
        "DELETE FROM appointments WHERE status = 'held' AND hold_expires_at <= ?1",
        [now],
    )?)
}

/// Cancels appointment `id` of `tenant`, freeing its time and withdrawing its waiting
/// texts; a booked one is announced, and texted about to `notify` when given, in the same
/// transaction. Cancelling twice is harmless (and texts nobody).
pub fn cancel(
    conn: &mut Connection,
    tenant: i64,
    id: i64,
    notify: Option<&Notify>,
    now: i64,
) -> Result<AppointmentRow, DbError> {
    let tx = crate::db::begin(conn)?;
    let before = status_of(&tx, tenant, id)?;
    match before.as_deref() {
        None => return Err(DbError::NotFound),
        // Cancelling twice changes nothing and announces nothing.
        Some("cancelled") => return get(&tx, tenant, id),
        Some(_) => {}
    }
    tx.execute(
        "UPDATE appointments SET status = 'cancelled', hold_expires_at = NULL, updated_at = ?2,
            sequence = sequence + 1
         WHERE id = ?1",
        params![id, now],
    )?;
    release(&tx, id)?;
    // A hold was never announced as booked, so its end is not announced either.
    if before.as_deref() == Some("booked") {
        webhooks::appointment_event(&tx, tenant, id, "cancelled", now)?;
        queue_change_text(&tx, tenant, id, crate::sms::Kind::Cancelled, notify, now)?;
    }
    let row = get(&tx, tenant, id)?;
    tx.commit()?;
    Ok(row)
}

/// Moves booked appointment `id` of `tenant`, with a `moved` text to `notify` when given;
/// `Ok(false)` when the new time is taken (and nothing changed).
pub fn reschedule(
    conn: &mut Connection,
    tenant: i64,
    id: i64,
    to: Move,
    default_profile: Option<&str>,
    notify: Option<&Notify>,
    now: i64,
) -> Result<bool, DbError> {
    let tx = crate::db::begin(conn)?;
    if !move_in(&tx, tenant, id, to, default_profile, now)? {
        return Ok(false);
    }
    queue_change_text(&tx, tenant, id, crate::sms::Kind::Moved, notify, now)?;
    tx.commit()?;
    Ok(true)
}

/// [`reschedule`] inside the caller's transaction; on `Ok(false)` the caller must roll
/// back (the old cells are already deleted).
fn move_in(
    tx: &crate::db::Tx<'_>,
    tenant: i64,
    id: i64,
    to: Move,
    default_profile: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    match status_of(tx, tenant, id)?.as_deref() {
        None => return Err(DbError::NotFound),
        Some("booked") => {}
        Some(other) => {
            return Err(DbError::Conflict(format!(
                "status: the appointment is {other}; only booked appointments can be moved"
            )));
        }
    }
    drop_expired_holds(tx, to.provider_id, to.start, to.blocked_until, now)?;
    tx.execute(
        "DELETE FROM appointment_cells WHERE appointment_id = ?1",
        [id],
    )?;
    tx.execute(
        "UPDATE appointments SET provider_id = ?2, start_at = ?3, end_at = ?4, blocked_until = ?5, updated_at = ?6,
            sequence = sequence + 1 WHERE id = ?1",
        params![id, to.provider_id, to.start, to.end, to.blocked_until, now],
    )?;
    if !claim_cells(tx, to.provider_id, to.start, to.blocked_until, id)? {
        return Ok(false);
    }
    // Reminders follow the appointment to its new time.
    let when = jiff::Timestamp::from_second(now).map_err(|e| DbError::Corrupt(e.to_string()))?;
    outbox::replan_texts_for(tx, id, default_profile, when)?;
    webhooks::appointment_event(tx, tenant, id, "rescheduled", now)?;
    reminder_calls::plan_for(tx, id, now)?;
    Ok(true)
}

/// The status of appointment `id` of `tenant`, or `None` when it is not the tenant's.
fn status_of(conn: &Connection, tenant: i64, id: i64) -> Result<Option<String>, DbError> {
    Ok(conn
        .prepare_cached("SELECT status FROM appointments WHERE id = ?1 AND tenant_id = ?2")?
        .query_row(params![id, tenant], |r| r.get(0))
        .optional()?)
}

/// Moves booked appointment `id` for a caller: the old cells freed and the new ones claimed
/// in one transaction (so at no moment are both or neither held), reminders re-planned, a
/// `moved` text queued to `notify`, and `answer` stored, all or nothing. A retried callback
/// gets the stored answer and moves nothing.
#[allow(clippy::too_many_arguments)]
pub fn move_for_call(
    conn: &mut Connection,
    tenant: i64,
    id: i64,
    to: Move,
    default_profile: Option<&str>,
    notify: Option<&Notify>,
    answer: &Answer,
    now: i64,
) -> Result<ChangeOutcome, DbError> {
    let tx = crate::db::begin(conn)?;
    if let Some(previous) = callback_answer(&tx, &answer.call_sid, &answer.step)? {
        return Ok(ChangeOutcome::AlreadyAnswered(previous));
    }
    match move_in(&tx, tenant, id, to, default_profile, now) {
        Ok(true) => {}
        Ok(false) => return Ok(ChangeOutcome::Taken),
        Err(DbError::Conflict(_)) => return Ok(ChangeOutcome::NotBooked),
        Err(e) => return Err(e),
    }
    tell_and_answer(
        &tx,
        tenant,
        id,
        crate::sms::Kind::Moved,
        notify,
        answer,
        now,
    )?;
    tx.commit()?;
    Ok(ChangeOutcome::Done)
}

/// The end of a change by phone, in its transaction: the text about it queued to `notify`
/// (if any) and the callback's answer stored.
fn tell_and_answer(
    tx: &crate::db::Tx<'_>,
    tenant: i64,
    id: i64,
    kind: crate::sms::Kind,
    notify: Option<&Notify>,
    answer: &Answer,
    now: i64,
) -> Result<(), DbError> {
    queue_change_text(tx, tenant, id, kind, notify, now)?;
    store_answer(tx, answer)
}

/// Queues the `kind` text about appointment `id` to `notify`, if given.
fn queue_change_text(
    tx: &Connection,
    tenant: i64,
    id: i64,
    kind: crate::sms::Kind,
    notify: Option<&Notify>,
    now: i64,
) -> Result<(), DbError> {
    let Some(n) = notify else { return Ok(()) };
    outbox::queue_one(
        tx,
        tenant,
        Some(id),
        kind,
        &n.to,
        &n.from,
        n.profile.as_deref(),
        None,
        now,
    )?;
    Ok(())
}

/// Cancels booked appointment `id` for a caller: its time freed, its waiting texts
/// withdrawn, a cancellation text queued to `notify`, and `answer` stored, all or nothing.
pub fn cancel_for_call(
    conn: &mut Connection,
    tenant: i64,
    id: i64,
    notify: Option<&Notify>,
    answer: &Answer,
    now: i64,
) -> Result<ChangeOutcome, DbError> {
    let tx = crate::db::begin(conn)?;
    if let Some(previous) = callback_answer(&tx, &answer.call_sid, &answer.step)? {
        return Ok(ChangeOutcome::AlreadyAnswered(previous));
    }
    if status_of(&tx, tenant, id)?.is_none() || !cancel_appointment(&tx, id)? {
        return Ok(ChangeOutcome::NotBooked);
    }
    tx.execute(
        "UPDATE appointments SET updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    tell_and_answer(
        &tx,
        tenant,
        id,
        crate::sms::Kind::Cancelled,
        notify,
        answer,
        now,
    )?;
    tx.commit()?;
    Ok(ChangeOutcome::Done)
}

/// The caller said "no" to a held slot: releases the call's hold and stores `answer`, unless
/// this callback was answered before (then nothing is released, so a late duplicate "no"
/// never releases a newer hold). Returns the answer now stored.
pub fn decline_hold(conn: &mut Connection, answer: &Answer) -> Result<String, DbError> {
    let tx = crate::db::begin(conn)?;
    if let Some(previous) = callback_answer(&tx, &answer.call_sid, &answer.step)? {
        return Ok(previous);
    }
    release_hold(&tx, &answer.call_sid)?;
    store_answer(&tx, answer)?;
    tx.commit()?;
    Ok(answer.texml.clone())
}

/// A caller's upcoming booked appointments with `tenant`, soonest first (at most 10): those
/// booked from `number` or texting it, each with its service and provider ids.
pub fn upcoming_of(
    conn: &Connection,
    tenant: i64,
    number: &str,
    now: i64,
) -> Result<Vec<(AppointmentRow, i64, i64)>, DbError> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        row_columns!(),
        ", a.service_id, a.provider_id ",
        row_from!(),
        " WHERE a.id IN (
             SELECT id FROM appointments WHERE tenant_id = ?1 AND customer_phone = ?2 AND start_at > ?3 AND status = 'booked'
             UNION
             SELECT id FROM appointments WHERE tenant_id = ?1 AND caller_number = ?2 AND start_at > ?3 AND status = 'booked')
         ORDER BY a.start_at, a.id LIMIT 10"
    ))?;
    let rows = stmt.query_map(params![tenant, number, now], |r| {
        Ok((row(r)?, r.get(ROW_COLUMNS)?, r.get(ROW_COLUMNS + 1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
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
pub fn remember_answer(conn: &mut Connection, answer: &Answer) -> Result<String, DbError> {
    let tx = crate::db::begin(conn)?;
    let stored = match callback_answer(&tx, &answer.call_sid, &answer.step)? {
        Some(previous) => previous,
        None => {
            store_answer(&tx, answer)?;
            answer.texml.clone()
        }
    };
    tx.commit()?;
    Ok(stored)
}

/// Busy time of `tenant`'s providers overlapping `[from, to)` at `now` (booked, or held and
/// not yet expired): (provider id, start, blocked_until), ordered by start (the index's
/// order, so SQLite does not sort).
pub fn busy(
    conn: &Connection,
    tenant: i64,
    from: i64,
    to: i64,
    now: i64,
) -> Result<Vec<(i64, i64, i64)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT provider_id, start_at, blocked_until FROM appointments
         WHERE tenant_id = ?1 AND start_at < ?3 AND blocked_until > ?2
           -- No appointment (at most 8 h of service and 4 h of buffer) starts a day before it
           -- ends; the bound keeps the index scan off the tenant's whole history.
           AND start_at > ?2 - 86400
           AND (status = 'booked' OR (status = 'held' AND hold_expires_at > ?4))
         ORDER BY start_at",
    )?;
    let rows = stmt.query_map(params![tenant, from, to, now], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const SELECT_ROW: &str = concat!("SELECT ", row_columns!(), " ", row_from!());
/// How many columns [`row`] reads (the next ones are a query's own).
const ROW_COLUMNS: usize = 10;

/// One appointment of `tenant`.
pub fn get(conn: &Connection, tenant: i64, id: i64) -> Result<AppointmentRow, DbError> {
    conn.prepare_cached(&format!(
        "{SELECT_ROW} WHERE a.tenant_id = ?1 AND a.id = ?2"
    ))?
    .query_row(params![tenant, id], row)
    .optional()?
    .ok_or(DbError::NotFound)
}

/// The service and provider ids of appointment `id` of `tenant`.
pub fn refs(conn: &Connection, tenant: i64, id: i64) -> Result<(i64, i64), DbError> {
    conn.query_row(
        "SELECT service_id, provider_id FROM appointments WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .ok_or(DbError::NotFound)
}

/// Appointment `id` of `tenant` as the admin API shows it ([`admin_json`]).
pub fn admin_json_of(
    conn: &Connection,
    tenant: i64,
    id: i64,
) -> Result<serde_json::Value, DbError> {
    let row = get(conn, tenant, id)?;
    let zone: String = conn
        .prepare_cached("SELECT timezone FROM tenants WHERE id = ?1")?
        .query_row([tenant], |r| r.get(0))?;
    let tz = crate::tzdb::get(&zone).map_err(|e| DbError::Corrupt(e.to_string()))?;
    Ok(admin_json(&row, &tz))
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<AppointmentRow> {
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
        reminder_calls: serde_json::from_str(&r.get::<_, String>(9)?).unwrap_or_default(),
    })
}

/// The tenant's appointments (not expired holds), soonest first, one page of them.
pub fn list(
    conn: &Connection,
    tenant_id: i64,
    now: i64,
    q: &ListQuery,
) -> Result<Vec<AppointmentRow>, DbError> {
    let (after_start, after_id) = q.after.unwrap_or((i64::MIN, i64::MIN));
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT_ROW} WHERE a.tenant_id = ?1 AND NOT (a.status = 'held' AND a.hold_expires_at <= ?2)
           AND (?3 IS NULL OR a.start_at >= ?3) AND (?4 IS NULL OR a.start_at < ?4)
           AND (?5 IS NULL OR a.call_sid = ?5)
           AND (a.start_at, a.id) > (?6, ?7)
         ORDER BY a.start_at, a.id LIMIT ?8"
    ))?;
    let rows = stmt.query_map(
        params![
            tenant_id,
            now,
            q.from,
            q.to,
            q.call_sid,
            after_start,
            after_id,
            q.limit as i64
        ],
        row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Booked appointments per provider of `tenant`, all time (for the overlap check in tests
/// and benchmarks): (provider id, start, blocked_until), by provider then start.
pub fn booked_intervals(conn: &Connection, tenant: i64) -> Result<Vec<(i64, i64, i64)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT provider_id, start_at, blocked_until FROM appointments
         WHERE tenant_id = ?1 AND status IN ('booked', 'held') ORDER BY provider_id, start_at",
    )?;
    let rows = stmt.query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Cancels a booked appointment: frees its time, withdraws its waiting texts and queues
/// `appointment.cancelled`, in the caller's transaction. Returns false when it was not
/// booked (already cancelled or gone).
pub fn cancel_appointment(conn: &Connection, appointment_id: i64) -> Result<bool, DbError> {
    let now = jiff::Timestamp::now().as_second();
    let tenant: Option<i64> = conn
        .prepare_cached(
            "UPDATE appointments SET status = 'cancelled', sequence = sequence + 1,
                updated_at = MAX(updated_at, ?2)
             WHERE id = ?1 AND status = 'booked' RETURNING tenant_id",
        )?
        .query_row(params![appointment_id, now], |r| r.get(0))
        .optional()?;
    let Some(tenant) = tenant else {
        return Ok(false);
    };
    release(conn, appointment_id)?;
    webhooks::appointment_event(conn, tenant, appointment_id, "cancelled", now)?;
    Ok(true)
}

/// What every cancellation does after changing the status: frees the appointment's cells
/// and withdraws its waiting confirmation and reminder texts.
fn release(conn: &Connection, appointment_id: i64) -> Result<(), DbError> {
    conn.prepare_cached("DELETE FROM appointment_cells WHERE appointment_id = ?1")?
        .execute([appointment_id])?;
    outbox::cancel_texts_for(conn, appointment_id)?;
    reminder_calls::withdraw_for(conn, appointment_id, jiff::Timestamp::now().as_second())?;
    Ok(())
}

/// How many future appointments with the tenant (booked, or held and not expired) are in
/// the name of `number` or `other` (a booking's customer phone and caller number); for the
/// `max_future_bookings_per_caller` cap. Two bound numbers, not a JSON list: an `IN` of
/// two values is two comparisons, where `IN (SELECT value FROM json_each(?))` built a
/// temporary b-tree per list per query (bench/README.md, 2026-12-01 evening).
pub fn future_bookings_of(
    conn: &Connection,
    tenant_id: i64,
    number: &str,
    other: Option<&str>,
    now: i64,
) -> Result<u32, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM appointments
             WHERE tenant_id = ?1
               AND (customer_phone IN (?2, ?3) OR caller_number IN (?2, ?3))
               AND start_at > ?4
               AND (status = 'booked' OR (status = 'held' AND hold_expires_at > ?4))",
        )?
        .query_row(
            params![tenant_id, number, other.unwrap_or(number), now],
            |r| r.get(0),
        )?)
}
