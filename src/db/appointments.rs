//! Appointments and the overlap guard: the interface ([`Store::appointments`]); the SQL is
//! in [`super::sqlite::appointments`] and [`super::postgres::appointments`]. Booking writes
//! the appointment and one `appointment_cells` row per occupied 5-minute cell in one
//! transaction; the cells' primary key (provider, cell) makes the database refuse any
//! overlap (on PostgreSQL an exclusion constraint over the blocked range as well), so two
//! concurrent callers can never both get a slot, whatever the Rust code above believes.
//!
//! A *held* appointment (the caller is confirming) owns its cells like a booked one. Once
//! its hold expires, any booking over it deletes it first, in the same transaction; until
//! someone does, the caller may still confirm it, since nobody else has the time.
//!
//! Calendar sync rides on these changes: a move, a cancellation and a confirmed hold
//! raise the appointment's `sequence` (the feeds' SEQUENCE), and booking, confirming,
//! moving and cancelling queue their webhook event in the same transaction
//! ([`super::webhooks`]), so every caller announces its change without doing anything.

use serde::Serialize;

use super::{
    DbError,
    calls::Answer,
    console::{AgendaItem, DayCounts},
    postgres,
    reminder_calls::{CallFacts, Settled},
    sqlite,
    store::Store,
};
use crate::domain::redact::{Hidden, Masked};

/// The SQLite functions other SQLite code (and tests) call inside a transaction or on a
/// connection of their own.
pub use super::sqlite::appointments::{
    admin_json_of, book, booked_intervals, cancel, cancel_appointment, confirm_hold,
};

/// Seconds per overlap cell (see `domain::tenant::CELL_MINUTES`).
pub const CELL_SECONDS: i64 = 300;

/// An appointment about to be booked. Instants are Unix seconds.
#[derive(Clone)]
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
    /// The number the booking call came from (its `From`), if known.
    pub caller_number: Option<String>,
    /// Start.
    pub start: i64,
    /// End of the service.
    pub end: i64,
    /// End of the buffer after it; the provider is busy until then.
    pub blocked_until: i64,
    /// The call that booked it.
    pub call_sid: Option<String>,
    /// `Some(expiry)` to hold the slot while the caller confirms, `None` to book it.
    pub hold_until: Option<i64>,
    /// The most upcoming appointments its numbers (`customer_phone`, `caller_number`) may
    /// have with the tenant (`max_future_bookings_per_caller`), checked in the booking's
    /// own transaction so two bookings from one number at once cannot both pass.
    pub cap: Option<u32>,
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
    /// Its numbers already have this many upcoming appointments, the cap; nothing booked.
    OverCap(u32),
}

/// The cells `[start, blocked_until)` occupies.
pub(crate) fn cells(start: i64, blocked_until: i64) -> std::ops::Range<i64> {
    start.div_euclid(CELL_SECONDS)..(blocked_until + CELL_SECONDS - 1).div_euclid(CELL_SECONDS)
}

/// What happened when the caller confirmed a held slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The hold became a booking (appointment id).
    Confirmed(i64),
    /// The hold expired and someone else booked over it, or it never existed.
    Gone,
    /// This callback was answered before; here is that answer.
    AlreadyAnswered(String),
}

/// Where a booked appointment moves to.
#[derive(Debug, Clone, Copy)]
pub struct Move {
    /// Provider after the move.
    pub provider_id: i64,
    /// New start.
    pub start: i64,
    /// New end of service.
    pub end: i64,
    /// New end of buffer.
    pub blocked_until: i64,
}

/// Where a text about a change goes: (to, from, messaging profile).
#[derive(Debug, Clone)]
pub struct Notify {
    /// The customer (E.164).
    pub to: String,
    /// The tenant's sender.
    pub from: String,
    /// Messaging profile, when one applies.
    pub profile: Option<String>,
}

/// What happened when a caller moved or cancelled an appointment by phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Done; the answer is stored.
    Done,
    /// The new time was just taken; nothing changed (the old time is kept).
    Taken,
    /// The appointment is no longer booked (cancelled meanwhile); nothing changed.
    NotBooked,
    /// This callback was answered before; here is that answer.
    AlreadyAnswered(String),
}

/// An appointment as the admin API shows it.
#[derive(Clone, Serialize)]
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
    /// `held`, `booked` or `cancelled`.
    pub status: String,
    /// The call that booked it.
    pub call_sid: Option<String>,
    /// Each reminder call attempt's outcome, oldest first:
    /// `[{"attempt", "hours_before", "outcome", "at"}]`.
    pub reminder_calls: serde_json::Value,
}

