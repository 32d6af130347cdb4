//! The outbox on PostgreSQL ([`crate::db::outbox`] is the interface). Several nodes drain
//! one queue: a claim picks its row with `FOR UPDATE SKIP LOCKED` and commits a lease
//! (`queued` → `sending`), so of two nodes claiming one text exactly one gets it and the
//! other moves on without waiting; the sweep takes only rows no one else has locked, so
//! two nodes sweeping at once neither wait for nor deadlock with each other. The daily
//! cap and pauses read what every node committed (see docs/storage.md).

use super::cached::Cached;
use deadpool_postgres::{GenericClient, Transaction};
use jiff::Timestamp;
use tokio_postgres::Row;

use super::{
    Pg,
    ints::{big, small},
    leases::{NOW_MS, lease_clock},
    messaging,
    pacing::{self, Slot},
};
use crate::db::{
    DbError,
    leases::Wall,
    outbox::{
        AppointmentFacts, Begun, Candidate, Claimed, ListQuery, OptOut, OutboxCounts, OutboxRow,
        Pace, Recipient, Swept,
    },
    tenants::corrupt,
};
use crate::sms::Kind;

fn now_s() -> i64 {
    Timestamp::now().as_second()
}

/// Whether a row's lease has run out at parameter `param` of the lease clock.
fn lease_expired(param: &str) -> String {
    format!("lease_until_ms <= {}", lease_clock(param))
}

/// Queued texts the worker may send now (see [`crate::db::outbox::Outbox::candidates`]).
pub async fn candidates(
    pg: &Pg,
    now: i64,
    now_ms: i64,
    paced: &[String],
    per_sender: usize,
    limit: usize,
) -> Result<Vec<Candidate>, DbError> {
    let (per_sender, limit) = (big(per_sender), big(limit));
    pg.run(async |c| {
        let rows = c
            .query_cached(
                "SELECT id, sender, profile, rate FROM (
                    SELECT o.id, o.due_at, COALESCE(t.sms_from, t.phone_number) AS sender,
                           t.messaging_profile_id AS profile, t.sms_rate_per_second AS rate,
                           ROW_NUMBER() OVER (PARTITION BY COALESCE(t.sms_from, t.phone_number)
                                              ORDER BY o.due_at, o.id) AS rn
                    FROM outbox o JOIN tenants t ON t.id = o.tenant_id
                    WHERE o.status = 'queued' AND o.due_at <= $1 AND o.next_attempt_ms <= $2
                      AND COALESCE(t.sms_from, t.phone_number) <> ALL($3)
                 ) due WHERE rn <= $4 ORDER BY due_at, id LIMIT $5",
                &[&now, &now_ms, &paced, &per_sender, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Candidate {
                id: r.get(0),
                from: r.get(1),
                profile: r.get(2),
                rate: r.get(3),
            })
            .collect())
    })
    .await
}

/// Leases queued text `id` if it is still due and no other node is claiming it: the row is
/// picked with `FOR UPDATE SKIP LOCKED` (a row another transaction holds is skipped, not
/// waited for; one it committed is no longer `queued`), and the lease commits with the
/// claim.
pub async fn claim(
    pg: &Pg,
    id: i64,
    now: i64,
    wall: Wall,
    lease_ms: i64,
) -> Result<Option<Claimed>, DbError> {
    let lease_from = lease_clock("$5");
    pg.write(async |tx| {
        let Some(row) = tx
            .query_opt(
                &format!(
                    "UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1,
                        lease_until_ms = {lease_from} + $4, request_started_ms = NULL,
                        updated_at = $2
                     FROM (SELECT id FROM outbox
                           WHERE id = $1 AND status = 'queued' AND due_at <= $2
                             AND next_attempt_ms <= $3
                           FOR UPDATE SKIP LOCKED) picked
                     WHERE o.id = picked.id
                     RETURNING o.kind, o.to_number, o.tenant_id, o.attempts, o.text,
                               o.appointment_id"
                ),
                &[&id, &now, &wall.node_ms(), &lease_ms, &wall.fixed()],
            )
            .await?
        else {
            return Ok(None);
        };
        let kind: String = row.get(0);
        let kind =
            Kind::parse(&kind).ok_or_else(|| DbError::Corrupt(format!("outbox kind {kind}")))?;
        let tenant: i64 = row.get(2);
        let sender = tx
            .query_one_cached(
                "SELECT COALESCE(sms_from, phone_number), messaging_profile_id
                 FROM tenants WHERE id = $1",
                &[&tenant],
            )
            .await?;
        let appointment = match row.get::<_, Option<i64>>(5) {
            Some(a) => appointment_facts(tx, a).await?,
            None => None,
        };
        Ok(Some(Claimed {
            id,
            kind,
            to: row.get(1),
            from: sender.get(0),
            profile: sender.get(1),
            attempts: small(row.get(3)),
            text: row.get(4),
            appointment,
        }))
    })
    .await
}

