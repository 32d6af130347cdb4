//! The dialer's side of the reminder calls: settling what a stopped dialer left, counting
//! calls in progress against the cap, claiming due calls with a lease together with the
//! facts of the dial-time decision, and recording the request's progress. This is the
//! interface ([`ReminderCalls`]); the SQL is in [`crate::db::sqlite::reminder_calls`] and
//! [`crate::db::postgres::reminder_calls`].

use jiff::{Timestamp, tz::TimeZone};

use super::corrupt;
use crate::{
    db::{DbError, leases::Wall, outbox::Begun, postgres, sqlite, store::Store},
    domain::reminder_calls::ReminderCallsSpec,
};

/// What a sweep settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Leases that ran out before any request: queued again.
    pub requeued: usize,
    /// Leases that ran out mid-request, or live calls never heard of again: `unknown`.
    pub unknown: usize,
}

/// A claimed call with everything the dial-time decision needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Row id.
    pub id: i64,
    /// Owning tenant.
    pub tenant_id: i64,
    /// The appointment.
    pub appointment_id: i64,
    /// Which reminder.
    pub hours_before: u32,
    /// 1 or 2.
    pub attempt: u32,
    /// The customer.
    pub to: String,
    /// The tenant's number (`From`).
    pub from: String,
    /// The business name (`CallerId`).
    pub business: String,
    /// The appointment's status now.
    pub appointment_status: String,
    /// Its start now (Unix seconds).
    pub start: i64,
    /// The start the call was planned for.
    pub for_start: i64,
    /// The tenant's settings now (`None`: reminder calls were switched off).
    pub spec: Option<ReminderCallsSpec>,
    /// The tenant's zone.
    pub tz: TimeZone,
    /// The number stopped the tenant's calls.
    pub opted_out: bool,
    /// Another reminder of this appointment was dialled today (local).
    pub other_today: bool,
    /// Calls to this number by this tenant today and in the last 7 local days.
    pub to_number_today: u32,
    /// See `to_number_today`.
    pub to_number_week: u32,
}

/// The Unix second local midnight `days_back` days before the local day of `now` began.
pub(crate) fn local_day_start(now: i64, tz: &TimeZone, days_back: i64) -> Result<i64, DbError> {
    let day = Timestamp::from_second(now)
        .map_err(corrupt)?
        .to_zoned(tz.clone())
        .date()
        .checked_sub(jiff::Span::new().days(days_back))
        .map_err(corrupt)?;
    Ok(day
        .to_zoned(tz.clone())
        .map_err(corrupt)?
        .timestamp()
        .as_second())
}

/// The reminder-call dialer's queue of a store ([`Store::reminder_calls`]). On PostgreSQL
/// a claim picks its row with `FOR UPDATE SKIP LOCKED` and commits the lease, and claims
/// are counted against the cap of calls in progress one at a time across nodes.
pub struct ReminderCalls<'s>(pub(in crate::db) &'s Store);

