//! Retiring, on SQLite, the services and providers a tenant update no longer lists (see
//! [`crate::db::tenants::retired`]).

use rusqlite::params;

use crate::db::{
    DbError,
    tenants::retired::{Blocked, Table},
};

/// Retires the active rows of `table` whose lowercased names are not in `keep`, unless
/// they have appointments that have not started; those are returned instead and nothing
/// of theirs changes. A retired row's expired holds go with it, so no caller can confirm
/// one later.
pub(super) fn retire_missing(
    tx: &crate::db::Tx<'_>,
    tenant: i64,
    table: Table,
    keep: &[String],
    now: i64,
) -> Result<Vec<Blocked>, DbError> {
    let name = table.field();
    let column = table.column();
    let rows: Vec<(i64, String)> = tx
        .prepare(&format!(
            "SELECT id, name FROM {name} WHERE tenant_id = ?1 AND retired_at IS NULL"
        ))?
        .query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut blocked = Vec::new();
    for (row, row_name) in rows {
        if keep.contains(&row_name.to_lowercase()) {
            continue;
        }
        let upcoming: Vec<(i64, i64)> = tx
            .prepare(&format!(
                "SELECT id, start_at FROM appointments
                 WHERE {column} = ?1 AND start_at > ?2
                   AND (status = 'booked' OR (status = 'held' AND hold_expires_at > ?2))
                 ORDER BY start_at, id"
            ))?
            .query_map(params![row, now], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if !upcoming.is_empty() {
            blocked.push(Blocked {
                table,
                name: row_name,
                upcoming,
            });
            continue;
        }
        tx.execute(
            &format!("DELETE FROM appointments WHERE {column} = ?1 AND status = 'held'"),
            [row],
        )?;
        tx.execute(
            &format!("UPDATE {name} SET retired_at = ?2 WHERE id = ?1"),
            params![row, now],
        )?;
    }
    Ok(blocked)
}
