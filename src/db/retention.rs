//! Deleting what is no longer needed, in small batches ([`Store::retention`]): each batch
//! removes at most `limit` rows of one kind, oldest first along an index, in one short
//! transaction, and says how many it removed, so the job ([`crate::retention`]) can stop
//! when a batch comes back short and let other writes in between. Calls are counted into
//! `call_days` in the same transaction that deletes them, so stats keep their totals. The
//! SQL is in [`super::sqlite::retention`] and [`super::postgres::retention`].

use std::time::{Duration, Instant};

use super::{DbError, postgres, sqlite, store::Store};

/// What one batch prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Stored gather answers created before the cutoff (their state token has expired).
    CallbackAnswers,
    /// Messaging webhook events handled before the cutoff.
    MessagingEvents,
    /// Texts finished (sent, delivered, failed, dry run, skipped, cancelled) before the
    /// cutoff; queued and sending texts are never touched.
    FinishedTexts,
    /// Calls started before the cutoff: the oldest `limit` (or a few more sharing the
    /// last second), added to their tenant's `call_days` and deleted with their turns.
    Calls,
    /// Cancelled appointments that both started and were last changed before the cutoff
    /// (with their texts, by cascade). Booked ones are history and stay.
    CancelledAppointments,
    /// Webhook events created before the cutoff that no endpoint still waits for, with
    /// their deliveries and attempts. One still pending for a failing or disabled
    /// endpoint stays, so re-enabling it delivers it.
    WebhookEvents,
    /// Reminder-call attempts that ended (or never went) before the cutoff; the
    /// appointment keeps each attempt's outcome, and call opt-outs are kept for good.
    ReminderCalls,
}

/// Pruning in a store ([`Store::retention`]).
pub struct Retention<'s>(pub(super) &'s Store);

impl Retention<'_> {
    /// Runs one batch of `step`: returns how many rows it removed and how long its
    /// statements held the database's writer (SQLite's one writer; on PostgreSQL the
    /// rows' locks) before the commit.
    pub async fn prune(
        &self,
        step: Step,
        cutoff: i64,
        limit: usize,
    ) -> Result<(usize, Duration), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    let started = Instant::now();
                    let n = sqlite::retention::prune(c, step, cutoff, limit)?;
                    Ok((n, started.elapsed()))
                })
                .await
            }
            Store::Postgres(pg) => {
                pg.write(async |tx| {
                    let started = Instant::now();
                    let n = postgres::retention::prune(tx, step, cutoff, limit).await?;
                    Ok((n, started.elapsed()))
                })
                .await
            }
        }
    }
}
