//! `slotline backup PATH` and `slotline restore FROM`. A backup is an online, consistent
//! copy (`VACUUM INTO`, one read transaction) taken while the server runs, written beside
//! its destination and renamed into place only once it passes the integrity check, so a
//! cron job never leaves a half-written file under the real name. A restore checks the
//! copy first (`PRAGMA integrity_check`, schema version), refuses while a server holds the
//! database, and sets the database it replaces aside instead of deleting it.
//!
//! "A server holds the database" is an advisory lock on `<database>.lock` that `serve`
//! takes at start and keeps while it runs (SQLite's own locks cannot tell: an idle server
//! holds none).

use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::db::{self, DbError, backup::Checked};

/// Why a backup or restore did nothing.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The source database or copy is not there.
    #[error("no file at {0}")]
    Missing(PathBuf),
    /// The destination of a backup exists already.
    #[error(
        "{0} already exists; give the backup a new name (e.g. with the date) or remove the old one"
    )]
    Exists(PathBuf),
    /// A server holds the database.
    #[error(
        "a slotline server is serving {0}; stop it first (e.g. `systemctl stop slotline`), restore, then start it again"
    )]
    Serving(PathBuf),
    /// The copy failed its checks.
    #[error("{path} cannot be restored: {reason}")]
    BadCopy {
        /// The copy.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// SQLite failed.
    #[error("{0}")]
    Db(#[from] DbError),
    /// A file could not be read, written or renamed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Held by a running server: no restore can replace its database underneath it.
#[derive(Debug)]
pub struct ServingLock(#[allow(dead_code)] File);

impl ServingLock {
    /// Takes the lock of the database at `db`; `None` when another process holds it.
    pub fn acquire(db: &Path) -> std::io::Result<Option<Self>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(beside(db, ".lock"))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(Self(file))),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// A finished backup.
#[derive(Debug)]
pub struct Written {
    /// Its size.
    pub bytes: u64,
    /// What the check found in it.
    pub checked: Checked,
    /// How long it took.
    pub took: Duration,
}

/// Copies the database at `db` to `dest`, online.
pub fn backup(db: &Path, dest: &Path) -> Result<Written, BackupError> {
    let started = Instant::now();
    if !db.is_file() {
        return Err(BackupError::Missing(db.to_path_buf()));
    }
    if dest.exists() {
        return Err(BackupError::Exists(dest.to_path_buf()));
    }
    let partial = beside(dest, ".partial");
    let _ = std::fs::remove_file(&partial);
    let copied =
        db::backup::vacuum_into(db, &partial).and_then(|()| db::backup::check_copy(&partial));
    let checked = match copied {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
    };
    File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("syncing {}", partial.display())))?;
    std::fs::rename(&partial, dest).map_err(io(format!(
        "renaming {} to {}",
        partial.display(),
        dest.display()
    )))?;
    let bytes = std::fs::metadata(dest).map_or(0, |m| m.len());
    Ok(Written {
        bytes,
        checked,
        took: started.elapsed(),
    })
}

/// A finished restore.
#[derive(Debug)]
pub struct Restored {
    /// What the check found in the copy.
    pub checked: Checked,
    /// Where the replaced database was set aside, if there was one.
    pub set_aside: Option<PathBuf>,
}

/// Checks the copy at `from` and puts it in place as the database at `db`, unless a
/// server holds `db`. The database it replaces (and its WAL) is renamed
/// `<db>.before-restore-<unix seconds>`.
pub fn restore(from: &Path, db: &Path, now: i64) -> Result<Restored, BackupError> {
    if !from.is_file() {
        return Err(BackupError::Missing(from.to_path_buf()));
    }
    let checked = db::backup::check_copy(from).map_err(|e| BackupError::BadCopy {
        path: from.to_path_buf(),
        reason: match e {
            DbError::Corrupt(why) => why,
            other => other.to_string(),
        },
    })?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    }
    let _lock = ServingLock::acquire(db)
        .map_err(io(format!("locking {}", db.display())))?
        .ok_or_else(|| BackupError::Serving(db.to_path_buf()))?;
    let staging = beside(db, ".restoring");
    std::fs::copy(from, &staging).map_err(io(format!(
        "copying {} to {}",
        from.display(),
        staging.display()
    )))?;
    File::open(&staging)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("syncing {}", staging.display())))?;
    let set_aside = if db.exists() {
        let aside = beside(db, &format!(".before-restore-{now}"));
        for suffix in ["", "-wal"] {
            let file = beside(db, suffix);
            if file.exists() {
                std::fs::rename(&file, beside(&aside, suffix))
                    .map_err(io(format!("setting {} aside", file.display())))?;
            }
        }
        // The shared-memory index belongs to the old WAL; SQLite rebuilds it.
        let _ = std::fs::remove_file(beside(db, "-shm"));
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staging, db).map_err(io(format!(
        "renaming {} to {}",
        staging.display(),
        db.display()
    )))?;
    Ok(Restored { checked, set_aside })
}
