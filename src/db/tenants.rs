//! Tenants and what belongs to them (services, providers, hours, closures). A tenant is
//! always written whole, in one transaction, so a failed update leaves nothing half-written.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{DbError, is_unique_violation};

mod retire;
#[cfg(test)]
mod tests;

use crate::domain::{
    PhoneNumber, ProviderSpec, ServiceSpec, TenantSpec,
    tenant::{hhmm, parse_date, parse_hhmm},
};
use retire::{Table, retire_missing};

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

fn now() -> i64 {
    Timestamp::now().as_second()
}

/// Phone numbers are stored in their E.164 text form.
impl rusqlite::ToSql for PhoneNumber {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

/// The tenant's own columns, in the order of [`Columns::params`] (both arrays have the
/// same fixed length, so adding a column to one and not the other does not compile).
const COLUMNS: [&str; 29] = [
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

/// A spec's values for the `tenants` row, bound by name (`:slug`, ...) so the INSERT and
/// the UPDATE share one list instead of two hand-numbered ones.
struct Columns<'a> {
    spec: &'a TenantSpec,
    reminder_hours: String,
    line: String,
    reminder_calls: Option<String>,
    now: i64,
}

impl<'a> Columns<'a> {
    fn new(spec: &'a TenantSpec) -> Self {
        let reminder_hours =
            serde_json::to_string(&spec.reminder_hours).unwrap_or_else(|_| "[]".into());
        Self {
            spec,
            reminder_hours,
            line: spec.line.to_stored(),
            reminder_calls: spec
                .reminder_calls
                .as_ref()
                .map(|r| r.to_json().to_string()),
            now: now(),
        }
    }

