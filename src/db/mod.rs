//! Storage: the SQLite pool, migrations, and the repository functions. All SQL lives under
//! this module. Every connection gets the same PRAGMAs, and no async thread ever waits on
//! SQLite: reads ([`Db::run`]) run on tokio's blocking pool, writes ([`Db::write`]) are
//! jobs for one writer thread that owns the only writing connection. SQLite allows one
//! writer at a time anyway; queueing in-process avoids its busy handler (which sleeps in
//! steps of up to 100 ms when writers collide) and a pile of blocked threads. The writer
//! never checkpoints the WAL itself: [`Db::checkpoint`] does, off the commit path.
//! Queued writes are committed in groups, one fsync for many ([`writer`]); a write's own
//! transaction is [`begin`], which nests in the group. The writer's queue is bounded and
//! fails fast when full, and inside a request's [`deadline::scope`] no write commits after
//! the deadline.

pub mod appointments;
pub mod backup;
pub mod calls;
pub mod console;
pub mod deadline;
pub mod documents;
pub mod feeds;
pub mod leases;
pub mod messaging;
pub(crate) mod migrations;
pub mod outbox;
pub mod postgres;
pub mod reminder_calls;
pub mod retention;
pub mod settings;
pub mod sqlite;
pub mod store;
pub mod tenants;
pub mod upkeep;
pub mod webhooks;
pub mod wording;
mod writer;

use std::{
    ops::Deref,
    path::Path,
    sync::{Arc, atomic::Ordering, mpsc},
    time::{Duration, Instant},
};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, Savepoint, Transaction, TransactionBehavior};

use crate::metrics::WriterStats;

/// Errors from storage. Constraint violations that mean something to users are mapped to
/// typed variants by the repository functions; everything else is `Sqlite`.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A uniqueness rule was broken (duplicate slug or number, an occupied slot).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// SQLite itself failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed or refused a statement.
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// The database server could not be reached (PostgreSQL).
    #[error("{0}")]
    Unreachable(String),
    /// No pooled connection could be had.
    #[error(transparent)]
    Pool(#[from] r2d2::Error),
    /// The blocking task panicked or was cancelled.
    #[error("database task failed: {0}")]
    Join(String),
    /// A stored value no longer parses (the database was edited by hand).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The request's deadline passed before its write committed; nothing was written.
    #[error("the request's deadline passed before the database answered; nothing was written")]
    Deadline,
    /// The writer's queue is full (the disk or a lock is holding writes up).
    #[error("the database write queue is full ({WRITE_QUEUE} waiting); try again shortly")]
    Overloaded,
}

/// Most write jobs that may wait for the writer thread; beyond it writes fail at once
/// rather than pile up in memory behind a stalled disk or an outside lock.
pub const WRITE_QUEUE: usize = 4096;
/// How long SQLite waits for a lock held by another process, outside request deadlines.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements the writer connection keeps (rusqlite's default is 16).
const WRITER_STATEMENTS: usize = 128;

/// The read pool and the writer's queue, cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<SqliteConnectionManager>,
    writer: mpsc::SyncSender<writer::Job>,
    /// The queue's depth and wait, for metrics.
    stats: Arc<WriterStats>,
}

/// A write's own transaction ([`begin`]): `BEGIN IMMEDIATE` on a connection outside any
/// transaction (start-up, the CLI, tests), or a savepoint inside the writer's group
/// transaction. Either way dropping it undoes what it did and [`Tx::commit`] keeps it (in
/// a group, for the group's one COMMIT).
pub enum Tx<'c> {
    /// A transaction of its own.
    Own(Transaction<'c>),
    /// A savepoint in the group's transaction.
    Nested(Savepoint<'c>),
}

impl Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            Tx::Own(t) => t,
            Tx::Nested(s) => s,
        }
    }
}

impl Tx<'_> {
    /// Keeps what the transaction did.
    pub fn commit(self) -> rusqlite::Result<()> {
        match self {
            Tx::Own(t) => t.commit(),
            Tx::Nested(s) => s.commit(),
        }
    }
}

/// Starts a write's transaction on `conn` (see [`Tx`]).
pub fn begin(conn: &mut Connection) -> rusqlite::Result<Tx<'_>> {
    if conn.is_autocommit() {
        Ok(Tx::Own(conn.transaction_with_behavior(
            TransactionBehavior::Immediate,
        )?))
    } else {
        Ok(Tx::Nested(conn.savepoint()?))
    }
}

/// Connections in the read pool. A read past them waits for one, so more threads
/// running reads at once than this only wait ([`crate::serve`] sizes its blocking pools
/// by it).
pub const READ_CONNECTIONS: u32 = 8;

