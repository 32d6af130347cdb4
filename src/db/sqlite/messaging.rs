//! Opt-outs and handled messaging webhook events on SQLite ([`crate::db::messaging`] is
//! the interface). Called inside other repository functions' transactions too (queueing
//! a text checks the opt-outs; the inbound webhook's handling records its event).
//!
//! Opt-outs are keyed by (number, messaging profile); a profile of '' (unknown) blocks the
//! number on every profile, and a text whose profile is unknown is blocked by any opt-out
//! of its number: when in doubt, do not text.

use rusqlite::{Connection, params};

use crate::{
    db::{
        DbError,
        messaging::{Event, Inbound, Received, ReplyPlan, SentAs},
        tenants::Tenant,
    },
    sms::Kind,
};

/// The profile key of an opt-out ('' when unknown).
fn profile_key(profile: Option<&str>) -> &str {
    profile.unwrap_or_default()
}

/// True when `number` has opted out of texts on `profile`.
pub fn is_opted_out(
    conn: &Connection,
    number: &str,
    profile: Option<&str>,
) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sms_opt_outs WHERE number = ?1
                AND (?2 IS NULL OR messaging_profile_id = ?2 OR messaging_profile_id = ''))",
        )?
        .query_row(params![number, profile], |r| r.get(0))?)
}

/// Records that `number` opted out on `profile`, and skips every text still queued to it
/// there. Returns how many queued texts were skipped.
pub fn record_opt_out(
    conn: &Connection,
    number: &str,
    profile: Option<&str>,
    now: i64,
) -> Result<usize, DbError> {
    conn.prepare_cached(
        "INSERT INTO sms_opt_outs (number, messaging_profile_id, opted_out_at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![number, profile_key(profile), now])?;
    Ok(conn
        .prepare_cached(
            "UPDATE outbox SET status = 'skipped', last_error = 'recipient opted out (STOP)', updated_at = ?3
             WHERE to_number = ?1 AND status = 'queued'
               AND (?2 IS NULL OR messaging_profile_id IS NULL OR messaging_profile_id = ?2)",
        )?
        .execute(params![number, profile, now])?)
}

/// Lifts an opt-out (the customer texted START). An opt-out recorded without a profile is
/// lifted too: the customer has just asked this line for texts.
pub fn lift_opt_out(conn: &Connection, number: &str, profile: Option<&str>) -> Result<(), DbError> {
    conn.prepare_cached(
        "DELETE FROM sms_opt_outs WHERE number = ?1 AND (messaging_profile_id = ?2 OR messaging_profile_id = '')",
    )?
    .execute(params![number, profile_key(profile)])?;
    Ok(())
}

/// Remembers a messaging webhook event; false when it was handled before (a duplicate).
pub fn record_event(
    conn: &Connection,
    event_id: &str,
    event_type: &str,
    message_id: Option<&str>,
    status: Option<&str>,
    detail: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO messaging_events (event_id, event_type, telnyx_message_id, status, detail, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        )?
        .execute(params![event_id, event_type, message_id, status, detail, now])?
        == 1)
}

/// A delivery webhook in one transaction (see [`crate::db::messaging::Messaging::delivery`]).
pub(crate) fn delivery(
    conn: &mut Connection,
    event: &Event,
    message_id: &str,
    sent_as: Option<&SentAs>,
    now: i64,
) -> Result<Option<bool>, DbError> {
    let tx = crate::db::begin(conn)?;
    let status = event.status.as_deref();
    if !record_event(
        &tx,
        &event.id,
        &event.kind,
        Some(message_id),
        status,
        event.detail.as_deref(),
        now,
    )? {
        return Ok(None);
    }
    let adopted = match sent_as {
        Some((to, from, text)) => crate::db::outbox::adopt_held(&tx, message_id, to, from, text)?,
        None => false,
    };
    let moved = match status {
        Some(s) => {
            crate::db::outbox::apply_delivery_status(&tx, message_id, s, event.detail.as_deref())?
        }
        None => false,
    };
    tx.commit()?;
    Ok(Some(adopted || moved))
}

/// An inbound text in one transaction (see [`crate::db::messaging::Messaging::received`]).
pub(crate) fn received(
    conn: &mut Connection,
    id: &str,
    kind: &str,
    text: Option<&Inbound>,
    at: i64,
    plan: impl FnOnce(&Tenant) -> ReplyPlan,
) -> Result<Received, DbError> {
    let tx = crate::db::begin(conn)?;
    if !record_event(&tx, id, kind, None, None, None, at)? {
        return Ok(Received::Duplicate);
    }
    let Some(text) = text else {
        tx.commit()?;
        return Ok(Received::Ignored);
    };
    let customer = text.customer.as_str();
    let profile = text.profile.as_deref();
    let received = match text.keyword.as_deref() {
        Some("STOP") => {
            record_opt_out(&tx, customer, profile, at)?;
            Received::OptedOut
        }
        Some("START" | "UNSTOP") => {
            lift_opt_out(&tx, customer, profile)?;
            Received::OptedIn
        }
        Some(_) => Received::Ignored,
        None if text.wants_cancel => {
            match crate::db::sqlite::tenants::for_reply(&tx, &text.line, customer, at)? {
                None => Received::Ignored,
                Some(tenant) => {
                    let plan = plan(&tenant);
                    let profile = plan.profile.as_deref();
                    match crate::db::outbox::next_appointment_of(&tx, tenant.id, customer, at)? {
                        Some(appointment) => {
                            crate::db::appointments::cancel_appointment(&tx, appointment)?;
                            crate::db::outbox::queue_one(
                                &tx,
                                tenant.id,
                                Some(appointment),
                                Kind::Cancelled,
                                customer,
                                &plan.from,
                                profile,
                                None,
                                at,
                            )?;
                            Received::Cancelled(appointment)
                        }
                        None => {
                            crate::db::outbox::queue_one(
                                &tx,
                                tenant.id,
                                None,
                                Kind::Reply,
                                customer,
                                &plan.from,
                                profile,
                                Some(&plan.no_booking),
                                at,
                            )?;
                            Received::NoBooking
                        }
                    }
                }
            }
        }
        None => Received::Ignored,
    };
    tx.commit()?;
    Ok(received)
}
