//! Storage: the SQLite pool, migrations, and the repository functions. All SQL lives under
//! this module. Every connection gets the same PRAGMAs, and no async thread ever waits on
//! SQLite: reads ([`Db::run`]) run on tokio's blocking pool, writes ([`Db::write`]) are
//! jobs for one writer thread that owns the only writing connection. SQLite allows one
//! writer at a time anyway; queueing in-process avoids its busy handler (which sleeps in
//! steps of up to 100 ms when writers collide) and a pile of blocked threads. The writer
//! never checkpoints the WAL itself: [`Db::checkpoint`] does, off the commit path.

pub mod appointments;
pub mod calls;
pub mod documents;
pub mod messaging;
mod migrations;
pub mod outbox;
pub mod settings;
pub mod tenants;

use std::{panic::AssertUnwindSafe, path::Path, sync::mpsc, time::Duration};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

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
    /// No pooled connection could be had.
    #[error(transparent)]
    Pool(#[from] r2d2::Error),
    /// The blocking task panicked or was cancelled.
    #[error("database task failed: {0}")]
    Join(String),
    /// A stored value no longer parses (the database was edited by hand).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// A job for the writer thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The read pool and the writer's queue, cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<SqliteConnectionManager>,
    writer: mpsc::Sender<Job>,
}

/// Runs write jobs one after another on `conn` until every `Db` is dropped. A job that
/// panics rolls its transaction back as it unwinds; the thread carries on.
fn spawn_writer(mut conn: Connection) -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("slotline-writer".into())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                    tracing::error!("a database write panicked; its transaction was rolled back");
                }
            }
        })?;
    Ok(tx)
}

/// Applied to every new pooled connection.
fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;",
    )
}

impl Db {
    /// Opens (creating if needed) the database file and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Self, DbError> {
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
        let writer = spawn_writer(writer)
            .map_err(|e| DbError::Join(format!("cannot start the writer thread: {e}")))?;
        let manager = SqliteConnectionManager::file(path).with_init(configure);
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        Ok(Self { pool, writer })
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
        let (writer, _) = mpsc::channel();
        Ok(Self { pool, writer })
    }

    /// Runs `f` on the writer thread; writes queue here in arrival order.
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        self.writer
            .send(Box::new(move |c| {
                let _ = done.send(f(c));
            }))
            .map_err(|_| DbError::Join("the writer thread has stopped".into()))?;
        result
            .await
            .map_err(|_| DbError::Join("a database write panicked".into()))?
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

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| DbError::Join(e.to_string()))?
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

/// True when `e` is a foreign-key violation.
pub(crate) fn is_foreign_key_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
    )
}
