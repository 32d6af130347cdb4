//! Calls as Telnyx reports them: first seen at the voice URL, updated by status callbacks.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;

/// One answer of a call as it is stored: the TeXML kept for a retried callback (in
/// `callback_answers`, pruned after a day) and the turn as the console's calls page shows
/// it (in `call_turns`, kept as long as the call).
#[derive(Clone)]
pub struct Answer {
    /// The call.
    pub call_sid: String,
    /// The callback's idempotency key (`Claims::step_key`).
    pub step: String,
    /// The TeXML answered.
    pub texml: String,
    /// What the caller said in this turn (their words, else the gathered fields).
    pub heard: String,
    /// What the line said, one spoken line per line.
    pub said: String,
    /// What the turn settled ([`Outcome`]), or `None` while the call goes on.
    pub outcome: Option<Outcome>,
    /// The operator documents the answer was served from (`name:source:fingerprint`,
    /// space-separated), if any.
    pub documents: Option<String>,
}

impl Answer {
    /// `texml` as the answer to (`call_sid`, `step`), with nothing heard or said recorded
    /// and nothing settled (tools and tests that store an answer without a call).
    pub fn bare(call_sid: &str, step: &str, texml: &str) -> Self {
        Self {
            call_sid: call_sid.into(),
            step: step.into(),
            texml: texml.into(),
            heard: String::new(),
            said: String::new(),
            outcome: None,
            documents: None,
        }
    }
}

/// What a turn of a call settled; the call's outcome is that of its latest turn that
/// settled one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An appointment was booked.
    Booked,
    /// A time is held until the caller confirms.
    Held,
    /// The caller's appointment was moved.
    Moved,
    /// The caller's appointment was cancelled.
    Cancelled,
    /// A question was answered (or could not be).
    Question,
    /// Other times were offered.
    Alternatives,
    /// The call was handed to a person (or the caller asked to contact the business).
    HandOff,
    /// The line said goodbye without changing anything (a "no" to cancelling, an
    /// appointment no longer there).
    Ended,
    /// Something failed; the caller heard the apology.
    Error,
}

impl Outcome {
    /// As stored and shown: `booked`, `held`, `moved`, `cancelled`, `question`,
    /// `alternatives`, `hand-off`, `ended`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Booked => "booked",
            Outcome::Held => "held",
            Outcome::Moved => "moved",
            Outcome::Cancelled => "cancelled",
            Outcome::Question => "question",
            Outcome::Alternatives => "alternatives",
            Outcome::HandOff => "hand-off",
            Outcome::Ended => "ended",
            Outcome::Error => "error",
        }
    }
}

/// SQL for the outcome of the call aliased `c` in a query: that of its latest turn that
/// settled something, where a held time counts only while it is the call's last turn (a
/// "no" to it asks again). The calls page and the call list read it alike.
#[macro_export]
#[doc(hidden)]
macro_rules! call_outcome_sql {
    () => {
        "(SELECT t.outcome FROM call_turns t WHERE t.call_sid = c.call_sid AND t.seq =
            (SELECT MAX(v.seq) FROM call_turns v WHERE v.call_sid = c.call_sid
               AND v.outcome IS NOT NULL
               AND (v.outcome <> 'held'
                    OR v.seq = (SELECT MAX(u.seq) FROM call_turns u
                                WHERE u.call_sid = c.call_sid))))"
    };
}

/// Stores `answer` for retries and as a turn of its call, in the caller's transaction.
pub(crate) fn store_answer(conn: &Connection, answer: &Answer) -> Result<(), DbError> {
    let now = jiff::Timestamp::now().as_second();
    conn.prepare_cached(
        "INSERT INTO callback_answers (call_sid, step, answer, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![answer.call_sid, answer.step, answer.texml, now])?;
    conn.prepare_cached(
        "INSERT INTO call_turns (call_sid, step, seq, at, heard, said, outcome, documents)
         VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM call_turns WHERE call_sid = ?1),
                 ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        answer.call_sid,
        answer.step,
        now,
        answer.heard,
        answer.said,
        answer.outcome.map(Outcome::as_str),
        answer.documents,
    ])?;
    Ok(())
}

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

/// A status callback's facts (PROTOCOL.md §4).
#[derive(Debug, Clone, Default)]
pub struct StatusUpdate {
    /// The call.
    pub call_sid: String,
    /// `initiated`, `ringing`, `in-progress`, `completed`, `busy`, `no-answer`, `canceled`, `failed`.
    pub status: String,
    /// Seconds, on the final callback.
    pub duration_seconds: Option<i64>,
    /// `inbound`, or `outbound…` for calls slotline did not answer itself.
    pub direction: Option<String>,
    /// Caller, as sent.
    pub from: Option<String>,
    /// Dialled number, normalised when it parses (finds the tenant for calls never seen).
    pub to: Option<String>,
}

