//! Storage: the SQLite pool, migrations, and the repository functions. All SQL lives under
//! this module. Every connection gets the same PRAGMAs; every call runs on tokio's blocking
//! pool ([`Db::run`] for reads, [`Db::write`] for writes), so no async thread ever waits on
//! SQLite. Writes go through one connection behind a mutex: SQLite allows one writer at a
//! time anyway, and queueing in-process avoids its busy handler, which sleeps in steps of
//! up to 100 ms when writers collide.

pub mod appointments;
pub mod calls;
pub mod documents;
pub mod messaging;
mod migrations;
pub mod outbox;
pub mod settings;
pub mod tenants;

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

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

/// The connection pool, cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<SqliteConnectionManager>,
    writer: Arc<Mutex<Connection>>,
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
        let manager = SqliteConnectionManager::file(path).with_init(configure);
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        Ok(Self {
            pool,
            writer: Arc::new(Mutex::new(writer)),
        })
    }

    /// Runs `f` with the writer connection on the blocking thread pool; writes queue here.
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves no transaction open (rusqlite rolls back
            // on drop), so a poisoned lock is safe to take over.
            let mut conn = writer.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| DbError::Join(e.to_string()))?
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

    /// Runs `f` synchronously on the writer (CLI commands, start-up and tests, outside the
    /// request path).
    pub fn run_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
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
