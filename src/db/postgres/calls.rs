//! The call log on PostgreSQL ([`crate::db::calls`] is the interface). A batch of starts
//! is one multi-row statement over `UNNEST`ed arrays, in one transaction; a status
//! callback that ends a call queues `call.completed` only if its transaction is the one
//! that ended it, however many nodes receive the callback's retries at once.

use super::cached::Cached;
use std::collections::HashSet;

use deadpool_postgres::GenericClient;

use super::{Pg, events};
use crate::{
    calllog::CallStart,
    db::{
        DbError,
        calls::{CallStats, StatusUpdate, is_final},
        console::{CallRow, TurnRow},
    },
};

/// Records a batch of call starts. A call's row made first without a tenant (by
/// [`mark_offered`] or [`record_error`]) is filled in, keeping its marks and taking the
/// earlier start time; a row with a tenant is left as it is (the SQLite twin's insert,
/// then merge). Of two starts of one call in the batch the first counts, as on SQLite.
pub async fn record_starts(pg: &Pg, starts: &[CallStart]) -> Result<(), DbError> {
    let mut seen = HashSet::new();
    let starts: Vec<&CallStart> = starts
        .iter()
        .filter(|s| seen.insert(s.call_sid.as_str()))
        .collect();
    if starts.is_empty() {
        return Ok(());
    }
    let sids: Vec<&str> = starts.iter().map(|s| s.call_sid.as_str()).collect();
    let tenants: Vec<i64> = starts.iter().map(|s| s.tenant_id).collect();
    let from: Vec<Option<&str>> = starts.iter().map(|s| s.from.as_deref()).collect();
    let to: Vec<Option<&str>> = starts.iter().map(|s| s.to.as_deref()).collect();
    let at: Vec<i64> = starts.iter().map(|s| s.at).collect();
    let said: Vec<&str> = starts.iter().map(|s| s.said.as_str()).collect();
    let docs: Vec<Option<&str>> = starts.iter().map(|s| s.documents.as_deref()).collect();
    pg.write(async |tx| {
        tx.execute_cached(
            "INSERT INTO calls (call_sid, tenant_id, from_number, to_number, status, started_at,
                                gathered_at, first_said, documents)
             SELECT s.sid, s.tenant, s.caller, s.dialled, 'in-progress', s.at,
                    (SELECT MIN(a.created_at) FROM callback_answers a WHERE a.call_sid = s.sid),
                    s.said, s.docs
             FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[],
                         $6::text[], $7::text[]) AS s(sid, tenant, caller, dialled, at, said, docs)
             ORDER BY s.sid
             ON CONFLICT (call_sid) DO UPDATE SET
                 tenant_id = excluded.tenant_id,
                 from_number = COALESCE(calls.from_number, excluded.from_number),
                 to_number = COALESCE(calls.to_number, excluded.to_number),
                 started_at = LEAST(calls.started_at, excluded.started_at),
                 gathered_at = COALESCE(calls.gathered_at, excluded.gathered_at),
                 first_said = COALESCE(calls.first_said, excluded.first_said),
                 documents = COALESCE(calls.documents, excluded.documents)
             WHERE calls.tenant_id IS NULL",
            &[&sids, &tenants, &from, &to, &at, &said, &docs],
        )
        .await?;
        Ok(())
    })
    .await
}

/// Records that call `call_sid` heard the apology, as a turn of its own (a row without a
/// tenant when its start is not written yet).
pub async fn record_error(pg: &Pg, call_sid: &str, said: &str, at: i64) -> Result<(), DbError> {
    pg.write(async |tx| {
        tx.execute_cached(
            "INSERT INTO calls (call_sid, status, started_at) VALUES ($1, 'in-progress', $2)
             ON CONFLICT (call_sid) DO NOTHING",
            &[&call_sid, &at],
        )
        .await?;
        super::answers::lock_turns(tx, call_sid).await?;
        tx.execute_cached(
            "INSERT INTO call_turns (call_sid, step, seq, at, heard, said, outcome)
             VALUES ($1, 'error:' || $3::bigint,
                     (SELECT COALESCE(MAX(seq), 0) + 1 FROM call_turns WHERE call_sid = $1),
                     $3, '', $2, 'error')
             ON CONFLICT DO NOTHING",
            &[&call_sid, &said, &at],
        )
        .await?;
        Ok(())
    })
    .await
}

