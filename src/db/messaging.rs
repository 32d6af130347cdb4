//! What customers and Telnyx told us about texts: opt-outs (STOP / START, or a 40300
//! refusal) and the messaging webhook events already handled.
//!
//! Opt-outs are keyed by (number, messaging profile); a profile of '' (unknown) blocks the
//! number on every profile, and a text whose profile is unknown is blocked by any opt-out
//! of its number: when in doubt, do not text. This is the interface; the SQL is in
//! [`super::sqlite::messaging`] and [`super::postgres::messaging`] (whose functions also
//! take a transaction, for changes that compose them).

use super::{DbError, postgres, sqlite, store::Store};

// Composed into other repository functions' SQLite transactions (queueing, the inbound
// webhook's handling).
pub use super::sqlite::messaging::{is_opted_out, lift_opt_out, record_event, record_opt_out};

/// Opt-outs and handled events of a store ([`Store::messaging`]).
pub struct Messaging<'s>(pub(super) &'s Store);

impl Messaging<'_> {
    /// True when `number` has opted out of texts on `profile`.
    pub async fn is_opted_out(
        &self,
        number: String,
        profile: Option<String>,
    ) -> Result<bool, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::messaging::is_opted_out(c, &number, profile.as_deref()))
                    .await
            }
            Store::Postgres(pg) => {
                let (n, p) = (number.as_str(), profile.as_deref());
                pg.run(async |c| postgres::messaging::is_opted_out(c, n, p).await)
                    .await
            }
        }
    }

    /// Records that `number` opted out on `profile` and skips every text still queued to
    /// it there; how many were skipped.
    pub async fn record_opt_out(
        &self,
        number: String,
        profile: Option<String>,
        now: i64,
    ) -> Result<usize, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::messaging::record_opt_out(c, &number, profile.as_deref(), now)
                })
                .await
            }
            Store::Postgres(pg) => {
                let (n, p) = (number.as_str(), profile.as_deref());
                pg.write(async |tx| postgres::messaging::record_opt_out(tx, n, p, now).await)
                    .await
            }
        }
    }

    /// Lifts an opt-out (START), and one recorded without a profile.
    pub async fn lift_opt_out(
        &self,
        number: String,
        profile: Option<String>,
    ) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::messaging::lift_opt_out(c, &number, profile.as_deref()))
                    .await
            }
            Store::Postgres(pg) => {
                let (n, p) = (number.as_str(), profile.as_deref());
                pg.write(async |tx| postgres::messaging::lift_opt_out(tx, n, p).await)
                    .await
            }
        }
    }

    /// Remembers a messaging webhook event; false when it was handled before.
    pub async fn record_event(&self, event: Event, now: i64) -> Result<bool, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::messaging::record_event(
                        c,
                        &event.id,
                        &event.kind,
                        event.message_id.as_deref(),
                        event.status.as_deref(),
                        event.detail.as_deref(),
                        now,
                    )
                })
                .await
            }
            Store::Postgres(pg) => {
                pg.write(async |tx| {
                    postgres::messaging::record_event(
                        tx,
                        &event.id,
                        &event.kind,
                        event.message_id.as_deref(),
                        event.status.as_deref(),
                        event.detail.as_deref(),
                        now,
                    )
                    .await
                })
                .await
            }
        }
    }
}

/// A messaging webhook event as it is remembered.
#[derive(Debug, Clone, Default)]
pub struct Event {
    /// Telnyx's event id (the duplicate check).
    pub id: String,
    /// Its type (`message.finalized`, `message.received`, …).
    pub kind: String,
    /// The message it is about, when it is about one.
    pub message_id: Option<String>,
    /// The delivery status it reports, if any.
    pub status: Option<String>,
    /// Why, when it reports a failure.
    pub detail: Option<String>,
}
