//! PostgreSQL's integers as the Rust side keeps them: every integer column is `BIGINT`
//! there (SQLite's `INTEGER`), so counts and small numbers come back as `i64` and sizes go
//! out as `i64`. One place for the conversions every module needs.

use crate::db::{DbError, tenants::corrupt};

/// A count or small number read as `BIGINT`: below 0 is 0, past `u32` is `u32::MAX`.
pub(crate) fn small(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// A `BIGINT` that must fit a `u32` (a stored setting, a count checked against a cap):
/// anything else is a corrupt row.
pub(crate) fn exact(n: i64) -> Result<u32, DbError> {
    u32::try_from(n).map_err(corrupt)
}

/// A size (a `LIMIT`, a cap) as a `BIGINT` parameter.
pub(crate) fn big(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
