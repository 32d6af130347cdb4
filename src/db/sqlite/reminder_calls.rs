//! The reminder-call dialer's queue on SQLite ([`crate::db::reminder_calls`] is the
//! interface): settling what a stopped dialer left, counting calls in progress, claiming
//! due calls with a lease together with the facts of the dial-time decision, and the
//! request's progress; the tenant's call list, the console's latest reminder calls and the
//! stats' counts.

use rusqlite::{Connection, params};

use crate::{
    db::{
        DbError,
        reminder_calls::{
            CallRow, Claimed, OutboundCounts, STALE_LIVE_SECONDS, Swept, corrupt, is_opted_out,
            local_day_start,
        },
    },
    domain::reminder_calls::ReminderCallsSpec,
};

/// Settles what a stopped dialer left: a lease that ran out before the request started is
/// queued again (nothing was sent); one that ran out mid-request is `unknown` (Telnyx may
/// have placed it, so it is never dialled again); a live call without a final status after
/// [`STALE_LIVE_SECONDS`] is `unknown` too.
pub fn sweep(conn: &Connection, wall_ms: i64, now: i64) -> Result<Swept, DbError> {
    let requeued = conn
        .prepare_cached(
            "UPDATE reminder_calls SET status = 'queued', lease_until_ms = NULL, updated_at = ?2
             WHERE status = 'dialing' AND request_started = 0 AND lease_until_ms < ?1",
        )?
        .execute(params![wall_ms, now])?;
    let mut unknown = conn
        .prepare_cached(
            "UPDATE reminder_calls SET status = 'unknown', outcome = 'unknown',
                last_error = 'the dialer stopped while Telnyx was asked to place this call; it is not dialled again',
                updated_at = ?2
             WHERE status = 'dialing' AND request_started = 1 AND lease_until_ms < ?1",
        )?
        .execute(params![wall_ms, now])?;
    unknown += conn
        .prepare_cached(
            "UPDATE reminder_calls SET status = 'unknown', outcome = COALESCE(outcome, 'unknown'),
                last_error = 'no final status from Telnyx', updated_at = ?1
             WHERE status = 'live' AND dialed_at < ?1 - ?2",
        )?
        .execute(params![now, STALE_LIVE_SECONDS])?;
    Ok(Swept { requeued, unknown })
}

/// Calls being dialled or live now, across all tenants (the concurrency cap counts them).
pub fn in_progress(conn: &Connection) -> Result<usize, DbError> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM reminder_calls WHERE status IN ('dialing', 'live')")?
        .query_row([], |r| r.get(0))?;
    Ok(n as usize)
}

