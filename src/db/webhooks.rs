//! Webhook endpoints, events and their delivery queue. An event is written by the
//! repository function that makes the change it reports (booking, confirming, moving,
//! cancelling, a delivery status, a call's end), inside that function's transaction, with
//! one `webhook_deliveries` row per subscribed endpoint: a change without its event cannot
//! commit, and vice versa. Nothing is written for a tenant with no endpoint that wants the
//! event. The worker (`crate::webhooks`) claims deliveries with a lease, so a restart
//! mid-send delivers again (at least once), and takes one appointment's events for an
//! endpoint only in the order they happened.

pub(crate) mod events;
pub(crate) mod queue;

use serde::Serialize;

pub use events::{appointment_event, call_event, enqueue, message_event, reminder_call_event};
pub use queue::{
    Attempt, AttemptRow, Candidate, Claimed, DeliveryRow, Then, candidates, claim, deliveries,
    record_attempt, wall_ms,
};

use super::{DbError, leases::Wall, postgres, sqlite, store::Store};
// The queue (still SQLite's only) reads the endpoint it delivers to.
use super::sqlite::webhooks::get_endpoint;

/// The events an endpoint may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "appointment.booked",
    "appointment.rescheduled",
    "appointment.cancelled",
    "message.delivered",
    "message.failed",
    "call.completed",
];

/// An endpoint as the admin API lists it (the secret only at creation and rotation).
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// Row id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// Event types sent there.
    pub events: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix milliseconds since when every attempt failed, if they do.
    pub failing_since_ms: Option<i64>,
    /// Unix seconds when it was disabled for failing too long.
    pub disabled_at: Option<i64>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
}

/// What a failed attempt's delivery says went wrong.
pub(crate) fn failure_reason(attempt: &Attempt) -> String {
    attempt
        .error
        .clone()
        .or_else(|| attempt.http_status.map(|s| format!("answered HTTP {s}")))
        .unwrap_or_else(|| "failed".into())
}

/// Why endpoint `endpoint` was disabled after failing since wall ms `since`.
pub(crate) fn disabled_reason(since: i64, endpoint: i64, reason: &str) -> String {
    let since_text = jiff::Timestamp::from_millisecond(since)
        .map(|t| t.to_string())
        .unwrap_or_default();
    format!(
        "every delivery failed since {since_text}; last error: {reason}. Fix the endpoint, then POST /tenants/{{id}}/webhooks/{endpoint}/enable"
    )
}

/// The webhooks of a store ([`Store::webhooks`]): endpoints, the delivery queue the
/// worker drains, and what was delivered. (Events are written by the changes they report,
/// still on SQLite only, in `events`.)
pub struct Webhooks<'s>(pub(super) &'s Store);

