//! The SMS outbox, opt-outs and handled messaging events. A text is a row here before it
//! is anything else: queued in the transaction that calls for it, claimed by the worker
//! with a lease (`queued` → `sending`), and finished as `sent`, `failed`, `dry_run`,
//! `skipped` or `cancelled`; delivery webhooks move `sent` to `delivered` or `failed`. A
//! status never moves backwards, so duplicate and out-of-order webhooks are harmless.
//! A send whose outcome is unknown stays `sending`, held. Opt-outs and handled webhook
//! events live in `db::messaging`.
//!
//! Queueing (the text plans a booking, a move or a cancellation makes) runs inside those
//! changes' SQLite transactions and stays here; the worker's queue is [`Outbox`] (SQL in
//! [`super::sqlite::outbox`] and [`super::postgres::outbox`]).

use jiff::{Timestamp, tz::TimeZone};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{DbError, leases::Wall, postgres, sqlite, store::Store};
use crate::sms::{Kind, PlannedText, reminders};

/// Queues `texts` for an appointment (inside the caller's transaction). Texts to a number
/// that opted out are not queued; one already queued for the same (appointment, kind,
/// time) is not queued twice. Returns how many were queued.
///
/// Up to [`ROWS_PER_INSERT`] texts go in one multi-row `INSERT`: SQLite checks the
/// outbox's `kind IN (...)` and `status IN (...)` constraints and its `outbox_finished`
/// index condition against a temporary b-tree built once per statement run, so one
/// statement for a booking's texts builds them once instead of once per text.
pub fn queue_planned(
    conn: &Connection,
    tenant_id: i64,
    appointment_id: i64,
    texts: &[PlannedText],
    now: i64,
) -> Result<usize, DbError> {
    let mut wanted = Vec::with_capacity(texts.len());
    for t in texts {
        if !super::messaging::is_opted_out(conn, &t.to, t.messaging_profile_id.as_deref())? {
            wanted.push(t);
        }
    }
    let mut queued = 0;
    for chunk in wanted.chunks(ROWS_PER_INSERT) {
        let mut stmt = conn.prepare_cached(&insert_planned_sql(chunk.len()))?;
        let kinds: Vec<&str> = chunk.iter().map(|t| t.kind.as_str()).collect();
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&tenant_id, &appointment_id, &now];
        for (t, kind) in chunk.iter().zip(&kinds) {
            values.extend([
                kind as &dyn rusqlite::ToSql,
                &t.to,
                &t.from,
                &t.messaging_profile_id,
                &t.due_at,
            ]);
        }
        queued += stmt.execute(values.as_slice())?;
    }
    Ok(queued)
}

/// Most planned texts one `INSERT` of [`queue_planned`] takes (a booking plans a
/// confirmation and a reminder or two); more go in further statements.
const ROWS_PER_INSERT: usize = 4;

/// The `INSERT` of `rows` planned texts: `?1` tenant, `?2` appointment, `?3` now, then
/// kind, to, from, profile and due time of each text.
fn insert_planned_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| {
            let p = 4 + 5 * i;
            format!(
                "(?1, ?2, ?{p}, ?{}, ?{}, ?{}, ?{}, ?3, ?3)",
                p + 1,
                p + 2,
                p + 3,
                p + 4
            )
        })
        .collect();
    format!(
        "INSERT INTO outbox (tenant_id, appointment_id, kind, to_number, from_number,
            messaging_profile_id, due_at, created_at, updated_at)
         VALUES {}
         ON CONFLICT DO NOTHING",
        values.join(", ")
    )
}

