//! Tenants and what belongs to them (services, providers, hours, closures), and the
//! interface to them ([`Store::tenants`]). A tenant is always written whole, in one
//! transaction, so a failed change leaves nothing half-written; the SQL is in
//! [`super::sqlite::tenants`] and [`super::postgres::tenants`], and what both share
//! (the columns, turning stored values back into a [`TenantSpec`], the refusal to remove
//! a service or provider with appointments to come) is here.

use jiff::Timestamp;

use super::{DbError, postgres, sqlite, store::Store, wording::Version};
use crate::domain::{
    PhoneNumber, ProviderSpec, ServiceSpec, TenantSpec,
    tenant::{hhmm, parse_date, parse_hhmm},
};

pub(crate) mod retired;

// SQLite's repository functions keep their old paths for the SQLite code that calls them
// inside its own transactions (replies, tests).
pub use super::sqlite::tenants::{
    by_phone, delete, delete_in, find, for_reply, insert, insert_in, is_empty, list, load,
    replace_in,
};

/// A stored tenant: the spec plus the ids the booking code needs.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Row id.
    pub id: i64,
    /// Everything the operator configured.
    pub spec: TenantSpec,
    /// Service ids, parallel to `spec.services`.
    pub service_ids: Vec<i64>,
    /// Provider ids, parallel to `spec.providers`.
    pub provider_ids: Vec<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl Tenant {
    /// The operator-facing JSON: the spec plus `id` and timestamps.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = self.spec.to_json();
        v["id"] = self.id.into();
        v["created_at"] = ts(self.created_at).into();
        v["updated_at"] = ts(self.updated_at).into();
        v
    }

    /// The version tag of this stored tenant (`ETag`): a hash of its JSON, quoted as HTTP
    /// wants; any change, `updated_at` included, gives another tag.
    pub fn etag(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.to_json().to_string().as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("\"{hex}\"")
    }

    /// Name of provider `id` (empty if it is not this tenant's).
    pub fn provider_name(&self, id: i64) -> &str {
        self.provider_ids
            .iter()
            .position(|p| *p == id)
            .map(|i| self.spec.providers[i].name.as_str())
            .unwrap_or_default()
    }

    /// Id of the service at `index` in `spec.services`.
    pub fn service_id(&self, index: usize) -> i64 {
        self.service_ids[index]
    }
}

