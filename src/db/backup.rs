//! The SQL of backups: an online copy with `VACUUM INTO` (one read transaction, so the
//! copy is one consistent snapshot while writers carry on in the WAL), and the checks a
//! copy must pass before it is restored.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{DbError, migrations};

/// Writes a consistent, compacted copy of the database at `source` to `dest` (which must
/// not exist yet).
pub fn vacuum_into(source: &Path, dest: &Path) -> Result<(), DbError> {
    let conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let dest = dest
        .to_str()
        .ok_or_else(|| DbError::Corrupt(format!("{} is not valid UTF-8", dest.display())))?;
    conn.execute("VACUUM INTO ?1", [dest])?;
    Ok(())
}

/// What a checked copy holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Its schema version (`PRAGMA user_version`).
    pub version: i64,
    /// This binary's schema version; an older copy is migrated at the next start.
    pub current: i64,
    /// Tenants in it.
    pub tenants: i64,
    /// Appointments in it.
    pub appointments: i64,
}

/// Opens the copy at `path` read-only and checks it is a whole slotline database this
/// binary can serve: `PRAGMA integrity_check` answers `ok` and the schema version is not
/// newer than this binary's.
pub fn check_copy(path: &Path) -> Result<Checked, DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if problems != ["ok"] {
        return Err(DbError::Corrupt(format!(
            "the integrity check failed: {}",
            problems.join("; ")
        )));
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = migrations::current_version();
    if version == 0 {
        return Err(DbError::Corrupt(
            "it is not a slotline database (schema version 0)".into(),
        ));
    }
    if version > current {
        return Err(DbError::Corrupt(format!(
            "its schema version {version} is newer than this slotline ({current}); restore it with the slotline that wrote it"
        )));
    }
    let count = |table: &str| -> Result<i64, DbError> {
        Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
    };
    Ok(Checked {
        version,
        current,
        tenants: count("tenants")?,
        appointments: count("appointments")?,
    })
}
