//! The texts a booking, move or cancellation plans, on PostgreSQL, inside that change's
//! transaction: the twins of the planning half of `db::outbox` (`queue_planned`,
//! `queue_one`, `cancel_texts_for`, `replan_texts_for`, `next_appointment_of`). The SMS
//! worker's side of the outbox is elsewhere.

use super::cached::Cached;
use deadpool_postgres::{GenericClient, Transaction};
use jiff::Timestamp;

use crate::{
    db::DbError,
    sms::{Kind, PlannedText, plan_texts},
};

/// Whether `number` opted out of texts on `profile` (twin of `db::messaging::is_opted_out`).
async fn is_opted_out(
    tx: &Transaction<'_>,
    number: &str,
    profile: Option<&str>,
) -> Result<bool, DbError> {
    Ok(tx
        .query_one_cached(
            "SELECT EXISTS (SELECT 1 FROM sms_opt_outs WHERE number = $1
                AND ($2::TEXT IS NULL OR messaging_profile_id = $2 OR messaging_profile_id = ''))",
            &[&number, &profile],
        )
        .await?
        .get(0))
}

/// Queues `texts` for an appointment, but none to a number that opted out nor twice for
/// one (appointment, kind, time), in one statement (the opt-outs are looked up in it).
/// Returns how many.
pub async fn queue_planned(
    tx: &Transaction<'_>,
    tenant_id: i64,
    appointment_id: i64,
    texts: &[PlannedText],
    now: i64,
) -> Result<usize, DbError> {
    if texts.is_empty() {
        return Ok(0);
    }
    let kinds: Vec<&str> = texts.iter().map(|t| t.kind.as_str()).collect();
    let to: Vec<&str> = texts.iter().map(|t| t.to.as_str()).collect();
    let from: Vec<&str> = texts.iter().map(|t| t.from.as_str()).collect();
    let profiles: Vec<Option<&str>> = texts
        .iter()
        .map(|t| t.messaging_profile_id.as_deref())
        .collect();
    let due: Vec<i64> = texts.iter().map(|t| t.due_at).collect();
    // Arrays rather than a VALUES list of the texts' number: one statement text whatever
    // the plan, prepared once per connection.
    Ok(tx
        .execute_cached(
            "INSERT INTO outbox (tenant_id, appointment_id, kind, to_number, from_number,
                messaging_profile_id, due_at, created_at, updated_at)
             SELECT $1, $2, v.kind, v.to_number, v.from_number, v.profile, v.due_at, $3, $3
             FROM UNNEST($4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::BIGINT[])
                  WITH ORDINALITY AS v (kind, to_number, from_number, profile, due_at, n)
             WHERE NOT EXISTS (SELECT 1 FROM sms_opt_outs o WHERE o.number = v.to_number
                 AND (v.profile IS NULL OR o.messaging_profile_id = v.profile
                      OR o.messaging_profile_id = ''))
             ORDER BY v.n
             ON CONFLICT DO NOTHING",
            &[
                &tenant_id,
                &appointment_id,
                &now,
                &kinds,
                &to,
                &from,
                &profiles,
                &due,
            ],
        )
        .await? as usize)
}

/// Queues one text outside any appointment plan: a `cancelled` or `moved` confirmation
/// (rendered when sent) or a `reply` whose `text` is fixed now. Nothing is queued to an
/// opted-out number; returns whether it was queued.
#[allow(clippy::too_many_arguments)]
pub async fn queue_one(
    tx: &Transaction<'_>,
    tenant_id: i64,
    appointment_id: Option<i64>,
    kind: Kind,
    to: &str,
    from: &str,
    profile: Option<&str>,
    text: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    if is_opted_out(tx, to, profile).await? {
        return Ok(false);
    }
    let n = tx
        .execute_cached(
            "INSERT INTO outbox (tenant_id, appointment_id, kind, to_number, from_number,
                messaging_profile_id, due_at, text, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $7)
             ON CONFLICT DO NOTHING",
            &[
                &tenant_id,
                &appointment_id,
                &kind.as_str(),
                &to,
                &from,
                &profile,
                &now,
                &text,
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Cancels the appointment's texts still waiting (confirmation, reminders, moved).
pub async fn cancel_texts_for(
    tx: &Transaction<'_>,
    appointment_id: i64,
    now: i64,
) -> Result<u64, DbError> {
    Ok(tx
        .execute_cached(
            "UPDATE outbox SET status = 'cancelled', last_error = 'appointment cancelled', updated_at = $2
             WHERE appointment_id = $1 AND status = 'queued' AND kind IN ('confirmation', 'reminder', 'moved')",
            &[&appointment_id, &now],
        )
        .await?)
}

/// Re-plans the appointment's reminders from its current start (it moved): waiting
/// reminders are cancelled and new ones queued by the usual rules
/// ([`crate::sms::plan_texts`] over the tenant as it is now). Returns how many are queued.
pub async fn replan_texts_for(
    tx: &Transaction<'_>,
    appointment_id: i64,
    default_profile: Option<&str>,
    now: i64,
) -> Result<usize, DbError> {
    tx.execute_cached(
        "UPDATE outbox SET status = 'cancelled', last_error = 'appointment moved', updated_at = $2
         WHERE appointment_id = $1 AND status = 'queued' AND kind = 'reminder'",
        &[&appointment_id, &now],
    )
    .await?;
    let (tenant_id, start, phone, status) = planned_from(tx, appointment_id).await?;
    if status != "booked" {
        return Ok(0);
    }
    let tenant = super::tenants::load(tx, tenant_id).await?;
    let (start, when) = (
        Timestamp::from_second(start).map_err(crate::db::tenants::corrupt)?,
        Timestamp::from_second(now).map_err(crate::db::tenants::corrupt)?,
    );
    let plan: Vec<PlannedText> =
        plan_texts(&tenant.spec, default_profile, phone.as_deref(), start, when)
            .into_iter()
            .filter(|t| t.kind == Kind::Reminder)
            .collect();
    queue_planned(tx, tenant_id, appointment_id, &plan, now).await
}

/// What an appointment's texts and calls are planned from: its tenant, start, customer
/// number and status.
pub(super) async fn planned_from(
    tx: &Transaction<'_>,
    appointment_id: i64,
) -> Result<(i64, i64, Option<String>, String), DbError> {
    let row = tx
        .query_opt_cached(
            "SELECT tenant_id, start_at, customer_phone, status FROM appointments WHERE id = $1",
            &[&appointment_id],
        )
        .await?
        .ok_or(DbError::NotFound)?;
    Ok((row.get(0), row.get(1), row.get(2), row.get(3)))
}

/// The next booked appointment of `customer` with the tenant that starts after `now`.
pub async fn next_appointment_of(
    c: &impl GenericClient,
    tenant_id: i64,
    customer: &str,
    now: i64,
) -> Result<Option<i64>, DbError> {
    Ok(c.query_opt_cached(
        "SELECT id FROM appointments WHERE tenant_id = $1 AND customer_phone = $2
               AND status = 'booked' AND start_at > $3 ORDER BY start_at, id LIMIT 1",
        &[&tenant_id, &customer, &now],
    )
    .await?
    .map(|r| r.get(0)))
}