/// Queues one text outside any appointment plan: a `cancelled` confirmation (rendered
/// when sent) or a `reply` whose `text` is fixed now. Nothing is queued to an opted-out
/// number; returns whether it was queued.
#[allow(clippy::too_many_arguments)]
pub fn queue_one(
    conn: &Connection,
    tenant_id: i64,
    appointment_id: Option<i64>,
    kind: Kind,
    to: &str,
    from: &str,
    profile: Option<&str>,
    text: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    if super::messaging::is_opted_out(conn, to, profile)? {
        return Ok(false);
    }
    let n = conn
        .prepare_cached(
            "INSERT INTO outbox (tenant_id, appointment_id, kind, to_number, from_number,
                messaging_profile_id, due_at, text, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?7)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            tenant_id,
            appointment_id,
            kind.as_str(),
            to,
            from,
            profile,
            now,
            text
        ])?;
    Ok(n == 1)
}

/// Cancels the appointment's texts that are still waiting (confirmation and reminders);
/// returns how many. Call it whenever an appointment is cancelled.
pub fn cancel_texts_for(conn: &Connection, appointment_id: i64) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET status = 'cancelled', last_error = 'appointment cancelled', updated_at = ?2
             WHERE appointment_id = ?1 AND status = 'queued' AND kind IN ('confirmation', 'reminder', 'moved')",
        )?
        .execute(params![appointment_id, Timestamp::now().as_second()])?)
}

/// Re-plans the appointment's reminders from its current start time: waiting reminders
/// are cancelled and new ones queued by the usual rules. Call it whenever an appointment
/// moves (in the same transaction). Returns how many reminders are now queued.
pub fn replan_texts_for(
    conn: &Connection,
    appointment_id: i64,
    default_profile: Option<&str>,
    now: Timestamp,
) -> Result<usize, DbError> {
    conn.prepare_cached(
        "UPDATE outbox SET status = 'cancelled', last_error = 'appointment moved', updated_at = ?2
         WHERE appointment_id = ?1 AND status = 'queued' AND kind = 'reminder'",
    )?
    .execute(params![appointment_id, now.as_second()])?;
    let row: Option<(i64, i64, Option<String>, String)> = conn
        .query_row(
            "SELECT tenant_id, start_at, customer_phone, status FROM appointments WHERE id = ?1",
            [appointment_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((tenant_id, start, phone, status)) = row else {
        return Err(DbError::NotFound);
    };
    if status != "booked" {
        return Ok(0);
    }
    let tenant = super::tenants::load(conn, tenant_id)?;
    let start = Timestamp::from_second(start).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let plan: Vec<PlannedText> =
        reminders::plan_texts(&tenant.spec, default_profile, phone.as_deref(), start, now)
            .into_iter()
            .filter(|t| t.kind == Kind::Reminder)
            .collect();
    queue_planned(conn, tenant_id, appointment_id, &plan, now.as_second())
}

/// A row the worker may send now, with what pacing needs. Sender and profile are the
/// tenant's as they are now, not as they were when the text was queued.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Outbox id.
    pub id: i64,
    /// Sender (pacing is per sender): the tenant's `sms_from`, else its `phone_number`.
    pub from: String,
    /// The tenant's `messaging_profile_id` (the default profile applies when `None`).
    pub profile: Option<String>,
    /// The tenant's `sms_rate_per_second`.
    pub rate: f64,
}

/// Everything the worker needs to decide about and send one claimed text.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Outbox id.
    pub id: i64,
    /// What the text is for.
    pub kind: Kind,
    /// Recipient.
    pub to: String,
    /// Sender: the tenant's current `sms_from`, else its `phone_number`.
    pub from: String,
    /// The tenant's current messaging profile (`None`: the default applies).
    pub profile: Option<String>,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// Text fixed at queue time, if any.
    pub text: Option<String>,
    /// The appointment, when the text is about one.
    pub appointment: Option<AppointmentFacts>,
}

