//! The call log on SQLite ([`crate::db::calls`] is the interface): call starts in
//! batches (the voice URL's hot path: one transaction per batch, on the writer thread),
//! the apology and alternatives marks, status callbacks and the stats endpoint's figures.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{
    DbError,
    calls::{CallStats, StatusUpdate, is_final},
    console::{CallRow, TurnRow},
};

/// Records that call `call_sid` heard the apology (an internal error), as a turn of its
/// own; written off the request path, after the failure. A call whose start is not written
/// yet (or never will be: the voice URL failed) gets a row without a tenant, as
/// [`mark_offered`] makes, so retention prunes the turn with it.
pub fn record_error(conn: &Connection, call_sid: &str, said: &str, at: i64) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO calls (call_sid, status, started_at) VALUES (?1, 'in-progress', ?2)
         ON CONFLICT (call_sid) DO NOTHING",
    )?
    .execute(params![call_sid, at])?;
    conn.prepare_cached(
        "INSERT INTO call_turns (call_sid, step, seq, at, heard, said, outcome)
         VALUES (?1, 'error:' || ?3,
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM call_turns WHERE call_sid = ?1),
                 ?3, '', ?2, 'error')
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![call_sid, said, at])?;
    Ok(())
}

/// A new call's row, as most starts are written: a plain insert (no statement journal, no
/// update) that does nothing when the call already has a row. The call's first gather
/// answer may already be stored (starts go in batches): its time is the funnel's
/// "gathered" (the answers' trigger found no row to mark).
const INSERT_START: &str = "INSERT INTO calls (call_sid, tenant_id, from_number, to_number, status,
                                             started_at, gathered_at, first_said, documents)
     VALUES (?1, ?2, ?3, ?4, 'in-progress', ?5,
             (SELECT MIN(created_at) FROM callback_answers WHERE call_sid = ?1), ?6, ?7)
     ON CONFLICT (call_sid) DO NOTHING";

/// A start for a call that already has a row: one that [`mark_offered`] or [`record_error`]
/// made without a tenant is filled in (the mark kept, the start time the call's own);
/// a row with a tenant (a retried voice request, or a status callback that came first
/// and found the tenant by number) is left as it is.
const MERGE_START: &str = "UPDATE calls SET
         tenant_id = ?2,
         from_number = COALESCE(from_number, ?3),
         to_number = COALESCE(to_number, ?4),
         started_at = MIN(started_at, ?5),
         gathered_at = COALESCE(gathered_at,
             (SELECT MIN(created_at) FROM callback_answers WHERE call_sid = ?1)),
         first_said = COALESCE(first_said, ?6),
         documents = COALESCE(documents, ?7)
     WHERE call_sid = ?1 AND tenant_id IS NULL";

/// Writes one start with the two statements, prepared once per batch by the caller.
fn write_start(
    insert: &mut rusqlite::CachedStatement<'_>,
    merge: &mut rusqlite::CachedStatement<'_>,
    s: &crate::calllog::CallStart,
) -> Result<(), DbError> {
    let args = params![
        s.call_sid,
        s.tenant_id,
        s.from,
        s.to,
        s.at,
        s.said,
        s.documents
    ];
    if insert.execute(args)? == 0 {
        merge.execute(args)?;
    }
    Ok(())
}

/// Records that a call reached a tenant's line, with what the line said first
/// (idempotent per `CallSid`). Starts are written in batches after the call has begun, so
/// the call's first gather answer (the funnel's "gathered") or its alternatives
/// ("offered", [`mark_offered`]) may already be in: the first is read from the stored
/// answers, the second kept from the row `mark_offered` made.
pub fn record_start(conn: &Connection, s: &crate::calllog::CallStart) -> Result<(), DbError> {
    write_start(
        &mut conn.prepare_cached(INSERT_START)?,
        &mut conn.prepare_cached(MERGE_START)?,
        s,
    )
}

