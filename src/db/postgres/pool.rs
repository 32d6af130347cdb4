//! The PostgreSQL store's handle: a pool of connections, migrated on open, and the
//! request deadline carried into every statement. A read or write inside
//! [`crate::db::deadline::scope`] waits for a connection and runs its statements only
//! until the deadline; a transaction not yet committing by then is rolled back
//! ([`DbError::Deadline`]), and a COMMIT already sent is waited for, so what the caller is
//! told always matches what the database holds (the same promise as SQLite's writer).

use std::future::Future;

use deadpool_postgres::{
    Config, ManagerConfig, Object, Pool, PoolConfig, RecyclingMethod, Runtime, Transaction,
};
use tokio_postgres::NoTls;

use crate::db::{DbError, deadline};

/// Connections a node keeps open at most.
pub const POOL_SIZE: usize = 16;

/// The pool, cheap to clone.
#[derive(Clone)]
pub struct Pg {
    pool: Pool,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg")
            .field("status", &self.pool.status())
            .finish()
    }
}

impl Pg {
    /// Connects to `url` and brings its schema to this binary's version (nodes starting
    /// together migrate one at a time).
    pub async fn open(url: &str) -> Result<Self, DbError> {
        let mut client = super::connect(url).await?;
        super::migrations::apply(&mut client).await?;
        drop(client);
        let config = Config {
            url: Some(url.to_owned()),
            manager: Some(ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            }),
            pool: Some(PoolConfig::new(POOL_SIZE)),
            ..Config::default()
        };
        let pool = config
            .create_pool(Some(Runtime::Tokio1), NoTls)
            .map_err(|e| DbError::Unreachable(format!("cannot set up the PostgreSQL pool: {e}")))?;
        Ok(Self { pool })
    }

    /// A pooled connection, waited for only until the request's deadline.
    pub async fn conn(&self) -> Result<Object, DbError> {
        bounded(async {
            self.pool
                .get()
                .await
                .map_err(|e| DbError::Unreachable(format!("no PostgreSQL connection: {e}")))
        })
        .await
    }
}

impl Pg {
    /// Runs `work` on a pooled connection outside any transaction (reads, and writes of
    /// one statement), within the request's deadline.
    pub async fn run<T>(
        &self,
        work: impl AsyncFnOnce(&Object) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let conn = self.conn().await?;
        bounded(work(&conn)).await
    }

    /// Runs `work` in a transaction and commits it. Within a request's deadline, `work`
    /// runs only until the deadline (then the transaction rolls back and nothing was
    /// written); the COMMIT, once sent, is waited for.
    pub async fn write<T>(
        &self,
        work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut conn = self.conn().await?;
        let tx = bounded(async { Ok(conn.transaction().await?) }).await?;
        let out = bounded(work(&tx)).await?;
        tx.commit().await?;
        Ok(out)
    }
}

/// Runs `work` until the request's deadline, if there is one (not at all once it has
/// passed): past it, the work is
/// dropped (an open transaction inside it rolls back) and the answer is
/// [`DbError::Deadline`]. Commits go outside it, so one under way is always waited for.
pub async fn bounded<T>(work: impl Future<Output = Result<T, DbError>>) -> Result<T, DbError> {
    match deadline::current() {
        Some(d) if deadline::remaining(d).is_zero() => Err(DbError::Deadline),
        Some(d) => tokio::time::timeout_at(d.into(), work)
            .await
            .map_err(|_| DbError::Deadline)?,
        None => work.await,
    }
}