/// `row` as the admin API shows it: its fields, and `start`/`end` as local times in `tz`
/// (RFC 3339 with the offset).
pub fn admin_json(row: &AppointmentRow, tz: &jiff::tz::TimeZone) -> serde_json::Value {
    let local = |secs: i64| {
        jiff::Timestamp::from_second(secs)
            .map(|t| {
                t.to_zoned(tz.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let mut v = serde_json::to_value(row).unwrap_or_default();
    v["start"] = local(row.start_at).into();
    v["end"] = local(row.end_at).into();
    v
}

/// Which of a tenant's appointments to list, and how many.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only those starting at or after this instant (Unix seconds).
    pub from: Option<i64>,
    /// Only those starting before this instant.
    pub to: Option<i64>,
    /// Only the one(s) booked on this call.
    pub call_sid: Option<String>,
    /// Keyset cursor: only those after this (start, id), in list order.
    pub after: Option<(i64, i64)>,
    /// Most rows answered.
    pub limit: usize,
}

/// The appointments of a store ([`Store::appointments`]): each method is one unit of work,
/// run in one transaction (writes) or on one connection (reads) of whichever backend it is.
pub struct Appointments<'s>(pub(super) &'s Store);

impl Appointments<'_> {
    /// Books `appt` unless its time is taken or its numbers are at the cap, with its texts,
    /// its reminder calls, its `appointment.booked` event and, when given, the callback's
    /// `answer` (a callback answered before gets that answer and books nothing).
    pub async fn book(
        &self,
        appt: NewAppointment,
        answer: Option<Answer>,
        now: i64,
    ) -> Result<BookOutcome, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| book(c, &appt, answer.as_ref(), now))
                    .await
            }
            Store::Postgres(pg) => {
                postgres::appointments::book(pg, &appt, answer.as_ref(), now).await
            }
        }
    }

    /// Confirms the slot held for the answer's call, with its `texts`, reminder calls and
    /// event, and stores `answer`.
    pub async fn confirm_hold(
        &self,
        answer: Answer,
        texts: Vec<crate::sms::PlannedText>,
        now: i64,
    ) -> Result<ConfirmOutcome, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| confirm_hold(c, &answer, &texts, now))
                    .await
            }
            Store::Postgres(pg) => {
                postgres::appointments::confirm_hold(pg, &answer, &texts, now).await
            }
        }
    }

    /// The appointment held for call `call_sid` of `tenant`, if one is.
    pub async fn held_for_call(
        &self,
        tenant: i64,
        call_sid: String,
    ) -> Result<Option<AppointmentRow>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| {
                    let Some((id, _, _)) = sqlite::appointments::held_for_call(c, &call_sid)?
                    else {
                        return Ok(None);
                    };
                    sqlite::appointments::get(c, tenant, id).map(Some)
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::appointments::held_for_call(pg, tenant, &call_sid).await
            }
        }
    }

    /// The caller said no to a held slot: releases the call's hold and stores `answer`,
    /// unless this callback was answered before. Returns the answer now stored.
    pub async fn decline_hold(&self, answer: Answer) -> Result<String, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::appointments::decline_hold(c, &answer))
                    .await
            }
            Store::Postgres(pg) => postgres::appointments::decline_hold(pg, &answer).await,
        }
    }

    /// Deletes every expired hold; returns how many (housekeeping).
    pub async fn sweep_expired_holds(&self, now: i64) -> Result<usize, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::appointments::sweep_expired_holds(c, now))
                    .await
            }
            Store::Postgres(pg) => postgres::appointments::sweep_expired_holds(pg, now).await,
        }
    }

    /// The operator cancels appointment `id` of `tenant` (texting `notify` when given);
    /// cancelling twice is harmless. Returns the appointment as it is now.
    pub async fn cancel(
        &self,
        tenant: i64,
        id: i64,
        notify: Option<Notify>,
        now: i64,
    ) -> Result<AppointmentRow, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| cancel(c, tenant, id, notify.as_ref(), now))
                    .await
            }
            Store::Postgres(pg) => {
                postgres::appointments::cancel(pg, tenant, id, notify.as_ref(), now).await
            }
        }
    }

    /// The operator moves booked appointment `id` of `tenant` (texting `notify` when
    /// given); `Ok(false)` when the new time is taken and nothing changed.
    pub async fn reschedule(
        &self,
        tenant: i64,
        id: i64,
        to: Move,
        default_profile: Option<String>,
        notify: Option<Notify>,
        now: i64,
    ) -> Result<bool, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::appointments::reschedule(
                        c,
                        tenant,
                        id,
                        to,
                        default_profile.as_deref(),
                        notify.as_ref(),
                        now,
                    )
                })
                .await
            }
            Store::Postgres(pg) => {
                let (profile, notify) = (default_profile.as_deref(), notify.as_ref());
                postgres::appointments::reschedule(pg, tenant, id, to, profile, notify, now).await
            }
        }
    }

    /// A caller moves booked appointment `id`: cells, reminders, the `moved` text to
    /// `notify` and `answer`, all or nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn move_for_call(
        &self,
        tenant: i64,
        id: i64,
        to: Move,
        default_profile: Option<String>,
        notify: Option<Notify>,
        answer: Answer,
        now: i64,
    ) -> Result<ChangeOutcome, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::appointments::move_for_call(
                        c,
                        tenant,
                        id,
                        to,
                        default_profile.as_deref(),
                        notify.as_ref(),
                        &answer,
                        now,
                    )
                })
                .await
            }
            Store::Postgres(pg) => {
                let (profile, notify) = (default_profile.as_deref(), notify.as_ref());
                postgres::appointments::move_for_call(
                    pg, tenant, id, to, profile, notify, &answer, now,
                )
                .await
            }
        }
    }

    /// A caller cancels booked appointment `id`: its time freed, its texts withdrawn, the
    /// cancellation text to `notify` and `answer`, all or nothing.
    pub async fn cancel_for_call(
        &self,
        tenant: i64,
        id: i64,
        notify: Option<Notify>,
        answer: Answer,
        now: i64,
    ) -> Result<ChangeOutcome, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::appointments::cancel_for_call(
                        c,
                        tenant,
                        id,
                        notify.as_ref(),
                        &answer,
                        now,
                    )
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::appointments::cancel_for_call(
                    pg,
                    tenant,
                    id,
                    notify.as_ref(),
                    &answer,
                    now,
                )
                .await
            }
        }
    }

    /// A caller's upcoming booked appointments with `tenant` (booked from `number` or
    /// texting it), soonest first, at most 10, each with its service and provider ids.
    pub async fn upcoming_of(
        &self,
        tenant: i64,
        number: String,
        now: i64,
    ) -> Result<Vec<(AppointmentRow, i64, i64)>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::appointments::upcoming_of(c, tenant, &number, now))
                    .await
            }
            Store::Postgres(pg) => {
                postgres::appointments::upcoming_of(pg, tenant, &number, now).await
            }
        }
    }

    /// The stored answer to callback (`call_sid`, `step`), if any.
    pub async fn callback_answer(
        &self,
        call_sid: String,
        step: String,
    ) -> Result<Option<String>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::appointments::callback_answer(c, &call_sid, &step))
                    .await
            }
            Store::Postgres(pg) => {
                postgres::answers::callback_answer_of(pg, &call_sid, &step).await
            }
        }
    }

    /// Stores `answer` (for retries, and as a turn of its call) unless one is stored;
    /// returns the answer that is now stored, so racing duplicates answer alike.
    pub async fn remember_answer(&self, answer: Answer) -> Result<String, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::appointments::remember_answer(c, &answer))
                    .await
            }
            Store::Postgres(pg) => postgres::answers::remember_answer(pg, &answer).await,
        }
    }

    /// [`Appointments::remember_answer`] for a turn that offered the caller alternatives:
    /// the call is marked offered (first time only, for the funnel) in the same
    /// transaction, so the voice path gains no round trip.
    pub async fn remember_offer(&self, answer: Answer, now: i64) -> Result<String, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::calls::mark_offered(c, &answer.call_sid, now)?;
                    sqlite::appointments::remember_answer(c, &answer)
                })
                .await
            }
            Store::Postgres(pg) => postgres::answers::remember_offer(pg, &answer, now).await,
        }
    }

    /// Busy time of `tenant`'s providers overlapping `[from, to)` at `now` (booked, or held
    /// and not expired): (provider id, start, blocked_until), by start.
    pub async fn busy(
        &self,
        tenant: i64,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<Vec<(i64, i64, i64)>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::appointments::busy(c, tenant, from, to, now))
                    .await
            }
            Store::Postgres(pg) => postgres::appointments::busy_of(pg, tenant, from, to, now).await,
        }
    }

    /// In one read: how many upcoming appointments `number` (and `other`, the caller's
    /// number) hold with `tenant` (`None` without a number), and the busy time in `range`
    /// when given ([`Appointments::busy`]'s rows).
    pub async fn cap_and_busy(
        &self,
        tenant: i64,
        number: Option<String>,
        other: Option<String>,
        range: Option<(i64, i64)>,
        now: i64,
    ) -> Result<(Option<u32>, Vec<(i64, i64, i64)>), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| {
                    let held = match &number {
                        Some(n) => Some(sqlite::appointments::future_bookings_of(
                            c,
                            tenant,
                            n,
                            other.as_deref(),
                            now,
                        )?),
                        None => None,
                    };
                    let busy = match range {
                        Some((from, to)) => sqlite::appointments::busy(c, tenant, from, to, now)?,
                        None => Vec::new(),
                    };
                    Ok((held, busy))
                })
                .await
            }
            Store::Postgres(pg) => {
                let (number, other) = (number.as_deref(), other.as_deref());
                postgres::appointments::cap_and_busy(pg, tenant, number, other, range, now).await
            }
        }
    }

    /// One appointment of `tenant` ([`DbError::NotFound`] when it has no such one).
    pub async fn get(&self, tenant: i64, id: i64) -> Result<AppointmentRow, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::appointments::get(c, tenant, id))
                    .await
            }
            Store::Postgres(pg) => postgres::appointments::get_of(pg, tenant, id).await,
        }
    }

    /// The service and provider ids of appointment `id` of `tenant`.
    pub async fn refs(&self, tenant: i64, id: i64) -> Result<(i64, i64), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::appointments::refs(c, tenant, id))
                    .await
            }
            Store::Postgres(pg) => postgres::appointments::refs(pg, tenant, id).await,
        }
    }

    /// One page of the tenant's appointments (not expired holds), soonest first.
    pub async fn list(
        &self,
        tenant: i64,
        now: i64,
        q: ListQuery,
    ) -> Result<Vec<AppointmentRow>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::appointments::list(c, tenant, now, &q))
                    .await
            }
            Store::Postgres(pg) => postgres::appointments::list(pg, tenant, now, &q).await,
        }
    }

    /// Held and booked appointments of `tenant`, all time, by provider then start (the
    /// overlap check of tests and benchmarks): (provider id, start, blocked_until).
    pub async fn booked_intervals(&self, tenant: i64) -> Result<Vec<(i64, i64, i64)>, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(move |c| booked_intervals(c, tenant)).await,
            Store::Postgres(pg) => postgres::appointments::booked_intervals(pg, tenant).await,
        }
    }

    /// Reminder call `id` of `tenant` and its appointment as they are now.
    pub async fn reminder_call_facts(
        &self,
        tenant: i64,
        id: i64,
    ) -> Result<Option<CallFacts>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| super::reminder_calls::facts(c, tenant, id))
                    .await
            }
            Store::Postgres(pg) => postgres::reminder_plans::facts(pg, tenant, id).await,
        }
    }

    /// Records what Telnyx told about reminder call `id` (its sid, the AMD result).
    pub async fn note_reminder_call(
        &self,
        id: i64,
        call_sid: Option<String>,
        answered_by: Option<String>,
        now: i64,
    ) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    super::reminder_calls::note(
                        c,
                        id,
                        call_sid.as_deref(),
                        answered_by.as_deref(),
                        now,
                    )
                })
                .await
            }
            Store::Postgres(pg) => {
                let (sid, by) = (call_sid.as_deref(), answered_by.as_deref());
                postgres::reminder_plans::note(pg, id, sid, by, now).await
            }
        }
    }

    /// Sets the outcome the person chose on reminder call `id` (replacing none but
    /// `no_input`), adding it to the appointment's record.
    pub async fn set_reminder_outcome(
        &self,
        id: i64,
        outcome: &'static str,
        now: i64,
    ) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| super::reminder_calls::set_outcome(c, id, outcome, now))
                    .await
            }
            Store::Postgres(pg) => {
                postgres::reminder_plans::set_outcome(pg, id, outcome, now).await
            }
        }
    }

    /// Records that `number` stopped `tenant`'s reminder calls, skipping its waiting ones.
    pub async fn stop_reminder_calls(
        &self,
        tenant: i64,
        number: String,
        now: i64,
    ) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| super::reminder_calls::opt_out(c, tenant, &number, now))
                    .await
            }
            Store::Postgres(pg) => {
                postgres::reminder_plans::opt_out(pg, tenant, &number, now).await
            }
        }
    }

    /// Applies a final status callback to reminder call `id`, once, with its event and
    /// the retry it calls for.
    pub async fn settle_reminder_call(
        &self,
        id: i64,
        call_status: String,
        call_sid: Option<String>,
        duration: Option<i64>,
        now: i64,
    ) -> Result<Settled, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    super::reminder_calls::settle(
                        c,
                        id,
                        &call_status,
                        call_sid.as_deref(),
                        duration,
                        now,
                    )
                })
                .await
            }
            Store::Postgres(pg) => {
                let sid = call_sid.as_deref();
                postgres::reminder_plans::settle(pg, id, &call_status, sid, duration, now).await
            }
        }
    }

    /// The console's agenda: `tenant`'s appointments starting in `[from, to)`, cancelled
    /// ones included and expired holds left out, by start.
    pub async fn agenda(
        &self,
        tenant: i64,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<Vec<AgendaItem>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| super::console::agenda(c, tenant, from, to, now))
                    .await
            }
            Store::Postgres(pg) => postgres::appointments::agenda(pg, tenant, from, to, now).await,
        }
    }

    /// The console's counts for each (tenant, from, to) of `days`, in their order, on one
    /// connection: bookings, calls and failed texts of the tenant in `[from, to)`.
    pub async fn day_counts(&self, days: Vec<(i64, i64, i64)>) -> Result<Vec<DayCounts>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| {
                    days.iter()
                        .map(|&(tenant, from, to)| super::console::day_counts(c, tenant, from, to))
                        .collect()
                })
                .await
            }
            Store::Postgres(pg) => postgres::appointments::day_counts(pg, &days).await,
        }
    }
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

