//! The reminder-call dialer's queue on PostgreSQL ([`crate::db::reminder_calls`] is the
//! interface). Several nodes' dialers share the queue: a claim takes a transaction-level
//! advisory lock, so claims are counted against the cap of calls in progress one at a
//! time across nodes, picks its row with `FOR UPDATE SKIP LOCKED` and commits the lease
//! (`queued` → `dialing`), so each due call is dialled by one node once. The sweep takes
//! only rows no one else has locked.

use super::cached::Cached;
use super::{
    Pg,
    ints::{big, small},
    leases::lease_clock,
    outbox::write_one,
    pacing::{self, Slot},
};
use crate::{
    db::{
        DbError,
        outbox::Begun,
        reminder_calls::{
            CallRow, Claimed, OutboundCounts, STALE_LIVE_SECONDS, Swept, corrupt, local_day_start,
        },
    },
    domain::reminder_calls::ReminderCallsSpec,
};

/// The advisory lock key claims of reminder calls take (any constant no other job uses).
const CLAIMS_LOCK: i64 = 0x736c_6f74_7263;

/// Settles what a stopped dialer left (see [`crate::db::sqlite::reminder_calls::sweep`]).
pub async fn sweep(pg: &Pg, wall_ms: Option<i64>, now: i64) -> Result<Swept, DbError> {
    // Leases on the lease clock: `wall_ms` when given, else the server's.
    let expired = format!("lease_until_ms < {}", lease_clock("$1"));
    pg.write(async |tx| {
        let requeued = tx
            .execute(
                &format!(
                    "UPDATE reminder_calls SET status = 'queued', lease_until_ms = NULL,
                        updated_at = $2
                     WHERE id IN (SELECT id FROM reminder_calls
                                  WHERE status = 'dialing' AND request_started = 0
                                    AND {expired}
                                  FOR UPDATE SKIP LOCKED)"
                ),
                &[&wall_ms, &now],
            )
            .await?;
        let mut unknown = tx
            .execute(
                &format!("UPDATE reminder_calls SET status = 'unknown', outcome = 'unknown',
                    last_error = 'the dialer stopped while Telnyx was asked to place this call; it is not dialled again',
                    updated_at = $2
                 WHERE id IN (SELECT id FROM reminder_calls
                              WHERE status = 'dialing' AND request_started = 1
                                AND {expired}
                              FOR UPDATE SKIP LOCKED)"),
                &[&wall_ms, &now],
            )
            .await?;
        unknown += tx
            .execute_cached(
                "UPDATE reminder_calls SET status = 'unknown', outcome = COALESCE(outcome, 'unknown'),
                    last_error = 'no final status from Telnyx', updated_at = $1
                 WHERE id IN (SELECT id FROM reminder_calls
                              WHERE status = 'live' AND dialed_at < $1::bigint - $2::bigint
                              FOR UPDATE SKIP LOCKED)",
                &[&now, &STALE_LIVE_SECONDS],
            )
            .await?;
        Ok(Swept {
            requeued: requeued as usize,
            unknown: unknown as usize,
        })
    })
    .await
}

/// Calls being dialled or live now, across all tenants.
pub async fn in_progress(pg: &Pg) -> Result<usize, DbError> {
    pg.run(async |c| {
        let n: i64 = c
            .query_one_cached(
                "SELECT COUNT(*) FROM reminder_calls WHERE status IN ('dialing', 'live')",
                &[],
            )
            .await?
            .get(0);
        Ok(n as usize)
    })
    .await
}

/// Ids of queued calls due at `now`, oldest due first.
pub async fn due(pg: &Pg, now: i64, limit: usize) -> Result<Vec<i64>, DbError> {
    let limit = big(limit);
    pg.run(async |c| {
        let rows = c
            .query_cached(
                "SELECT id FROM reminder_calls WHERE status = 'queued' AND due_at <= $1
                 ORDER BY due_at, id LIMIT $2",
                &[&now, &limit],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    })
    .await
}

/// Claims queued call `id` unless another claim got it or `cap` calls are in progress,
/// and reads the facts of the decision (see [`crate::db::sqlite::reminder_calls::claim`]).
pub async fn claim(
    pg: &Pg,
    id: i64,
    now: i64,
    wall_ms: Option<i64>,
    lease_ms: i64,
    cap: usize,
) -> Result<Option<Claimed>, DbError> {
    let cap = big(cap);
    let lease_from = lease_clock("$4");
    pg.write(async |tx| {
        // Held until this transaction ends: the count below sees every claim committed
        // before, by any node.
        tx.execute_cached("SELECT pg_advisory_xact_lock($1)", &[&CLAIMS_LOCK])
            .await?;
        let live: i64 = tx
            .query_one_cached(
                "SELECT COUNT(*) FROM reminder_calls WHERE status IN ('dialing', 'live')",
                &[],
            )
            .await?
            .get(0);
        if live >= cap {
            return Ok(None);
        }
        let n = tx
            .execute(
                &format!(
                    "UPDATE reminder_calls SET status = 'dialing',
                        lease_until_ms = {lease_from} + $2, updated_at = $3
                     WHERE id = (SELECT id FROM reminder_calls WHERE id = $1 AND status = 'queued'
                                 FOR UPDATE SKIP LOCKED)"
                ),
                &[&id, &lease_ms, &now, &wall_ms],
            )
            .await?;
        if n == 0 {
            return Ok(None);
        }
        let r = tx
            .query_one_cached(
                "SELECT r.tenant_id, r.appointment_id, r.hours_before, r.attempt, r.to_number,
                        r.for_start, t.phone_number, t.name, a.status, a.start_at,
                        t.reminder_calls, t.timezone,
                        EXISTS (SELECT 1 FROM call_opt_outs o
                                WHERE o.tenant_id = r.tenant_id AND o.number = r.to_number)
                 FROM reminder_calls r JOIN appointments a ON a.id = r.appointment_id
                 JOIN tenants t ON t.id = r.tenant_id WHERE r.id = $1",
                &[&id],
            )
            .await?;
        let (tenant_id, appointment_id, hours_before): (i64, i64, i64) =
            (r.get(0), r.get(1), r.get(2));
        let to: String = r.get(4);
        let stored: Option<String> = r.get(10);
        let spec = ReminderCallsSpec::from_stored(stored.as_deref()).map_err(corrupt)?;
        let tz = crate::tzdb::get(r.get::<_, &str>(11)).map_err(corrupt)?;
        let today = local_day_start(now, &tz, 0)?;
        let week = local_day_start(now, &tz, 6)?;
        let counts = tx
            .query_one_cached(
                "SELECT EXISTS (SELECT 1 FROM reminder_calls WHERE appointment_id = $1
                                  AND hours_before <> $2 AND dialed_at >= $3),
                        (SELECT COUNT(*) FROM reminder_calls WHERE tenant_id = $4
                           AND to_number = $5 AND dialed_at >= $3 AND id <> $7),
                        (SELECT COUNT(*) FROM reminder_calls WHERE tenant_id = $4
                           AND to_number = $5 AND dialed_at >= $6 AND id <> $7)",
                &[
                    &appointment_id,
                    &hours_before,
                    &today,
                    &tenant_id,
                    &to,
                    &week,
                    &id,
                ],
            )
            .await?;
        Ok(Some(Claimed {
            id,
            tenant_id,
            appointment_id,
            hours_before: small(hours_before),
            attempt: small(r.get(3)),
            opted_out: r.get(12),
            other_today: counts.get(0),
            to_number_today: small(counts.get(1)),
            to_number_week: small(counts.get(2)),
            to,
            from: r.get(6),
            business: r.get(7),
            appointment_status: r.get(8),
            start: r.get(9),
            for_start: r.get(5),
            spec,
            tz,
        }))
    })
    .await
}

/// The pacer of every node's reminder-call dials (`SLOTLINE_CALLS_PER_SECOND` is the
/// account's).
const DIALS: &str = "calls";

/// Marks that the HTTP request is about to be sent and reserves the account's next dial
/// slot with it (see [`crate::db::reminder_calls::ReminderCalls::begin_request`]); a call
/// whose slot is further than `horizon_ms` away goes back to the queue.
pub async fn begin_request(
    pg: &Pg,
    id: i64,
    now: i64,
    gap_ms: i64,
    horizon_ms: i64,
) -> Result<Begun, DbError> {
    pg.write(async |tx| {
        if !start_request(tx, id, now).await? {
            return Ok(Begun::Lost);
        }
        match pacing::reserve(tx, DIALS, gap_ms, horizon_ms).await? {
            Slot::At { at_ms, wait_ms } => Ok(Begun::Go { wait_ms, at_ms }),
            Slot::Busy { wait_ms } => {
                tx.execute_cached(
                    "UPDATE reminder_calls SET status = 'queued', lease_until_ms = NULL,
                        request_started = 0, dialed_at = NULL, updated_at = $2
                     WHERE id = $1",
                    &[&id, &now],
                )
                .await?;
                Ok(Begun::Paced { wait_ms })
            }
        }
    })
    .await
}

/// Marks call `id`'s request as started, if this claim still owns it (inside `c`'s
/// transaction).
pub(crate) async fn start_request(
    c: &impl deadpool_postgres::GenericClient,
    id: i64,
    now: i64,
) -> Result<bool, DbError> {
    let started = c
        .execute_cached(
            "UPDATE reminder_calls SET request_started = 1, dialed_at = $2, updated_at = $2
             WHERE id = $1 AND status = 'dialing' AND request_started = 0",
            &[&id, &now],
        )
        .await?;
    Ok(started == 1)
}

/// Telnyx took the call.
pub async fn mark_live(pg: &Pg, id: i64, call_sid: Option<&str>, now: i64) -> Result<(), DbError> {
    write_one(
        pg,
        "UPDATE reminder_calls SET status = 'live', lease_until_ms = NULL,
            call_sid = COALESCE(call_sid, $2), updated_at = $3
         WHERE id = $1 AND status = 'dialing'",
        &[&id, &call_sid, &now],
    )
    .await
}

/// Back to the queue, due at `due_at`: nothing was dialled.
pub async fn requeue(pg: &Pg, id: i64, due_at: i64, reason: &str, now: i64) -> Result<(), DbError> {
    write_one(
        pg,
        "UPDATE reminder_calls SET status = 'queued', lease_until_ms = NULL,
            request_started = 0, dialed_at = NULL, due_at = $2, last_error = $3, updated_at = $4
         WHERE id = $1",
        &[&id, &due_at, &reason, &now],
    )
    .await
}

fn call_row(r: &tokio_postgres::Row) -> CallRow {
    let dir: &str = r.get(0);
    CallRow {
        direction: if dir == "outbound" {
            "outbound"
        } else {
            "inbound"
        },
        call_sid: r.get(1),
        number: r.get(2),
        at: r.get(3),
        status: r.get(4),
        outcome: r.get(5),
        appointment_id: r.get(6),
        attempt: r.get::<_, Option<i64>>(7).map(small),
        reason: r.get(8),
        duration_seconds: r.get(9),
        answered_by: r.get(10),
        key: r.get(11),
    }
}

/// The tenant's calls, newest first, one page (see
/// [`crate::db::sqlite::reminder_calls::list`]): each table cut at the page's size along
/// its index before the two are merged. An inbound call's key is even and an outbound
/// one's odd, as on SQLite; PostgreSQL's calls have no row id, so an inbound key is made
/// of its `call_sid`'s hash (calls of one second come in that order).
pub async fn list(
    pg: &Pg,
    tenant: i64,
    before: Option<(i64, i64)>,
    limit: usize,
) -> Result<Vec<CallRow>, DbError> {
    let (at, key) = before.unwrap_or((i64::MAX, i64::MAX));
    let limit = big(limit);
    pg.run(async |c| {
        let rows = c
            .query_cached(
                concat!(
                    "SELECT * FROM (
                      (SELECT 'outbound'::text AS dir, call_sid, to_number, COALESCE(dialed_at, due_at) AS at,
                              status, outcome, appointment_id, attempt, last_error, duration_seconds,
                              answered_by, id * 2 + 1 AS k
                       FROM reminder_calls
                       WHERE tenant_id = $1 AND COALESCE(dialed_at, due_at) <= $2
                         AND (COALESCE(dialed_at, due_at) < $2 OR id * 2 + 1 < $3)
                       ORDER BY COALESCE(dialed_at, due_at) DESC, id DESC LIMIT $4)
                      UNION ALL
                      (SELECT 'inbound', c.call_sid, c.from_number, c.started_at, c.status, ",
                    crate::call_outcome_sql!(),
                    ", NULL::bigint, NULL::bigint, NULL::text, c.duration_seconds, NULL::text, k.k
                       FROM calls c, LATERAL (SELECT (hashtextextended(c.call_sid, 0) >> 1) * 2 AS k) k
                       WHERE c.tenant_id = $1 AND c.direction = 'inbound' AND c.started_at <= $2
                         AND (c.started_at < $2 OR k.k < $3)
                       ORDER BY c.started_at DESC, k.k DESC LIMIT $4)
                    ) page ORDER BY 4 DESC, 12 DESC LIMIT $4"
                ),
                &[&tenant, &at, &key, &limit],
            )
            .await?;
        Ok(rows.iter().map(call_row).collect())
    })
    .await
}

