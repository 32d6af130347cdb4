//! Retiring the services and providers a tenant update no longer lists: kept for the
//! appointments that name them, hidden from everything offered, or refused while they
//! still have appointments to come.

use jiff::{Timestamp, tz::TimeZone};
use rusqlite::params;

use crate::db::DbError;

/// The two tables whose rows are retired rather than deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Table {
    Services,
    Providers,
}

impl Table {
    /// Table name, also the tenant JSON field.
    pub(super) fn field(self) -> &'static str {
        match self {
            Table::Services => "services",
            Table::Providers => "providers",
        }
    }

    /// The appointments column pointing at this table.
    fn column(self) -> &'static str {
        match self {
            Table::Services => "service_id",
            Table::Providers => "provider_id",
        }
    }
}

/// A service or provider a spec removed that still has appointments to come.
pub(super) struct Blocked {
    pub(super) table: Table,
    name: String,
    /// (appointment id, start in Unix seconds), soonest first.
    upcoming: Vec<(i64, i64)>,
}

impl Blocked {
    /// Most appointments named in a refusal; the rest are counted.
    const LISTED: usize = 10;

    /// `"Anna" (providers) still has 2 upcoming appointments: #12 at 2026-11-23T10:00:00-06:00, …`
    pub(super) fn describe(&self, tz: &TimeZone) -> String {
        let mut list: Vec<String> = self
            .upcoming
            .iter()
            .take(Self::LISTED)
            .map(|(id, start)| {
                let at = Timestamp::from_second(*start)
                    .map(|t| {
                        t.to_zoned(tz.clone())
                            .strftime("%Y-%m-%dT%H:%M:%S%:z")
                            .to_string()
                    })
                    .unwrap_or_default();
                format!("#{id} at {at}")
            })
            .collect();
        if self.upcoming.len() > Self::LISTED {
            list.push(format!("and {} more", self.upcoming.len() - Self::LISTED));
        }
        let what = match self.table {
            Table::Services => "service",
            Table::Providers => "provider",
        };
        let n = self.upcoming.len();
        format!(
            "{what} {:?} cannot be removed: it has {n} upcoming appointment{} ({})",
            self.name,
            if n == 1 { "" } else { "s" },
            list.join(", ")
        )
    }
}

/// Retires the active rows of `table` whose names are not in `keep` (ignoring case),
/// unless they have appointments that have not started; those are returned instead and
/// nothing of theirs changes. A retired row's expired holds go with it, so no caller can
/// confirm one later.
pub(super) fn retire_missing(
    tx: &crate::db::Tx<'_>,
    tenant: i64,
    table: Table,
    keep: &[&str],
    now: i64,
) -> Result<Vec<Blocked>, DbError> {
    let keep: Vec<String> = keep.iter().map(|k| k.to_lowercase()).collect();
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
