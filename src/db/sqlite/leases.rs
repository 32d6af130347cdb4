//! Leases on SQLite ([`crate::db::leases`] is the interface).

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{DbError, leases::Lease};

/// A new row, a renewal by its holder (same epoch), or a takeover of an expired lease
/// (epoch + 1); nothing while another holder's is live.
const ACQUIRE: &str = "INSERT INTO leases (name, holder, epoch, expires_ms)
     VALUES (?1, ?2, 1, ?4)
     ON CONFLICT (name) DO UPDATE SET
         epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END,
         holder = excluded.holder,
         expires_ms = excluded.expires_ms
     WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?3
     RETURNING epoch, expires_ms";

/// Takes or renews lease `name` for `holder` until `until_ms`.
pub fn acquire(
    conn: &Connection,
    name: &str,
    holder: &str,
    now_ms: i64,
    until_ms: i64,
) -> Result<Option<Lease>, DbError> {
    Ok(conn
        .prepare_cached(ACQUIRE)?
        .query_row(params![name, holder, now_ms, until_ms], |r| {
            Ok(Lease {
                epoch: r.get(0)?,
                expires_ms: r.get(1)?,
            })
        })
        .optional()?)
}

/// Gives lease `name` up if `holder` has it.
pub fn release(conn: &Connection, name: &str, holder: &str) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
        params![name, holder],
    )?;
    Ok(())
}