/// True for statuses after which a call is over.
pub fn is_final(status: &str) -> bool {
    matches!(
        status,
        "completed" | "busy" | "no-answer" | "canceled" | "failed"
    )
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
        super::webhooks::call_event(&tx, &u.call_sid, now)?;
    }
    tx.commit()?;
    Ok(())
}

/// Call and booking figures of one tenant over `[from, to)`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CallStats {
    /// Calls that started in the period.
    pub total_calls: i64,
    /// Mean duration of the calls with a known duration.
    pub avg_duration_seconds: Option<f64>,
    /// Inbound calls.
    pub inbound: i64,
    /// Outbound calls.
    pub outbound: i64,
    /// Calls per quarter hour, as (Unix seconds of the quarter's start, count), for the
    /// peak hour in the tenant's zone: every zone's offset is a whole number of quarter
    /// hours, so each quarter lies inside one local hour. A year is at most 35,040 rows,
    /// however many calls it held.
    #[serde(skip)]
    pub calls_per_quarter: Vec<(i64, i64)>,
    /// Appointments booked in the period (still booked or since cancelled).
    pub bookings: i64,
    /// Of those, booked by a phone call.
    pub bookings_by_phone: i64,
    /// Of those, cancelled since.
    pub cancelled: i64,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn start(from: &str, at: i64) -> crate::calllog::CallStart {
        crate::calllog::CallStart {
            call_sid: "v3:early".into(),
            tenant_id: 1,
            from: Some(from.into()),
            to: None,
            at,
            said: "Hello.".into(),
            documents: None,
        }
    }

    /// The start's single upsert as it was before the insert-first path (the reference the
    /// two statements must agree with).
    const OLD_UPSERT: &str =
        "INSERT INTO calls (call_sid, tenant_id, from_number, to_number, status, started_at,
                            gathered_at, first_said, documents)
         VALUES (?1, ?2, ?3, ?4, 'in-progress', ?5,
                 (SELECT MIN(created_at) FROM callback_answers WHERE call_sid = ?1), ?6, ?7)
         ON CONFLICT (call_sid) DO UPDATE SET
             tenant_id = COALESCE(calls.tenant_id, excluded.tenant_id),
             from_number = COALESCE(calls.from_number, excluded.from_number),
             to_number = COALESCE(calls.to_number, excluded.to_number),
             started_at = MIN(calls.started_at, excluded.started_at),
             gathered_at = COALESCE(calls.gathered_at, excluded.gathered_at),
             first_said = COALESCE(calls.first_said, excluded.first_said),
             documents = COALESCE(calls.documents, excluded.documents)
         WHERE calls.tenant_id IS NULL";

    fn with_tenant() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrations::apply(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO tenants (id, slug, name, phone_number, timezone, voice, greeting, slot_minutes,
                min_notice_minutes, horizon_days, buffer_minutes, reminder_hours, max_attempts, created_at, updated_at)
             VALUES (1, 't', 'T', '+13125550100', 'UTC', 'v', 'g', 15, 0, 30, 0, '[]', 3, 0, 0);",
        )
        .unwrap();
        conn
    }

    fn calls_table(conn: &Connection) -> Vec<Vec<rusqlite::types::Value>> {
        let mut stmt = conn
            .prepare("SELECT * FROM calls ORDER BY call_sid")
            .unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_start_is_written_as_the_single_upsert_wrote_it_whatever_came_first() {
        // Whatever reached the call's row before its batched start: nothing, a stored
        // gather answer, alternatives offered, an apology, a status callback with or
        // without the tenant, an earlier start (a retried voice request).
        let before: [&dyn Fn(&mut Connection); 8] = [
            &|_| {},
            &|c| {
                c.execute_batch(
                    "INSERT INTO callback_answers (call_sid, step, answer, created_at)
                     VALUES ('v3:early', 'g1', '<Response/>', 105)",
                )
                .unwrap()
            },
            &|c| mark_offered(c, "v3:early", 106).unwrap(),
            &|c| record_error(c, "v3:early", "Sorry.", 99).unwrap(),
            &|c| {
                let u = StatusUpdate {
                    call_sid: "v3:early".into(),
                    status: "ringing".into(),
                    to: Some("+13125550100".into()),
                    ..StatusUpdate::default()
                };
                record_status(c, &u, 98).unwrap()
            },
            &|c| {
                let u = StatusUpdate {
                    call_sid: "v3:early".into(),
                    status: "completed".into(),
                    duration_seconds: Some(30),
                    ..StatusUpdate::default()
                };
                record_status(c, &u, 130).unwrap()
            },
            &|c| {
                c.execute_batch(
                    "INSERT INTO callback_answers (call_sid, step, answer, created_at)
                     VALUES ('v3:early', 'g1', '<Response/>', 105)",
                )
                .unwrap();
                mark_offered(c, "v3:early", 106).unwrap()
            },
            &|c| record_start(c, &start("+10000000000", 90)).unwrap(),
        ];
        let mut s = start("+13125550199", 100);
        s.to = Some("+13125550100".into());
        s.documents = Some("menu:file:00ff".into());
        for (i, first) in before.iter().enumerate() {
            let mut old = with_tenant();
            first(&mut old);
            old.execute(
                OLD_UPSERT,
                params![
                    s.call_sid,
                    s.tenant_id,
                    s.from,
                    s.to,
                    s.at,
                    s.said,
                    s.documents
                ],
            )
            .unwrap();
            let mut new = with_tenant();
            first(&mut new);
            record_starts(&mut new, std::slice::from_ref(&s)).unwrap();
            assert_eq!(calls_table(&new), calls_table(&old), "case {i}");
            assert_eq!(calls_table(&new).len(), 1, "case {i}");
        }
    }

    #[test]
    fn a_calls_outcome_is_its_latest_settled_turn_and_a_hold_only_while_it_is_the_last() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrations::apply(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO calls (call_sid, status, started_at) VALUES ('v3:o', 'completed', 1);",
        )
        .unwrap();
        let outcome = |conn: &Connection| -> Option<String> {
            conn.query_row(
                concat!(
                    "SELECT ",
                    crate::call_outcome_sql!(),
                    " FROM calls c WHERE c.call_sid = 'v3:o'"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        let turn = |step: &str, outcome: Option<Outcome>| Answer {
            outcome,
            ..Answer::bare("v3:o", step, "<Response/>")
        };
        assert_eq!(outcome(&conn), None, "no turns: nothing settled");
        store_answer(&conn, &turn("g1", Some(Outcome::Question))).unwrap();
        store_answer(&conn, &turn("g2", Some(Outcome::Held))).unwrap();
        assert_eq!(outcome(&conn).as_deref(), Some("held"));
        // "No" to the held time asks again: the hold no longer counts.
        store_answer(&conn, &turn("c3", None)).unwrap();
        assert_eq!(outcome(&conn).as_deref(), Some("question"));
        store_answer(&conn, &turn("g4", Some(Outcome::Booked))).unwrap();
        store_answer(&conn, &turn("g5", None)).unwrap();
        assert_eq!(outcome(&conn).as_deref(), Some("booked"));
        // An apology recorded afterwards is the latest word; a repeated one is kept once.
        record_error(&conn, "v3:o", "Sorry.", 9).unwrap();
        record_error(&conn, "v3:o", "Sorry.", 9).unwrap();
        assert_eq!(outcome(&conn).as_deref(), Some("error"));
        let seqs: Vec<i64> = conn
            .prepare("SELECT seq FROM call_turns WHERE call_sid = 'v3:o' ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_call_gathered_and_offered_before_its_start_is_written_keeps_both_marks() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrations::apply(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO tenants (id, slug, name, phone_number, timezone, voice, greeting, slot_minutes,
                min_notice_minutes, horizon_days, buffer_minutes, reminder_hours, max_attempts, created_at, updated_at)
             VALUES (1, 't', 'T', '+13125550100', 'UTC', 'v', 'g', 15, 0, 30, 0, '[]', 3, 0, 0);
             INSERT INTO callback_answers (call_sid, step, answer, created_at) VALUES ('v3:early', 'g1', '<Response/>', 105);",
        )
        .unwrap();
        mark_offered(&conn, "v3:early", 106).unwrap();
        // The batched start arrives last, with the time the call really began.
        record_start(&conn, &start("+13125550199", 100)).unwrap();
        let row: (Option<i64>, i64, Option<i64>, Option<i64>, Option<String>) = conn
            .query_row(
                "SELECT tenant_id, started_at, gathered_at, offered_at, from_number FROM calls WHERE call_sid = 'v3:early'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(
            row,
            (
                Some(1),
                100,
                Some(105),
                Some(106),
                Some("+13125550199".into())
            )
        );
        // A second start (a retried voice request) changes nothing.
        record_start(&conn, &start("+10000000000", 200)).unwrap();
        let from: String = conn
            .query_row(
                "SELECT from_number FROM calls WHERE call_sid = 'v3:early'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(from, "+13125550199");
    }
}