async fn appointment_facts(
    tx: &Transaction<'_>,
    id: i64,
) -> Result<Option<AppointmentFacts>, DbError> {
    let Some(r) = tx
        .query_opt_cached(
            "SELECT a.status, a.start_at, s.name, p.name, t.name, t.timezone, t.phone_number,
                    a.customer_name, t.sms_confirmation, t.sms_reminder, t.sms_moved
             FROM appointments a JOIN services s ON s.id = a.service_id
             JOIN providers p ON p.id = a.provider_id JOIN tenants t ON t.id = a.tenant_id
             WHERE a.id = $1",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let tz: String = r.get(5);
    Ok(Some(AppointmentFacts {
        status: r.get(0),
        start: r.get(1),
        service: r.get(2),
        provider: r.get(3),
        business: r.get(4),
        tz: crate::tzdb::get(&tz).map_err(corrupt)?,
        phone: r.get(6),
        customer_name: r.get(7),
        sms_confirmation: r.get(8),
        sms_reminder: r.get(9),
        sms_moved: r.get(10),
    }))
}

/// Whether `to` opted out on `profile`, and the texts asked of Telnyx for it since
/// `since_ms` by every node.
pub async fn recipient(
    pg: &Pg,
    to: &str,
    profile: Option<&str>,
    since_ms: i64,
) -> Result<Recipient, DbError> {
    pg.run(async |c| {
        let opted_out = messaging::is_opted_out(c, to, profile).await?;
        let sent: i64 = c
            .query_one_cached(
                "SELECT COUNT(*) FROM outbox WHERE to_number = $1 AND request_started_ms >= $2",
                &[&to, &since_ms],
            )
            .await?
            .get(0);
        Ok(Recipient {
            opted_out,
            sent_since: small(sent),
        })
    })
    .await
}

async fn finish_tx(
    tx: &Transaction<'_>,
    id: i64,
    status: &str,
    reason: Option<&str>,
    text: Option<&str>,
) -> Result<(), DbError> {
    tx.execute_cached(
        "UPDATE outbox SET status = $2, last_error = COALESCE($3, last_error),
            text = COALESCE($4, text), lease_until_ms = NULL, updated_at = $5
         WHERE id = $1 AND status = 'sending'",
        &[&id, &status, &reason, &text, &now_s()],
    )
    .await?;
    Ok(())
}

/// Ends a claimed text without sending it.
pub async fn finish(
    pg: &Pg,
    id: i64,
    status: &str,
    reason: Option<&str>,
    text: Option<&str>,
) -> Result<(), DbError> {
    pg.write(async |tx| finish_tx(tx, id, status, reason, text).await)
        .await
}

/// Fails a claimed text, recording the opt-out its refusal reported with it.
pub async fn fail(pg: &Pg, id: i64, reason: &str, opt_out: Option<&OptOut>) -> Result<(), DbError> {
    pg.write(async |tx| {
        if let Some(o) = opt_out {
            messaging::record_opt_out(tx, &o.number, o.profile.as_deref(), o.at).await?;
        }
        finish_tx(tx, id, "failed", Some(reason), None).await
    })
    .await
}

/// Runs one statement in a transaction of its own (a step of a claimed text or call).
pub(super) async fn write_one(
    pg: &Pg,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<(), DbError> {
    pg.write(async |tx| {
        tx.execute(sql, params).await?;
        Ok(())
    })
    .await
}

/// Records what is about to be sent and that its request starts, if the text is still
/// this claim's, the recipient is under the daily cap and the sender has a slot within
/// the horizon (see [`crate::db::outbox::Outbox::begin_send`]). The recipient's number is
/// locked (an advisory lock) before its texts of the last 24 hours are counted, so two
/// nodes sending to it at once count one after the other; the sender's slot is reserved in
/// `pacers`. A claim whose sender is busier than the horizon goes back to the queue
/// (its attempt not counted). The request's start is the reserved instant, on the
/// database's clock.
pub async fn begin_send(
    pg: &Pg,
    id: i64,
    text: &str,
    from: &str,
    profile: Option<&str>,
    pace: Pace,
) -> Result<Begun, DbError> {
    pg.write(async |tx| {
        let Some(row) = tx
            .query_opt_cached(
                "SELECT to_number FROM outbox
                 WHERE id = $1 AND status = 'sending' AND request_started_ms IS NULL
                 FOR UPDATE",
                &[&id],
            )
            .await?
        else {
            return Ok(Begun::Lost);
        };
        let to: String = row.get(0);
        tx.execute_cached(
            "SELECT pg_advisory_xact_lock(hashtextextended('slotline.to:' || $1, 0))",
            &[&to],
        )
        .await?;
        let sent: i64 = tx
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM outbox
                     WHERE to_number = $1 AND request_started_ms >= {NOW_MS} - 86400000"
                ),
                &[&to],
            )
            .await?
            .get(0);
        if sent >= i64::from(pace.daily_cap) {
            return Ok(Begun::Capped { sent: small(sent) });
        }
        let slot =
            pacing::reserve(tx, &format!("sms:{from}"), pace.gap_ms, pace.horizon_ms).await?;
        let (at_ms, wait_ms) = match slot {
            Slot::At { at_ms, wait_ms } => (at_ms, wait_ms),
            Slot::Busy { wait_ms } => {
                tx.execute_cached(
                    "UPDATE outbox SET status = 'queued', attempts = GREATEST(attempts - 1, 0),
                        lease_until_ms = NULL, updated_at = $2
                     WHERE id = $1",
                    &[&id, &now_s()],
                )
                .await?;
                return Ok(Begun::Paced { wait_ms });
            }
        };
        tx.execute_cached(
            "UPDATE outbox SET text = $2, from_number = $3, messaging_profile_id = $4,
                request_started_ms = $5
             WHERE id = $1",
            &[&id, &text, &from, &profile, &at_ms],
        )
        .await?;
        Ok(Begun::Go { wait_ms, at_ms })
    })
    .await
}

