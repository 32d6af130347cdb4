//! The outbox on SQLite ([`crate::db::outbox`] is the interface): the worker's queue
//! (candidates, leased claims, the send's steps and outcomes), its fault paths (texts
//! whose outcome is unknown, the sweep of expired leases, pauses, the per-destination
//! daily count), an operator's requeue, and the operators' list and counts.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{
    DbError,
    outbox::{AppointmentFacts, Candidate, Claimed, ListQuery, OutboxCounts, OutboxRow, Swept},
};
use crate::sms::Kind;

/// Queued rows due at `now` (seconds, business clock) whose retry time has come (`now_ms`,
/// wall clock), soonest first, but at most `per_sender` from any one sender and none from
/// the senders in `paced` (they are ahead of their rate): one sender's backlog cannot fill
/// the batch and starve the others. Lease-expired rows are dealt with by
/// [`sweep_leases`], not here.
pub fn candidates(
    conn: &Connection,
    now: i64,
    now_ms: i64,
    paced: &[String],
    per_sender: usize,
    limit: usize,
) -> Result<Vec<Candidate>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, sender, profile, rate FROM (
            SELECT o.id, o.due_at, COALESCE(t.sms_from, t.phone_number) AS sender,
                   t.messaging_profile_id AS profile, t.sms_rate_per_second AS rate,
                   ROW_NUMBER() OVER (PARTITION BY COALESCE(t.sms_from, t.phone_number)
                                      ORDER BY o.due_at, o.id) AS rn
            FROM outbox o JOIN tenants t ON t.id = o.tenant_id
            WHERE o.status = 'queued' AND o.due_at <= ?1 AND o.next_attempt_ms <= ?2
              AND COALESCE(t.sms_from, t.phone_number) NOT IN (SELECT value FROM json_each(?3))
         ) WHERE rn <= ?4 ORDER BY due_at, id LIMIT ?5",
    )?;
    let paced = serde_json::to_string(paced).unwrap_or_else(|_| "[]".into());
    let rows = stmt.query_map(
        params![now, now_ms, paced, per_sender as i64, limit as i64],
        |r| {
            Ok(Candidate {
                id: r.get(0)?,
                from: r.get(1)?,
                profile: r.get(2)?,
                rate: r.get(3)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Claims queued row `id` for `lease_ms` (counting an attempt) if it is still due; `None`
/// when another worker got it first or it is no longer due. Sender and profile are read
/// from the tenant now (a tenant PATCH applies to texts already queued).
pub fn claim(
    conn: &mut Connection,
    id: i64,
    now: i64,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Option<Claimed>, DbError> {
    let tx = crate::db::begin(conn)?;
    let row = tx
        .prepare_cached(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until_ms = ?4,
                request_started_ms = NULL, updated_at = ?2
             WHERE id = ?1 AND status = 'queued' AND due_at <= ?2 AND next_attempt_ms <= ?3
             RETURNING kind, to_number, tenant_id, attempts, text, appointment_id",
        )?
        .query_row(params![id, now, now_ms, now_ms + lease_ms], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })
        .optional()?;
    let Some((kind, to, tenant_id, attempts, text, appointment_id)) = row else {
        return Ok(None);
    };
    let kind = Kind::parse(&kind).ok_or_else(|| DbError::Corrupt(format!("outbox kind {kind}")))?;
    let (from, profile) = tx
        .prepare_cached(
            "SELECT COALESCE(sms_from, phone_number), messaging_profile_id FROM tenants WHERE id = ?1",
        )?
        .query_row([tenant_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let appointment = appointment_facts_tx(&tx, appointment_id)?;
    tx.commit()?;
    Ok(Some(Claimed {
        id,
        kind,
        to,
        from,
        profile,
        attempts,
        text,
        appointment,
    }))
}

fn appointment_facts_tx(
    conn: &Connection,
    id: Option<i64>,
) -> Result<Option<AppointmentFacts>, DbError> {
    Ok(id
        .map(|a| appointment_facts(conn, a))
        .transpose()?
        .flatten())
}

fn appointment_facts(conn: &Connection, id: i64) -> Result<Option<AppointmentFacts>, DbError> {
    let row = conn
        .prepare_cached(
            "SELECT a.status, a.start_at, s.name, p.name, t.name, t.timezone, t.phone_number,
                    a.customer_name, t.sms_confirmation, t.sms_reminder, t.sms_moved
             FROM appointments a JOIN services s ON s.id = a.service_id
             JOIN providers p ON p.id = a.provider_id JOIN tenants t ON t.id = a.tenant_id
             WHERE a.id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                (
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, Option<String>>(10)?,
                ),
            ))
        })
        .optional()?;
    row.map(
        |(status, start, service, provider, business, tz, phone, words)| {
            let (customer_name, sms_confirmation, sms_reminder, sms_moved) = words;
            Ok(AppointmentFacts {
                status,
                start,
                service,
                provider,
                business,
                tz: crate::tzdb::get(&tz).map_err(|e| DbError::Corrupt(e.to_string()))?,
                phone,
                customer_name,
                sms_confirmation,
                sms_reminder,
                sms_moved,
            })
        },
    )
    .transpose()
}

/// Ends a claimed text without sending it (`failed`, `dry_run`, `skipped`, `cancelled`),
/// keeping the text that would have been sent.
pub fn finish(
    conn: &Connection,
    id: i64,
    status: &str,
    reason: Option<&str>,
    text: Option<&str>,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE outbox SET status = ?2, last_error = COALESCE(?3, last_error), text = COALESCE(?4, text),
            lease_until_ms = NULL, updated_at = ?5
         WHERE id = ?1 AND status = 'sending'",
    )?
    .execute(params![id, status, reason, text, Timestamp::now().as_second()])?;
    Ok(())
}

/// Records what is about to be sent (text, sender, profile) and that the request starts
/// now (`now_ms`, wall clock); from here on a lost outcome is "unknown", never re-sent.
/// Committed before the request goes out.
pub fn begin_send(
    conn: &Connection,
    id: i64,
    text: &str,
    from: &str,
    profile: Option<&str>,
    now_ms: i64,
) -> Result<bool, DbError> {
    let started = conn
        .prepare_cached(
            "UPDATE outbox SET text = ?2, from_number = ?3, messaging_profile_id = ?4,
                request_started_ms = ?5
             WHERE id = ?1 AND status = 'sending' AND request_started_ms IS NULL",
        )?
        .execute(params![id, text, from, profile, now_ms])?;
    Ok(started == 1)
}

/// Puts a claimed text back in the queue for another attempt at `next_ms` (wall clock);
/// only for sends Telnyx provably did not take (no connection, or an error answer).
pub fn retry_later(conn: &Connection, id: i64, next_ms: i64, reason: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE outbox SET status = 'queued', next_attempt_ms = ?2, last_error = ?3,
            lease_until_ms = NULL, request_started_ms = NULL, updated_at = ?4
         WHERE id = ?1 AND status = 'sending'",
    )?
    .execute(params![id, next_ms, reason, Timestamp::now().as_second()])?;
    Ok(())
}

/// Records that Telnyx accepted the text as `message_id` (also for a text held as
/// unknown meanwhile), then applies any delivery status
/// that arrived by webhook before this was recorded.
pub fn mark_sent(conn: &mut Connection, id: i64, message_id: &str) -> Result<(), DbError> {
    let tx = crate::db::begin(conn)?;
    // Only from `sending` (held included): a delivery webhook that matched a held text
    // first may already have moved it on.
    tx.prepare_cached(
        "UPDATE outbox SET status = 'sent', telnyx_message_id = ?2, last_error = NULL,
            lease_until_ms = NULL, unknown_since_ms = NULL, updated_at = ?3
         WHERE id = ?1 AND status = 'sending'",
    )?
    .execute(params![id, message_id, Timestamp::now().as_second()])?;
    let early: Vec<(String, Option<String>)> = tx
        .prepare_cached(
            "SELECT status, detail FROM messaging_events WHERE telnyx_message_id = ?1 AND status IS NOT NULL",
        )?
        .query_map([message_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (status, detail) in early {
        apply_delivery_status(&tx, message_id, &status, detail.as_deref())?;
    }
    tx.commit()?;
    Ok(())
}

/// Moves the text sent as `message_id` forward to `status` (`sent`, `delivered` or
/// `failed`); never backwards, so repeats and late arrivals change nothing. Returns
/// whether a row changed.
pub fn apply_delivery_status(
    conn: &Connection,
    message_id: &str,
    status: &str,
    detail: Option<&str>,
) -> Result<bool, DbError> {
    let from: &[&str] = match status {
        "sent" => &["sending"],
        "delivered" | "failed" => &["sending", "sent"],
        _ => return Ok(false),
    };
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET status = ?2, last_error = COALESCE(?3, last_error), updated_at = ?4
             WHERE telnyx_message_id = ?1 AND status IN (SELECT value FROM json_each(?5))",
        )?
        .execute(params![
            message_id,
            status,
            detail,
            Timestamp::now().as_second(),
            serde_json::to_string(from).unwrap_or_default()
        ])?;
    if n > 0 {
        // message.delivered / message.failed, in the same transaction as the status.
        crate::db::webhooks::message_event(
            conn,
            message_id,
            status,
            detail,
            Timestamp::now().as_second(),
        )?;
    }
    Ok(n > 0)
}

/// The tenant's texts, newest first, one page of them.
pub fn list(conn: &Connection, tenant_id: i64, q: &ListQuery) -> Result<Vec<OutboxRow>, DbError> {
    let (before_due, before_id) = q.before.unwrap_or((i64::MAX, i64::MAX));
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.appointment_id, o.kind, o.to_number, o.from_number,
                CASE WHEN o.status = 'queued' AND p.reason IS NOT NULL THEN 'paused'
                     WHEN o.status = 'sending' AND o.unknown_since_ms IS NOT NULL THEN 'unknown'
                     ELSE o.status END,
                o.attempts, o.due_at,
                CASE WHEN o.status = 'queued' AND p.reason IS NOT NULL THEN p.reason
                     ELSE o.last_error END,
                o.telnyx_message_id, o.text, o.created_at, o.updated_at
         FROM outbox o JOIN tenants t ON t.id = o.tenant_id
         LEFT JOIN sms_pauses p ON p.scope = (
             SELECT scope FROM sms_pauses
             WHERE scope = '' OR scope = COALESCE(t.messaging_profile_id, o.messaging_profile_id)
             ORDER BY scope LIMIT 1)
         WHERE o.tenant_id = ?1 AND (?2 IS NULL OR o.appointment_id = ?2)
           AND (o.due_at, o.id) < (?3, ?4)
         ORDER BY o.due_at DESC, o.id DESC LIMIT ?5",
    )?;
    let args = params![
        tenant_id,
        q.appointment_id,
        before_due,
        before_id,
        q.limit as i64
    ];
    let rows = stmt.query_map(args, |r| {
        Ok(OutboxRow {
            id: r.get(0)?,
            appointment_id: r.get(1)?,
            kind: r.get(2)?,
            to: r.get(3)?,
            from: r.get(4)?,
            status: r.get(5)?,
            attempts: r.get(6)?,
            due_at: r.get(7)?,
            last_error: r.get(8)?,
            telnyx_message_id: r.get(9)?,
            text: r.get(10)?,
            created_at: r.get(11)?,
            updated_at: r.get(12)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Counts of the tenant's texts by status, for texts due in `[from, to)` (Unix seconds);
/// for the stats endpoint.
pub fn counts(
    conn: &Connection,
    tenant_id: i64,
    from: i64,
    to: i64,
) -> Result<OutboxCounts, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT CASE WHEN status = 'sending' AND unknown_since_ms IS NOT NULL THEN 'unknown'
                     ELSE status END AS s, COUNT(*)
         FROM outbox WHERE tenant_id = ?1 AND due_at >= ?2 AND due_at < ?3 GROUP BY s",
    )?;
    let rows = stmt
        .query_map(params![tenant_id, from, to], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OutboxCounts::from_rows(rows))
}

/// Holds a claimed text whose send outcome is unknown (Telnyx may have it): it stays
/// `sending` (listed as `unknown`) and is never re-sent; a delivery webhook settles it
/// ([`adopt_held`]), else [`sweep_leases`] fails it after the hold.
pub fn hold_unknown(conn: &Connection, id: i64, now_ms: i64, reason: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE outbox SET unknown_since_ms = ?2, lease_until_ms = NULL, last_error = ?3,
            updated_at = ?4
         WHERE id = ?1 AND status = 'sending' AND telnyx_message_id IS NULL",
    )?
    .execute(params![id, now_ms, reason, Timestamp::now().as_second()])?;
    Ok(())
}

/// Puts a text that met an account-level refusal back in the queue, not counting the
/// attempt (the refusal is about the account, not the text).
pub fn requeue_paused(conn: &Connection, id: i64, reason: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE outbox SET status = 'queued', attempts = MAX(attempts - 1, 0), next_attempt_ms = 0,
            last_error = ?2, lease_until_ms = NULL, request_started_ms = NULL, updated_at = ?3
         WHERE id = ?1 AND status = 'sending'",
    )?
    .execute(params![id, reason, Timestamp::now().as_second()])?;
    Ok(())
}

/// Settles rows whose lease ran out (the process stopped mid-text) and held rows past
/// `hold_ms`. A lease-expired row whose request had started is held (Telnyx may have
/// it); one that never got as far is queued again, at most `max_reclaims` times.
pub fn sweep_leases(
    conn: &mut Connection,
    now_ms: i64,
    hold_ms: i64,
    max_reclaims: u32,
) -> Result<Swept, DbError> {
    let tx = crate::db::begin(conn)?;
    let now = Timestamp::now().as_second();
    let held = tx
        .prepare_cached(
            "UPDATE outbox SET unknown_since_ms = ?1, lease_until_ms = NULL, updated_at = ?2,
                last_error = 'outcome unknown: slotline stopped while Telnyx was being asked; held, not re-sent'
             WHERE status = 'sending' AND lease_until_ms <= ?1 AND request_started_ms IS NOT NULL",
        )?
        .execute(params![now_ms, now])?;
    let failed_reclaims = tx
        .prepare_cached(
            "UPDATE outbox SET status = 'failed', lease_until_ms = NULL, updated_at = ?2,
                last_error = 'given up: slotline stopped while handling this text ' || (reclaims + 1) || ' times'
             WHERE status = 'sending' AND lease_until_ms <= ?1 AND reclaims >= ?3",
        )?
        .execute(params![now_ms, now, max_reclaims])?;
    let requeued = tx
        .prepare_cached(
            "UPDATE outbox SET status = 'queued', reclaims = reclaims + 1, lease_until_ms = NULL,
                updated_at = ?2
             WHERE status = 'sending' AND lease_until_ms <= ?1",
        )?
        .execute(params![now_ms, now])?;
    let failed_held = tx
        .prepare_cached(
            "UPDATE outbox SET status = 'failed', updated_at = ?2,
                last_error = 'outcome unknown and no word from Telnyx within the hold; not re-sent, since Telnyx may have sent it (' || COALESCE(last_error, '') || ')'
             WHERE status = 'sending' AND unknown_since_ms IS NOT NULL AND unknown_since_ms <= ?1",
        )?
        .execute(params![now_ms - hold_ms, now])?;
    tx.commit()?;
    Ok(Swept {
        held,
        requeued,
        failed: failed_reclaims + failed_held,
    })
}

/// Gives the held (or in-flight) text that went `from` → `to` with exactly `text` the
/// Telnyx id `message_id` named by a delivery webhook, when no text has that id yet, and
/// makes it `sent` (the webhook's own status is applied after). The oldest such text
/// wins. Returns whether one was matched.
pub fn adopt_held(
    conn: &Connection,
    message_id: &str,
    to: &str,
    from: &str,
    text: &str,
) -> Result<bool, DbError> {
    let known: Option<i64> = conn
        .prepare_cached("SELECT id FROM outbox WHERE telnyx_message_id = ?1")?
        .query_row([message_id], |r| r.get(0))
        .optional()?;
    if known.is_some() {
        return Ok(false);
    }
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'sent', telnyx_message_id = ?1, unknown_since_ms = NULL,
                lease_until_ms = NULL, last_error = NULL, updated_at = ?5
             WHERE id = (SELECT id FROM outbox
                         WHERE status = 'sending' AND telnyx_message_id IS NULL
                           AND request_started_ms IS NOT NULL
                           AND to_number = ?2 AND from_number = ?3 AND text = ?4
                         ORDER BY request_started_ms, id LIMIT 1)",
        )?
        .execute(params![
            message_id,
            to,
            from,
            text,
            Timestamp::now().as_second()
        ])?;
    Ok(n > 0)
}

/// How many texts slotline asked Telnyx to send to `to` since `since_ms` (wall clock),
/// across tenants; sends Telnyx refused do not count.
pub fn sent_to_since(conn: &Connection, to: &str, since_ms: i64) -> Result<u32, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM outbox WHERE to_number = ?1 AND request_started_ms >= ?2",
        )?
        .query_row(params![to, since_ms], |r| r.get(0))?)
}

