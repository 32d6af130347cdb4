//! Webhook endpoints and their deliveries on PostgreSQL ([`crate::db::webhooks`] is the
//! interface).

use super::cached::Cached;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{Pg, leases::lease_clock};
use crate::db::{
    DbError,
    leases::Wall,
    webhooks::{
        Attempt, AttemptRow, Candidate, Claimed, DeliveryRow, Endpoint, Then, disabled_reason,
        failure_reason,
    },
};

const SELECT_ENDPOINT: &str = "SELECT id, url, events, created_at, failing_since_ms, disabled_at, disabled_reason FROM webhook_endpoints";

fn endpoint(r: &Row) -> Endpoint {
    let events: String = r.get(2);
    Endpoint {
        id: r.get(0),
        url: r.get(1),
        events: serde_json::from_str(&events).unwrap_or_default(),
        created_at: r.get(3),
        failing_since_ms: r.get(4),
        disabled_at: r.get(5),
        disabled_reason: r.get(6),
    }
}

async fn get(c: &impl GenericClient, tenant: i64, id: i64) -> Result<Endpoint, DbError> {
    c.query_opt(
        &format!("{SELECT_ENDPOINT} WHERE tenant_id = $1 AND id = $2"),
        &[&tenant, &id],
    )
    .await?
    .map(|r| endpoint(&r))
    .ok_or(DbError::NotFound)
}

/// Runs `sql` (changing endpoint `$2` of tenant `$1`, with `$3` when given), then reads
/// the endpoint back, in one transaction; [`DbError::NotFound`] when no row changed.
async fn change(
    pg: &Pg,
    tenant: i64,
    id: i64,
    sql: &str,
    extra: Option<&str>,
) -> Result<Endpoint, DbError> {
    pg.write(async |tx| {
        let n = match extra {
            Some(v) => tx.execute(sql, &[&tenant, &id, &v]).await?,
            None => tx.execute(sql, &[&tenant, &id]).await?,
        };
        if n == 0 {
            return Err(DbError::NotFound);
        }
        get(tx, tenant, id).await
    })
    .await
}

/// Stores an endpoint of `tenant`.
pub async fn create_endpoint(
    pg: &Pg,
    tenant: i64,
    url: &str,
    events: &[String],
    secret: &str,
    now: i64,
) -> Result<Endpoint, DbError> {
    let events = serde_json::to_string(events).unwrap_or_else(|_| "[]".into());
    pg.write(async |tx| {
        let id: i64 = tx
            .query_one_cached(
                "INSERT INTO webhook_endpoints (tenant_id, url, events, secret, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&tenant, &url, &events, &secret, &now],
            )
            .await?
            .get(0);
        get(tx, tenant, id).await
    })
    .await
}

/// One endpoint of `tenant`.
pub async fn get_endpoint(pg: &Pg, tenant: i64, id: i64) -> Result<Endpoint, DbError> {
    pg.run(async |c| get(c, tenant, id).await).await
}

/// The tenant's endpoints, oldest first.
pub async fn list_endpoints(pg: &Pg, tenant: i64) -> Result<Vec<Endpoint>, DbError> {
    pg.run(async |c| {
        let rows = c
            .query(
                &format!("{SELECT_ENDPOINT} WHERE tenant_id = $1 ORDER BY id"),
                &[&tenant],
            )
            .await?;
        Ok(rows.iter().map(endpoint).collect())
    })
    .await
}

/// Deletes an endpoint of `tenant` with its queue and history (by cascade).
pub async fn delete_endpoint(pg: &Pg, tenant: i64, id: i64) -> Result<(), DbError> {
    let sql = "DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2";
    match pg
        .write(async |tx| Ok(tx.execute(sql, &[&tenant, &id]).await?))
        .await?
    {
        0 => Err(DbError::NotFound),
        _ => Ok(()),
    }
}