/// Puts a claimed text back in the queue for another attempt at `next_ms`.
pub async fn retry_later(pg: &Pg, id: i64, next_ms: i64, reason: &str) -> Result<(), DbError> {
    write_one(
        pg,
        "UPDATE outbox SET status = 'queued', next_attempt_ms = $2, last_error = $3,
            lease_until_ms = NULL, request_started_ms = NULL, updated_at = $4
         WHERE id = $1 AND status = 'sending'",
        &[&id, &next_ms, &reason, &now_s()],
    )
    .await
}

/// Holds a claimed text whose send outcome is unknown.
pub async fn hold_unknown(pg: &Pg, id: i64, now_ms: i64, reason: &str) -> Result<(), DbError> {
    write_one(
        pg,
        "UPDATE outbox SET unknown_since_ms = $2, lease_until_ms = NULL, last_error = $3,
            updated_at = $4
         WHERE id = $1 AND status = 'sending' AND telnyx_message_id IS NULL",
        &[&id, &now_ms, &reason, &now_s()],
    )
    .await
}

/// Puts a text that met an account-level refusal back in the queue, not counting the
/// attempt.
pub async fn requeue_paused(pg: &Pg, id: i64, reason: &str) -> Result<(), DbError> {
    write_one(
        pg,
        "UPDATE outbox SET status = 'queued', attempts = GREATEST(attempts - 1, 0),
            next_attempt_ms = 0, last_error = $2, lease_until_ms = NULL,
            request_started_ms = NULL, updated_at = $3
         WHERE id = $1 AND status = 'sending'",
        &[&id, &reason, &now_s()],
    )
    .await
}