impl Webhooks<'_> {
    /// Stores an endpoint of `tenant` subscribed to `events`, signing with `secret`.
    pub async fn create_endpoint(
        &self,
        tenant: i64,
        url: String,
        events: Vec<String>,
        secret: String,
        now: i64,
    ) -> Result<Endpoint, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::webhooks::create_endpoint(c, tenant, &url, &events, &secret, now)
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::webhooks::create_endpoint(pg, tenant, &url, &events, &secret, now).await
            }
        }
    }

    /// One endpoint of `tenant` ([`DbError::NotFound`] when it has no such endpoint).
    pub async fn get_endpoint(&self, tenant: i64, id: i64) -> Result<Endpoint, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::webhooks::get_endpoint(c, tenant, id))
                    .await
            }
            Store::Postgres(pg) => postgres::webhooks::get_endpoint(pg, tenant, id).await,
        }
    }

    /// The tenant's endpoints, oldest first.
    pub async fn list_endpoints(&self, tenant: i64) -> Result<Vec<Endpoint>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::webhooks::list_endpoints(c, tenant))
                    .await
            }
            Store::Postgres(pg) => postgres::webhooks::list_endpoints(pg, tenant).await,
        }
    }

    /// Deletes an endpoint of `tenant` with its queue and history.
    pub async fn delete_endpoint(&self, tenant: i64, id: i64) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::webhooks::delete_endpoint(c, tenant, id))
                    .await
            }
            Store::Postgres(pg) => postgres::webhooks::delete_endpoint(pg, tenant, id).await,
        }
    }

    /// Gives an endpoint a new secret; deliveries from now on are signed with it.
    pub async fn rotate_endpoint(
        &self,
        tenant: i64,
        id: i64,
        secret: String,
    ) -> Result<Endpoint, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::webhooks::rotate_endpoint(c, tenant, id, &secret))
                    .await
            }
            Store::Postgres(pg) => {
                postgres::webhooks::rotate_endpoint(pg, tenant, id, &secret).await
            }
        }
    }

    /// Enables a disabled endpoint of `tenant` again and forgets its failure streak; its
    /// pending deliveries go out again, each until its own retry period ends.
    pub async fn enable_endpoint(&self, tenant: i64, id: i64) -> Result<Endpoint, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::webhooks::enable_endpoint(c, tenant, id))
                    .await
            }
            Store::Postgres(pg) => postgres::webhooks::enable_endpoint(pg, tenant, id).await,
        }
    }

    /// Pending deliveries due at `now_ms` (their retry time on this node's wall clock), not
    /// leased (on the store's lease clock, [`Wall`]), of live endpoints not in `busy`, at
    /// most one per endpoint and none behind an earlier pending delivery of the same
    /// appointment to the same endpoint; soonest first.
    pub async fn candidates(
        &self,
        now_ms: impl Into<Wall>,
        busy: Vec<i64>,
        limit: usize,
    ) -> Result<Vec<Candidate>, DbError> {
        let wall = now_ms.into();
        match self.0 {
            Store::Sqlite(db) => {
                let now_ms = wall.node_ms();
                db.run(move |c| queue::candidates(c, now_ms, &busy, limit))
                    .await
            }
            Store::Postgres(pg) => postgres::webhooks::candidates(pg, wall, &busy, limit).await,
        }
    }

    /// Leases delivery `id` for `lease_ms` from `now_ms` (on the store's lease clock,
    /// [`Wall`]) unless a worker (of any node) holds it: of two claims at once exactly
    /// one gets it.
    pub async fn claim(
        &self,
        id: i64,
        now_ms: impl Into<Wall>,
        lease_ms: i64,
    ) -> Result<Option<Claimed>, DbError> {
        let wall = now_ms.into();
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    let now_ms = wall.node_ms();
                    queue::claim(c, id, now_ms, now_ms + lease_ms)
                })
                .await
            }
            Store::Postgres(pg) => postgres::webhooks::claim(pg, id, wall.fixed(), lease_ms).await,
        }
    }

    /// Records an attempt of delivery `id` and settles it (delivered; retried or given up
    /// per `then`, the endpoint's failure streak extended and the endpoint disabled once
    /// the streak has lasted `disable_after_ms`); whether this attempt disabled it.
    pub async fn record_attempt(
        &self,
        id: i64,
        attempt: Attempt,
        then: Then,
        disable_after_ms: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    queue::record_attempt(c, id, &attempt, then, disable_after_ms, now)
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::webhooks::record_attempt(pg, id, &attempt, then, disable_after_ms, now)
                    .await
            }
        }
    }

    /// The newest `limit` deliveries to endpoint `endpoint` of `tenant`, newest first, each
    /// with its attempts ([`DbError::NotFound`] when the tenant has no such endpoint).
    pub async fn deliveries(
        &self,
        tenant: i64,
        endpoint: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| queue::deliveries(c, tenant, endpoint, limit))
                    .await
            }
            Store::Postgres(pg) => {
                postgres::webhooks::deliveries(pg, tenant, endpoint, limit).await
            }
        }
    }
}

#[cfg(test)]
mod tests;