/// Gives an endpoint a new secret.
pub async fn rotate_endpoint(
    pg: &Pg,
    tenant: i64,
    id: i64,
    secret: &str,
) -> Result<Endpoint, DbError> {
    change(
        pg,
        tenant,
        id,
        "UPDATE webhook_endpoints SET secret = $3 WHERE tenant_id = $1 AND id = $2",
        Some(secret),
    )
    .await
}

/// Enables a disabled endpoint again and forgets its failure streak.
pub async fn enable_endpoint(pg: &Pg, tenant: i64, id: i64) -> Result<Endpoint, DbError> {
    change(
        pg,
        tenant,
        id,
        "UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL,
             failing_since_ms = NULL
         WHERE tenant_id = $1 AND id = $2",
        None,
    )
    .await
}

/// The newest `limit` deliveries to endpoint `endpoint` of `tenant`, newest first, with
/// their attempts oldest first.
pub async fn deliveries(
    pg: &Pg,
    tenant: i64,
    endpoint: i64,
    limit: usize,
) -> Result<Vec<DeliveryRow>, DbError> {
    pg.run(async |conn| {
        get(conn, tenant, endpoint).await?;
        let limit = super::ints::big(limit);
        let rows = conn
            .query_cached(
                "SELECT d.id, e.event_id, e.type, d.appointment_id, d.status, d.attempts,
                        d.next_attempt_ms, d.last_error
                 FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
                 WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2",
                &[&endpoint, &limit],
            )
            .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let attempts = conn
            .query_cached(
                "SELECT delivery_id, attempted_ms, http_status, error, duration_ms
                 FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY id",
                &[&ids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let (id, status): (i64, String) = (r.get(0), r.get(4));
                DeliveryRow {
                    id,
                    event_id: r.get(1),
                    kind: r.get(2),
                    appointment_id: r.get(3),
                    next_attempt_ms: (status == "pending").then(|| r.get(6)),
                    status,
                    attempts: r.get(5),
                    last_error: r.get(7),
                    history: attempts
                        .iter()
                        .filter(|a| a.get::<_, i64>(0) == id)
                        .map(|a| AttemptRow {
                            at_ms: a.get(1),
                            http_status: a
                                .get::<_, Option<i64>>(2)
                                .and_then(|s| u16::try_from(s).ok()),
                            error: a.get(3),
                            duration_ms: a.get(4),
                        })
                        .collect(),
                }
            })
            .collect())
    })
    .await
}

/// Pending deliveries the worker may attempt now (see
/// [`crate::db::webhooks::Webhooks::candidates`]).
pub async fn candidates(
    pg: &Pg,
    wall: Wall,
    busy: &[i64],
    limit: usize,
) -> Result<Vec<Candidate>, DbError> {
    let limit = super::ints::big(limit);
    let leased_until = lease_clock("$4");
    pg.run(async |c| {
        let rows = c
            .query(
                &format!(
                    "SELECT id, endpoint_id FROM (
                    SELECT d.id, d.endpoint_id, d.next_attempt_ms,
                           ROW_NUMBER() OVER (PARTITION BY d.endpoint_id ORDER BY d.event_id) AS rn
                    FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
                    WHERE d.status = 'pending' AND d.next_attempt_ms <= $1
                      AND (d.lease_until_ms IS NULL OR d.lease_until_ms <= {leased_until})
                      AND w.disabled_at IS NULL
                      AND d.endpoint_id <> ALL($2)
                      AND NOT EXISTS (
                          SELECT 1 FROM webhook_deliveries e
                          WHERE e.endpoint_id = d.endpoint_id AND e.status = 'pending'
                            AND e.appointment_id = d.appointment_id AND e.event_id < d.event_id)
                 ) due WHERE rn = 1 ORDER BY next_attempt_ms, id LIMIT $3"
                ),
                &[&wall.node_ms(), &busy, &limit, &wall.fixed()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Candidate {
                id: r.get(0),
                endpoint: r.get(1),
            })
            .collect())
    })
    .await
}

