//! ICS subscription feeds on PostgreSQL ([`crate::db::feeds`] is the interface).

use super::cached::Cached;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::Pg;
use crate::db::{
    DbError,
    feeds::{Feed, FeedAccess, FeedEvent},
};

const SELECT_FEED: &str =
    "SELECT f.id, f.tenant_id, f.provider_id, p.name, f.detail, f.created_at, f.rotated_at
     FROM feeds f LEFT JOIN providers p ON p.id = f.provider_id";

fn feed(r: &Row) -> Feed {
    let provider_id: Option<i64> = r.get(2);
    Feed {
        id: r.get(0),
        tenant_id: r.get(1),
        scope: Feed::scope_of(provider_id),
        provider_id,
        provider: r.get(3),
        detail: r.get(4),
        created_at: r.get(5),
        rotated_at: r.get(6),
    }
}

async fn get(c: &impl GenericClient, tenant: i64, id: i64) -> Result<Feed, DbError> {
    c.query_opt(
        &format!("{SELECT_FEED} WHERE f.tenant_id = $1 AND f.id = $2"),
        &[&tenant, &id],
    )
    .await?
    .map(|r| feed(&r))
    .ok_or(DbError::NotFound)
}

/// Stores a new feed of `tenant`.
pub async fn create(
    pg: &Pg,
    tenant: i64,
    provider_id: Option<i64>,
    detail: &str,
    secret_hash: &[u8; 32],
    now: i64,
) -> Result<Feed, DbError> {
    pg.write(async |tx| {
        let id: i64 = tx
            .query_one_cached(
                "INSERT INTO feeds (tenant_id, provider_id, detail, secret_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &tenant,
                    &provider_id,
                    &detail,
                    &secret_hash.as_slice(),
                    &now,
                ],
            )
            .await?
            .get(0);
        get(tx, tenant, id).await
    })
    .await
}

/// The tenant's feeds, oldest first.
pub async fn list(pg: &Pg, tenant: i64) -> Result<Vec<Feed>, DbError> {
    pg.run(async |c| {
        let rows = c
            .query(
                &format!("{SELECT_FEED} WHERE f.tenant_id = $1 ORDER BY f.id"),
                &[&tenant],
            )
            .await?;
        Ok(rows.iter().map(feed).collect())
    })
    .await
}

/// Revokes a feed of `tenant`.
pub async fn delete(pg: &Pg, tenant: i64, id: i64) -> Result<(), DbError> {
    let sql = "DELETE FROM feeds WHERE tenant_id = $1 AND id = $2";
    match pg
        .write(async |tx| Ok(tx.execute(sql, &[&tenant, &id]).await?))
        .await?
    {
        0 => Err(DbError::NotFound),
        _ => Ok(()),
    }
}

/// Gives a feed of `tenant` a new secret; the old one stops working with this statement.
pub async fn rotate(
    pg: &Pg,
    tenant: i64,
    id: i64,
    secret_hash: &[u8; 32],
    now: i64,
) -> Result<Feed, DbError> {
    pg.write(async |tx| {
        let n = tx
            .execute_cached(
                "UPDATE feeds SET secret_hash = $3, rotated_at = $4
                 WHERE tenant_id = $1 AND id = $2",
                &[&tenant, &id, &secret_hash.as_slice(), &now],
            )
            .await?;
        if n == 0 {
            return Err(DbError::NotFound);
        }
        get(tx, tenant, id).await
    })
    .await
}

/// Feed `id` with its secret's hash and its tenant's name, for serving its URL.
pub async fn for_url(pg: &Pg, id: i64) -> Result<Option<FeedAccess>, DbError> {
    pg.run(async |c| {
        let row = c
            .query_opt_cached(
                "SELECT f.id, f.tenant_id, f.provider_id, p.name, f.detail, f.created_at,
                        f.rotated_at, f.secret_hash, t.slug, t.name, t.horizon_days
                 FROM feeds f JOIN tenants t ON t.id = f.tenant_id
                 LEFT JOIN providers p ON p.id = f.provider_id WHERE f.id = $1",
                &[&id],
            )
            .await?;
        Ok(row.map(|r| FeedAccess {
            feed: feed(&r),
            secret_hash: r.get(7),
            tenant_slug: r.get(8),
            tenant_name: r.get(9),
            horizon_days: r.get(10),
        }))
    })
    .await
}

/// The appointments a feed shows (see [`crate::db::feeds::Feeds::events`]).
pub async fn events(
    pg: &Pg,
    tenant: i64,
    provider_id: Option<i64>,
    (from, to): (i64, i64),
    cancelled_since: i64,
    now: i64,
) -> Result<Vec<FeedEvent>, DbError> {
    pg.run(async |c| {
        let rows = c
            .query_cached(
                "SELECT a.id, s.name, p.name, a.customer_name, a.customer_phone, a.start_at,
                        a.end_at, a.status, a.sequence, a.updated_at, a.created_at
                 FROM appointments a JOIN services s ON s.id = a.service_id
                 JOIN providers p ON p.id = a.provider_id
                 WHERE a.tenant_id = $1 AND ($2::bigint IS NULL OR a.provider_id = $2)
                   AND a.start_at >= $3 AND a.start_at < $4
                   AND (a.status = 'booked'
                        OR (a.status = 'held' AND a.hold_expires_at > $6)
                        OR (a.status = 'cancelled' AND a.updated_at >= $5))
                 ORDER BY a.start_at, a.id",
                &[&tenant, &provider_id, &from, &to, &cancelled_since, &now],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| FeedEvent {
                id: r.get(0),
                service: r.get(1),
                provider: r.get(2),
                customer_name: r.get(3),
                customer_phone: r.get(4),
                start_at: r.get(5),
                end_at: r.get(6),
                status: r.get(7),
                sequence: r.get(8),
                updated_at: r.get(9),
                created_at: r.get(10),
            })
            .collect())
    })
    .await
}