/// Records that sending is paused for `scope` ('' for all sending, else a messaging
/// profile id), with the reason shown on the queued texts.
pub fn set_pause(conn: &Connection, scope: &str, reason: &str, now_ms: i64) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO sms_pauses (scope, reason, since_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope) DO UPDATE SET reason = excluded.reason",
    )?
    .execute(params![scope, reason, now_ms])?;
    Ok(())
}

/// Lifts the pause of `scope`; returns whether there was one.
pub fn lift_pause(conn: &Connection, scope: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("DELETE FROM sms_pauses WHERE scope = ?1")?
        .execute([scope])?
        > 0)
}

/// Every pause in force: (scope, reason).
pub fn pauses(conn: &Connection) -> Result<Vec<(String, String)>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT scope, reason FROM sms_pauses ORDER BY scope")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Requeues failed text `id` of `tenant` at `now` (Unix seconds). `NotFound` when the
/// tenant has no such text; `Conflict` (field `status`) when it is not failed.
pub fn requeue_failed(conn: &Connection, tenant: i64, id: i64, now: i64) -> Result<(), DbError> {
    let status: Option<String> = conn
        .query_row(
            "SELECT status FROM outbox WHERE id = ?1 AND tenant_id = ?2",
            params![id, tenant],
            |r| r.get(0),
        )
        .optional()?;
    match status.as_deref() {
        None => Err(DbError::NotFound),
        Some("failed") => {
            // The status check is repeated in the UPDATE: a text changed in between is
            // not touched.
            let changed = conn
                .prepare_cached(
                    "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_ms = 0,
                        lease_until_ms = NULL, request_started_ms = NULL, unknown_since_ms = NULL,
                        reclaims = 0, last_error = 'requeued by an operator', updated_at = ?3
                     WHERE id = ?1 AND tenant_id = ?2 AND status = 'failed'",
                )?
                .execute(params![id, tenant, now])?;
            if changed == 1 {
                Ok(())
            } else {
                Err(DbError::Conflict(
                    "status: the text changed while it was being requeued; reload and retry".into(),
                ))
            }
        }
        Some(other) => Err(DbError::Conflict(format!(
            "status: the text is {other}; only failed texts can be requeued"
        ))),
    }
}