impl ReminderCalls<'_> {
    /// Settles what a stopped dialer (of any node) left: see
    /// [`crate::db::sqlite::reminder_calls::sweep`].
    /// Leases are judged at `wall_ms` on the store's lease clock ([`Wall`]); live calls
    /// at `now`, business seconds.
    pub async fn sweep(&self, wall_ms: impl Into<Wall>, now: i64) -> Result<Swept, DbError> {
        let wall = wall_ms.into();
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::reminder_calls::sweep(c, wall.node_ms(), now))
                    .await
            }
            Store::Postgres(pg) => postgres::reminder_calls::sweep(pg, wall.fixed(), now).await,
        }
    }

    /// Calls being dialled or live now, across all tenants (and nodes).
    pub async fn in_progress(&self) -> Result<usize, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(|c| sqlite::reminder_calls::in_progress(c)).await,
            Store::Postgres(pg) => postgres::reminder_calls::in_progress(pg).await,
        }
    }

    /// Ids of queued calls due at `now`, oldest due first.
    pub async fn due(&self, now: i64, limit: usize) -> Result<Vec<i64>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::reminder_calls::due(c, now, limit))
                    .await
            }
            Store::Postgres(pg) => postgres::reminder_calls::due(pg, now, limit).await,
        }
    }

    /// Claims queued call `id` with a lease until `wall_ms + lease_ms` (on the store's
    /// lease clock, [`Wall`]) and reads the facts of the dial-time decision; `None` when another claim (of any node) won it, or, with
    /// several nodes, when `cap` calls are in progress already. (One SQLite file has one
    /// dialer, which counted the calls in progress before it asked.)
    pub async fn claim(
        &self,
        id: i64,
        now: i64,
        wall_ms: impl Into<Wall>,
        lease_ms: i64,
        cap: usize,
    ) -> Result<Option<Claimed>, DbError> {
        let wall = wall_ms.into();
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::reminder_calls::claim(c, id, now, wall.node_ms(), lease_ms)
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::reminder_calls::claim(pg, id, now, wall.fixed(), lease_ms, cap).await
            }
        }
    }

    /// Marks that the HTTP request is about to be sent (at `now`, business seconds);
    /// [`Begun::Lost`] when the call is no longer this claim's to dial (its lease was
    /// swept while this node stalled, or another claim's request has started): then it
    /// must not be dialled. On SQLite the dial goes at once, at `wall_ms` (the one dialer
    /// paces in memory). On PostgreSQL the account's next dial slot (slots `gap_ms`
    /// apart, every node's) is reserved in the same transaction: [`Begun::Go`] says how
    /// long to wait for it, and a slot further than `horizon_ms` away puts the call back
    /// in the queue ([`Begun::Paced`]), so the nodes together keep
    /// `SLOTLINE_CALLS_PER_SECOND`.
    pub async fn begin_request(
        &self,
        id: i64,
        now: i64,
        wall_ms: i64,
        gap_ms: i64,
        horizon_ms: i64,
    ) -> Result<Begun, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    let ours = sqlite::reminder_calls::begin_request(c, id, now)?;
                    Ok(Begun::at_once(ours, wall_ms))
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::reminder_calls::begin_request(pg, id, now, gap_ms, horizon_ms).await
            }
        }
    }

    /// Closes call `id` as `status` with what it came to (`outcome`, also noted on the
    /// appointment) and why: skipped, a dry run, a dial that failed or whose outcome is
    /// unknown. A dry run (`started`) is first marked as requested, in the same
    /// transaction, as a real dial would be.
    pub async fn close(
        &self,
        id: i64,
        status: &'static str,
        reason: String,
        started: bool,
        now: i64,
    ) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    if started {
                        sqlite::reminder_calls::begin_request(c, id, now)?;
                    }
                    crate::db::reminder_calls::close(
                        c,
                        id,
                        status,
                        Some(status),
                        Some(&reason),
                        now,
                    )
                })
                .await
            }
            Store::Postgres(pg) => {
                pg.write(async |tx| {
                    if started {
                        postgres::reminder_calls::start_request(tx, id, now).await?;
                    }
                    postgres::reminder_plans::close(
                        tx,
                        id,
                        status,
                        Some(status),
                        Some(&reason),
                        now,
                    )
                    .await
                })
                .await
            }
        }
    }

    /// Telnyx took the call.
    pub async fn mark_live(
        &self,
        id: i64,
        call_sid: Option<String>,
        now: i64,
    ) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::reminder_calls::mark_live(c, id, call_sid.as_deref(), now)
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::reminder_calls::mark_live(pg, id, call_sid.as_deref(), now).await
            }
        }
    }

    /// Back to the queue, due at `due_at`: nothing was dialled.
    pub async fn requeue(
        &self,
        id: i64,
        due_at: i64,
        reason: String,
        now: i64,
    ) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::reminder_calls::requeue(c, id, due_at, &reason, now))
                    .await
            }
            Store::Postgres(pg) => {
                postgres::reminder_calls::requeue(pg, id, due_at, &reason, now).await
            }
        }
    }
}