/// The appointment as a text describes it, read at send time.
#[derive(Debug, Clone)]
pub struct AppointmentFacts {
    /// `booked` or `cancelled`.
    pub status: String,
    /// Start, Unix seconds.
    pub start: i64,
    /// Service name.
    pub service: String,
    /// Provider name.
    pub provider: String,
    /// Business name.
    pub business: String,
    /// Tenant's time zone.
    pub tz: TimeZone,
    /// Tenant's phone number.
    pub phone: String,
    /// The caller's name, as booked.
    pub customer_name: String,
    /// The tenant's `sms_confirmation` wording, if it has its own.
    pub sms_confirmation: Option<String>,
    /// The tenant's `sms_reminder` wording, if it has its own.
    pub sms_reminder: Option<String>,
    /// The tenant's `sms_moved` wording, if it has its own.
    pub sms_moved: Option<String>,
}

/// The next booked appointment of `customer` with the tenant that starts after `now`.
pub fn next_appointment_of(
    conn: &Connection,
    tenant_id: i64,
    customer: &str,
    now: i64,
) -> Result<Option<i64>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM appointments WHERE tenant_id = ?1 AND customer_phone = ?2
               AND status = 'booked' AND start_at > ?3 ORDER BY start_at, id LIMIT 1",
        )?
        .query_row(params![tenant_id, customer, now], |r| r.get(0))
        .optional()?)
}

/// A text as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// The appointment it is about, if any.
    pub appointment_id: Option<i64>,
    /// `confirmation`, `reminder`, `cancelled`, `moved` or `reply`.
    pub kind: String,
    /// Recipient (full: operator data).
    pub to: String,
    /// Sender.
    pub from: String,
    /// `queued`, `paused` (queued while sending is paused), `sending`, `unknown` (the send's
    /// outcome is unknown: held, not re-sent), `sent`, `delivered`, `failed`, `dry_run`,
    /// `skipped`, `cancelled`.
    pub status: String,
    /// Send attempts made.
    pub attempts: u32,
    /// When it is (or was) due, Unix seconds.
    pub due_at: i64,
    /// Why it failed, was skipped, is held or paused, or is being retried.
    pub last_error: Option<String>,
    /// Telnyx message id once accepted.
    pub telnyx_message_id: Option<String>,
    /// The text (once rendered).
    pub text: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// Which of a tenant's texts to list, and how many.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only the texts about this appointment.
    pub appointment_id: Option<i64>,
    /// Keyset cursor: only those after this (due, id), in list order (newest first).
    pub before: Option<(i64, i64)>,
    /// Most rows answered.
    pub limit: usize,
}

/// How many of a tenant's texts are in each status, for texts due in `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Waiting (including retries).
    pub queued: u64,
    /// Being sent now.
    pub sending: u64,
    /// Outcome unknown: held, not re-sent (see docs/texts.md).
    pub unknown: u64,
    /// Accepted by Telnyx.
    pub sent: u64,
    /// Delivered to the handset.
    pub delivered: u64,
    /// Given up on, or refused.
    pub failed: u64,
    /// Recorded only (no API key).
    pub dry_run: u64,
    /// Not sent: opted out or no longer relevant.
    pub skipped: u64,
    /// Withdrawn with their appointment.
    pub cancelled: u64,
}

impl OutboxCounts {
    /// The counts from (status, count) rows, `unknown` for held texts.
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut c = Self::default();
        for (status, n) in rows {
            let slot = match status.as_str() {
                "queued" => &mut c.queued,
                "sending" => &mut c.sending,
                "unknown" => &mut c.unknown,
                "sent" => &mut c.sent,
                "delivered" => &mut c.delivered,
                "failed" => &mut c.failed,
                "dry_run" => &mut c.dry_run,
                "skipped" => &mut c.skipped,
                _ => &mut c.cancelled,
            };
            *slot = n.max(0) as u64;
        }
        c
    }
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

/// What the worker needs to know about a recipient at send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient {
    /// The number opted out of texts on the text's profile.
    pub opted_out: bool,
    /// Texts slotline asked Telnyx to send it since the time asked about (every node's).
    pub sent_since: u32,
}