/// Ids of queued calls due at `now`, oldest due first.
pub fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<i64>, DbError> {
    let rows = conn
        .prepare_cached(
            "SELECT id FROM reminder_calls WHERE status = 'queued' AND due_at <= ?1
             ORDER BY due_at, id LIMIT ?2",
        )?
        .query_map(params![now, limit as i64], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(rows)
}

/// Claims queued call `id` with a lease (`None` if another claim won) and reads the facts
/// of the decision, in one transaction's view.
pub fn claim(
    conn: &Connection,
    id: i64,
    now: i64,
    wall_ms: i64,
    lease_ms: i64,
) -> Result<Option<Claimed>, DbError> {
    let n = conn
        .prepare_cached(
            "UPDATE reminder_calls SET status = 'dialing', lease_until_ms = ?2, updated_at = ?3
             WHERE id = ?1 AND status = 'queued'",
        )?
        .execute(params![id, wall_ms + lease_ms, now])?;
    if n == 0 {
        return Ok(None);
    }
    type Raw = (
        i64,
        i64,
        u32,
        u32,
        String,
        i64,
        String,
        String,
        String,
        i64,
        Option<String>,
        String,
    );
    let raw: Raw = conn
        .prepare_cached(
            "SELECT r.tenant_id, r.appointment_id, r.hours_before, r.attempt, r.to_number, r.for_start,
                    t.phone_number, t.name, a.status, a.start_at, t.reminder_calls, t.timezone
             FROM reminder_calls r JOIN appointments a ON a.id = r.appointment_id
             JOIN tenants t ON t.id = r.tenant_id WHERE r.id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?,
                r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?,
            ))
        })?;
    let (
        tenant_id,
        appointment_id,
        hours_before,
        attempt,
        to,
        for_start,
        from,
        business,
        status,
        start,
        stored,
        tz,
    ) = raw;
    let spec = ReminderCallsSpec::from_stored(stored.as_deref()).map_err(corrupt)?;
    let tz = crate::tzdb::get(&tz).map_err(corrupt)?;
    let today = local_day_start(now, &tz, 0)?;
    let week = local_day_start(now, &tz, 6)?;
    let other_today = conn
        .prepare_cached(
            "SELECT 1 FROM reminder_calls WHERE appointment_id = ?1 AND hours_before != ?2
               AND dialed_at >= ?3",
        )?
        .exists(params![appointment_id, hours_before, today])?;
    let count_since = |since: i64| -> Result<u32, DbError> {
        Ok(conn
            .prepare_cached(
                "SELECT COUNT(*) FROM reminder_calls WHERE tenant_id = ?1 AND to_number = ?2
                   AND dialed_at >= ?3 AND id != ?4",
            )?
            .query_row(params![tenant_id, to, since, id], |r| r.get(0))?)
    };
    Ok(Some(Claimed {
        id,
        tenant_id,
        appointment_id,
        hours_before,
        attempt,
        opted_out: is_opted_out(conn, tenant_id, &to)?,
        to_number_today: count_since(today)?,
        to_number_week: count_since(week)?,
        to,
        from,
        business,
        appointment_status: status,
        start,
        for_start,
        spec,
        tz,
        other_today,
    }))
}

/// Marks that the HTTP request is about to be sent (from here on a lost answer is
/// `unknown`, never dialled again).
pub fn begin_request(conn: &Connection, id: i64, now: i64) -> Result<bool, DbError> {
    let started = conn
        .prepare_cached(
            "UPDATE reminder_calls SET request_started = 1, dialed_at = ?2, updated_at = ?2
             WHERE id = ?1 AND status = 'dialing' AND request_started = 0",
        )?
        .execute(params![id, now])?;
    Ok(started == 1)
}

/// Telnyx took the call.
pub fn mark_live(
    conn: &Connection,
    id: i64,
    call_sid: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE reminder_calls SET status = 'live', lease_until_ms = NULL,
            call_sid = COALESCE(call_sid, ?2), updated_at = ?3 WHERE id = ?1 AND status = 'dialing'",
    )?
    .execute(params![id, call_sid, now])?;
    Ok(())
}

/// Back to the queue, due at `due_at` (a wait for the window, a rate limit, a transient
/// failure): nothing was dialled.
pub fn requeue(
    conn: &Connection,
    id: i64,
    due_at: i64,
    reason: &str,
    now: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE reminder_calls SET status = 'queued', lease_until_ms = NULL, request_started = 0,
            dialed_at = NULL, due_at = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1",
    )?
    .execute(params![id, due_at, reason, now])?;
    Ok(())
}