/// The tenant's latest `limit` reminder-call attempts, newest first.
pub async fn latest(pg: &Pg, tenant: i64, limit: usize) -> Result<Vec<CallRow>, DbError> {
    let limit = big(limit);
    pg.run(async |c| {
        let rows = c
            .query_cached(
                "SELECT 'outbound', call_sid, to_number, COALESCE(dialed_at, due_at), status,
                        outcome, appointment_id, attempt, last_error, duration_seconds,
                        answered_by, id
                 FROM reminder_calls WHERE tenant_id = $1
                 ORDER BY COALESCE(dialed_at, due_at) DESC, id DESC LIMIT $2",
                &[&tenant, &limit],
            )
            .await?;
        Ok(rows.iter().map(call_row).collect())
    })
    .await
}

/// Counts the tenant's reminder calls dialled in `[from, to)`.
pub async fn counts(pg: &Pg, tenant: i64, from: i64, to: i64) -> Result<OutboundCounts, DbError> {
    pg.run(async |c| {
        let rows = c
            .query_cached(
                "SELECT COALESCE(outcome, status), COUNT(*) FROM reminder_calls
                 WHERE tenant_id = $1 AND dialed_at >= $2 AND dialed_at < $3 GROUP BY 1",
                &[&tenant, &from, &to],
            )
            .await?;
        Ok(OutboundCounts::from_rows(
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))),
        ))
    })
    .await
}