/// Settles rows whose lease ran out and held rows past `hold_ms` (see
/// [`crate::db::sqlite::outbox::sweep_leases`]), each step over the rows no other node has
/// locked: a row being swept or settled elsewhere is left for the next sweep.
pub async fn sweep_leases(
    pg: &Pg,
    wall: Wall,
    hold_ms: i64,
    max_reclaims: u32,
) -> Result<Swept, DbError> {
    let (now, max_reclaims) = (now_s(), i64::from(max_reclaims));
    let (now_ms, fixed) = (wall.node_ms(), wall.fixed());
    // Leases on the lease clock ($3); the hold on the holding node's wall clock ($1).
    let expired = lease_expired("$3");
    pg.write(async |tx| {
        let held = tx
            .execute(
                &format!("UPDATE outbox SET unknown_since_ms = $1, lease_until_ms = NULL, updated_at = $2,
                    last_error = 'outcome unknown: slotline stopped while Telnyx was being asked; held, not re-sent'
                 WHERE id IN (SELECT id FROM outbox
                              WHERE status = 'sending' AND {expired}
                                AND request_started_ms IS NOT NULL
                              FOR UPDATE SKIP LOCKED)"),
                &[&now_ms, &now, &fixed],
            )
            .await?;
        let failed_reclaims = tx
            .execute(
                &format!("UPDATE outbox SET status = 'failed', lease_until_ms = NULL, updated_at = $2,
                    last_error = 'given up: slotline stopped while handling this text ' || (reclaims + 1) || ' times'
                 WHERE id IN (SELECT id FROM outbox
                              WHERE status = 'sending' AND {expired} AND reclaims >= $1
                                AND request_started_ms IS NULL
                              FOR UPDATE SKIP LOCKED)"),
                &[&max_reclaims, &now, &fixed],
            )
            .await?;
        let requeued = tx
            .execute(
                &format!(
                    "UPDATE outbox SET status = 'queued', reclaims = reclaims + 1,
                        lease_until_ms = NULL, updated_at = $2
                     WHERE id IN (SELECT id FROM outbox
                                  WHERE status = 'sending' AND {}
                                    AND request_started_ms IS NULL
                                  FOR UPDATE SKIP LOCKED)",
                    lease_expired("$1")
                ),
                &[&fixed, &now],
            )
            .await?;
        let failed_held = tx
            .execute_cached(
                "UPDATE outbox SET status = 'failed', updated_at = $2,
                    last_error = 'outcome unknown and no word from Telnyx within the hold; not re-sent, since Telnyx may have sent it (' || COALESCE(last_error, '') || ')'
                 WHERE id IN (SELECT id FROM outbox
                              WHERE status = 'sending' AND unknown_since_ms IS NOT NULL
                                AND unknown_since_ms <= $1
                              FOR UPDATE SKIP LOCKED)",
                &[&(now_ms - hold_ms), &now],
            )
            .await?;
        Ok(Swept {
            held: held as usize,
            requeued: requeued as usize,
            failed: (failed_reclaims + failed_held) as usize,
        })
    })
    .await
}

/// Gives the held (or in-flight) text that went `from` → `to` with exactly `text` the
/// Telnyx id `message_id`, when no text has that id yet, and makes it `sent`; the oldest
/// such text wins, and of two webhooks adopting at once each gets a different text (or
/// none). Runs in the caller's transaction (the inbound webhook's handling).
pub async fn adopt_held(
    tx: &impl GenericClient,
    message_id: &str,
    to: &str,
    from: &str,
    text: &str,
) -> Result<bool, DbError> {
    if tx
        .query_opt_cached(
            "SELECT id FROM outbox WHERE telnyx_message_id = $1",
            &[&message_id],
        )
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let n = tx
        .execute_cached(
            "UPDATE outbox SET status = 'sent', telnyx_message_id = $1, unknown_since_ms = NULL,
                lease_until_ms = NULL, last_error = NULL, updated_at = $5
             WHERE status = 'sending' AND telnyx_message_id IS NULL
               AND id = (SELECT id FROM outbox
                         WHERE status = 'sending' AND telnyx_message_id IS NULL
                           AND request_started_ms IS NOT NULL
                           AND to_number = $2 AND from_number = $3 AND text = $4
                         ORDER BY request_started_ms, id LIMIT 1
                         FOR UPDATE SKIP LOCKED)",
            &[&message_id, &to, &from, &text, &now_s()],
        )
        .await?;
    Ok(n > 0)
}

/// Records that sending is paused for `scope`.
pub async fn set_pause(pg: &Pg, scope: &str, reason: &str, now_ms: i64) -> Result<(), DbError> {
    pg.write(async |tx| {
        tx.execute_cached(
            "INSERT INTO sms_pauses (scope, reason, since_ms) VALUES ($1, $2, $3)
             ON CONFLICT (scope) DO UPDATE SET reason = excluded.reason",
            &[&scope, &reason, &now_ms],
        )
        .await?;
        Ok(())
    })
    .await
}

/// Lifts the pause of `scope`; whether there was one.
pub async fn lift_pause(pg: &Pg, scope: &str) -> Result<bool, DbError> {
    pg.write(async |tx| {
        Ok(tx
            .execute_cached("DELETE FROM sms_pauses WHERE scope = $1", &[&scope])
            .await?
            > 0)
    })
    .await
}

/// Every pause in force: (scope, reason).
pub async fn pauses(pg: &Pg) -> Result<Vec<(String, String)>, DbError> {
    pg.run(async |c| {
        let rows = c
            .query_cached("SELECT scope, reason FROM sms_pauses ORDER BY scope", &[])
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    })
    .await
}

/// Requeues failed text `id` of `tenant` (see
/// [`crate::db::sqlite::outbox::requeue_failed`]).
pub async fn requeue_failed(pg: &Pg, tenant: i64, id: i64, now: i64) -> Result<(), DbError> {
    pg.write(async |tx| {
        let status: Option<String> = tx
            .query_opt_cached(
                "SELECT status FROM outbox WHERE id = $1 AND tenant_id = $2",
                &[&id, &tenant],
            )
            .await?
            .map(|r| r.get(0));
        match status.as_deref() {
            None => Err(DbError::NotFound),
            Some("failed") => {
                let changed = tx
                    .execute_cached(
                        "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_ms = 0,
                            lease_until_ms = NULL, request_started_ms = NULL,
                            unknown_since_ms = NULL, reclaims = 0,
                            last_error = 'requeued by an operator', updated_at = $3
                         WHERE id = $1 AND tenant_id = $2 AND status = 'failed'",
                        &[&id, &tenant, &now],
                    )
                    .await?;
                if changed == 1 {
                    Ok(())
                } else {
                    Err(DbError::Conflict(
                        "status: the text changed while it was being requeued; reload and retry"
                            .into(),
                    ))
                }
            }
            Some(other) => Err(DbError::Conflict(format!(
                "status: the text is {other}; only failed texts can be requeued"
            ))),
        }
    })
    .await
}

fn outbox_row(r: &Row) -> OutboxRow {
    OutboxRow {
        id: r.get(0),
        appointment_id: r.get(1),
        kind: r.get(2),
        to: r.get(3),
        from: r.get(4),
        status: r.get(5),
        attempts: small(r.get(6)),
        due_at: r.get(7),
        last_error: r.get(8),
        telnyx_message_id: r.get(9),
        text: r.get(10),
        created_at: r.get(11),
        updated_at: r.get(12),
    }
}

/// The tenant's texts, newest first, one page of them.
pub async fn list(pg: &Pg, tenant: i64, q: &ListQuery) -> Result<Vec<OutboxRow>, DbError> {
    let (before_due, before_id) = q.before.unwrap_or((i64::MAX, i64::MAX));
    let limit = big(q.limit);
    pg.run(async |c| {
        let rows = c
            .query_cached(
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
                 WHERE o.tenant_id = $1 AND ($2::bigint IS NULL OR o.appointment_id = $2)
                   AND (o.due_at, o.id) < ($3, $4)
                 ORDER BY o.due_at DESC, o.id DESC LIMIT $5",
                &[&tenant, &q.appointment_id, &before_due, &before_id, &limit],
            )
            .await?;
        Ok(rows.iter().map(outbox_row).collect())
    })
    .await
}

/// The tenant's texts due in `[from, to)` counted by status.
pub async fn counts(pg: &Pg, tenant: i64, from: i64, to: i64) -> Result<OutboxCounts, DbError> {
    pg.run(async |c| {
        let rows = c
            .query_cached(
                "SELECT CASE WHEN status = 'sending' AND unknown_since_ms IS NOT NULL
                             THEN 'unknown' ELSE status END AS s, COUNT(*)
                 FROM outbox WHERE tenant_id = $1 AND due_at >= $2 AND due_at < $3 GROUP BY s",
                &[&tenant, &from, &to],
            )
            .await?;
        Ok(OutboxCounts::from_rows(
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))),
        ))
    })
    .await
}

