//! The PostgreSQL store's handle: a pool of connections, migrated on open, and the
//! request deadline carried into every statement. A read or write inside
//! [`crate::db::deadline::scope`] waits for a connection and for its statements only
//! until the deadline; a transaction not yet committing by then is cancelled and rolled
//! back ([`DbError::Deadline`]), and a COMMIT already sent is waited for, so what the
//! caller is told always matches what the database holds (the same promise as SQLite's
//! writer). Outside a deadline, connections are waited for at most [`WAIT`].

use std::{
    future::Future,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use deadpool_postgres::PoolError;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Timeouts, Transaction,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::Target;

use crate::{
    db::{
        DbError, deadline,
        tenants::{Beside, Changed},
    },
    metrics::WriterStats,
};

/// Connections a node keeps open at most.
pub const POOL_SIZE: usize = 16;

/// The pool, cheap to clone.
#[derive(Clone)]
pub struct Pg {
    pool: Pool,
    /// Writes as the metrics see them (`db_write_*`): the wait is for a pooled
    /// connection, and each transaction is one group of one job.
    stats: Arc<WriterStats>,
    /// What the pool connects to, with the TLS connector of its connections (for
    /// cancelling their statements, and for saying why a connection was refused).
    target: Arc<Target>,
}

/// How long a node waits for a connection to be made or handed out outside a request's
/// deadline (admin routes, background jobs), so a database that stopped answering fails
/// calls instead of hanging them.
const WAIT: Duration = Duration::from_secs(10);

impl Pg {
    /// Connects to `url` and brings its schema to this binary's version (nodes starting
    /// together migrate one at a time). Every connection has the TLS the URL's `sslmode`
    /// asks for ([`super::tls`]).
    pub async fn open(url: &str) -> Result<Self, DbError> {
        let target = Target::new(url)?;
        let mut client = target.client(&target.config).await?;
        super::migrations::apply(&mut client).await?;
        drop(client);
        Self::pooled(target)
    }

    /// Connects to `url` for reading only (`slotline texml preview`): nothing is migrated,
    /// and every transaction is read-only (`default_transaction_read_only`, enforced by
    /// the server). A schema at another version than this binary's is refused, saying
    /// what to run.
    pub async fn open_read_only(url: &str) -> Result<Self, DbError> {
        let mut target = Target::new(url)?;
        let options = match target.config.get_options() {
            Some(o) => format!("{o} -c default_transaction_read_only=on"),
            None => "-c default_transaction_read_only=on".to_string(),
        };
        target.config.options(options);
        let client = target.client(&target.config).await?;
        let at = super::migrations::version(&client).await?;
        let latest = super::migrations::MIGRATIONS.len() as i64;
        if at < latest {
            return Err(DbError::Corrupt(format!(
                "the database's schema is at version {at} and this slotline reads version {latest}: run `slotline migrate` first"
            )));
        }
        if at > latest {
            return Err(DbError::Corrupt(format!(
                "database schema version {at} is newer than this slotline ({latest}); upgrade slotline"
            )));
        }
        drop(client);
        Self::pooled(target)
    }

    /// The pool of connections to `target`.
    fn pooled(target: Target) -> Result<Self, DbError> {
        let mut config = target.config.clone();
        config.connect_timeout(WAIT);
        let manager = Manager::from_config(
            config,
            target.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .timeouts(Timeouts {
                wait: Some(WAIT),
                create: Some(WAIT),
                recycle: Some(WAIT),
            })
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::Unreachable(format!("cannot set up the PostgreSQL pool: {e}")))?;
        Ok(Self {
            pool,
            stats: Arc::default(),
            target: Arc::new(target),
        })
    }

    /// What [`Pg::write`] reports to the metrics.
    pub fn writer_stats(&self) -> Arc<WriterStats> {
        self.stats.clone()
    }

    /// A pooled connection for a write, its wait counted in the queue's depth and wait.
    async fn write_conn(&self) -> Result<Object, DbError> {
        let queued = Instant::now();
        self.stats.depth.fetch_add(1, Ordering::Relaxed);
        let conn = self.conn().await;
        self.stats.depth.fetch_sub(1, Ordering::Relaxed);
        self.stats.wait.observe(queued.elapsed());
        conn
    }

    /// Counts a transaction that began at `began` and has just ended.
    fn held(&self, began: Instant) {
        let held = began.elapsed();
        self.stats.groups.fetch_add(1, Ordering::Relaxed);
        self.stats.grouped.fetch_add(1, Ordering::Relaxed);
        self.stats.hold.observe(held);
        let micros = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
        self.stats
            .longest_hold_us
            .fetch_max(micros, Ordering::Relaxed);
    }

    /// A pooled connection, waited for only until the request's deadline.
    async fn conn(&self) -> Result<Object, DbError> {
        bounded(async {
            self.pool.get().await.map_err(|e| match e {
                PoolError::Backend(e) => self.target.refused(&e),
                e => DbError::Unreachable(format!("no PostgreSQL connection: {e}")),
            })
        })
        .await
    }

    /// Runs `work` (reads only: a write goes through [`Pg::write`], so that a deadline
    /// never leaves it half-known) on a pooled connection, within the request's deadline.
    pub async fn run<T>(
        &self,
        work: impl AsyncFnOnce(&Object) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let conn = self.conn().await?;
        let result = bounded(work(&conn)).await;
        if matches!(result, Err(DbError::Deadline)) {
            abandon(conn, self.target.tls.clone());
        }
        result
    }

    /// Runs `work` in a transaction and commits it. Within a request's deadline, `work`
    /// runs only until the deadline: then the statement under way is cancelled, the
    /// transaction rolls back (nothing was written), and the connection is closed rather
    /// than handed to the next caller; the COMMIT, once sent, is waited for.
    pub async fn write<T>(
        &self,
        work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut conn = self.write_conn().await?;
        let began = Instant::now();
        let result = async {
            let tx = bounded(async { Ok(conn.transaction().await?) }).await?;
            let out = bounded(work(&tx)).await?;
            tx.commit().await?;
            Ok(out)
        }
        .await;
        self.held(began);
        if matches!(result, Err(DbError::Deadline)) {
            abandon(conn, self.target.tls.clone());
        }
        result
    }

    /// [`Pg::write`] for a change that takes a step beside the database (moving a
    /// tenant's files): `work` answers `Ok((value, step))` to commit, and the step is
    /// undone if the commit fails; or `Err(answer)` to roll back whatever it did and
    /// answer that instead.
    pub async fn write_beside<T, R, B: Beside>(
        &self,
        work: impl AsyncFnOnce(&Transaction<'_>) -> Result<Result<(T, B), Changed<T, R>>, DbError>,
    ) -> Result<Changed<T, R>, DbError> {
        let mut conn = self.write_conn().await?;
        let began = Instant::now();
        let result = async {
            let tx = bounded(async { Ok(conn.transaction().await?) }).await?;
            match bounded(work(&tx)).await? {
                Ok((value, step)) => {
                    if let Err(e) = tx.commit().await {
                        step.undo();
                        return Err(e.into());
                    }
                    Ok(Changed::Done(value))
                }
                Err(answer) => {
                    tx.rollback().await?;
                    Ok(answer)
                }
            }
        }
        .await;
        self.held(began);
        if matches!(result, Err(DbError::Deadline)) {
            abandon(conn, self.target.tls.clone());
        }
        result
    }

    /// [`Pg::write`] of the work `work()` makes, made and run again (in a new
    /// transaction) when PostgreSQL broke the transaction off as a deadlock or a
    /// serialization failure (SQLSTATE 40P01, 40001), at most [`RETRIES`] times more. What
    /// two changes racing at READ COMMITTED may meet (two bookings each deleting an
    /// expired hold the other's time needs) ends here, in one place. (A maker of
    /// `AsyncFnOnce` closures rather than one `AsyncFn`: the futures of an `AsyncFn`
    /// called by reference cannot yet be shown to be `Send` for every borrow.)
    pub async fn write_retry<T, W>(&self, work: impl Fn() -> W) -> Result<T, DbError>
    where
        W: AsyncFnOnce(&Transaction<'_>) -> Result<T, DbError>,
    {
        let mut retries = 0;
        loop {
            match self.write(work()).await {
                Err(DbError::Postgres(e)) if retries < RETRIES && is_transient(&e) => {
                    retries += 1;
                    tracing::debug!(error = %e, retries, "PostgreSQL transaction broken off; running it again");
                }
                other => return other,
            }
        }
    }
}

/// How many times [`Pg::write_retry`] runs a transaction again.
pub const RETRIES: u32 = 3;

/// A deadlock or serialization failure: the transaction was rolled back and may run again.
fn is_transient(e: &tokio_postgres::Error) -> bool {
    matches!(
        super::code(e),
        Some(super::sqlstate::SERIALIZATION_FAILURE | super::sqlstate::DEADLOCK_DETECTED)
    )
}

/// Takes a connection whose statement outlived the deadline out of the pool: the server
/// is asked to cancel the statement (its transaction then rolls back, releasing its
/// locks) and the connection is closed, so no later caller queues behind it.
fn abandon(conn: Object, tls: MakeRustlsConnect) {
    let cancel = conn.cancel_token();
    let client = Object::take(conn);
    tokio::spawn(async move {
        if let Err(e) = cancel.cancel_query(tls).await {
            tracing::debug!(error = %e, "could not cancel a PostgreSQL statement past its deadline");
        }
        drop(client);
    });
}

/// Runs `work` until the request's deadline, if there is one (not at all once it has
/// passed): past it, the work is dropped and the answer is [`DbError::Deadline`].
/// Commits go outside it, so one under way is always waited for.
async fn bounded<T>(work: impl Future<Output = Result<T, DbError>>) -> Result<T, DbError> {
    match deadline::current() {
        Some(d) if deadline::remaining(d).is_zero() => Err(DbError::Deadline),
        Some(d) => tokio::time::timeout_at(d.into(), work)
            .await
            .map_err(|_| DbError::Deadline)?,
        None => work.await,
    }
}