fn ts(secs: i64) -> String {
    Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A stored value that does not read back as what it should be (the one helper of every
/// backend's reads: a zone, a number, a setting out of range).
pub(crate) fn corrupt(what: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(what.to_string())
}

/// The tenant's own columns, in the order of [`values`] (both arrays have the same fixed
/// length, so adding a column to one and not the other does not compile).
pub(crate) const COLUMNS: [&str; 29] = [
    "slug",
    "name",
    "phone_number",
    "timezone",
    "voice",
    "greeting",
    "sms_from",
    "messaging_profile_id",
    "transfer_number",
    "slot_minutes",
    "min_notice_minutes",
    "horizon_days",
    "buffer_minutes",
    "reminder_hours",
    "max_attempts",
    "confirm_before_booking",
    "hold_seconds",
    "reprompt",
    "confirmation",
    "transfer_line",
    "goodbye",
    "sms_confirmation",
    "sms_reminder",
    "closed",
    "sms_rate_per_second",
    "max_future_bookings_per_caller",
    "sms_moved",
    "line",
    "reminder_calls",
];

/// A value of a `tenants` column as both backends bind it: text (or NULL), an integer
/// (flags are 0 or 1), or a real number.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Text(Option<String>),
    Int(i64),
    Real(f64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(Some(s.to_owned()))
    }
}

impl From<Option<&str>> for Value {
    fn from(s: Option<&str>) -> Self {
        Value::Text(s.map(str::to_owned))
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Int(n.into())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Int(b.into())
    }
}

/// `spec`'s values for the `tenants` row, in the order of [`COLUMNS`].
pub(crate) fn values(spec: &TenantSpec) -> [Value; 29] {
    let s = spec;
    let reminder_hours = serde_json::to_string(&s.reminder_hours).unwrap_or_else(|_| "[]".into());
    let reminder_calls = s.reminder_calls.as_ref().map(|r| r.to_json().to_string());
    [
        s.slug.as_str().into(),
        s.name.as_str().into(),
        s.phone_number.as_str().into(),
        s.timezone.as_str().into(),
        s.voice.as_str().into(),
        s.greeting.as_str().into(),
        s.sms_from.as_ref().map(PhoneNumber::as_str).into(),
        s.messaging_profile_id.as_deref().into(),
        s.transfer_number.as_ref().map(PhoneNumber::as_str).into(),
        s.slot_minutes.into(),
        s.min_notice_minutes.into(),
        s.horizon_days.into(),
        s.buffer_minutes.into(),
        reminder_hours.as_str().into(),
        s.max_attempts.into(),
        s.confirm_before_booking.into(),
        s.hold_seconds.into(),
        s.reprompt.as_deref().into(),
        s.confirmation.as_deref().into(),
        s.transfer_line.as_deref().into(),
        s.goodbye.as_deref().into(),
        s.sms_confirmation.as_deref().into(),
        s.sms_reminder.as_deref().into(),
        s.closed.into(),
        Value::Real(s.sms_rate_per_second),
        s.max_future_bookings_per_caller.into(),
        s.sms_moved.as_deref().into(),
        s.line.to_stored().as_str().into(),
        Value::Text(reminder_calls),
    ]
}

/// The text columns [`assemble`] reads, in this order (then [`INT_COLUMNS`], then
/// `sms_rate_per_second`: see [`load_columns`]).
const TEXT_COLUMNS: [&str; 19] = [
    "slug",
    "name",
    "phone_number",
    "timezone",
    "voice",
    "greeting",
    "sms_from",
    "messaging_profile_id",
    "transfer_number",
    "reminder_hours",
    "reprompt",
    "confirmation",
    "transfer_line",
    "goodbye",
    "sms_confirmation",
    "sms_reminder",
    "sms_moved",
    "line",
    "reminder_calls",
];

/// The integer columns [`assemble`] reads, in this order (flags are 0 or 1).
const INT_COLUMNS: [&str; 11] = [
    "slot_minutes",
    "min_notice_minutes",
    "horizon_days",
    "buffer_minutes",
    "max_attempts",
    "created_at",
    "updated_at",
    "confirm_before_booking",
    "hold_seconds",
    "closed",
    "max_future_bookings_per_caller",
];

/// How many text columns lead [`load_columns`]; the integers follow, then the rate.
pub(crate) const TEXTS: usize = TEXT_COLUMNS.len();
/// How many integer columns follow the texts in [`load_columns`].
pub(crate) const INTS: usize = INT_COLUMNS.len();

/// The `SELECT` list of a tenant's own row: [`TEXTS`] text columns, [`INTS`] integers,
/// then `sms_rate_per_second`.
pub(crate) fn load_columns() -> String {
    let mut columns: Vec<&str> = TEXT_COLUMNS.iter().chain(&INT_COLUMNS).copied().collect();
    columns.push("sms_rate_per_second");
    columns.join(", ")
}

/// A tenant as the database holds it: its own row (as [`load_columns`] lists it) and
/// its children, each in the order the queries give.
#[derive(Default)]
pub(crate) struct Stored {
    /// The text columns, in their order (NULL as `None`).
    pub texts: Vec<Option<String>>,
    /// The integer columns, in their order.
    pub ints: Vec<i64>,
    /// `sms_rate_per_second`.
    pub rate: f64,
    /// `(id, name, duration_minutes, price)` of active services, by position.
    pub services: Vec<(i64, String, i64, Option<String>)>,
    /// `(provider id, name, service name)` of active providers, by position then the
    /// service's position (one row per service, one with `None` for a provider of none).
    pub providers: Vec<(i64, String, Option<String>)>,
    /// `(weekday, opens, closes)`, by weekday and opening.
    pub hours: Vec<(i64, String, String)>,
    /// Closed days, `YYYY-MM-DD`.
    pub closures: Vec<String>,
}

/// Turns what the database holds into a [`Tenant`]; a value that no longer parses is
/// [`DbError::Corrupt`].
pub(crate) fn assemble(id: i64, stored: Stored) -> Result<Tenant, DbError> {
    let mut texts = stored.texts.into_iter();
    let mut text = || texts.next().ok_or_else(|| corrupt("missing column"));
    let (slug, name, phone, timezone, voice, greeting) =
        (text()?, text()?, text()?, text()?, text()?, text()?);
    let (sms_from, profile, transfer, reminder) = (text()?, text()?, text()?, text()?);
    let wording: [Option<String>; 6] = [text()?, text()?, text()?, text()?, text()?, text()?];
    let (sms_moved, line, reminder_calls) = (text()?, text()?, text()?);
    let required = |v: Option<String>| v.ok_or_else(|| corrupt("a required column is NULL"));
    let mut ints = stored.ints.into_iter();
    let mut int = || ints.next().ok_or_else(|| corrupt("missing column"));
    let small = |n: i64| u32::try_from(n).map_err(corrupt);
    let (slot_minutes, min_notice_minutes, horizon_days, buffer_minutes, max_attempts) = (
        small(int()?)?,
        small(int()?)?,
        small(int()?)?,
        small(int()?)?,
        small(int()?)?,
    );
    let (created_at, updated_at) = (int()?, int()?);
    let confirm_before_booking = int()? != 0;
    let hold_seconds = small(int()?)?;
    let closed = int()? != 0;
    let max_future_bookings_per_caller = small(int()?)?;
    let parse_phone = |s: Option<String>| {
        s.map(|s| PhoneNumber::parse(&s).map_err(corrupt))
            .transpose()
    };

    let mut services = Vec::new();
    let mut service_ids = Vec::new();
    for (sid, name, duration_minutes, price) in stored.services {
        service_ids.push(sid);
        services.push(ServiceSpec {
            name,
            duration_minutes: small(duration_minutes)?,
            price,
        });
    }
    let mut providers: Vec<ProviderSpec> = Vec::new();
    let mut provider_ids = Vec::new();
    for (pid, name, service) in stored.providers {
        if provider_ids.last() != Some(&pid) {
            provider_ids.push(pid);
            providers.push(ProviderSpec {
                name,
                services: Vec::new(),
            });
        }
        if let (Some(service), Some(p)) = (service, providers.last_mut()) {
            p.services.push(service);
        }
    }
    let mut hours: [Vec<_>; 7] = Default::default();
    for (day, opens, closes) in stored.hours {
        let range = (
            parse_hhmm(&opens).ok_or_else(|| corrupt(&opens))?,
            parse_hhmm(&closes).ok_or_else(|| corrupt(&closes))?,
        );
        usize::try_from(day)
            .ok()
            .and_then(|d| hours.get_mut(d))
            .ok_or_else(|| corrupt(day))?
            .push(range);
    }
    let mut closures = std::collections::BTreeSet::new();
    for day in stored.closures {
        closures.insert(parse_date(&day).ok_or_else(|| corrupt(&day))?);
    }
    let [
        reprompt,
        confirmation,
        transfer_line,
        goodbye,
        sms_confirmation,
        sms_reminder,
    ] = wording;
    let spec = TenantSpec {
        slug: required(slug)?,
        name: required(name)?,
        phone_number: PhoneNumber::parse(&required(phone)?).map_err(corrupt)?,
        timezone: required(timezone)?,
        voice: required(voice)?,
        greeting: required(greeting)?,
        reprompt,
        confirmation,
        transfer_line,
        goodbye,
        sms_confirmation,
        sms_reminder,
        sms_moved,
        line: crate::domain::line::LineSpec::from_stored(&required(line)?).map_err(corrupt)?,
        reminder_calls: crate::domain::reminder_calls::ReminderCallsSpec::from_stored(
            reminder_calls.as_deref(),
        )
        .map_err(corrupt)?,
        closed,
        sms_from: parse_phone(sms_from)?,
        messaging_profile_id: profile,
        transfer_number: parse_phone(transfer)?,
        hours,
        closures,
        slot_minutes,
        min_notice_minutes,
        horizon_days,
        buffer_minutes,
        reminder_hours: serde_json::from_str(&required(reminder)?).map_err(corrupt)?,
        max_attempts,
        confirm_before_booking,
        hold_seconds,
        sms_rate_per_second: stored.rate,
        max_future_bookings_per_caller,
        services,
        providers,
    };
    Ok(Tenant {
        id,
        spec,
        service_ids,
        provider_ids,
        created_at,
        updated_at,
    })
}

/// A spec's hours as rows: `(weekday, opens, closes)`.
pub(crate) fn hour_rows(spec: &TenantSpec) -> Vec<(i64, String, String)> {
    let mut rows = Vec::new();
    for (day, ranges) in spec.hours.iter().enumerate() {
        for (opens, closes) in ranges {
            rows.push((day as i64, hhmm(*opens), hhmm(*closes)));
        }
    }
    rows
}

/// The message for a clash on a tenant's unique columns: the slug when another tenant
/// has it, else the phone number.
pub(crate) fn taken(spec: &TenantSpec, slug_taken: bool) -> DbError {
    if slug_taken {
        DbError::Conflict(format!(
            "slug: {:?} is already used by another tenant",
            spec.slug
        ))
    } else {
        DbError::Conflict(format!(
            "phone_number: {} already belongs to another tenant",
            spec.phone_number
        ))
    }
}

/// The wording `tenant` has now, as the body of a version.
pub(crate) fn wording_body(tenant: &Tenant) -> String {
    serde_json::Value::Object(crate::wording::snapshot(&tenant.spec)).to_string()
}

/// What a tenant change came to.
pub enum Changed<T, R> {
    /// Written and committed, with the step beside the database done.
    Done(T),
    /// Refused by the caller's own check (nothing written).
    Refused(R),
    /// The step beside the database failed (nothing written).
    Beside(std::io::Error),
}

/// The step a tenant change takes beside the database (moving its documents), undone if
/// the commit fails after it.
pub trait Beside {
    /// Puts things back as they were before the step.
    fn undo(self);
}

/// The tenants of a store ([`Store::tenants`]).
pub struct Tenants<'s>(pub(super) &'s Store);