/// Records that Telnyx accepted claimed text `id` as `message_id` (also one held as
/// unknown meanwhile), then applies the delivery statuses that arrived by webhook first.
/// Serialises what happens to the text Telnyx knows as `message_id` until `tx` ends: its
/// `mark_sent` and a delivery webhook about it, handled at once on two nodes, would
/// otherwise each miss the other's uncommitted row and leave the status behind.
pub(crate) async fn lock_message(tx: &impl GenericClient, message_id: &str) -> Result<(), DbError> {
    tx.execute_cached(
        "SELECT pg_advisory_xact_lock(hashtextextended('slotline.msg:' || $1, 0))",
        &[&message_id],
    )
    .await?;
    Ok(())
}

pub async fn mark_sent(pg: &Pg, id: i64, message_id: &str) -> Result<(), DbError> {
    pg.write(async |tx| {
        lock_message(tx, message_id).await?;
        tx.execute_cached(
            "UPDATE outbox SET status = 'sent', telnyx_message_id = $2, last_error = NULL,
                lease_until_ms = NULL, unknown_since_ms = NULL, updated_at = $3
             WHERE id = $1 AND status = 'sending'",
            &[&id, &message_id, &now_s()],
        )
        .await?;
        let early = tx
            .query_cached(
                "SELECT status, detail FROM messaging_events
                 WHERE telnyx_message_id = $1 AND status IS NOT NULL",
                &[&message_id],
            )
            .await?;
        for r in early {
            let (status, detail): (String, Option<String>) = (r.get(0), r.get(1));
            apply_delivery_status(tx, message_id, &status, detail.as_deref()).await?;
        }
        Ok(())
    })
    .await
}

/// Moves the text sent as `message_id` forward to `status` (`sent`, `delivered` or
/// `failed`), never backwards, and queues its `message.*` webhook event with it; whether
/// a row changed. Runs in the caller's transaction (the inbound webhook's handling).
pub async fn apply_delivery_status(
    tx: &impl GenericClient,
    message_id: &str,
    status: &str,
    detail: Option<&str>,
) -> Result<bool, DbError> {
    let from: &[&str] = match status {
        "sent" => &["sending"],
        "delivered" | "failed" => &["sending", "sent"],
        _ => return Ok(false),
    };
    let now = now_s();
    let n = tx
        .execute_cached(
            "UPDATE outbox SET status = $2, last_error = COALESCE($3, last_error), updated_at = $4
             WHERE telnyx_message_id = $1 AND status = ANY($5)",
            &[&message_id, &status, &detail, &now, &from],
        )
        .await?;
    if n > 0 {
        super::events::message_event(tx, message_id, status, detail, now).await?;
    }
    Ok(n > 0)
}