/// Leases delivery `id` for `lease_ms` unless another worker holds it, on the lease clock
/// (`now_ms`, else the server's clock, read after the row's lock is had). The lease is one
/// conditional UPDATE: of two nodes claiming at once, PostgreSQL lets the second wait for
/// the first's row lock and then finds the condition false.
pub async fn claim(
    pg: &Pg,
    id: i64,
    now_ms: Option<i64>,
    lease_ms: i64,
) -> Result<Option<Claimed>, DbError> {
    let now = lease_clock("$2");
    pg.write(async |tx| {
        let n = tx
            .execute(
                &format!(
                    "UPDATE webhook_deliveries SET lease_until_ms = {now} + $3
                     WHERE id = $1 AND status = 'pending'
                       AND (lease_until_ms IS NULL OR lease_until_ms <= {now})"
                ),
                &[&id, &now_ms, &lease_ms],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        let row = tx
            .query_opt_cached(
                "SELECT d.id, d.endpoint_id, w.url, w.secret, e.event_id, e.payload,
                        d.attempts, d.created_ms
                 FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
                 JOIN webhook_events e ON e.id = d.event_id WHERE d.id = $1",
                &[&id],
            )
            .await?;
        Ok(row.map(|r| Claimed {
            id: r.get(0),
            endpoint: r.get(1),
            url: r.get(2),
            secret: r.get(3),
            event_id: r.get(4),
            payload: r.get(5),
            attempts: r.get(6),
            created_ms: r.get(7),
        }))
    })
    .await
}

/// Records an attempt of delivery `id` and settles it (see
/// [`crate::db::webhooks::Webhooks::record_attempt`]).
pub async fn record_attempt(
    pg: &Pg,
    id: i64,
    attempt: &Attempt,
    then: Then,
    disable_after_ms: i64,
    now: i64,
) -> Result<bool, DbError> {
    let status = attempt.http_status.map(i64::from);
    pg.write(async |tx| {
        // The endpoint was deleted while the attempt was in flight: nothing to record.
        let Some(row) = tx
            .query_opt_cached(
                "SELECT endpoint_id FROM webhook_deliveries WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await?
        else {
            return Ok(false);
        };
        let endpoint: i64 = row.get(0);
        tx.execute_cached(
            "INSERT INTO webhook_attempts (delivery_id, attempted_ms, http_status, error, duration_ms)
             VALUES ($1, $2, $3, $4, $5)",
            &[&id, &attempt.at_ms, &status, &attempt.error, &attempt.duration_ms],
        )
        .await?;
        if attempt.succeeded() {
            tx.execute_cached(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,
                    lease_until_ms = NULL, last_error = NULL WHERE id = $1",
                &[&id],
            )
            .await?;
            tx.execute_cached(
                "UPDATE webhook_endpoints SET failing_since_ms = NULL WHERE id = $1",
                &[&endpoint],
            )
            .await?;
            return Ok(false);
        }
        let reason = failure_reason(attempt);
        match then {
            Then::RetryAt(at) => {
                tx.execute_cached(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_ms = $2,
                        lease_until_ms = NULL, last_error = $3 WHERE id = $1",
                    &[&id, &at, &reason],
                )
                .await?
            }
            Then::GiveUp => {
                tx.execute_cached(
                    "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1,
                        lease_until_ms = NULL, last_error = $2 WHERE id = $1",
                    &[&id, &format!("gave up after the retry period: {reason}")],
                )
                .await?
            }
        };
        let since: i64 = tx
            .query_one_cached(
                "UPDATE webhook_endpoints SET failing_since_ms = COALESCE(failing_since_ms, $2)
                 WHERE id = $1 RETURNING failing_since_ms",
                &[&endpoint, &attempt.at_ms],
            )
            .await?
            .get(0);
        if attempt.at_ms - since < disable_after_ms {
            return Ok(false);
        }
        tx.execute_cached(
            "UPDATE webhook_endpoints SET disabled_at = $2, disabled_reason = $3
             WHERE id = $1 AND disabled_at IS NULL",
            &[&endpoint, &now, &disabled_reason(since, endpoint, &reason)],
        )
        .await?;
        Ok(true)
    })
    .await
}
