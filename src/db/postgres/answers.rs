//! The answers a call's callbacks stored, on PostgreSQL: the TeXML kept for a retried
//! callback (`callback_answers`) and the turn the console shows (`call_turns`), written in
//! the transaction of the change the answer reports (twin of `db::calls::store_answer`
//! and the answer functions of [`crate::db::sqlite::appointments`]).

use super::cached::Cached;
use deadpool_postgres::{GenericClient, Transaction};

use super::Pg;
use crate::db::{
    DbError,
    calls::{Answer, Outcome},
};

/// The stored answer to callback (`call_sid`, `step`), if any.
pub async fn callback_answer(
    c: &impl GenericClient,
    call_sid: &str,
    step: &str,
) -> Result<Option<String>, DbError> {
    Ok(c.query_opt_cached(
        "SELECT answer FROM callback_answers WHERE call_sid = $1 AND step = $2",
        &[&call_sid, &step],
    )
    .await?
    .map(|r| r.get(0)))
}

/// [`callback_answer`] on a connection of the pool.
pub async fn callback_answer_of(
    pg: &Pg,
    call_sid: &str,
    step: &str,
) -> Result<Option<String>, DbError> {
    pg.run(async |c| callback_answer(c, call_sid, step).await)
        .await
}

/// The turn row of `answer`, numbered after the call's last one.
const INSERT_TURN: &str =
    "INSERT INTO call_turns (call_sid, step, seq, at, heard, said, outcome, documents)
     VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM call_turns WHERE call_sid = $1),
             $3, $4, $5, $6, $7)
     ON CONFLICT DO NOTHING";

/// Serialises the numbering of call `call_sid`'s turns until `tx` ends: two turns of one
/// call stored at once on two nodes (or two connections) would otherwise read the same
/// last number at READ COMMITTED.
pub(crate) async fn lock_turns(tx: &impl GenericClient, call_sid: &str) -> Result<(), DbError> {
    tx.execute_cached(
        "SELECT pg_advisory_xact_lock(hashtextextended('slotline.turns:' || $1, 0))",
        &[&call_sid],
    )
    .await?;
    Ok(())
}

async fn insert_turn(tx: &Transaction<'_>, answer: &Answer, now: i64) -> Result<(), DbError> {
    lock_turns(tx, &answer.call_sid).await?;
    tx.execute_cached(
        INSERT_TURN,
        &[
            &answer.call_sid,
            &answer.step,
            &now,
            &answer.heard,
            &answer.said,
            &answer.outcome.map(Outcome::as_str),
            &answer.documents,
        ],
    )
    .await?;
    Ok(())
}

/// Stores `answer` for retries and as a turn of its call, in the caller's transaction. A
/// concurrent transaction that stored the same callback's answer first makes this fail
/// with SQLSTATE 23505 on `callback_answers` ([`is_answered_clash`]).
pub async fn store_answer(tx: &Transaction<'_>, answer: &Answer) -> Result<(), DbError> {
    let now = jiff::Timestamp::now().as_second();
    tx.execute_cached(
        "INSERT INTO callback_answers (call_sid, step, answer, created_at) VALUES ($1, $2, $3, $4)",
        &[&answer.call_sid, &answer.step, &answer.texml, &now],
    )
    .await?;
    insert_turn(tx, answer, now).await
}

/// True when `e` is [`store_answer`] finding the callback answered by another transaction.
pub fn is_answered_clash(e: &DbError) -> bool {
    matches!(e, DbError::Postgres(e)
        if super::code(e) == Some(super::sqlstate::UNIQUE_VIOLATION)
            && e.as_db_error().is_some_and(|d| d.table() == Some("callback_answers")))
}

/// Stores `answer` unless one is stored; returns the answer that is now stored, so two
/// racing duplicates both answer with the first one (the second waits for the first's
/// row, then finds it).
pub async fn remember_answer(pg: &Pg, answer: &Answer) -> Result<String, DbError> {
    pg.write(async |tx| remember_in(tx, answer, None).await)
        .await
}

/// [`remember_answer`] for a turn that offered alternatives: the call is marked offered
/// (first time only) in the same transaction.
pub async fn remember_offer(pg: &Pg, answer: &Answer, now: i64) -> Result<String, DbError> {
    pg.write(async |tx| remember_in(tx, answer, Some(now)).await)
        .await
}

/// Stores `answer` (and marks its call offered at `offered`) inside `tx`; the answer an
/// earlier delivery of the same callback stored wins.
async fn remember_in(
    tx: &Transaction<'_>,
    answer: &Answer,
    offered: Option<i64>,
) -> Result<String, DbError> {
    if let Some(at) = offered {
        super::calls::mark_offered(tx, &answer.call_sid, at).await?;
    }
    let now = jiff::Timestamp::now().as_second();
    let stored = tx
        .query_opt_cached(
            "INSERT INTO callback_answers (call_sid, step, answer, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING answer",
            &[&answer.call_sid, &answer.step, &answer.texml, &now],
        )
        .await?;
    if stored.is_none() {
        return callback_answer(tx, &answer.call_sid, &answer.step)
            .await?
            .ok_or(DbError::NotFound);
    }
    insert_turn(tx, answer, now).await?;
    Ok(answer.texml.clone())
}
