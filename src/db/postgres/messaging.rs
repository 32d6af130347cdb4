//! Opt-outs and handled messaging webhook events on PostgreSQL ([`crate::db::messaging`]
//! is the interface). Each function runs on a connection or transaction the caller holds,
//! so changes that compose them (the inbound webhook's handling, queueing a text, a
//! refused send) run them in their own transaction.

use super::cached::Cached;
use deadpool_postgres::{GenericClient, Transaction};

use crate::{
    db::{
        DbError,
        messaging::{Inbound, Received, ReplyPlan},
        tenants::Tenant,
    },
    sms::Kind,
};

/// True when `number` has opted out of texts on `profile` (any opt-out of the number
/// when the profile is unknown; an opt-out without a profile blocks every profile).
pub(crate) async fn is_opted_out(
    c: &impl GenericClient,
    number: &str,
    profile: Option<&str>,
) -> Result<bool, DbError> {
    Ok(c.query_one_cached(
        "SELECT EXISTS (SELECT 1 FROM sms_opt_outs WHERE number = $1
            AND ($2::text IS NULL OR messaging_profile_id = $2 OR messaging_profile_id = ''))",
        &[&number, &profile],
    )
    .await?
    .get(0))
}

/// Records that `number` opted out on `profile` and skips every text still queued to it
/// there; how many were skipped.
pub(crate) async fn record_opt_out(
    tx: &impl GenericClient,
    number: &str,
    profile: Option<&str>,
    now: i64,
) -> Result<usize, DbError> {
    tx.execute_cached(
        "INSERT INTO sms_opt_outs (number, messaging_profile_id, opted_out_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
        &[&number, &profile.unwrap_or_default(), &now],
    )
    .await?;
    let skipped = tx
        .execute_cached(
            "UPDATE outbox SET status = 'skipped', last_error = 'recipient opted out (STOP)',
                updated_at = $3
             WHERE to_number = $1 AND status = 'queued'
               AND ($2::text IS NULL OR messaging_profile_id IS NULL OR messaging_profile_id = $2)",
            &[&number, &profile, &now],
        )
        .await?;
    Ok(skipped as usize)
}

/// Lifts an opt-out (START), and one recorded without a profile.
pub(crate) async fn lift_opt_out(
    tx: &impl GenericClient,
    number: &str,
    profile: Option<&str>,
) -> Result<(), DbError> {
    tx.execute_cached(
        "DELETE FROM sms_opt_outs
         WHERE number = $1 AND (messaging_profile_id = $2 OR messaging_profile_id = '')",
        &[&number, &profile.unwrap_or_default()],
    )
    .await?;
    Ok(())
}

/// Remembers a messaging webhook event; false when it was handled before (by any node).
pub(crate) async fn record_event(
    tx: &impl GenericClient,
    event_id: &str,
    event_type: &str,
    message_id: Option<&str>,
    status: Option<&str>,
    detail: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    Ok(tx
        .execute_cached(
            "INSERT INTO messaging_events (event_id, event_type, telnyx_message_id, status,
                detail, received_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[&event_id, &event_type, &message_id, &status, &detail, &now],
        )
        .await?
        == 1)
}

/// An inbound text inside `tx` (see [`crate::db::messaging::Messaging::received`]).
pub(crate) async fn received(
    tx: &Transaction<'_>,
    id: &str,
    kind: &str,
    text: Option<&Inbound>,
    at: i64,
    plan: impl FnOnce(&Tenant) -> ReplyPlan,
) -> Result<Received, DbError> {
    if !record_event(tx, id, kind, None, None, None, at).await? {
        return Ok(Received::Duplicate);
    }
    let Some(text) = text else {
        return Ok(Received::Ignored);
    };
    let customer = text.customer.as_str();
    let profile = text.profile.as_deref();
    Ok(match text.keyword.as_deref() {
        Some("STOP") => {
            record_opt_out(tx, customer, profile, at).await?;
            Received::OptedOut
        }
        Some("START" | "UNSTOP") => {
            lift_opt_out(tx, customer, profile).await?;
            Received::OptedIn
        }
        Some(_) => Received::Ignored,
        None if text.wants_cancel => {
            match super::tenants::for_reply(tx, &text.line, customer, at).await? {
                None => Received::Ignored,
                Some(tenant) => {
                    let plan = plan(&tenant);
                    let profile = plan.profile.as_deref();
                    match super::text_plans::next_appointment_of(tx, tenant.id, customer, at)
                        .await?
                    {
                        Some(appointment) => {
                            super::appointments::cancel_appointment(tx, appointment).await?;
                            super::text_plans::queue_one(
                                tx,
                                tenant.id,
                                Some(appointment),
                                Kind::Cancelled,
                                customer,
                                &plan.from,
                                profile,
                                None,
                                at,
                            )
                            .await?;
                            Received::Cancelled(appointment)
                        }
                        None => {
                            super::text_plans::queue_one(
                                tx,
                                tenant.id,
                                None,
                                Kind::Reply,
                                customer,
                                &plan.from,
                                profile,
                                Some(&plan.no_booking),
                                at,
                            )
                            .await?;
                            Received::NoBooking
                        }
                    }
                }
            }
        }
        None => Received::Ignored,
    })
}
