//! Leases for single-runner jobs: one row per job name, held by one node until it expires
//! or is released. Taking a lease that another node holds and has not let expire fails;
//! renewing one's own keeps its epoch; taking one over raises the epoch, so a holder can
//! tell, by comparing epochs, that the job passed to someone else meanwhile. This is the
//! interface; the SQL is in [`super::sqlite::leases`] and [`super::postgres::leases`].

use super::{DbError, postgres, sqlite, store::Store};
use crate::clock::Clock;

/// The instant a lease is taken, renewed or judged at. A lease guards against a node that
/// stalled or died, which is a matter of real time passing (never the business clock,
/// which tests set by hand), and it is judged by nodes that did not take it: so it is
/// measured on one clock every contender shares. On SQLite that is the one node's wall
/// clock; on PostgreSQL the database server's (`clock_timestamp()`), so a node whose
/// clock runs ahead cannot take a live lease, nor one whose clock lags lose its own early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wall {
    /// Now, on the store's lease clock (what the workers pass).
    Now,
    /// This instant, wall ms, on either store (a story told at times of its choosing).
    At(i64),
}

impl From<i64> for Wall {
    fn from(ms: i64) -> Self {
        Self::At(ms)
    }
}

impl Wall {
    /// The instant in this node's wall ms: SQLite's lease clock, and what PostgreSQL's
    /// other real-time instants (retry times, holds) are measured in.
    pub fn node_ms(self) -> i64 {
        match self {
            Self::Now => Clock::wall_ms(),
            Self::At(ms) => ms,
        }
    }

    /// The instant as PostgreSQL's lease SQL takes it (`COALESCE($n, the server's
    /// clock)`): `None` is now on the server's clock.
    pub fn fixed(self) -> Option<i64> {
        match self {
            Self::Now => None,
            Self::At(ms) => Some(ms),
        }
    }
}

/// A lease held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Grows each time the lease passes to another holder.
    pub epoch: i64,
    /// When it runs out unless renewed, on the store's lease clock ([`Wall`]).
    pub expires_ms: i64,
}

/// The leases of a store ([`Store::leases`]).
pub struct Leases<'s>(pub(super) &'s Store);

impl Leases<'_> {
    /// Takes or renews lease `name` for `holder` until `now + ttl_ms` (on the store's
    /// lease clock, see [`Wall`]); `None` while another holder has it and it has not
    /// expired.
    pub async fn acquire(
        &self,
        name: &'static str,
        holder: String,
        now: impl Into<Wall>,
        ttl_ms: i64,
    ) -> Result<Option<Lease>, DbError> {
        let now = now.into();
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    let now_ms = now.node_ms();
                    sqlite::leases::acquire(c, name, &holder, now_ms, now_ms + ttl_ms)
                })
                .await
            }
            Store::Postgres(pg) => {
                postgres::leases::acquire(pg, name, &holder, now.fixed(), ttl_ms).await
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