/// Redacted: the caller's name and number never reach a log through `{:?}`.
impl std::fmt::Debug for NewAppointment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAppointment")
            .field("tenant_id", &self.tenant_id)
            .field("service_id", &self.service_id)
            .field("provider_id", &self.provider_id)
            .field("customer_name", &Hidden(&self.customer_name))
            .field("customer_phone", &Masked(self.customer_phone.as_deref()))
            .field("caller_number", &Masked(self.caller_number.as_deref()))
            .field("start", &self.start)
            .field("end", &self.end)
            .field("blocked_until", &self.blocked_until)
            .field("call_sid", &self.call_sid)
            .field("hold_until", &self.hold_until)
            .field("texts", &self.texts.len())
            .finish()
    }
}

/// Redacted like [`NewAppointment`].
impl std::fmt::Debug for AppointmentRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppointmentRow")
            .field("id", &self.id)
            .field("service", &self.service)
            .field("provider", &self.provider)
            .field("customer_name", &Hidden(&self.customer_name))
            .field("customer_phone", &Masked(self.customer_phone.as_deref()))
            .field("start_at", &self.start_at)
            .field("end_at", &self.end_at)
            .field("status", &self.status)
            .field("call_sid", &self.call_sid)
            .finish()
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn appointment_rows_show_no_name_or_number_in_debug_output() {
        let row = AppointmentRow {
            id: 1,
            service: "Cut".into(),
            provider: "Anna".into(),
            customer_name: "Jane Roe".into(),
            customer_phone: Some("+13125550199".into()),
            start_at: 0,
            end_at: 1,
            status: "booked".into(),
            call_sid: None,
            reminder_calls: serde_json::json!([]),
        };
        let shown = format!("{row:?}");
        assert!(
            !shown.contains("Jane") && !shown.contains("5550199"),
            "{shown}"
        );
        assert!(shown.contains("+1********99"), "{shown}");
        let new = NewAppointment {
            tenant_id: 1,
            service_id: 1,
            provider_id: 1,
            customer_name: "Jane Roe".into(),
            customer_phone: Some("+13125550199".into()),
            caller_number: None,
            start: 0,
            end: 1,
            blocked_until: 1,
            call_sid: None,
            hold_until: None,
            cap: None,
            texts: Vec::new(),
        };
        let shown = format!("{new:?}");
        assert!(
            !shown.contains("Jane") && !shown.contains("5550199"),
            "{shown}"
        );
    }
}
