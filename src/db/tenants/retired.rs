//! Retiring the services and providers a tenant update no longer lists: kept for the
//! appointments that name them, hidden from everything offered, or refused while they
//! still have appointments to come. What both backends share: the two tables, and how a
//! refusal reads.

use jiff::{Timestamp, tz::TimeZone};

use crate::db::DbError;

/// The two tables whose rows are retired rather than deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Services,
    Providers,
}

impl Table {
    /// Table name, also the tenant JSON field.
    pub(crate) fn field(self) -> &'static str {
        match self {
            Table::Services => "services",
            Table::Providers => "providers",
        }
    }

    /// The appointments column pointing at this table.
    pub(crate) fn column(self) -> &'static str {
        match self {
            Table::Services => "service_id",
            Table::Providers => "provider_id",
        }
    }
}

/// A service or provider a spec removed that still has appointments to come.
pub(crate) struct Blocked {
    pub(crate) table: Table,
    pub(crate) name: String,
    /// (appointment id, start in Unix seconds), soonest first.
    pub(crate) upcoming: Vec<(i64, i64)>,
}

impl Blocked {
    /// Most appointments named in a refusal; the rest are counted.
    const LISTED: usize = 10;

    /// `"Anna" (providers) still has 2 upcoming appointments: #12 at 2026-11-23T10:00:00-06:00, …`
    fn describe(&self, tz: &TimeZone) -> String {
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

/// The names `spec` keeps in each table, lowercased (names match ignoring case).
pub(crate) fn kept(spec: &crate::domain::TenantSpec) -> [(Table, Vec<String>); 2] {
    [
        (
            Table::Services,
            spec.services
                .iter()
                .map(|s| s.name.to_lowercase())
                .collect(),
        ),
        (
            Table::Providers,
            spec.providers
                .iter()
                .map(|p| p.name.to_lowercase())
                .collect(),
        ),
    ]
}

/// The refusal of an update that would remove what `blocked` lists, or nothing when it
/// is empty.
pub(crate) fn refusal(blocked: &[Blocked], timezone: &str) -> Result<(), DbError> {
    let Some(first) = blocked.first() else {
        return Ok(());
    };
    let tz = crate::tzdb::get(timezone).map_err(super::corrupt)?;
    let field = first.table.field();
    let list: Vec<String> = blocked.iter().map(|b| b.describe(&tz)).collect();
    Err(DbError::Conflict(format!(
        "{field}: {}; cancel or move them first (DELETE or PATCH /tenants/{{id}}/appointments/{{appt}}), then remove it",
        list.join("; ")
    )))
}
