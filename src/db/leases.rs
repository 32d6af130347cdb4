//! Leases for single-runner jobs: one row per job name, held by one node until it expires
//! or is released. Taking a lease that another node holds and has not let expire fails;
//! renewing one's own keeps its epoch; taking one over raises the epoch, so a holder can
//! tell, by comparing epochs, that the job passed to someone else meanwhile. This is the
//! interface; the SQL is in [`super::sqlite::leases`] and [`super::postgres::leases`].

use super::{DbError, postgres, sqlite, store::Store};

/// A lease held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Grows each time the lease passes to another holder.
    pub epoch: i64,
    /// Wall ms when it runs out unless renewed.
    pub expires_ms: i64,
}

/// The leases of a store ([`Store::leases`]).
pub struct Leases<'s>(pub(super) &'s Store);

impl Leases<'_> {
    /// Takes or renews lease `name` for `holder` until `now_ms + ttl_ms`; `None` while
    /// another holder has it and it has not expired.
    pub async fn acquire(
        &self,
        name: &'static str,
        holder: String,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, DbError> {
        let until = now_ms + ttl_ms;
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::leases::acquire(c, name, &holder, now_ms, until))
                    .await
            }
            Store::Postgres(pg) => {
                postgres::leases::acquire(pg, name, &holder, now_ms, until).await
            }
        }
    }

    /// Gives lease `name` up, if `holder` has it, so another node may take it at once.
    pub async fn release(&self, name: &'static str, holder: String) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::leases::release(c, name, &holder))
                    .await
            }
            Store::Postgres(pg) => postgres::leases::release(pg, name, &holder).await,
        }
    }
}
