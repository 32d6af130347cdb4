//! What every console page shows around its content (the frame: navigation, the tenant and
//! its time zone, the sign-out form) and how times and numbers are written on the pages:
//! in the tenant's zone, with the zone named; phone numbers masked.

use jiff::{Timestamp, tz::TimeZone};

use crate::db::tenants::Tenant;

/// The page frame.
pub struct Frame {
    /// The `<title>` and `<h1>`.
    pub title: String,
    /// The session's form token, for every form on the page.
    pub form_token: String,
    /// The tenant the page is about, if any.
    pub tenant: Option<TenantTab>,
    /// Which tab is open (`tenants` or one of [`TABS`]).
    pub current: &'static str,
}

/// The tenant in the frame.
pub struct TenantTab {
    /// Slug, for links.
    pub slug: String,
    /// Business name.
    pub name: String,
    /// IANA zone every time on the page is in.
    pub timezone: String,
}

/// The tabs of a tenant's pages: (tab, path under the tenant, label).
pub const TABS: [(&str, &str, &str); 6] = [
    ("agenda", "", "Agenda"),
    ("calls", "/calls", "Calls"),
    ("texts", "/texts", "Texts"),
    ("wording", "/wording", "What the line says"),
    ("settings", "/settings", "Settings"),
    ("calendar", "/calendar", "Feeds & webhooks"),
];

impl Frame {
    /// The frame of a page about no tenant in particular.
    pub fn plain(title: impl Into<String>, form_token: &str, current: &'static str) -> Self {
        Self {
            title: title.into(),
            form_token: form_token.to_string(),
            tenant: None,
            current,
        }
    }

    /// The tenant tabs.
    pub fn tabs(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        &TABS
    }

    /// Whether `tab` is the open one.
    pub fn is_current(&self, tab: &str) -> bool {
        self.current == tab
    }

    /// The frame of a page about `tenant`.
    pub fn of(
        tenant: &Tenant,
        title: impl Into<String>,
        form_token: &str,
        current: &'static str,
    ) -> Self {
        Self {
            title: title.into(),
            form_token: form_token.to_string(),
            tenant: Some(TenantTab {
                slug: tenant.spec.slug.clone(),
                name: tenant.spec.name.clone(),
                timezone: tenant.spec.timezone.clone(),
            }),
            current,
        }
    }
}

/// The tenant's zone (UTC if the stored name is somehow unknown).
pub fn zone(tenant: &Tenant) -> TimeZone {
    TimeZone::get(&tenant.spec.timezone).unwrap_or(TimeZone::UTC)
}

/// `HH:MM` of Unix second `secs` in `tz`.
pub fn clock(secs: i64, tz: &TimeZone) -> String {
    Timestamp::from_second(secs)
        .map(|t| t.to_zoned(tz.clone()).strftime("%H:%M").to_string())
        .unwrap_or_default()
}

/// `Fri 20 Nov 2026, 14:30` of Unix second `secs` in `tz`.
pub fn when(secs: i64, tz: &TimeZone) -> String {
    Timestamp::from_second(secs)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%a %-d %b %Y, %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// A phone number as the console shows it (masked: last digits only).
pub fn masked(number: Option<&str>) -> String {
    number.map_or_else(|| "withheld".to_string(), crate::domain::phone::mask)
}
