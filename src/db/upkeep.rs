//! Queries behind readiness, metrics and the call funnel: read-only, each answered from an
//! index so a scrape or a `/ready` stays cheap on a full database. This is the interface;
//! the SQL is in [`super::sqlite::upkeep`] and [`super::postgres::upkeep`].

use super::{DbError, postgres, sqlite, store::Store};

/// Every status a text can have, so each is reported (0 included).
pub const TEXT_STATUSES: [&str; 8] = [
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "dry_run",
    "skipped",
    "cancelled",
];

/// Webhook delivery statuses, as `webhook_deliveries` holds them.
pub const DELIVERY_STATUSES: [&str; 3] = ["pending", "delivered", "failed"];

/// Reminder-call attempt statuses, as `reminder_calls` holds them.
pub const REMINDER_CALL_STATUSES: [&str; 9] = [
    "queued",
    "dialing",
    "live",
    "done",
    "cancelled",
    "skipped",
    "failed",
    "dry_run",
    "unknown",
];

/// A tenant's call funnel over `[from, to)`: how many calls reached each stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Funnel {
    /// Inbound calls that reached the line.
    pub calls: i64,
    /// Of those, calls that reached a gather turn (the caller answered the AI at least once).
    pub gathered: i64,
    /// Calls that were offered alternative times.
    pub offered: i64,
    /// Calls that booked an appointment (booked then, even if cancelled since).
    pub booked: i64,
    /// Bookings whose confirmation text went out (sent, delivered, or recorded in dry run).
    pub texted: i64,
    /// Bookings whose confirmation Telnyx reported delivered.
    pub delivered: i64,
}

/// The queues' sizes a metrics scrape reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queues {
    /// Texts per status, every one of [`TEXT_STATUSES`].
    pub texts: Vec<(&'static str, i64)>,
    /// The due time of the oldest text due and still queued.
    pub oldest_due_text: Option<i64>,
    /// Webhook deliveries per status, every one of [`DELIVERY_STATUSES`].
    pub deliveries: Vec<(&'static str, i64)>,
    /// Reminder-call attempts per status, every one of [`REMINDER_CALL_STATUSES`].
    pub reminder_calls: Vec<(&'static str, i64)>,
}

/// The upkeep queries of a store ([`Store::upkeep`]).
pub struct Upkeep<'s>(pub(super) &'s Store);

impl Upkeep<'_> {
    /// A round trip through the path writes take (SQLite: a job on the writer thread, in
    /// its group; PostgreSQL: a transaction on a pooled connection), so readiness sees a
    /// wedged writer, a full queue or an unreachable server.
    pub async fn write_round_trip(&self) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => db.write(|_| Ok(())).await,
            Store::Postgres(pg) => {
                pg.write(async |tx| {
                    tx.execute("SELECT 1", &[]).await?;
                    Ok(())
                })
                .await
            }
        }
    }

    /// The due time (Unix seconds) of the oldest text due by `now` and still queued.
    pub async fn oldest_due_text(&self, now: i64) -> Result<Option<i64>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::upkeep::oldest_due_text(c, now))
                    .await
            }
            Store::Postgres(pg) => postgres::upkeep::oldest_due_text(pg, now).await,
        }
    }

    /// Every queue's size by status, and the oldest due text, as of `now`.
    pub async fn queues(&self, now: i64) -> Result<Queues, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(move |c| sqlite::upkeep::queues(c, now)).await,
            Store::Postgres(pg) => postgres::upkeep::queues(pg, now).await,
        }
    }

    /// The funnel of `tenant`'s calls that started in `[from, to)` (with `call_days` for
    /// calls past retention) and of the appointments booked by phone in the same period.
    pub async fn funnel(&self, tenant: i64, from: i64, to: i64) -> Result<Funnel, DbError> {
        Ok(self
            .funnels(vec![tenant], from, to)
            .await?
            .pop()
            .unwrap_or_default())
    }

    /// The funnel of each of `tenants` over `[from, to)`, in their order.
    pub async fn funnels(
        &self,
        tenants: Vec<i64>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Funnel>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| {
                    tenants
                        .iter()
                        .map(|t| sqlite::upkeep::funnel(c, *t, from, to))
                        .collect()
                })
                .await
            }
            Store::Postgres(pg) => postgres::upkeep::funnels(pg, &tenants, from, to).await,
        }
    }
}