    /// `(":column", value)` for every entry of [`COLUMNS`], then `:now`.
    fn params(&self) -> Vec<(String, &dyn rusqlite::ToSql)> {
        let s = self.spec;
        let values: [&dyn rusqlite::ToSql; 29] = [
            &s.slug,
            &s.name,
            &s.phone_number,
            &s.timezone,
            &s.voice,
            &s.greeting,
            &s.sms_from,
            &s.messaging_profile_id,
            &s.transfer_number,
            &s.slot_minutes,
            &s.min_notice_minutes,
            &s.horizon_days,
            &s.buffer_minutes,
            &self.reminder_hours,
            &s.max_attempts,
            &s.confirm_before_booking,
            &s.hold_seconds,
            &s.reprompt,
            &s.confirmation,
            &s.transfer_line,
            &s.goodbye,
            &s.sms_confirmation,
            &s.sms_reminder,
            &s.closed,
            &s.sms_rate_per_second,
            &s.max_future_bookings_per_caller,
            &s.sms_moved,
            &self.line,
            &self.reminder_calls,
        ];
        let mut out: Vec<(String, &dyn rusqlite::ToSql)> = COLUMNS
            .iter()
            .map(|c| format!(":{c}"))
            .zip(values)
            .collect();
        out.push((":now".into(), &self.now));
        out
    }
}

/// The named parameters as rusqlite takes them.
fn bind<'p>(
    params: &'p [(String, &'p dyn rusqlite::ToSql)],
) -> Vec<(&'p str, &'p dyn rusqlite::ToSql)> {
    params.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

/// Inserts a new tenant; a taken slug or phone number is a `Conflict` naming the field.
pub fn insert(conn: &mut Connection, spec: &TenantSpec) -> Result<Tenant, DbError> {
    let tx = crate::db::begin(conn)?;
    let tenant = insert_in(&tx, spec)?;
    tx.commit()?;
    Ok(tenant)
}

/// [`insert`] inside the caller's transaction (which commits it, or not).
pub fn insert_in(tx: &crate::db::Tx<'_>, spec: &TenantSpec) -> Result<Tenant, DbError> {
    let columns = Columns::new(spec);
    let sql = format!(
        "INSERT INTO tenants ({}, created_at, updated_at) VALUES ({}, :now, :now)",
        COLUMNS.join(", "),
        COLUMNS
            .iter()
            .map(|c| format!(":{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let params = columns.params();
    tx.execute(&sql, bind(&params).as_slice())
        .map_err(|e| unique_to_conflict(tx, e, spec, None))?;
    let id = tx.last_insert_rowid();
    write_children(tx, id, spec)?;
    load(tx, id)
}

/// Replaces tenant `id` with `spec` inside the caller's transaction, and returns the slug
/// it had before with the stored result. Services and providers are matched by name
/// (ignoring case) so their ids, and the appointments pointing at them, survive. One the
/// spec no longer lists is *retired*: kept for the appointments that name it, left out of
/// [`load`] (so of the schema, the alternatives, availability and the booking pool), and
/// brought back if a later spec lists it again. A removal is a `Conflict` listing the
/// appointments in the way while the service or provider has one that has not started
/// (booked, or held and not expired), at `now` (Unix seconds).
pub fn replace_in(
    tx: &crate::db::Tx<'_>,
    id: i64,
    spec: &TenantSpec,
    now: i64,
) -> Result<(String, Tenant), DbError> {
    let before: String = tx
        .query_row("SELECT slug FROM tenants WHERE id = ?1", [id], |r| r.get(0))
        .optional()?
        .ok_or(DbError::NotFound)?;
    let columns = Columns::new(spec);
    let sql = format!(
        "UPDATE tenants SET {}, updated_at = :now WHERE id = :id",
        COLUMNS
            .iter()
            .map(|c| format!("{c} = :{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut params = columns.params();
    params.push((":id".into(), &id));
    let changed = tx
        .execute(&sql, bind(&params).as_slice())
        .map_err(|e| unique_to_conflict(tx, e, spec, Some(id)))?;
    if changed == 0 {
        return Err(DbError::NotFound);
    }
    tx.execute("DELETE FROM opening_hours WHERE tenant_id = ?1", [id])?;
    tx.execute("DELETE FROM closures WHERE tenant_id = ?1", [id])?;
    tx.execute(
        "DELETE FROM provider_services WHERE provider_id IN (SELECT id FROM providers WHERE tenant_id = ?1)",
        [id],
    )?;
    let tz = crate::tzdb::get(&spec.timezone).map_err(corrupt)?;
    let mut blocked = Vec::new();
    for (table, keep) in [
        (
            Table::Services,
            spec.services
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
        ),
        (
            Table::Providers,
            spec.providers.iter().map(|p| p.name.as_str()).collect(),
        ),
    ] {
        blocked.extend(retire_missing(tx, id, table, &keep, now)?);
    }
    if let Some(first) = blocked.first() {
        let field = first.table.field();
        let list: Vec<String> = blocked.iter().map(|b| b.describe(&tz)).collect();
        return Err(DbError::Conflict(format!(
            "{field}: {}; cancel or move them first (DELETE or PATCH /tenants/{{id}}/appointments/{{appt}}), then remove it",
            list.join("; ")
        )));
    }
    write_children(tx, id, spec)?;
    Ok((before, load(tx, id)?))
}

/// Upserts services and providers by name, and writes hours and closures.
fn write_children(tx: &crate::db::Tx<'_>, tenant: i64, spec: &TenantSpec) -> Result<(), DbError> {
    let mut service_ids = Vec::with_capacity(spec.services.len());
    for (
        pos,
        ServiceSpec {
            name,
            duration_minutes,
            price,
        },
    ) in spec.services.iter().enumerate()
    {
        tx.execute(
            "INSERT INTO services (tenant_id, name, duration_minutes, position, price) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (tenant_id, name COLLATE NOCASE) DO UPDATE
             SET name = excluded.name, duration_minutes = excluded.duration_minutes, position = excluded.position,
                 price = excluded.price, retired_at = NULL",
            params![tenant, name, duration_minutes, pos as i64, price],
        )?;
        let sid: i64 = tx.query_row(
            "SELECT id FROM services WHERE tenant_id = ?1 AND name = ?2 COLLATE NOCASE",
            params![tenant, name],
            |r| r.get(0),
        )?;
        service_ids.push((name.clone(), sid));
    }
    for (pos, ProviderSpec { name, services }) in spec.providers.iter().enumerate() {
        tx.execute(
            "INSERT INTO providers (tenant_id, name, position) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id, name COLLATE NOCASE) DO UPDATE
             SET name = excluded.name, position = excluded.position, retired_at = NULL",
            params![tenant, name, pos as i64],
        )?;
        let pid: i64 = tx.query_row(
            "SELECT id FROM providers WHERE tenant_id = ?1 AND name = ?2 COLLATE NOCASE",
            params![tenant, name],
            |r| r.get(0),
        )?;
        for svc in services {
            if let Some((_, sid)) = service_ids.iter().find(|(n, _)| n == svc) {
                tx.execute(
                    "INSERT OR IGNORE INTO provider_services (provider_id, service_id) VALUES (?1, ?2)",
                    params![pid, sid],
                )?;
            }
        }
    }
    for (day, ranges) in spec.hours.iter().enumerate() {
        for (opens, closes) in ranges {
            tx.execute(
                "INSERT INTO opening_hours (tenant_id, weekday, opens, closes) VALUES (?1, ?2, ?3, ?4)",
                params![tenant, day as i64, hhmm(*opens), hhmm(*closes)],
            )?;
        }
    }
    for day in &spec.closures {
        tx.execute(
            "INSERT INTO closures (tenant_id, day) VALUES (?1, ?2)",
            params![tenant, day.to_string()],
        )?;
    }
    Ok(())
}

/// Names the field whose UNIQUE rule `e` broke; `own` is the tenant being updated, whose
/// own row does not count as "another tenant".
fn unique_to_conflict(
    tx: &Connection,
    e: rusqlite::Error,
    spec: &TenantSpec,
    own: Option<i64>,
) -> DbError {
    if !is_unique_violation(&e) {
        return e.into();
    }
    // Name the field that clashed; the error text alone is not a stable contract.
    let slug_taken: bool = tx
        .query_row(
            "SELECT 1 FROM tenants WHERE slug = ?1 AND id IS NOT ?2",
            params![spec.slug, own],
            |_| Ok(true),
        )
        .optional()
        .ok()
        .flatten()
        .is_some();
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

/// Finds a tenant by numeric id or by slug.
pub fn find(conn: &Connection, id_or_slug: &str) -> Result<Tenant, DbError> {
    let id: Option<i64> = conn
        .query_row(
            "SELECT id FROM tenants WHERE slug = ?1 OR (CAST(id AS TEXT) = ?1)",
            [id_or_slug],
            |r| r.get(0),
        )
        .optional()?;
    load(conn, id.ok_or(DbError::NotFound)?)
}

/// Finds the tenant whose line is `number`.
pub fn by_phone(conn: &Connection, number: &PhoneNumber) -> Result<Option<Tenant>, DbError> {
    let id: Option<i64> = conn
        .query_row(
            "SELECT id FROM tenants WHERE phone_number = ?1",
            [number.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    id.map(|id| load(conn, id)).transpose()
}

/// The tenant a text from `customer` to `number` is meant for. The tenant that last texted
/// that customer from that number decides (texts that left, or would have in dry run,
/// latest due first), since several tenants may share an `sms_from`. Without such a text,
/// the tenants whose `phone_number` or `sms_from` is `number`: first one with which the
/// customer has an appointment to come (at `now`, Unix seconds), then the one whose line
/// it is, then the oldest.
pub fn for_reply(
    conn: &Connection,
    number: &PhoneNumber,
    customer: &str,
    now: i64,
) -> Result<Option<Tenant>, DbError> {
    let texted: Option<i64> = conn
        .prepare_cached(
            "SELECT tenant_id FROM outbox
             WHERE to_number = ?2 AND from_number = ?1
               AND status IN ('sending', 'sent', 'delivered', 'dry_run')
             ORDER BY due_at DESC, id DESC LIMIT 1",
        )?
        .query_row(params![number.as_str(), customer], |r| r.get(0))
        .optional()?;
    let id = match texted {
        Some(id) => Some(id),
        None => conn
            .prepare_cached(
                "SELECT t.id FROM tenants t WHERE t.phone_number = ?1 OR t.sms_from = ?1
                 ORDER BY EXISTS (SELECT 1 FROM appointments a
                                  WHERE a.tenant_id = t.id AND a.customer_phone = ?2
                                    AND a.status = 'booked' AND a.start_at > ?3) DESC,
                          t.phone_number = ?1 DESC, t.id
                 LIMIT 1",
            )?
            .query_row(params![number.as_str(), customer, now], |r| r.get(0))
            .optional()?,
    };
    id.map(|id| load(conn, id)).transpose()
}

/// Every tenant, ordered by id.
pub fn list(conn: &Connection) -> Result<Vec<Tenant>, DbError> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM tenants ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter().map(|id| load(conn, id)).collect()
}

/// Deletes a tenant and everything that belongs to it.
pub fn delete(conn: &mut Connection, id: i64) -> Result<(), DbError> {
    let tx = crate::db::begin(conn)?;
    delete_in(&tx, id)?;
    tx.commit()?;
    Ok(())
}

/// [`delete`] inside the caller's transaction; returns the slug the tenant had.
pub fn delete_in(tx: &crate::db::Tx<'_>, id: i64) -> Result<String, DbError> {
    let slug: String = tx
        .query_row("SELECT slug FROM tenants WHERE id = ?1", [id], |r| r.get(0))
        .optional()?
        .ok_or(DbError::NotFound)?;
    // Appointments first: they point at services and providers without cascading.
    tx.execute("DELETE FROM appointments WHERE tenant_id = ?1", [id])?;
    tx.execute("DELETE FROM tenants WHERE id = ?1", [id])?;
    Ok(slug)
}

/// True when no tenant exists (used by `serve --demo`).
pub fn is_empty(conn: &Connection) -> Result<bool, DbError> {
    Ok(
        conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM tenants)", [], |r| {
            r.get(0)
        })?,
    )
}

fn corrupt(what: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(what.to_string())
}

/// Reads a whole tenant by id.
pub fn load(conn: &Connection, id: i64) -> Result<Tenant, DbError> {
    let row = conn
        .query_row(
            "SELECT slug, name, phone_number, timezone, voice, greeting, sms_from,
                    messaging_profile_id, transfer_number, slot_minutes, min_notice_minutes,
                    horizon_days, buffer_minutes, reminder_hours, max_attempts, created_at, updated_at,
                    confirm_before_booking, hold_seconds,
                    reprompt, confirmation, transfer_line, goodbye, sms_confirmation, sms_reminder,
                    closed, sms_rate_per_second, max_future_bookings_per_caller, sms_moved, line,
                    reminder_calls
             FROM tenants WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?, r.get::<_, String>(5)?),
                    (r.get::<_, Option<String>>(6)?, r.get::<_, Option<String>>(7)?, r.get::<_, Option<String>>(8)?),
                    (r.get::<_, u32>(9)?, r.get::<_, u32>(10)?, r.get::<_, u32>(11)?, r.get::<_, u32>(12)?, r.get::<_, String>(13)?, r.get::<_, u32>(14)?),
                    (r.get::<_, i64>(15)?, r.get::<_, i64>(16)?, r.get::<_, f64>(26)?),
                    (r.get::<_, bool>(17)?, r.get::<_, u32>(18)?),
                    [r.get::<_, Option<String>>(19)?, r.get::<_, Option<String>>(20)?, r.get::<_, Option<String>>(21)?, r.get::<_, Option<String>>(22)?, r.get::<_, Option<String>>(23)?, r.get::<_, Option<String>>(24)?],
                    (r.get::<_, bool>(25)?, r.get::<_, u32>(27)?),
                    (r.get::<_, Option<String>>(28)?, r.get::<_, String>(29)?, r.get::<_, Option<String>>(30)?),
                ))
            },
        )
        .optional()?
        .ok_or(DbError::NotFound)?;
    let (
        (slug, name, phone, timezone, voice, greeting),
        (sms_from, profile, transfer),
        nums,
        (created_at, updated_at, sms_rate_per_second),
        (confirm_before_booking, hold_seconds),
        [
            reprompt,
            confirmation,
            transfer_line,
            goodbye,
            sms_confirmation,
            sms_reminder,
        ],
        (closed, max_future_bookings_per_caller),
        (sms_moved, line, reminder_calls),
    ) = row;
    let (slot_minutes, min_notice_minutes, horizon_days, buffer_minutes, reminder, max_attempts) =
        nums;
    let parse_phone = |s: Option<String>| {
        s.map(|s| PhoneNumber::parse(&s).map_err(corrupt))
            .transpose()
    };

    let mut services = Vec::new();
    let mut service_ids = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, duration_minutes, price FROM services WHERE tenant_id = ?1 AND retired_at IS NULL
         ORDER BY position",
    )?;
    for row in stmt.query_map([id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, u32>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })? {
        let (sid, name, duration_minutes, price) = row?;
        service_ids.push(sid);
        services.push(ServiceSpec {
            name,
            duration_minutes,
            price,
        });
    }
    let mut providers = Vec::new();
    let mut provider_ids = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, p.name, s.name FROM providers p
         LEFT JOIN provider_services ps ON ps.provider_id = p.id
         LEFT JOIN services s ON s.id = ps.service_id
         WHERE p.tenant_id = ?1 AND p.retired_at IS NULL ORDER BY p.position, s.position",
    )?;
    for row in stmt.query_map([id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })? {
        let (pid, name, service) = row?;
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
    let mut stmt = conn.prepare_cached("SELECT weekday, opens, closes FROM opening_hours WHERE tenant_id = ?1 ORDER BY weekday, opens")?;
    for row in stmt.query_map([id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })? {
        let (day, opens, closes) = row?;
        let range = (
            parse_hhmm(&opens).ok_or_else(|| corrupt(&opens))?,
            parse_hhmm(&closes).ok_or_else(|| corrupt(&closes))?,
        );
        hours
            .get_mut(day as usize)
            .ok_or_else(|| corrupt(day))?
            .push(range);
    }
    let mut closures = std::collections::BTreeSet::new();
    let mut stmt = conn.prepare_cached("SELECT day FROM closures WHERE tenant_id = ?1")?;
    for row in stmt.query_map([id], |r| r.get::<_, String>(0))? {
        let day = row?;
        closures.insert(parse_date(&day).ok_or_else(|| corrupt(&day))?);
    }
    let spec = TenantSpec {
        slug,
        name,
        phone_number: PhoneNumber::parse(&phone).map_err(corrupt)?,
        timezone,
        voice,
        greeting,
        reprompt,
        confirmation,
        transfer_line,
        goodbye,
        sms_confirmation,
        sms_reminder,
        sms_moved,
        line: crate::domain::line::LineSpec::from_stored(&line).map_err(corrupt)?,
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
        reminder_hours: serde_json::from_str(&reminder).map_err(corrupt)?,
        max_attempts,
        confirm_before_booking,
        hold_seconds,
        sms_rate_per_second,
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