/// Marks that call `call_sid` was offered alternatives (first time only), in the caller's
/// transaction (the flow's gather answer composes it).
pub async fn mark_offered(c: &impl GenericClient, call_sid: &str, now: i64) -> Result<(), DbError> {
    c.execute_cached(
        "INSERT INTO calls (call_sid, status, started_at, offered_at)
         VALUES ($1, 'in-progress', $2, $2)
         ON CONFLICT (call_sid) DO UPDATE SET offered_at = $2 WHERE calls.offered_at IS NULL",
        &[&call_sid, &now],
    )
    .await?;
    Ok(())
}

/// Records a status callback (see [`crate::db::sqlite::calls::record_status`]). The row is
/// inserted, or else locked and read, before it changes: of two callbacks ending one call
/// at once (on two nodes), the second waits for the first and finds the call ended, so
/// `call.completed` is queued once.
pub async fn record_status(pg: &Pg, u: &StatusUpdate, now: i64) -> Result<(), DbError> {
    let ended = is_final(&u.status).then_some(now);
    pg.write(async |tx| {
        let inserted = tx
            .execute_cached(
                "INSERT INTO calls (call_sid, tenant_id, from_number, to_number, direction, status,
                                    started_at, ended_at, duration_seconds)
                 VALUES ($1, (SELECT id FROM tenants WHERE phone_number = $4), $3, $4,
                         COALESCE($5, 'inbound'), $2, $6, $7, $8)
                 ON CONFLICT (call_sid) DO NOTHING",
                &[
                    &u.call_sid,
                    &u.status,
                    &u.from,
                    &u.to,
                    &u.direction,
                    &now,
                    &ended,
                    &u.duration_seconds,
                ],
            )
            .await?
            == 1;
        let ended_before = if inserted {
            None
        } else {
            let before: Option<i64> = tx
                .query_one_cached(
                    "SELECT ended_at FROM calls WHERE call_sid = $1 FOR UPDATE",
                    &[&u.call_sid],
                )
                .await?
                .get(0);
            tx.execute_cached(
                "UPDATE calls SET
                   status = CASE WHEN ended_at IS NULL OR $3::bigint IS NOT NULL THEN $2 ELSE status END,
                   direction = COALESCE($4, direction),
                   ended_at = COALESCE(ended_at, $3),
                   duration_seconds = COALESCE($5, duration_seconds)
                 WHERE call_sid = $1",
                &[&u.call_sid, &u.status, &ended, &u.direction, &u.duration_seconds],
            )
            .await?;
            before
        };
        if ended.is_some() && ended_before.is_none() {
            events::call_event(tx, &u.call_sid, now).await?;
        }
        Ok(())
    })
    .await
}

