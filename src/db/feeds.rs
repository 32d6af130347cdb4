//! ICS subscription feeds: one row per feed URL, holding only the SHA-256 of the URL's
//! secret, and the appointments a feed shows. Deleting the row revokes the URL; rotating
//! replaces the hash in one statement, so the old URL dies the moment the new one exists.
//! This is the interface; the SQL is in [`super::sqlite::feeds`] and
//! [`super::postgres::feeds`].

use serde::Serialize;

use super::{DbError, postgres, sqlite, store::Store};

/// A feed as the admin API lists it (never with its secret).
#[derive(Debug, Clone, Serialize)]
pub struct Feed {
    /// Row id; the first segment of the URL.
    pub id: i64,
    /// Owning tenant.
    #[serde(skip)]
    pub tenant_id: i64,
    /// `tenant` (all providers) or `provider`.
    pub scope: &'static str,
    /// The provider shown, for `provider` feeds.
    pub provider: Option<String>,
    /// Its id, for queries.
    #[serde(skip)]
    pub provider_id: Option<i64>,
    /// `full`, `initials` or `busy`.
    pub detail: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last rotation, if any.
    pub rotated_at: Option<i64>,
}

impl Feed {
    /// `provider` when the feed shows one provider, else `tenant`.
    pub fn scope_of(provider_id: Option<i64>) -> &'static str {
        if provider_id.is_some() {
            "provider"
        } else {
            "tenant"
        }
    }
}

/// What serving a feed's URL needs: the feed, its secret's hash, and its tenant.
#[derive(Debug, Clone)]
pub struct FeedAccess {
    /// The feed.
    pub feed: Feed,
    /// SHA-256 of the URL's current secret.
    pub secret_hash: Vec<u8>,
    /// The tenant's slug (the file name).
    pub tenant_slug: String,
    /// The tenant's name (the calendar's name).
    pub tenant_name: String,
    /// How far ahead the tenant books, in days (the feed's window).
    pub horizon_days: i64,
}

/// An appointment as a feed shows it.
#[derive(Clone)]
pub struct FeedEvent {
    /// Appointment id (the UID is made from it).
    pub id: i64,
    /// Service name.
    pub service: String,
    /// Provider name.
    pub provider: String,
    /// Caller's name.
    pub customer_name: String,
    /// Caller's number.
    pub customer_phone: Option<String>,
    /// Unix seconds.
    pub start_at: i64,
    /// Unix seconds.
    pub end_at: i64,
    /// `held`, `booked` or `cancelled`.
    pub status: String,
    /// Raised on every move or cancellation.
    pub sequence: i64,
    /// Unix seconds of the last change (the event's DTSTAMP and LAST-MODIFIED).
    pub updated_at: i64,
    /// Unix seconds of its creation.
    pub created_at: i64,
}

/// The feeds of a store ([`Store::feeds`]).
pub struct Feeds<'s>(pub(super) &'s Store);

impl Feeds<'_> {
    /// Stores a new feed of `tenant` (all providers when `provider_id` is `None`).
    pub async fn create(
        &self,
        tenant: i64,
        provider_id: Option<i64>,
        detail: &'static str,
        secret_hash: [u8; 32],
        now: i64,
    ) -> Result<Feed, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    sqlite::feeds::create(c, tenant, provider_id, detail, &secret_hash, now)
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::feeds::create(pg, tenant, provider_id, detail, &secret_hash, now).await
            }
        }
    }

    /// The tenant's feeds, oldest first.
    pub async fn list(&self, tenant: i64) -> Result<Vec<Feed>, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(move |c| sqlite::feeds::list(c, tenant)).await,
            Store::Postgres(pg) => postgres::feeds::list(pg, tenant).await,
        }
    }

    /// Revokes feed `id` of `tenant` ([`DbError::NotFound`] when it has no such feed).
    pub async fn delete(&self, tenant: i64, id: i64) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::feeds::delete(c, tenant, id))
                    .await
            }
            Store::Postgres(pg) => postgres::feeds::delete(pg, tenant, id).await,
        }
    }

    /// Gives feed `id` of `tenant` a new secret; the old one stops working at once.
    pub async fn rotate(
        &self,
        tenant: i64,
        id: i64,
        secret_hash: [u8; 32],
        now: i64,
    ) -> Result<Feed, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::feeds::rotate(c, tenant, id, &secret_hash, now))
                    .await
            }
            Store::Postgres(pg) => postgres::feeds::rotate(pg, tenant, id, &secret_hash, now).await,
        }
    }

    /// Feed `id` with what serving its URL needs; `None` when there is no such feed.
    pub async fn for_url(&self, id: i64) -> Result<Option<FeedAccess>, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(move |c| sqlite::feeds::for_url(c, id)).await,
            Store::Postgres(pg) => postgres::feeds::for_url(pg, id).await,
        }
    }

    /// The appointments of `tenant` (of one provider, when given) starting in `[from, to)`:
    /// booked ones, holds not yet expired at `now`, and cancellations changed since
    /// `cancelled_since`. Ordered by start, then id.
    pub async fn events(
        &self,
        tenant: i64,
        provider_id: Option<i64>,
        window: (i64, i64),
        cancelled_since: i64,
        now: i64,
    ) -> Result<Vec<FeedEvent>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| {
                    sqlite::feeds::events(c, tenant, provider_id, window, cancelled_since, now)
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::feeds::events(pg, tenant, provider_id, window, cancelled_since, now).await
            }
        }
    }
}