/// The call list's query: each table read newest first along its index (`(at, k) < (?2,
/// ?3)` spelled so the index range applies) and cut at the page's size before the two are
/// merged, so a page costs the same with ten years of calls as with ten.
/// An inbound call's outcome is `call_outcome_sql!`, read only for the rows of the page.
const LIST: &str = concat!(
    "SELECT * FROM (
    SELECT * FROM (
      SELECT 'outbound' AS dir, call_sid, to_number, COALESCE(dialed_at, due_at) AS at, status,
             outcome, appointment_id, attempt, last_error, duration_seconds, answered_by,
             id * 2 + 1 AS k
      FROM reminder_calls
      WHERE tenant_id = ?1 AND COALESCE(dialed_at, due_at) <= ?2
        AND (COALESCE(dialed_at, due_at) < ?2 OR id * 2 + 1 < ?3)
      ORDER BY COALESCE(dialed_at, due_at) DESC, id DESC LIMIT ?4)
    UNION ALL
    SELECT * FROM (
      SELECT 'inbound', c.call_sid, c.from_number, c.started_at, c.status, ",
    crate::call_outcome_sql!(),
    ", NULL, NULL, NULL, c.duration_seconds, NULL, c.rowid * 2
      FROM calls c
      WHERE c.tenant_id = ?1 AND c.direction = 'inbound' AND c.started_at <= ?2
        AND (c.started_at < ?2 OR c.rowid * 2 < ?3)
      ORDER BY c.started_at DESC, c.rowid DESC LIMIT ?4))
  ORDER BY 4 DESC, 12 DESC LIMIT ?4"
);

/// The tenant's calls, newest first, one page of them (`before`: the keyset cursor).
pub fn list(
    conn: &Connection,
    tenant_id: i64,
    before: Option<(i64, i64)>,
    limit: usize,
) -> Result<Vec<CallRow>, DbError> {
    let (at, key) = before.unwrap_or((i64::MAX, i64::MAX));
    let mut stmt = conn.prepare_cached(LIST)?;
    let rows = stmt.query_map(params![tenant_id, at, key, limit as i64], |r| {
        let dir: String = r.get(0)?;
        Ok(CallRow {
            direction: if dir == "outbound" {
                "outbound"
            } else {
                "inbound"
            },
            call_sid: r.get(1)?,
            number: r.get(2)?,
            at: r.get(3)?,
            status: r.get(4)?,
            outcome: r.get(5)?,
            appointment_id: r.get(6)?,
            attempt: r.get(7)?,
            reason: r.get(8)?,
            duration_seconds: r.get(9)?,
            answered_by: r.get(10)?,
            key: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Counts the tenant's reminder calls dialled in `[from, to)`.
pub fn counts(
    conn: &Connection,
    tenant_id: i64,
    from: i64,
    to: i64,
) -> Result<OutboundCounts, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT COALESCE(outcome, status), COUNT(*) FROM reminder_calls
         WHERE tenant_id = ?1 AND dialed_at >= ?2 AND dialed_at < ?3 GROUP BY 1",
    )?;
    let rows = stmt
        .query_map(params![tenant_id, from, to], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OutboundCounts::from_rows(rows))
}

/// Tenant `tenant`'s latest `limit` reminder-call attempts, newest first (dialled, or due
/// when never dialled), as the calls list shows them.
pub fn latest(conn: &Connection, tenant: i64, limit: usize) -> Result<Vec<CallRow>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT call_sid, to_number, COALESCE(dialed_at, due_at), status, outcome, appointment_id,
                attempt, last_error, duration_seconds, answered_by, id
         FROM reminder_calls WHERE tenant_id = ?1
         ORDER BY COALESCE(dialed_at, due_at) DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![tenant, limit as i64], |r| {
        Ok(CallRow {
            direction: "outbound",
            call_sid: r.get(0)?,
            number: r.get(1)?,
            at: r.get(2)?,
            status: r.get(3)?,
            outcome: r.get(4)?,
            appointment_id: r.get(5)?,
            attempt: r.get(6)?,
            reason: r.get(7)?,
            duration_seconds: r.get(8)?,
            answered_by: r.get(9)?,
            key: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_calls_reads_both_tables_along_an_index_in_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrations::apply(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {LIST}"))
            .unwrap()
            .query_map(params![1, 2, 3, 4], |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains("USING INDEX calls_by_tenant (tenant_id=? AND started_at<?)"),
            "{plan}"
        );
        assert!(
            plan.contains("USING INDEX reminder_calls_by_tenant_time"),
            "{plan}"
        );
        // Only the merge of the two cut lists is sorted.
        assert_eq!(plan.matches("TEMP B-TREE").count(), 1, "{plan}");
    }
}