/// Applied to every new pooled connection.
fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;",
    )
}

/// Applied to every new connection of the read pool: [`configure`], and a page cache of
/// [`READ_CACHE_KIB`]. Eight readers with SQLite's default 2 MB each held the same hot
/// pages eight times over, up to 16 MB of the server's memory; the file's pages stay in
/// the OS's cache for the reads that miss (bench/README.md, 2026-12-02: 6 MB less after a
/// booking burst, bookings/s the same).
fn configure_reader(conn: &mut Connection) -> rusqlite::Result<()> {
    configure(conn)?;
    conn.pragma_update(None, "cache_size", -READ_CACHE_KIB)
}

/// Each reader's page cache, KiB.
const READ_CACHE_KIB: i64 = 512;

impl Db {
    /// Opens (creating if needed) the database file and migrates it to the current schema;
    /// the writer commits with `synchronous = FULL`.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        Self::open_with(path, true)
    }

    /// [`Db::open`], the writer committing with `synchronous = FULL` when `full`, else
    /// `NORMAL` (`SLOTLINE_SYNCHRONOUS=normal`).
    pub fn open_with(path: &Path, full: bool) -> Result<Self, DbError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| DbError::Join(format!("cannot create {}: {e}", dir.display())))?;
        }
        // The writer migrates before the pool opens connections, so no reader ever meets a
        // half-migrated schema (or a lock held by the migration).
        let mut writer = Connection::open(path)?;
        configure(&mut writer)?;
        migrations::apply(&mut writer)?;
        // Checkpoints run from `Db::checkpoint`, not inside some unlucky commit.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        // A commit is on disk before the caller hears "booked": NORMAL could lose the last
        // commits on a power cut (and the slot be booked twice). Cost: docs/operations.md.
        writer.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" })?;
        // The sub-journal of a group's one open savepoint (one job's pages, tens for a
        // booking, emptied as each job is released: `writer`'s module doc) in memory
        // instead of a temporary file created, written and deleted for every group, a
        // quarter of the writer's time in a booking burst. Set after the migrations, so
        // their sorts still spill to files. (With every savepoint kept open to the COMMIT
        // it grew to ~8 MB a group, bench/README.md 2026-12-01 evening.)
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        // Every statement the writer's jobs prepare stays prepared (the default 16 are
        // fewer than one booking uses together with the other writers' statements).
        writer.set_prepared_statement_cache_capacity(WRITER_STATEMENTS);
        let stats = Arc::new(WriterStats::default());
        let writer = writer::spawn(writer, stats.clone(), WRITE_QUEUE)
            .map_err(|e| DbError::Join(format!("cannot start the writer thread: {e}")))?;
        let manager = SqliteConnectionManager::file(path).with_init(configure_reader);
        let pool = r2d2::Pool::builder()
            .max_size(READ_CONNECTIONS)
            // r2d2 would run an empty statement on every checkout to see that the connection
            // still works: a file's connection does not go stale, and a broken one fails
            // its query with the error all the same.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        Ok(Self {
            pool,
            writer,
            stats,
        })
    }

    /// The writer queue's depth and wait (metrics).
    pub fn writer_stats(&self) -> Arc<WriterStats> {
        self.stats.clone()
    }

    /// Opens an existing database for reading only, for CLI commands that only read
    /// (`texml preview`): nothing is created or migrated, and a database at another schema
    /// version than this binary's is refused with what to do. Writes through the result
    /// fail (there is no writer thread).
    pub fn open_read_only(path: &Path) -> Result<Self, DbError> {
        if !path.is_file() {
            return Err(DbError::Corrupt(format!(
                "no database at {}; set SLOTLINE_DB to the server's database file",
                path.display()
            )));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        migrations::check_current(&conn)?;
        drop(conn);
        let manager = SqliteConnectionManager::file(path)
            .with_flags(flags)
            .with_init(|c| {
                c.busy_timeout(Duration::from_secs(5))?;
                c.execute_batch("PRAGMA query_only = ON;")
            });
        let pool = r2d2::Pool::builder()
            .max_size(2)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        // A queue nobody reads: `write` answers "the writer thread has stopped".
        let (writer, _) = mpsc::sync_channel(1);
        Ok(Self {
            pool,
            writer,
            stats: Arc::default(),
        })
    }

    /// Runs `f` on the writer thread, usually in a group with other queued writes that
    /// commits once ([`writer`]); `f`'s transaction is [`begin`]. The answer comes once
    /// the group has committed. Inside a request's [`deadline::scope`], `f` does not start
    /// after the deadline, SQLite waits for an outside lock only until then, and what has
    /// not been approved to commit by then is rolled back ([`DbError::Deadline`]); a commit
    /// already under way at the deadline is waited for.
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        self.write_as(false, f).await
    }

    /// [`Db::write`] in a transaction of its own, never in a group: for a write whose
    /// effects outside the database must follow its commit exactly (files moved before the
    /// commit and undone when it fails). Under a deadline, a commit hook refuses a late
    /// COMMIT.
    pub async fn write_alone<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        self.write_as(true, f).await
    }

    async fn write_as<T, F>(&self, alone: bool, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let (done, mut result) = tokio::sync::oneshot::channel();
        let deadline = deadline::current();
        let ticket = deadline.map(deadline::Ticket::new);
        self.enqueue(writer::Job {
            queued: Instant::now(),
            ticket: ticket.clone(),
            alone,
            work: Box::new(writer::Pending { f, done }),
        })?;
        let gone = || DbError::Join("a database write panicked".into());
        let (Some(deadline), Some(ticket)) = (deadline, ticket) else {
            return result.await.map_err(|_| gone())?;
        };
        tokio::select! {
            r = &mut result => r.map_err(|_| gone())?,
            () = tokio::time::sleep_until(deadline.into()) => {
                if ticket.abandon() {
                    Err(DbError::Deadline)
                } else {
                    result.await.map_err(|_| gone())?
                }
            }
        }
    }

    fn enqueue(&self, job: writer::Job) -> Result<(), DbError> {
        self.stats.depth.fetch_add(1, Ordering::Relaxed);
        self.writer.try_send(job).map_err(|e| {
            self.stats.depth.fetch_sub(1, Ordering::Relaxed);
            match e {
                mpsc::TrySendError::Full(_) => DbError::Overloaded,
                mpsc::TrySendError::Disconnected(_) => {
                    DbError::Join("the writer thread has stopped".into())
                }
            }
        })
    }

    /// Copies committed pages from the WAL into the database file without blocking writers
    /// (`mode` is PASSIVE, or TRUNCATE at shutdown). Called periodically by the server.
    pub async fn checkpoint(&self, mode: &'static str) -> Result<(), DbError> {
        self.run(move |c| {
            c.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// A checkpoint in `mode` (TRUNCATE, to shrink a WAL that passive checkpoints could
    /// not restart) in which SQLite waits for other connections at most `wait`: TRUNCATE
    /// holds new writes back while it waits for readers, so the wait bounds that stall.
    /// True when it completed.
    pub async fn checkpoint_within(
        &self,
        mode: &'static str,
        wait: Duration,
    ) -> Result<bool, DbError> {
        self.run(move |c| {
            c.busy_timeout(wait)?;
            let busy = c.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                r.get::<_, i64>(0)
            });
            c.busy_timeout(BUSY_TIMEOUT)?;
            Ok(busy? == 0)
        })
        .await
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let deadline = deadline::current();
        let read = tokio::task::spawn_blocking(move || {
            let mut conn = match deadline {
                Some(d) if deadline::remaining(d).is_zero() => return Err(DbError::Deadline),
                Some(d) => pool.get_timeout(deadline::remaining(d))?,
                None => pool.get()?,
            };
            f(&mut conn)
        });
        let joined = match deadline {
            // A read past the deadline is left to finish on its own: it changes nothing,
            // and the caller is answered now.
            Some(d) => tokio::time::timeout_at(d.into(), read)
                .await
                .map_err(|_| DbError::Deadline)?,
            None => read.await,
        };
        joined.map_err(|e| DbError::Join(e.to_string()))?
    }

    /// Runs `f` synchronously on a pooled connection: start-up, CLI commands and tests,
    /// outside the request path (a write here waits on SQLite's busy timeout if the writer
    /// thread is busy, which is fine off the hot path).
    pub fn run_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }
}