/// Records a batch of call starts in one transaction (idempotent per `CallSid`).
pub fn record_starts(
    conn: &mut Connection,
    starts: &[crate::calllog::CallStart],
) -> Result<(), DbError> {
    let tx = crate::db::begin(conn)?;
    {
        let mut insert = tx.prepare_cached(INSERT_START)?;
        let mut merge = tx.prepare_cached(MERGE_START)?;
        for s in starts {
            write_start(&mut insert, &mut merge, s)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Marks that call `call_sid` was offered alternatives (first time only), for the funnel.
/// The call's start may not be written yet (starts go in batches): then a row without a
/// tenant holds the mark until [`record_start`] fills it in.
pub fn mark_offered(conn: &Connection, call_sid: &str, now: i64) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO calls (call_sid, status, started_at, offered_at) VALUES (?1, 'in-progress', ?2, ?2)
         ON CONFLICT (call_sid) DO UPDATE SET offered_at = ?2 WHERE calls.offered_at IS NULL",
    )?
    .execute(params![call_sid, now])?;
    Ok(())
}

/// Records a status callback; a call not seen at the voice URL is created, its tenant found
/// by the dialled number. Out-of-order callbacks never reopen an ended call. The callback
/// that ends a call queues `call.completed` in the same transaction.
pub fn record_status(conn: &mut Connection, u: &StatusUpdate, now: i64) -> Result<(), DbError> {
    let tx = crate::db::begin(conn)?;
    let ended_before: Option<Option<i64>> = tx
        .prepare_cached("SELECT ended_at FROM calls WHERE call_sid = ?1")?
        .query_row([&u.call_sid], |r| r.get(0))
        .optional()?;
    let ended = is_final(&u.status).then_some(now);
    tx.prepare_cached(
        "INSERT INTO calls (call_sid, tenant_id, from_number, to_number, direction, status, started_at, ended_at, duration_seconds)
         VALUES (?1, (SELECT id FROM tenants WHERE phone_number = ?4), ?3, ?4, COALESCE(?5, 'inbound'), ?2, ?6, ?7, ?8)
         ON CONFLICT (call_sid) DO UPDATE SET
           status = CASE WHEN calls.ended_at IS NULL OR excluded.ended_at IS NOT NULL THEN excluded.status ELSE calls.status END,
           direction = COALESCE(?5, calls.direction),
           ended_at = COALESCE(calls.ended_at, excluded.ended_at),
           duration_seconds = COALESCE(excluded.duration_seconds, calls.duration_seconds)",
    )?
    .execute(params![u.call_sid, u.status, u.from, u.to, u.direction, now, ended, u.duration_seconds])?;
    if ended.is_some() && ended_before.flatten().is_none() {
        crate::db::webhooks::call_event(&tx, &u.call_sid, now)?;
    }
    tx.commit()?;
    Ok(())
}

/// Figures for the stats endpoint.
pub fn stats(conn: &Connection, tenant: i64, from: i64, to: i64) -> Result<CallStats, DbError> {
    let mut s = conn.query_row(
        "SELECT COUNT(*), AVG(duration_seconds),
                COALESCE(SUM(direction NOT LIKE 'outbound%'), 0), COALESCE(SUM(direction LIKE 'outbound%'), 0)
         FROM calls WHERE tenant_id = ?1 AND started_at >= ?2 AND started_at < ?3",
        params![tenant, from, to],
        |r| {
            Ok(CallStats {
                total_calls: r.get(0)?,
                avg_duration_seconds: r.get(1)?,
                inbound: r.get(2)?,
                outbound: r.get(3)?,
                ..CallStats::default()
            })
        },
    )?;
    // Calls past retention live on as daily counts (whole UTC days).
    let (days_calls, days_in, days_out, days_sum, days_n): (i64, i64, i64, i64, i64) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(calls), 0), COALESCE(SUM(inbound), 0), COALESCE(SUM(outbound), 0),
                    COALESCE(SUM(duration_sum), 0), COALESCE(SUM(duration_count), 0)
             FROM call_days WHERE tenant_id = ?1 AND day >= ?2 / 86400 AND day < (?3 + 86399) / 86400",
        )?
        .query_row(params![tenant, from, to], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
    if days_calls > 0 {
        let live_n = conn.query_row(
            "SELECT COUNT(duration_seconds) FROM calls WHERE tenant_id = ?1 AND started_at >= ?2 AND started_at < ?3",
            params![tenant, from, to],
            |r| r.get::<_, i64>(0),
        )?;
        let live_sum = s.avg_duration_seconds.unwrap_or(0.0) * live_n as f64;
        let n = live_n + days_n;
        s.avg_duration_seconds = (n > 0).then(|| (live_sum + days_sum as f64) / n as f64);
        s.total_calls += days_calls;
        s.inbound += days_in;
        s.outbound += days_out;
    }
    s.calls_per_quarter = conn
        .prepare_cached(
            "SELECT (started_at / 900) * 900, COUNT(*) FROM calls
             WHERE tenant_id = ?1 AND started_at >= ?2 AND started_at < ?3 GROUP BY 1",
        )?
        .query_map(params![tenant, from, to], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    (s.bookings, s.bookings_by_phone, s.cancelled) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(call_sid IS NOT NULL), 0), COALESCE(SUM(status = 'cancelled'), 0)
         FROM appointments WHERE tenant_id = ?1 AND status IN ('booked', 'cancelled') AND created_at >= ?2 AND created_at < ?3",
        params![tenant, from, to],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(s)
}