/// Figures for the stats endpoint (see [`crate::db::sqlite::calls::stats`]).
pub async fn stats(pg: &Pg, tenant: i64, from: i64, to: i64) -> Result<CallStats, DbError> {
    pg.run(async |c| {
        let live = c
            .query_one_cached(
                "SELECT COUNT(*), AVG(duration_seconds)::float8,
                        COUNT(*) FILTER (WHERE direction NOT LIKE 'outbound%'),
                        COUNT(*) FILTER (WHERE direction LIKE 'outbound%'),
                        COUNT(duration_seconds)
                 FROM calls WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3",
                &[&tenant, &from, &to],
            )
            .await?;
        let mut s = CallStats {
            total_calls: live.get(0),
            avg_duration_seconds: live.get(1),
            inbound: live.get(2),
            outbound: live.get(3),
            ..CallStats::default()
        };
        // Calls past retention live on as daily counts (whole UTC days).
        let days = c
            .query_one_cached(
                "SELECT COALESCE(SUM(calls), 0)::bigint, COALESCE(SUM(inbound), 0)::bigint,
                        COALESCE(SUM(outbound), 0)::bigint, COALESCE(SUM(duration_sum), 0)::bigint,
                        COALESCE(SUM(duration_count), 0)::bigint
                 FROM call_days WHERE tenant_id = $1 AND day >= $2::bigint / 86400
                   AND day < ($3::bigint + 86399) / 86400",
                &[&tenant, &from, &to],
            )
            .await?;
        let (days_calls, days_sum, days_n): (i64, i64, i64) =
            (days.get(0), days.get(3), days.get(4));
        if days_calls > 0 {
            let live_n: i64 = live.get(4);
            let live_sum = s.avg_duration_seconds.unwrap_or(0.0) * live_n as f64;
            let n = live_n + days_n;
            s.avg_duration_seconds = (n > 0).then(|| (live_sum + days_sum as f64) / n as f64);
            s.total_calls += days_calls;
            s.inbound += days.get::<_, i64>(1);
            s.outbound += days.get::<_, i64>(2);
        }
        s.calls_per_quarter = c
            .query_cached(
                "SELECT (started_at / 900) * 900, COUNT(*) FROM calls
                 WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3 GROUP BY 1",
                &[&tenant, &from, &to],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let b = c
            .query_one_cached(
                "SELECT COUNT(*), COUNT(call_sid), COUNT(*) FILTER (WHERE status = 'cancelled')
                 FROM appointments WHERE tenant_id = $1 AND status IN ('booked', 'cancelled')
                   AND created_at >= $2 AND created_at < $3",
                &[&tenant, &from, &to],
            )
            .await?;
        (s.bookings, s.bookings_by_phone, s.cancelled) = (b.get(0), b.get(1), b.get(2));
        Ok(s)
    })
    .await
}

/// Tenant `tenant`'s latest `limit` inbound calls, newest first, with their turns. (Calls
/// of one second come in `call_sid` byte order, `COLLATE "C"`, whatever the database's
/// locale: PostgreSQL's rows have no insertion order to read.)
pub async fn latest(pg: &Pg, tenant: i64, limit: usize) -> Result<Vec<CallRow>, DbError> {
    let limit = super::ints::big(limit);
    pg.run(async |c| {
        let rows = c
            .query_cached(
                concat!(
                    "SELECT c.call_sid, c.from_number, c.direction, c.status, c.started_at,
                            c.duration_seconds, c.first_said, c.documents, ",
                    crate::call_outcome_sql!(),
                    " FROM calls c WHERE c.tenant_id = $1 AND c.direction = 'inbound'
                     ORDER BY c.started_at DESC, c.call_sid COLLATE \"C\" DESC LIMIT $2"
                ),
                &[&tenant, &limit],
            )
            .await?;
        let sids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let turns = c
            .query_cached(
                "SELECT call_sid, heard, said, outcome, documents FROM call_turns
                 WHERE call_sid = ANY($1) ORDER BY call_sid, seq",
                &[&sids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let sid: String = r.get(0);
                CallRow {
                    turns: turns
                        .iter()
                        .filter(|t| t.get::<_, &str>(0) == sid)
                        .map(|t| TurnRow {
                            heard: t.get(1),
                            said: t.get(2),
                            outcome: t.get(3),
                            documents: t.get(4),
                        })
                        .collect(),
                    call_sid: sid,
                    from_number: r.get(1),
                    direction: r.get(2),
                    status: r.get(3),
                    started_at: r.get(4),
                    duration_seconds: r.get(5),
                    first_said: r.get(6),
                    documents: r.get(7),
                    outcome: r.get(8),
                }
            })
            .collect())
    })
    .await
}

/// Every saved version of tenant `tenant`'s documents by the fingerprint of its text.
pub async fn version_fingerprints(
    pg: &Pg,
    tenant: i64,
) -> Result<Vec<(String, String, i64)>, DbError> {
    pg.run(async |c| {
        let rows = c
            .query_cached(
                "SELECT id, name, body FROM texml_versions WHERE tenant_id = $1",
                &[&tenant],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let body: &str = r.get(2);
                (crate::texml::docs::fingerprint(body), r.get(1), r.get(0))
            })
            .collect())
    })
    .await
}