/// True when `e` is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        (dir, db)
    }

    async fn count(db: &Db) -> i64 {
        db.run(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap()
    }

    async fn with_table() -> (tempfile::TempDir, Db) {
        let (dir, db) = db();
        db.write(|c| Ok(c.execute_batch("CREATE TABLE t (x INTEGER)")?))
            .await
            .unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn a_write_that_cannot_commit_by_the_deadline_writes_nothing() {
        let (_dir, db) = with_table().await;
        let deadline = Instant::now() + Duration::from_millis(50);
        let result = deadline::scope(
            deadline,
            db.write(|c| {
                let tx = begin(c)?;
                tx.execute("INSERT INTO t VALUES (1)", [])?;
                std::thread::sleep(Duration::from_millis(120));
                tx.commit()?;
                Ok(())
            }),
        )
        .await;
        assert!(matches!(result, Err(DbError::Deadline)), "{result:?}");
        assert_eq!(count(&db).await, 0);
    }

    #[tokio::test]
    async fn a_write_queued_behind_a_stall_is_never_run_once_its_caller_has_gone() {
        let (_dir, db) = with_table().await;
        let stall = db.write(|_| {
            std::thread::sleep(Duration::from_millis(150));
            Ok(())
        });
        let late = deadline::scope(
            Instant::now() + Duration::from_millis(30),
            db.write(|c| Ok(c.execute("INSERT INTO t VALUES (2)", [])?)),
        );
        let (stalled, late) = tokio::join!(stall, late);
        stalled.unwrap();
        assert!(matches!(late, Err(DbError::Deadline)), "{late:?}");
        // Anything queued has run by the time this later write is answered.
        db.write(|_| Ok(())).await.unwrap();
        assert_eq!(count(&db).await, 0);
    }

    #[tokio::test]
    async fn a_read_that_outlasts_the_deadline_answers_at_the_deadline() {
        let (_dir, db) = with_table().await;
        let (release, wait) = mpsc::channel::<()>();
        let read = deadline::scope(
            Instant::now() + Duration::from_millis(30),
            db.run(move |_| {
                let _ = wait.recv();
                Ok(())
            }),
        )
        .await;
        assert!(matches!(read, Err(DbError::Deadline)), "{read:?}");
        release.send(()).unwrap();
    }

    #[tokio::test]
    async fn a_write_within_its_deadline_commits() {
        let (_dir, db) = with_table().await;
        deadline::scope(
            Instant::now() + Duration::from_secs(30),
            db.write(|c| Ok(c.execute("INSERT INTO t VALUES (3)", [])?)),
        )
        .await
        .unwrap();
        assert_eq!(count(&db).await, 1);
    }

    #[tokio::test]
    async fn a_truncating_checkpoint_empties_the_wal_unless_a_reader_holds_it_and_then_gives_up() {
        let (dir, db) = with_table().await;
        let wal = dir.path().join("t.db-wal");
        db.write(|c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?))
            .await
            .unwrap();
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        assert!(
            db.checkpoint_within("TRUNCATE", Duration::from_millis(20))
                .await
                .unwrap()
        );
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
        // A reader inside a transaction keeps its snapshot: the WAL cannot restart.
        let reader = Connection::open(dir.path().join("t.db")).unwrap();
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM t;")
            .unwrap();
        db.write(|c| Ok(c.execute("INSERT INTO t VALUES (2)", [])?))
            .await
            .unwrap();
        assert!(
            !db.checkpoint_within("TRUNCATE", Duration::from_millis(20))
                .await
                .unwrap()
        );
        reader.execute_batch("COMMIT").unwrap();
    }

    #[tokio::test]
    async fn the_writer_commits_with_synchronous_full_unless_asked_for_normal() {
        let synchronous = |db: Db| async move {
            db.write(|c| Ok(c.pragma_query_value(None, "synchronous", |r| r.get::<_, i64>(0))?))
                .await
                .unwrap()
        };
        let (_dir, db) = db();
        assert_eq!(synchronous(db).await, 2, "FULL");
        let dir = tempfile::tempdir().unwrap();
        let normal = Db::open_with(&dir.path().join("n.db"), false).unwrap();
        assert_eq!(synchronous(normal).await, 1, "NORMAL");
    }

    #[tokio::test]
    async fn a_full_write_queue_refuses_at_once() {
        let (_dir, db) = with_table().await;
        let release = writer::tests::hold(&db);
        // The writer holds the blocking job; fill the queue behind it.
        let mut queued = 0;
        while db.enqueue(writer::tests::job(None, |_| Ok(()))).is_ok() {
            queued += 1;
            assert!(queued <= WRITE_QUEUE, "the queue never filled");
        }
        assert_eq!(queued, WRITE_QUEUE);
        assert!(matches!(
            db.enqueue(writer::tests::job(None, |_| Ok(()))),
            Err(DbError::Overloaded)
        ));
        release.send(()).unwrap();
        // Once the writer drains the queue, writes are taken again.
        for _ in 0..500 {
            match db.write(|_| Ok(())).await {
                Err(DbError::Overloaded) => tokio::time::sleep(Duration::from_millis(10)).await,
                other => return other.unwrap(),
            }
        }
        panic!("the queue never drained");
    }
}
