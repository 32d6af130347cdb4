//! Tenants on SQLite ([`crate::db::tenants`] is the interface and holds what both
//! backends share). A tenant is always written whole, in one transaction.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{
    Db, DbError, is_unique_violation,
    tenants::{
        Beside, COLUMNS, Changed, INTS, Stored, TEXTS, Tenant, Value, assemble, hour_rows,
        load_columns, retired, taken, values,
    },
};
use crate::domain::{PhoneNumber, ProviderSpec, ServiceSpec, TenantSpec};

mod retire;
#[cfg(test)]
mod tests;

use retire::retire_missing;

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Phone numbers are stored in their E.164 text form.
impl rusqlite::ToSql for PhoneNumber {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Value::Text(t) => t.to_sql(),
            Value::Int(n) => n.to_sql(),
            Value::Real(r) => r.to_sql(),
        }
    }
}

/// `(":column", value)` for every entry of [`COLUMNS`], then `:now`.
fn named<'a>(values: &'a [Value; 29], now: &'a i64) -> Vec<(String, &'a dyn rusqlite::ToSql)> {
    let mut out: Vec<(String, &dyn rusqlite::ToSql)> = COLUMNS
        .iter()
        .map(|c| format!(":{c}"))
        .zip(values.iter().map(|v| v as &dyn rusqlite::ToSql))
        .collect();
    out.push((":now".into(), now));
    out
}

/// The named parameters as rusqlite takes them.
fn bind<'p>(
    params: &'p [(String, &'p dyn rusqlite::ToSql)],
) -> Vec<(&'p str, &'p dyn rusqlite::ToSql)> {
    params.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

/// Runs `write` in one IMMEDIATE transaction of its own on the writer thread, then the
/// step `beside` the database; commits only when both succeeded, and undoes the step if
/// the commit fails. A refusal from `write` (its inner `Err`) writes nothing.
pub(crate) async fn change<T, R, B>(
    db: &Db,
    write: impl FnOnce(&crate::db::Tx<'_>) -> Result<Result<T, R>, DbError> + Send + 'static,
    beside: impl FnOnce(&T) -> std::io::Result<B> + Send + 'static,
) -> Result<Changed<T, R>, DbError>
where
    T: Send + 'static,
    R: Send + 'static,
    B: Beside,
{
    db.write_alone(move |c| {
        let tx = crate::db::begin(c)?;
        let value = match write(&tx)? {
            Ok(value) => value,
            // Dropping `tx` rolls back whatever `write` did.
            Err(refused) => return Ok(Changed::Refused(refused)),
        };
        let step = match beside(&value) {
            Ok(step) => step,
            Err(e) => return Ok(Changed::Beside(e)),
        };
        if let Err(e) = tx.commit() {
            step.undo();
            return Err(e.into());
        }
        Ok(Changed::Done(value))
    })
    .await
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
    let (values, now) = (values(spec), now());
    let sql = format!(
        "INSERT INTO tenants ({}, created_at, updated_at) VALUES ({}, :now, :now)",
        COLUMNS.join(", "),
        COLUMNS
            .iter()
            .map(|c| format!(":{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let params = named(&values, &now);
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
    let (values, stamp) = (values(spec), self::now());
    let sql = format!(
        "UPDATE tenants SET {}, updated_at = :now WHERE id = :id",
        COLUMNS
            .iter()
            .map(|c| format!("{c} = :{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut params = named(&values, &stamp);
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
    let mut blocked = Vec::new();
    for (table, keep) in retired::kept(spec) {
        blocked.extend(retire_missing(tx, id, table, &keep, now)?);
    }
    retired::refusal(&blocked, &spec.timezone)?;
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
    for (day, opens, closes) in hour_rows(spec) {
        tx.execute(
            "INSERT INTO opening_hours (tenant_id, weekday, opens, closes) VALUES (?1, ?2, ?3, ?4)",
            params![tenant, day, opens, closes],
        )?;
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
    taken(spec, slug_taken)
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

/// Reads a whole tenant by id.
pub fn load(conn: &Connection, id: i64) -> Result<Tenant, DbError> {
    let mut stored = conn
        .prepare_cached(&format!(
            "SELECT {} FROM tenants WHERE id = ?1",
            load_columns()
        ))?
        .query_row([id], |r| {
            Ok(Stored {
                texts: (0..TEXTS).map(|i| r.get(i)).collect::<Result<_, _>>()?,
                ints: (TEXTS..TEXTS + INTS)
                    .map(|i| r.get(i))
                    .collect::<Result<_, _>>()?,
                rate: r.get(TEXTS + INTS)?,
                ..Stored::default()
            })
        })
        .optional()?
        .ok_or(DbError::NotFound)?;
    stored.services = conn
        .prepare_cached(
            "SELECT id, name, duration_minutes, price FROM services WHERE tenant_id = ?1 AND retired_at IS NULL
             ORDER BY position",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    stored.providers = conn
        .prepare_cached(
            "SELECT p.id, p.name, s.name FROM providers p
             LEFT JOIN provider_services ps ON ps.provider_id = p.id
             LEFT JOIN services s ON s.id = ps.service_id
             WHERE p.tenant_id = ?1 AND p.retired_at IS NULL ORDER BY p.position, s.position",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    stored.hours = conn
        .prepare_cached(
            "SELECT weekday, opens, closes FROM opening_hours WHERE tenant_id = ?1 ORDER BY weekday, opens",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    stored.closures = conn
        .prepare_cached("SELECT day FROM closures WHERE tenant_id = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    assemble(id, stored)
}
