//! Tenants on PostgreSQL ([`crate::db::tenants`] is the interface and holds what both
//! backends share), their wording's versions, and the server's settings row. A tenant is
//! written whole in one transaction; a taken slug or number is named from the unique
//! constraint the server reports, so nothing else runs in the failed transaction.

use super::cached::Cached;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::types::ToSql;

use super::{
    Pg,
    changes::{Change, announce},
};
use crate::db::{
    DbError,
    tenants::{
        Beside, COLUMNS, Changed, INTS, Stored, TEXTS, Tenant, Value, assemble, hour_rows,
        load_columns, retired, taken, values, wording_body,
    },
    wording::{LISTED, Version},
};
use crate::domain::{PhoneNumber, TenantSpec};

/// `values` as PostgreSQL binds them, then `now`.
fn bound(values: [Value; 29], now: i64) -> Vec<Box<dyn ToSql + Sync + Send>> {
    let mut out: Vec<Box<dyn ToSql + Sync + Send>> = values
        .into_iter()
        .map(|v| -> Box<dyn ToSql + Sync + Send> {
            match v {
                Value::Text(t) => Box::new(t),
                Value::Int(n) => Box::new(n),
                Value::Real(r) => Box::new(r),
            }
        })
        .collect();
    out.push(Box::new(now));
    out
}

