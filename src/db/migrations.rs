//! Schema migrations: numbered SQL files applied in order, each in its own transaction,
//! with `PRAGMA user_version` recording how far a database has come.

use rusqlite::Connection;

use super::DbError;

/// Every migration, in order; the position (1-based) is the version it brings a database to.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_wording.sql"),
    include_str!("migrations/0003_sms.sql"),
];

/// Brings the database to the newest version; a database newer than this binary is refused.
pub fn apply(conn: &mut Connection) -> Result<(), DbError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(DbError::Corrupt(format!(
            "database schema version {current} is newer than this slotline ({}); upgrade slotline",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Checks, without changing anything, that the database is at exactly this binary's
/// version (for read-only commands, which must not migrate).
pub fn check_current(conn: &Connection) -> Result<(), DbError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let want = MIGRATIONS.len() as i64;
    match current.cmp(&want) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(DbError::Corrupt(format!(
            "database schema version {current} is older than this slotline ({want}); run `slotline migrate` (or start the server) first"
        ))),
        std::cmp::Ordering::Greater => Err(DbError::Corrupt(format!(
            "database schema version {current} is newer than this slotline ({want}); use the slotline that serves it"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_set_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        assert!(check_current(&conn).is_ok());
    }

    #[test]
    fn a_read_only_check_refuses_another_version_and_changes_nothing() {
        let conn = Connection::open_in_memory().unwrap();
        let err = check_current(&conn).unwrap_err().to_string();
        assert!(err.contains("slotline migrate"), "{err}");
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 0);
    }
}
