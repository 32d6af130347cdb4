//! What customers and Telnyx told us about texts: opt-outs (STOP / START, or a 40300
//! refusal) and the messaging webhook events already handled.
//!
//! Opt-outs are keyed by (number, messaging profile); a profile of '' (unknown) blocks the
//! number on every profile, and a text whose profile is unknown is blocked by any opt-out
//! of its number: when in doubt, do not text. This is the interface; the SQL is in
//! [`super::sqlite::messaging`] and [`super::postgres::messaging`] (whose functions also
//! take a transaction, for changes that compose them).

use super::{DbError, postgres, sqlite, store::Store, tenants::Tenant};
use crate::domain::PhoneNumber;

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

/// A text a delivery webhook reports as sent: (to, from, words), to adopt a held text.
pub type SentAs = (String, String, String);

/// An inbound text, as the reply handling needs it.
pub struct Inbound {
    /// The tenant's number it was sent to.
    pub line: PhoneNumber,
    /// Who sent it (E.164).
    pub customer: String,
    /// Telnyx's keyword (`STOP`, `START`, …), upper-cased, when it recognised one.
    pub keyword: Option<String>,
    /// The words are a cancel reply (`C`).
    pub wants_cancel: bool,
    /// The messaging profile it came in on.
    pub profile: Option<String>,
}

/// How a tenant answers a `C` reply: from which number and profile, and the words when
/// the customer has nothing to cancel.
pub struct ReplyPlan {
    /// The sender.
    pub from: String,
    /// The messaging profile.
    pub profile: Option<String>,
    /// Sent when there is no upcoming appointment.
    pub no_booking: String,
}

/// What an inbound text came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Handled before.
    Duplicate,
    /// Nothing slotline acts on.
    Ignored,
    /// The number opted out.
    OptedOut,
    /// The number opted back in.
    OptedIn,
    /// `C` cancelled this appointment (its cancellation text queued).
    Cancelled(i64),
    /// `C` with nothing to cancel (a reply saying so queued).
    NoBooking,
}

impl Messaging<'_> {
    /// A delivery webhook, in one transaction: remembers `event` (`None`: handled before),
    /// adopts the held text it reports as sent, and moves the text forward to the
    /// event's status; whether any text changed.
    pub async fn delivery(
        &self,
        event: Event,
        sent_as: Option<SentAs>,
        now: i64,
    ) -> Result<Option<bool>, DbError> {
        let Some(message_id) = event.message_id.clone() else {
            return Ok(None);
        };
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::messaging::delivery(c, &event, &message_id, sent_as.as_ref(), now)
                })
                .await
            }
            Store::Postgres(pg) => {
                pg.write(async |tx| {
                    postgres::outbox::lock_message(tx, &message_id).await?;
                    if !postgres::messaging::record_event(
                        tx,
                        &event.id,
                        &event.kind,
                        Some(&message_id),
                        event.status.as_deref(),
                        event.detail.as_deref(),
                        now,
                    )
                    .await?
                    {
                        return Ok(None);
                    }
                    let adopted = match &sent_as {
                        Some((to, from, text)) => {
                            postgres::outbox::adopt_held(tx, &message_id, to, from, text).await?
                        }
                        None => false,
                    };
                    let moved = match event.status.as_deref() {
                        Some(s) => {
                            postgres::outbox::apply_delivery_status(
                                tx,
                                &message_id,
                                s,
                                event.detail.as_deref(),
                            )
                            .await?
                        }
                        None => false,
                    };
                    Ok(Some(adopted || moved))
                })
                .await
            }
        }
    }

    /// An inbound text, in one transaction: remembers event `id` of type `kind`, then
    /// for `text` (when it names a line and a sender) records a STOP or START, or answers a
    /// `C`: the tenant it replies to ([`crate::db::tenants::for_reply`]) has the
    /// customer's next appointment cancelled and the cancellation texted, or texts that
    /// there is nothing to cancel, as `plan` says for that tenant.
    pub async fn received(
        &self,
        id: String,
        kind: String,
        text: Option<Inbound>,
        now: i64,
        plan: impl FnOnce(&Tenant) -> ReplyPlan + Send + 'static,
    ) -> Result<Received, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::messaging::received(c, &id, &kind, text.as_ref(), now, plan)
                })
                .await
            }
            Store::Postgres(pg) => {
                pg.write(async |tx| {
                    postgres::messaging::received(tx, &id, &kind, text.as_ref(), now, plan).await
                })
                .await
            }
        }
    }
}