fn refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// A clash on the tenants' unique columns, named; any other error as it is.
fn unique_to_conflict(e: tokio_postgres::Error, spec: &TenantSpec) -> DbError {
    let clash = e
        .as_db_error()
        .filter(|d| d.code().code() == super::sqlstate::UNIQUE_VIOLATION)
        .and_then(|d| d.constraint());
    match clash {
        Some("tenants_slug_key") => taken(spec, true),
        Some("tenants_phone_number_key") => taken(spec, false),
        _ => e.into(),
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Inserts a new tenant inside `tx`.
pub async fn insert_in(tx: &Transaction<'_>, spec: &TenantSpec) -> Result<Tenant, DbError> {
    let sql = format!(
        "INSERT INTO tenants ({}, created_at, updated_at) VALUES ({}, $30, $30) RETURNING id",
        COLUMNS.join(", "),
        (1..=COLUMNS.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let params = bound(values(spec), now());
    let id: i64 = tx
        .query_one(&sql, &refs(&params))
        .await
        .map_err(|e| unique_to_conflict(e, spec))?
        .get(0);
    write_children(tx, id, spec).await?;
    load(tx, id).await
}

/// Replaces tenant `id` with `spec` inside `tx` (see [`crate::db::tenants::Tenants::update`]),
/// and returns the slug it had before with the stored result.
async fn replace_in(
    tx: &Transaction<'_>,
    id: i64,
    spec: &TenantSpec,
    now: i64,
) -> Result<(String, Tenant), DbError> {
    let before: String = tx
        .query_opt_cached("SELECT slug FROM tenants WHERE id = $1 FOR UPDATE", &[&id])
        .await?
        .ok_or(DbError::NotFound)?
        .get(0);
    let sql = format!(
        "UPDATE tenants SET {}, updated_at = $30 WHERE id = $31",
        COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 1))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut params = bound(values(spec), self::now());
    params.push(Box::new(id));
    tx.execute(&sql, &refs(&params))
        .await
        .map_err(|e| unique_to_conflict(e, spec))?;
    tx.execute_cached("DELETE FROM opening_hours WHERE tenant_id = $1", &[&id])
        .await?;
    tx.execute_cached("DELETE FROM closures WHERE tenant_id = $1", &[&id])
        .await?;
    tx.execute_cached(
        "DELETE FROM provider_services WHERE provider_id IN (SELECT id FROM providers WHERE tenant_id = $1)",
        &[&id],
    )
    .await?;
    let mut blocked = Vec::new();
    for (table, keep) in retired::kept(spec) {
        blocked.extend(retire_missing(tx, id, table, &keep, now).await?);
    }
    retired::refusal(&blocked, &spec.timezone)?;
    write_children(tx, id, spec).await?;
    Ok((before, load(tx, id).await?))
}

/// Retires the active rows of `table` whose lowercased names are not in `keep`, unless
/// they have appointments to come (returned instead).
async fn retire_missing(
    tx: &Transaction<'_>,
    tenant: i64,
    table: retired::Table,
    keep: &[String],
    now: i64,
) -> Result<Vec<retired::Blocked>, DbError> {
    let name = table.field();
    let column = table.column();
    let rows = tx
        .query(
            &format!(
                "SELECT id, name FROM {name} WHERE tenant_id = $1 AND retired_at IS NULL
                   AND NOT (lower(name) = ANY($2)) ORDER BY id"
            ),
            &[&tenant, &keep],
        )
        .await?;
    let mut blocked = Vec::new();
    for r in rows {
        let (row, row_name): (i64, String) = (r.get(0), r.get(1));
        let upcoming: Vec<(i64, i64)> = tx
            .query(
                &format!(
                    "SELECT id, start_at FROM appointments
                     WHERE {column} = $1 AND start_at > $2
                       AND (status = 'booked' OR (status = 'held' AND hold_expires_at > $2))
                     ORDER BY start_at, id"
                ),
                &[&row, &now],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        if !upcoming.is_empty() {
            blocked.push(retired::Blocked {
                table,
                name: row_name,
                upcoming,
            });
            continue;
        }
        tx.execute(
            &format!("DELETE FROM appointments WHERE {column} = $1 AND status = 'held'"),
            &[&row],
        )
        .await?;
        tx.execute(
            &format!("UPDATE {name} SET retired_at = $2 WHERE id = $1"),
            &[&row, &now],
        )
        .await?;
    }
    Ok(blocked)
}

/// Upserts services and providers by name (ignoring case), and writes hours and closures.
async fn write_children(
    tx: &Transaction<'_>,
    tenant: i64,
    spec: &TenantSpec,
) -> Result<(), DbError> {
    let mut service_ids: Vec<(&str, i64)> = Vec::with_capacity(spec.services.len());
    for (pos, s) in spec.services.iter().enumerate() {
        let sid: i64 = tx
            .query_one_cached(
                "INSERT INTO services (tenant_id, name, duration_minutes, position, price)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id, (lower(name))) DO UPDATE
                 SET name = excluded.name, duration_minutes = excluded.duration_minutes,
                     position = excluded.position, price = excluded.price, retired_at = NULL
                 RETURNING id",
                &[
                    &tenant,
                    &s.name,
                    &i64::from(s.duration_minutes),
                    &(pos as i64),
                    &s.price,
                ],
            )
            .await?
            .get(0);
        service_ids.push((&s.name, sid));
    }
    for (pos, p) in spec.providers.iter().enumerate() {
        let pid: i64 = tx
            .query_one_cached(
                "INSERT INTO providers (tenant_id, name, position) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, (lower(name))) DO UPDATE
                 SET name = excluded.name, position = excluded.position, retired_at = NULL
                 RETURNING id",
                &[&tenant, &p.name, &(pos as i64)],
            )
            .await?
            .get(0);
        for svc in &p.services {
            if let Some((_, sid)) = service_ids.iter().find(|(n, _)| n == svc) {
                tx.execute_cached(
                    "INSERT INTO provider_services (provider_id, service_id) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                    &[&pid, sid],
                )
                .await?;
            }
        }
    }
    for (day, opens, closes) in hour_rows(spec) {
        tx.execute_cached(
            "INSERT INTO opening_hours (tenant_id, weekday, opens, closes) VALUES ($1, $2, $3, $4)",
            &[&tenant, &day, &opens, &closes],
        )
        .await?;
    }
    for day in &spec.closures {
        tx.execute_cached(
            "INSERT INTO closures (tenant_id, day) VALUES ($1, $2)",
            &[&tenant, &day.to_string()],
        )
        .await?;
    }
    Ok(())
}

/// Reads a whole tenant by id.
pub async fn load(c: &impl GenericClient, id: i64) -> Result<Tenant, DbError> {
    load_all(c, &[id]).await?.pop().ok_or(DbError::NotFound)
}

/// Reads the tenants `ids` whole (those that exist, by id) in five statements however
/// many there are, so a node reloading every tenant makes no round trip per tenant.
async fn load_all(c: &impl GenericClient, ids: &[i64]) -> Result<Vec<Tenant>, DbError> {
    use std::collections::BTreeMap;
    let ids = ids.to_vec();
    let mut stored: BTreeMap<i64, Stored> = BTreeMap::new();
    let own = format!(
        "SELECT id, {} FROM tenants WHERE id = ANY($1)",
        load_columns()
    );
    for r in c.query(&own, &[&ids]).await? {
        let at = |i: usize| i + 1;
        stored.insert(
            r.get(0),
            Stored {
                texts: (0..TEXTS).map(|i| r.get(at(i))).collect(),
                ints: (TEXTS..TEXTS + INTS).map(|i| r.get(at(i))).collect(),
                rate: r.get(at(TEXTS + INTS)),
                ..Stored::default()
            },
        );
    }
    let rows = |sql: &'static str| {
        let ids = &ids;
        async move { c.query(sql, &[ids]).await }
    };
    for r in rows(
        "SELECT tenant_id, id, name, duration_minutes, price FROM services
         WHERE tenant_id = ANY($1) AND retired_at IS NULL ORDER BY tenant_id, position",
    )
    .await?
    {
        if let Some(t) = stored.get_mut(&r.get(0)) {
            t.services.push((r.get(1), r.get(2), r.get(3), r.get(4)));
        }
    }
    for r in rows(
        "SELECT p.tenant_id, p.id, p.name, s.name FROM providers p
         LEFT JOIN provider_services ps ON ps.provider_id = p.id
         LEFT JOIN services s ON s.id = ps.service_id
         WHERE p.tenant_id = ANY($1) AND p.retired_at IS NULL
         ORDER BY p.tenant_id, p.position, s.position",
    )
    .await?
    {
        if let Some(t) = stored.get_mut(&r.get(0)) {
            t.providers.push((r.get(1), r.get(2), r.get(3)));
        }
    }
    for r in rows(
        "SELECT tenant_id, weekday, opens, closes FROM opening_hours
         WHERE tenant_id = ANY($1) ORDER BY tenant_id, weekday, opens",
    )
    .await?
    {
        if let Some(t) = stored.get_mut(&r.get(0)) {
            t.hours.push((r.get(1), r.get(2), r.get(3)));
        }
    }
    for r in rows("SELECT tenant_id, day FROM closures WHERE tenant_id = ANY($1)").await? {
        if let Some(t) = stored.get_mut(&r.get(0)) {
            t.closures.push(r.get(1));
        }
    }
    stored.into_iter().map(|(id, s)| assemble(id, s)).collect()
}

/// A tenant by numeric id or slug.
pub async fn find(c: &impl GenericClient, key: &str) -> Result<Tenant, DbError> {
    let id: i64 = c
        .query_opt_cached(
            "SELECT id FROM tenants WHERE slug = $1 OR id::text = $1",
            &[&key],
        )
        .await?
        .ok_or(DbError::NotFound)?
        .get(0);
    load(c, id).await
}

/// The tenant whose line is `number`.
pub async fn by_phone(
    c: &impl GenericClient,
    number: &PhoneNumber,
) -> Result<Option<Tenant>, DbError> {
    let id = c
        .query_opt_cached(
            "SELECT id FROM tenants WHERE phone_number = $1",
            &[&number.as_str()],
        )
        .await?;
    match id {
        Some(r) => Ok(Some(load(c, r.get(0)).await?)),
        None => Ok(None),
    }
}

/// The tenant a text from `customer` to `number` is meant for (see
/// [`crate::db::sqlite::tenants::for_reply`] for the rule).
pub async fn for_reply(
    c: &impl GenericClient,
    number: &PhoneNumber,
    customer: &str,
    now: i64,
) -> Result<Option<Tenant>, DbError> {
    let texted = c
        .query_opt_cached(
            "SELECT tenant_id FROM outbox
             WHERE to_number = $2 AND from_number = $1
               AND status IN ('sending', 'sent', 'delivered', 'dry_run')
             ORDER BY due_at DESC, id DESC LIMIT 1",
            &[&number.as_str(), &customer],
        )
        .await?;
    let id = match texted {
        Some(r) => Some(r.get(0)),
        None => c
            .query_opt_cached(
                "SELECT t.id FROM tenants t WHERE t.phone_number = $1 OR t.sms_from = $1
                 ORDER BY EXISTS (SELECT 1 FROM appointments a
                                  WHERE a.tenant_id = t.id AND a.customer_phone = $2
                                    AND a.status = 'booked' AND a.start_at > $3) DESC,
                          t.phone_number = $1 DESC, t.id
                 LIMIT 1",
                &[&number.as_str(), &customer, &now],
            )
            .await?
            .map(|r| r.get(0)),
    };
    match id {
        Some(id) => Ok(Some(load(c, id).await?)),
        None => Ok(None),
    }
}

/// Every tenant, by id.
pub async fn list(c: &impl GenericClient) -> Result<Vec<Tenant>, DbError> {
    let ids: Vec<i64> = c
        .query_cached("SELECT id FROM tenants", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    load_all(c, &ids).await
}

/// True when there is no tenant.
pub async fn is_empty(c: &impl GenericClient) -> Result<bool, DbError> {
    Ok(
        c.query_one_cached("SELECT NOT EXISTS (SELECT 1 FROM tenants)", &[])
            .await?
            .get(0),
    )
}

/// Records `body` as tenant `tenant`'s newest wording unless it is the newest already.
async fn record_wording(
    tx: &Transaction<'_>,
    tenant: i64,
    body: &str,
    by: &str,
    now: i64,
) -> Result<(), DbError> {
    tx.execute_cached(
        "INSERT INTO wording_versions (tenant_id, body, saved_at, saved_by)
         SELECT $1, $2, $3, $4
         WHERE $2 IS DISTINCT FROM (SELECT body FROM wording_versions WHERE tenant_id = $1
                                    ORDER BY id DESC LIMIT 1)",
        &[&tenant, &body, &now, &by],
    )
    .await?;
    Ok(())
}

fn version(r: &tokio_postgres::Row) -> Version {
    Version {
        id: r.get(0),
        body: r.get(1),
        saved_at: r.get(2),
        saved_by: r.get(3),
    }
}

/// Tenant `tenant`'s latest wording versions, newest first.
pub async fn wording_versions(
    c: &impl GenericClient,
    tenant: i64,
) -> Result<Vec<Version>, DbError> {
    Ok(c.query_cached(
        "SELECT id, body, saved_at, saved_by FROM wording_versions WHERE tenant_id = $1
             ORDER BY id DESC LIMIT $2",
        &[&tenant, &(LISTED as i64)],
    )
    .await?
    .iter()
    .map(version)
    .collect())
}

/// Version `id` of tenant `tenant`'s wording.
pub async fn wording_version(
    c: &impl GenericClient,
    tenant: i64,
    id: i64,
) -> Result<Option<Version>, DbError> {
    Ok(c
        .query_opt_cached(
            "SELECT id, body, saved_at, saved_by FROM wording_versions WHERE tenant_id = $1 AND id = $2",
            &[&tenant, &id],
        )
        .await?
        .as_ref()
        .map(version))
}

/// Stores a new tenant with its wording as the first version, then the step beside.
pub async fn create<B: Beside + Send + 'static>(
    pg: &Pg,
    spec: &TenantSpec,
    by: &str,
    now: i64,
    beside: impl FnOnce(&Tenant) -> std::io::Result<B> + Send + 'static,
) -> Result<Changed<Tenant, std::convert::Infallible>, DbError> {
    pg.write_beside(async |tx| {
        let tenant = insert_in(tx, spec).await?;
        record_wording(tx, tenant.id, &wording_body(&tenant), by, now).await?;
        announce(tx, Change::Tenants).await?;
        Ok(match beside(&tenant) {
            Ok(step) => Ok((tenant, step)),
            Err(e) => Err(Changed::Beside(e)),
        })
    })
    .await
}

/// Replaces the tenant named by `key` with what `merge` makes of it, then the step beside.
pub async fn update<R: Send + 'static, B: Beside + Send + 'static>(
    pg: &Pg,
    key: &str,
    merge: impl FnOnce(&Tenant) -> Result<TenantSpec, R> + Send + 'static,
    by: &str,
    now: i64,
    beside: impl FnOnce(&str, &Tenant) -> std::io::Result<B> + Send + 'static,
) -> Result<Changed<Tenant, R>, DbError> {
    pg.write_beside(async |tx| {
        let stored = find(tx, key).await?;
        let spec = match merge(&stored) {
            Ok(spec) => spec,
            Err(refused) => return Ok(Err(Changed::Refused(refused))),
        };
        if wording_versions(tx, stored.id).await?.is_empty() {
            record_wording(
                tx,
                stored.id,
                &wording_body(&stored),
                "as it was before",
                now,
            )
            .await?;
        }
        let (before, tenant) = replace_in(tx, stored.id, &spec, now).await?;
        record_wording(tx, tenant.id, &wording_body(&tenant), by, now).await?;
        announce(tx, Change::Tenants).await?;
        Ok(match beside(&before, &tenant) {
            Ok(step) => Ok((tenant, step)),
            Err(e) => Err(Changed::Beside(e)),
        })
    })
    .await
}

/// Deletes tenant `id` and everything it has, then the step beside with its slug.
pub async fn delete<B: Beside + Send + 'static>(
    pg: &Pg,
    id: i64,
    beside: impl FnOnce(&str) -> std::io::Result<B> + Send + 'static,
) -> Result<Changed<String, std::convert::Infallible>, DbError> {
    pg.write_beside(async |tx| {
        let slug: String = tx
            .query_opt_cached("SELECT slug FROM tenants WHERE id = $1 FOR UPDATE", &[&id])
            .await?
            .ok_or(DbError::NotFound)?
            .get(0);
        // Appointments first: they point at services and providers without cascading.
        tx.execute_cached("DELETE FROM appointments WHERE tenant_id = $1", &[&id])
            .await?;
        tx.execute_cached("DELETE FROM tenants WHERE id = $1", &[&id])
            .await?;
        announce(tx, Change::Tenants).await?;
        Ok(match beside(&slug) {
            Ok(step) => Ok((slug, step)),
            Err(e) => Err(Changed::Beside(e)),
        })
    })
    .await
}

/// The server's URL secret if one was stored (read only, for `texml preview`).
pub async fn stored_url_secret(c: &impl GenericClient) -> Result<Option<String>, DbError> {
    Ok(
        c.query_opt_cached("SELECT value FROM settings WHERE key = 'url_secret'", &[])
            .await?
            .map(|r| r.get(0)),
    )
}

/// The server's URL secret, generated and stored on first use; of several nodes starting
/// at once, every one gets the one that was stored first.
pub async fn url_secret(pg: &Pg) -> Result<String, DbError> {
    let fresh: String = {
        let bytes: [u8; 32] = rand::random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    pg.write(async |tx| {
        tx.execute_cached(
            "INSERT INTO settings (key, value) VALUES ('url_secret', $1) ON CONFLICT (key) DO NOTHING",
            &[&fresh],
        )
        .await?;
        Ok(tx
            .query_one_cached("SELECT value FROM settings WHERE key = 'url_secret'", &[])
            .await?
            .get(0))
    })
    .await
}