/// What a claim's start of its request came to ([`Outbox::begin_send`], and the
/// dialer's `begin_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begun {
    /// Recorded as started: the request goes `wait_ms` from now (0 on SQLite; on
    /// PostgreSQL the sender's next slot, reserved for it across nodes), at `at_ms`.
    Go {
        /// How long to wait before the request.
        wait_ms: i64,
        /// The instant recorded as the request's start (wall ms; the database's clock on
        /// PostgreSQL).
        at_ms: i64,
    },
    /// No longer this claim's (its lease was swept while this node stalled, or another
    /// claim's request has started): nothing may be sent.
    Lost,
    /// Other nodes use the sender's rate for the next `wait_ms`: the claim was put back
    /// in the queue (its attempt not counted). PostgreSQL only.
    Paced {
        /// How long until the sender's next free slot.
        wait_ms: i64,
    },
    /// The recipient has had `sent` texts in 24 hours, the cap, counting every node's:
    /// nothing may be sent and the claim is still to be finished. PostgreSQL only.
    Capped {
        /// Texts asked of Telnyx for the recipient in 24 hours.
        sent: u32,
    },
}

impl Begun {
    /// A start at `at_ms` without waiting if the claim still owned its row (`ours`), else
    /// [`Begun::Lost`]: what one SQLite file's one worker, pacing in memory, is told.
    pub(crate) fn at_once(ours: bool, at_ms: i64) -> Self {
        match ours {
            true => Self::Go { wait_ms: 0, at_ms },
            false => Self::Lost,
        }
    }
}

/// How a send is paced across nodes (PostgreSQL; one SQLite file's one worker paces in
/// memory and counts the cap at send time, and ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// The sender's slots are this far apart (1 / its rate), ms.
    pub gap_ms: i64,
    /// Texts a recipient may be asked for in 24 hours (`SLOTLINE_SMS_DAILY_CAP`).
    pub daily_cap: u32,
    /// How far ahead a slot may be reserved (then the send waits for it, holding its
    /// lease: keep it well under the lease); a sender busier than that puts the claim back.
    pub horizon_ms: i64,
}

impl Pace {
    /// Slots for `rate` requests a second, rounded up to the millisecond so the rate is
    /// never passed.
    pub fn gap_ms(rate: f64) -> i64 {
        (1000.0 / rate.max(0.001)).ceil() as i64
    }
}

/// An opt-out learnt from a send's refusal (40300), recorded with the text's failure.
#[derive(Debug, Clone)]
pub struct OptOut {
    /// The number that opted out.
    pub number: String,
    /// The messaging profile it opted out of (`None`: unknown, so every profile).
    pub profile: Option<String>,
    /// Unix seconds.
    pub at: i64,
}

// Composed into other repository functions' SQLite transactions (the inbound webhook's
// handling); PostgreSQL's twins are in `postgres::outbox`.
pub use super::sqlite::outbox::{adopt_held, apply_delivery_status};

/// The SMS worker's queue of a store ([`Store::outbox`]), its fault paths and pauses, and
/// the operators' list, counts and requeue. Every method is one transaction. On
/// PostgreSQL a claim is a committed lease of a row picked with `FOR UPDATE SKIP LOCKED`,
/// so of several nodes claiming the same due text exactly one sends it.
pub struct Outbox<'s>(pub(super) &'s Store);