/// Tenant `tenant`'s latest `limit` inbound calls, newest first (in the order they were
/// recorded within a second), with their turns.
pub fn latest(conn: &Connection, tenant: i64, limit: usize) -> Result<Vec<CallRow>, DbError> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT c.call_sid, c.from_number, c.direction, c.status, c.started_at,
                c.duration_seconds, c.first_said, c.documents, ",
        crate::call_outcome_sql!(),
        " FROM calls c WHERE c.tenant_id = ?1 AND c.direction = 'inbound'
         ORDER BY c.started_at DESC, c.rowid DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![tenant, limit as i64], |r| {
        Ok(CallRow {
            call_sid: r.get(0)?,
            from_number: r.get(1)?,
            direction: r.get(2)?,
            status: r.get(3)?,
            started_at: r.get(4)?,
            duration_seconds: r.get(5)?,
            first_said: r.get(6)?,
            documents: r.get(7)?,
            outcome: r.get(8)?,
            turns: Vec::new(),
        })
    })?;
    let mut calls: Vec<CallRow> = rows.collect::<Result<_, _>>()?;
    let mut turns = conn.prepare_cached(
        "SELECT heard, said, outcome, documents FROM call_turns WHERE call_sid = ?1 ORDER BY seq",
    )?;
    for call in &mut calls {
        let rows = turns.query_map([&call.call_sid], |r| {
            Ok(TurnRow {
                heard: r.get(0)?,
                said: r.get(1)?,
                outcome: r.get(2)?,
                documents: r.get(3)?,
            })
        })?;
        call.turns = rows.collect::<Result<_, _>>()?;
    }
    Ok(calls)
}

/// Every saved version of tenant `tenant`'s documents, by the fingerprint of its text
/// (`texml::docs::fingerprint`): (fingerprint, document name, version id), so the calls
/// page can name the version a call was served.
pub fn version_fingerprints(
    conn: &Connection,
    tenant: i64,
) -> Result<Vec<(String, String, i64)>, DbError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, name, body FROM texml_versions WHERE tenant_id = ?1")?;
    let rows = stmt.query_map([tenant], |r| {
        let body: String = r.get(2)?;
        Ok((crate::texml::docs::fingerprint(&body), r.get(1)?, r.get(0)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