impl Tenants<'_> {
    /// A tenant by numeric id or slug.
    pub async fn find(&self, key: String) -> Result<Tenant, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(move |c| sqlite::tenants::find(c, &key)).await,
            Store::Postgres(pg) => {
                pg.run(async |c| postgres::tenants::find(c, &key).await)
                    .await
            }
        }
    }

    /// The tenant whose line is `number`, if any.
    pub async fn by_phone(&self, number: PhoneNumber) -> Result<Option<Tenant>, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(move |c| sqlite::tenants::by_phone(c, &number)).await,
            Store::Postgres(pg) => {
                pg.run(async |c| postgres::tenants::by_phone(c, &number).await)
                    .await
            }
        }
    }

    /// Tenant `id`.
    pub async fn load(&self, id: i64) -> Result<Tenant, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(move |c| sqlite::tenants::load(c, id)).await,
            Store::Postgres(pg) => pg.run(async |c| postgres::tenants::load(c, id).await).await,
        }
    }

    /// Every tenant, by id.
    pub async fn list(&self) -> Result<Vec<Tenant>, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(|c| sqlite::tenants::list(c)).await,
            Store::Postgres(pg) => pg.run(async |c| postgres::tenants::list(c).await).await,
        }
    }

    /// Stores a new tenant as it is, without a wording version or anything beside the
    /// database (the demo tenant at start-up, tools); a taken slug or number is a
    /// [`DbError::Conflict`].
    pub async fn insert(&self, spec: TenantSpec) -> Result<Tenant, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.write(move |c| sqlite::tenants::insert(c, &spec)).await,
            Store::Postgres(pg) => {
                pg.write(async |tx| postgres::tenants::insert_in(tx, &spec).await)
                    .await
            }
        }
    }

    /// True when there is no tenant yet.
    pub async fn is_empty(&self) -> Result<bool, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(|c| sqlite::tenants::is_empty(c)).await,
            Store::Postgres(pg) => pg.run(async |c| postgres::tenants::is_empty(c).await).await,
        }
    }

    /// Stores a new tenant with its wording as the first version, then takes the step
    /// `beside` the database; commits only when both succeeded. A taken slug or number is
    /// a [`DbError::Conflict`] naming the field.
    pub async fn create<B: Beside + Send + 'static>(
        &self,
        spec: TenantSpec,
        by: String,
        now: i64,
        beside: impl FnOnce(&Tenant) -> std::io::Result<B> + Send + 'static,
    ) -> Result<Changed<Tenant, std::convert::Infallible>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                sqlite::tenants::change(
                    db,
                    move |tx| {
                        let tenant = sqlite::tenants::insert_in(tx, &spec)?;
                        super::wording::record(tx, tenant.id, &wording_body(&tenant), &by, now)?;
                        Ok(Ok(tenant))
                    },
                    beside,
                )
                .await
            }
            Store::Postgres(pg) => postgres::tenants::create(pg, &spec, &by, now, beside).await,
        }
    }

    /// Replaces the tenant named by `key` (id or slug) with what `merge` makes of the
    /// stored one, read and written in one transaction, then takes the step `beside` the
    /// database with the slug it had before and the result. A refusal from `merge` writes
    /// nothing. Services and providers are matched by name, so their ids survive; one the
    /// spec no longer lists is retired, or the change refused while it has appointments
    /// to come ([`DbError::Conflict`] listing them). A wording change is recorded as the
    /// newest version, by `by`; a tenant without versions keeps its old wording as the
    /// first. [`DbError::NotFound`] when no tenant has `key`.
    pub async fn update<R: Send + 'static, B: Beside + Send + 'static>(
        &self,
        key: String,
        merge: impl FnOnce(&Tenant) -> Result<TenantSpec, R> + Send + 'static,
        by: String,
        now: i64,
        beside: impl FnOnce(&str, &Tenant) -> std::io::Result<B> + Send + 'static,
    ) -> Result<Changed<Tenant, R>, DbError> {
        match self.0 {
            Store::Sqlite(db) => sqlite::tenants::change(
                db,
                move |tx| {
                    let stored = sqlite::tenants::find(tx, &key)?;
                    let spec = match merge(&stored) {
                        Ok(spec) => spec,
                        Err(refused) => return Ok(Err(refused)),
                    };
                    if super::wording::versions(tx, stored.id)?.is_empty() {
                        let body = wording_body(&stored);
                        super::wording::record(tx, stored.id, &body, "as it was before", now)?;
                    }
                    let (before, tenant) = sqlite::tenants::replace_in(tx, stored.id, &spec, now)?;
                    super::wording::record(tx, tenant.id, &wording_body(&tenant), &by, now)?;
                    Ok(Ok((before, tenant)))
                },
                move |(before, tenant): &(String, Tenant)| beside(before, tenant),
            )
            .await
            .map(|changed| match changed {
                Changed::Done((_, tenant)) => Changed::Done(tenant),
                Changed::Refused(r) => Changed::Refused(r),
                Changed::Beside(e) => Changed::Beside(e),
            }),
            Store::Postgres(pg) => {
                postgres::tenants::update(pg, &key, merge, &by, now, beside).await
            }
        }
    }

    /// Deletes tenant `id` and everything it has, then takes the step `beside` the
    /// database with the slug it had; [`DbError::NotFound`] when there is none.
    pub async fn delete<B: Beside + Send + 'static>(
        &self,
        id: i64,
        beside: impl FnOnce(&str) -> std::io::Result<B> + Send + 'static,
    ) -> Result<Changed<(), std::convert::Infallible>, DbError> {
        let done = |c: Changed<String, std::convert::Infallible>| match c {
            Changed::Done(_) => Changed::Done(()),
            Changed::Refused(r) => match r {},
            Changed::Beside(e) => Changed::Beside(e),
        };
        match self.0 {
            Store::Sqlite(db) => sqlite::tenants::change(
                db,
                move |tx| Ok(Ok(sqlite::tenants::delete_in(tx, id)?)),
                move |slug: &String| beside(slug),
            )
            .await
            .map(done),
            Store::Postgres(pg) => postgres::tenants::delete(pg, id, beside).await.map(done),
        }
    }

    /// Tenant `tenant`'s latest wording versions, newest first.
    pub async fn wording_versions(&self, tenant: i64) -> Result<Vec<Version>, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(move |c| super::wording::versions(c, tenant)).await,
            Store::Postgres(pg) => {
                pg.run(async |c| postgres::tenants::wording_versions(c, tenant).await)
                    .await
            }
        }
    }

    /// Version `id` of tenant `tenant`'s wording, if it has one.
    pub async fn wording_version(&self, tenant: i64, id: i64) -> Result<Option<Version>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| super::wording::version(c, tenant, id))
                    .await
            }
            Store::Postgres(pg) => {
                pg.run(async |c| postgres::tenants::wording_version(c, tenant, id).await)
                    .await
            }
        }
    }

    /// The server's URL secret if one was stored, without storing one.
    pub async fn stored_url_secret(&self) -> Result<Option<String>, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(super::settings::stored_url_secret).await,
            Store::Postgres(pg) => {
                pg.run(async |c| postgres::tenants::stored_url_secret(c).await)
                    .await
            }
        }
    }

    /// The server's URL secret, generated and stored on first use (so state tokens stay
    /// valid across restarts and nodes).
    pub async fn url_secret(&self) -> Result<String, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(super::settings::url_secret).await,
            Store::Postgres(pg) => postgres::tenants::url_secret(pg).await,
        }
    }
}
