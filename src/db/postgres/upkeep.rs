//! Upkeep queries on PostgreSQL ([`crate::db::upkeep`] is the interface).

use super::cached::Cached;
use deadpool_postgres::GenericClient;

use super::Pg;
use crate::db::{
    DbError,
    upkeep::{DELIVERY_STATUSES, Funnel, Queues, REMINDER_CALL_STATUSES, TEXT_STATUSES},
};

async fn oldest(c: &impl GenericClient, now: i64) -> Result<Option<i64>, DbError> {
    Ok(c.query_one_cached(
        "SELECT MIN(due_at) FROM outbox WHERE status = 'queued' AND due_at <= $1",
        &[&now],
    )
    .await?
    .get(0))
}

/// Rows of `table` per each of `statuses` (0 included).
async fn by_status(
    c: &impl GenericClient,
    table: &str,
    statuses: &[&'static str],
) -> Result<Vec<(&'static str, i64)>, DbError> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE status = $1");
    let mut counts = Vec::with_capacity(statuses.len());
    for status in statuses {
        counts.push((*status, c.query_one(&sql, &[status]).await?.get(0)));
    }
    Ok(counts)
}

/// The due time of the oldest text due by `now` and still queued.
pub async fn oldest_due_text(pg: &Pg, now: i64) -> Result<Option<i64>, DbError> {
    pg.run(async |c| oldest(c, now).await).await
}

/// Every queue's size by status, and the oldest due text.
pub async fn queues(pg: &Pg, now: i64) -> Result<Queues, DbError> {
    pg.run(async |c| {
        Ok(Queues {
            texts: by_status(c, "outbox", &TEXT_STATUSES).await?,
            oldest_due_text: oldest(c, now).await?,
            deliveries: by_status(c, "webhook_deliveries", &DELIVERY_STATUSES).await?,
            reminder_calls: by_status(c, "reminder_calls", &REMINDER_CALL_STATUSES).await?,
        })
    })
    .await
}

/// The funnel of each of `tenants` over `[from, to)`: calls (with `call_days` for calls past
/// retention) and the appointments booked by phone in the period.
pub async fn funnels(pg: &Pg, tenants: &[i64], from: i64, to: i64) -> Result<Vec<Funnel>, DbError> {
    pg.run(async |c| {
        let mut funnels = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let calls = c
                .query_one_cached(
                    "SELECT COUNT(*), COUNT(gathered_at), COUNT(offered_at) FROM calls
                     WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3
                       AND direction NOT LIKE 'outbound%'",
                    &[tenant, &from, &to],
                )
                .await?;
            let days = c
                .query_one_cached(
                    "SELECT COALESCE(SUM(inbound), 0)::bigint, COALESCE(SUM(gathered), 0)::bigint,
                            COALESCE(SUM(offered), 0)::bigint
                     FROM call_days WHERE tenant_id = $1 AND day >= $2::bigint / 86400
                       AND day < ($3::bigint + 86399) / 86400",
                    &[tenant, &from, &to],
                )
                .await?;
            let booked = c
                .query_one_cached(
                    "SELECT COUNT(DISTINCT a.call_sid),
                            COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM outbox o
                                WHERE o.appointment_id = a.id AND o.kind = 'confirmation'
                                  AND o.status IN ('sent', 'delivered', 'dry_run'))),
                            COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM outbox o
                                WHERE o.appointment_id = a.id AND o.kind = 'confirmation'
                                  AND o.status = 'delivered'))
                     FROM appointments a
                     WHERE a.tenant_id = $1 AND a.call_sid IS NOT NULL
                       AND a.status IN ('booked', 'cancelled')
                       AND a.created_at >= $2 AND a.created_at < $3",
                    &[tenant, &from, &to],
                )
                .await?;
            funnels.push(Funnel {
                calls: calls.get::<_, i64>(0) + days.get::<_, i64>(0),
                gathered: calls.get::<_, i64>(1) + days.get::<_, i64>(1),
                offered: calls.get::<_, i64>(2) + days.get::<_, i64>(2),
                booked: booked.get(0),
                texted: booked.get(1),
                delivered: booked.get(2),
            });
        }
        Ok(funnels)
    })
    .await
}
