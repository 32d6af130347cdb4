//! Calls as Telnyx reports them: first seen at the voice URL, updated by status callbacks.
//! The call log's interface is [`Calls`] (SQL in [`super::sqlite::calls`] and
//! [`super::postgres::calls`]); a call's answers and turns are stored by the flow's
//! changes, in their transactions ([`store_answer`]).

use rusqlite::{Connection, params};

use super::{DbError, console::CallRow, postgres, sqlite, store::Store};
use crate::calllog::CallStart;

// Composed into the flow's SQLite transactions (a gather answer offering alternatives).
pub use super::sqlite::calls::mark_offered;

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
                                WHERE u.call_sid = c.call_sid)))
         LIMIT 1)"
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

/// The call log of a store ([`Store::calls`]).
pub struct Calls<'s>(pub(super) &'s Store);

impl Calls<'_> {
    /// Records a batch of call starts in one transaction (idempotent per `CallSid`; of
    /// two starts of one call in a batch the first counts). On SQLite this is the voice
    /// URL's batch, written on the writer thread as one transaction.
    pub async fn record_starts(&self, batch: Vec<CallStart>) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::calls::record_starts(c, &batch))
                    .await
            }
            Store::Postgres(pg) => postgres::calls::record_starts(pg, &batch).await,
        }
    }

    /// Records that call `call_sid` heard the apology, as a turn of its own.
    pub async fn record_error(
        &self,
        call_sid: String,
        said: String,
        at: i64,
    ) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::calls::record_error(c, &call_sid, &said, at))
                    .await
            }
            Store::Postgres(pg) => postgres::calls::record_error(pg, &call_sid, &said, at).await,
        }
    }

    /// Marks that call `call_sid` was offered alternatives (first time only).
    pub async fn mark_offered(&self, call_sid: String, now: i64) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::calls::mark_offered(c, &call_sid, now))
                    .await
            }
            Store::Postgres(pg) => {
                pg.write(async |tx| postgres::calls::mark_offered(tx, &call_sid, now).await)
                    .await
            }
        }
    }

    /// Records a status callback; the one that ends a call queues `call.completed` with
    /// it, once however many nodes receive the callback's retries.
    pub async fn record_status(&self, update: StatusUpdate, now: i64) -> Result<(), DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| sqlite::calls::record_status(c, &update, now))
                    .await
            }
            Store::Postgres(pg) => postgres::calls::record_status(pg, &update, now).await,
        }
    }

    /// Tenant `tenant`'s latest `limit` inbound calls, newest first, with their turns (the
    /// console's calls page).
    pub async fn latest(&self, tenant: i64, limit: usize) -> Result<Vec<CallRow>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::calls::latest(c, tenant, limit))
                    .await
            }
            Store::Postgres(pg) => postgres::calls::latest(pg, tenant, limit).await,
        }
    }

    /// Every saved version of tenant `tenant`'s documents by the fingerprint of its text:
    /// (fingerprint, document name, version id), so the calls page can name the version a
    /// call was served.
    pub async fn version_fingerprints(
        &self,
        tenant: i64,
    ) -> Result<Vec<(String, String, i64)>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::calls::version_fingerprints(c, tenant))
                    .await
            }
            Store::Postgres(pg) => postgres::calls::version_fingerprints(pg, tenant).await,
        }
    }

    /// Call and booking figures of tenant `tenant` over `[from, to)`.
    pub async fn stats(&self, tenant: i64, from: i64, to: i64) -> Result<CallStats, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::calls::stats(c, tenant, from, to))
                    .await
            }
            Store::Postgres(pg) => postgres::calls::stats(pg, tenant, from, to).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sqlite::calls::*;

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