impl Outbox<'_> {
    /// Queued texts due at `now` (business seconds) whose retry time has come (`now_ms`,
    /// wall clock), soonest first, at most `per_sender` from any one sender and none from
    /// the senders in `paced`; lease-expired rows are [`Outbox::sweep_leases`]'s.
    pub async fn candidates(
        &self,
        now: i64,
        now_ms: i64,
        paced: Vec<String>,
        per_sender: usize,
        limit: usize,
    ) -> Result<Vec<Candidate>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| {
                    sqlite::outbox::candidates(c, now, now_ms, &paced, per_sender, limit)
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::outbox::candidates(pg, now, now_ms, &paced, per_sender, limit).await
            }
        }
    }

    /// Leases queued text `id` for `lease_ms` from `now_ms` (on the store's lease clock,
    /// [`Wall`]), counting an attempt, if it is still due at `now` (business seconds) and
    /// its retry time has come at `now_ms` (this node's wall ms); `None` when a worker of
    /// any node got it first or it is no longer due.
    pub async fn claim(
        &self,
        id: i64,
        now: i64,
        now_ms: impl Into<Wall>,
        lease_ms: i64,
    ) -> Result<Option<Claimed>, DbError> {
        let wall = now_ms.into();
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::outbox::claim(c, id, now, wall.node_ms(), lease_ms))
                    .await
            }
            Store::Postgres(pg) => postgres::outbox::claim(pg, id, now, wall, lease_ms).await,
        }
    }

    /// Whether `to` opted out on `profile`, and how many texts were asked of Telnyx for
    /// it since `since_ms` (for the daily cap), read together.
    pub async fn recipient(
        &self,
        to: String,
        profile: Option<String>,
        since_ms: i64,
    ) -> Result<Recipient, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| {
                    Ok(Recipient {
                        opted_out: sqlite::messaging::is_opted_out(c, &to, profile.as_deref())?,
                        sent_since: sqlite::outbox::sent_to_since(c, &to, since_ms)?,
                    })
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::outbox::recipient(pg, &to, profile.as_deref(), since_ms).await
            }
        }
    }

    /// Ends a claimed text without sending it (`failed`, `dry_run`, `skipped`,
    /// `cancelled`), keeping the text that would have been sent.
    pub async fn finish(
        &self,
        id: i64,
        status: &'static str,
        reason: Option<String>,
        text: Option<String>,
    ) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::outbox::finish(c, id, status, reason.as_deref(), text.as_deref())
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::outbox::finish(pg, id, status, reason.as_deref(), text.as_deref()).await
            }
        }
    }

    /// Fails a claimed text Telnyx refused for good, recording with it the opt-out the
    /// refusal reported, if any.
    pub async fn fail(
        &self,
        id: i64,
        reason: String,
        opt_out: Option<OptOut>,
    ) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    if let Some(o) = &opt_out {
                        sqlite::messaging::record_opt_out(
                            c,
                            &o.number,
                            o.profile.as_deref(),
                            o.at,
                        )?;
                    }
                    sqlite::outbox::finish(c, id, "failed", Some(&reason), None)
                })
                .await
            }
            Store::Postgres(pg) => postgres::outbox::fail(pg, id, &reason, opt_out.as_ref()).await,
        }
    }

    /// Records what is about to be sent and that the request starts; from then on a lost
    /// outcome is "unknown", never re-sent. [`Begun::Lost`] when the text is no longer
    /// this claim's to send. On SQLite the request starts at `now_ms`, at once (the one
    /// worker paced the sender and counted the cap). On PostgreSQL the recipient's
    /// texts of the last 24 hours are counted against `pace.daily_cap` under a lock on
    /// the number, and the sender's next slot is reserved (slots `pace.gap_ms` apart,
    /// every node's), both in the transaction that records the start: so of several
    /// nodes no two pass the cap together, and together they keep the sender's rate.
    pub async fn begin_send(
        &self,
        id: i64,
        text: String,
        from: String,
        profile: Option<String>,
        now_ms: i64,
        pace: Pace,
    ) -> Result<Begun, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    let ours = sqlite::outbox::begin_send(
                        c,
                        id,
                        &text,
                        &from,
                        profile.as_deref(),
                        now_ms,
                    )?;
                    Ok(Begun::at_once(ours, now_ms))
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::outbox::begin_send(pg, id, &text, &from, profile.as_deref(), pace).await
            }
        }
    }

    /// Puts a claimed text back in the queue for another attempt at `next_ms`.
    pub async fn retry_later(&self, id: i64, next_ms: i64, reason: String) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::outbox::retry_later(c, id, next_ms, &reason))
                    .await
            }
            Store::Postgres(pg) => postgres::outbox::retry_later(pg, id, next_ms, &reason).await,
        }
    }

    /// Records that Telnyx accepted the text as `message_id`, then applies any delivery
    /// status that arrived by webhook first.
    pub async fn mark_sent(&self, id: i64, message_id: String) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::outbox::mark_sent(c, id, &message_id))
                    .await
            }
            Store::Postgres(pg) => postgres::outbox::mark_sent(pg, id, &message_id).await,
        }
    }

    /// Holds a claimed text whose send outcome is unknown: never re-sent, settled by a
    /// delivery webhook or failed by the sweep after the hold.
    pub async fn hold_unknown(&self, id: i64, now_ms: i64, reason: String) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::outbox::hold_unknown(c, id, now_ms, &reason))
                    .await
            }
            Store::Postgres(pg) => postgres::outbox::hold_unknown(pg, id, now_ms, &reason).await,
        }
    }

    /// Puts a text that met an account-level refusal back in the queue, not counting
    /// the attempt.
    pub async fn requeue_paused(&self, id: i64, reason: String) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::outbox::requeue_paused(c, id, &reason))
                    .await
            }
            Store::Postgres(pg) => postgres::outbox::requeue_paused(pg, id, &reason).await,
        }
    }

    /// Settles rows whose lease ran out at `now_ms` (on the store's lease clock,
    /// [`Wall`]: a worker of some node stopped mid-text) and held rows past `hold_ms`
    /// (held since an instant of the holding node's wall clock).
    pub async fn sweep_leases(
        &self,
        now_ms: impl Into<Wall>,
        hold_ms: i64,
        max_reclaims: u32,
    ) -> Result<Swept, DbError> {
        let wall = now_ms.into();
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::outbox::sweep_leases(c, wall.node_ms(), hold_ms, max_reclaims)
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::outbox::sweep_leases(pg, wall, hold_ms, max_reclaims).await
            }
        }
    }

    /// Records that sending is paused for `scope` ('' for all sending, else a messaging
    /// profile id).
    pub async fn set_pause(
        &self,
        scope: String,
        reason: String,
        now_ms: i64,
    ) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::outbox::set_pause(c, &scope, &reason, now_ms))
                    .await
            }
            Store::Postgres(pg) => postgres::outbox::set_pause(pg, &scope, &reason, now_ms).await,
        }
    }

    /// Lifts the pause of `scope`; whether there was one.
    pub async fn lift_pause(&self, scope: String) -> Result<bool, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::outbox::lift_pause(c, &scope))
                    .await
            }
            Store::Postgres(pg) => postgres::outbox::lift_pause(pg, &scope).await,
        }
    }

    /// Every pause in force: (scope, reason), by scope.
    pub async fn pauses(&self) -> Result<Vec<(String, String)>, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(|c| sqlite::outbox::pauses(c)).await,
            Store::Postgres(pg) => postgres::outbox::pauses(pg).await,
        }
    }

    /// Requeues failed text `id` of `tenant` (an operator's decision): `NotFound` when
    /// the tenant has no such text, `Conflict` (field `status`) when it is not failed.
    pub async fn requeue_failed(&self, tenant: i64, id: i64, now: i64) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::outbox::requeue_failed(c, tenant, id, now))
                    .await
            }
            Store::Postgres(pg) => postgres::outbox::requeue_failed(pg, tenant, id, now).await,
        }
    }

    /// The tenant's texts, newest first, one page of them.
    pub async fn list(&self, tenant: i64, q: ListQuery) -> Result<Vec<OutboxRow>, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(move |c| sqlite::outbox::list(c, tenant, &q)).await,
            Store::Postgres(pg) => postgres::outbox::list(pg, tenant, &q).await,
        }
    }

    /// The tenant's texts due in `[from, to)` counted by status.
    pub async fn counts(&self, tenant: i64, from: i64, to: i64) -> Result<OutboxCounts, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::outbox::counts(c, tenant, from, to))
                    .await
            }
            Store::Postgres(pg) => postgres::outbox::counts(pg, tenant, from, to).await,
        }
    }
}

#[cfg(test)]
mod tests;
