//! Messaging webhooks (`POST /messaging/webhook`), after the signature check. Each event is
//! handled in one transaction together with recording its id, so a duplicate delivery is
//! recognised and changes nothing.
//!
//! - `message.sent` / `message.finalized`: move the text's status forward (see
//!   `db::outbox::apply_delivery_status`); an event for a message id not recorded yet
//!   first settles a text held with an unknown outcome that went to/from the same numbers
//!   with the same words (`db::outbox::adopt_held`), else is kept and applied when the send
//!   is recorded.
//! - `message.received` to a tenant's number: `autoresponse_type` STOP records the opt-out
//!   (queued texts to that number become `skipped`), START lifts it; a text that is `C`
//!   (any case, spaces ignored) cancels the sender's next appointment with that tenant and
//!   queues a short confirmation. "That tenant" is the one that last texted the sender
//!   from the number it replied to (its `phone_number` or its `sms_from`, which tenants
//!   may share; see `db::tenants::for_reply`). Anything else is acknowledged and ignored.

use jiff::Timestamp;
use serde::Deserialize;

use super::{reminders, texts};
use crate::{
    db::{self, DbError},
    domain::{PhoneNumber, mask},
    startup::AppState,
};

/// The webhook envelope (`{"data": {...}, "meta": {...}}`).
#[derive(Debug, Deserialize)]
pub struct Webhook {
    /// The event.
    pub data: Event,
}

/// One messaging event.
#[derive(Debug, Deserialize)]
pub struct Event {
    /// `message.sent`, `message.finalized`, `message.received`, ...
    pub event_type: String,
    /// Event id (the de-duplication key).
    pub id: String,
    /// The message.
    #[serde(default)]
    pub payload: Payload,
}

/// The message an event is about (only the fields used).
#[derive(Debug, Default, Deserialize)]
pub struct Payload {
    /// Telnyx message id.
    #[serde(default)]
    pub id: Option<String>,
    /// Sender.
    #[serde(default)]
    pub from: Option<Party>,
    /// Recipients, with per-recipient status.
    #[serde(default)]
    pub to: Vec<Party>,
    /// Body of an inbound text.
    #[serde(default)]
    pub text: Option<String>,
    /// The messaging profile it went through.
    #[serde(default)]
    pub messaging_profile_id: Option<String>,
    /// `STOP`, `START`, `HELP`... when Telnyx matched an opt-in/out keyword.
    #[serde(default)]
    pub autoresponse_type: Option<String>,
    /// Delivery errors on `message.finalized`.
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

/// A number with its status.
#[derive(Debug, Default, Deserialize)]
pub struct Party {
    /// E.164 number.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// Delivery status (on `to`).
    #[serde(default)]
    pub status: Option<String>,
}

/// What an event did (reported in the webhook answer and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Seen before; nothing changed.
    Duplicate,
    /// A delivery status: whether a text moved forward.
    Status(bool),
    /// The number opted out.
    OptedOut,
    /// The number opted back in.
    OptedIn,
    /// `C` cancelled this appointment.
    Cancelled(i64),
    /// `C` from a number with no upcoming appointment.
    NoBooking,
    /// Not something slotline acts on.
    Ignored,
}

impl Outcome {
    /// A short name for the answer body.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Duplicate => "duplicate",
            Outcome::Status(true) => "status_updated",
            Outcome::Status(false) => "status_unchanged",
            Outcome::OptedOut => "opted_out",
            Outcome::OptedIn => "opted_in",
            Outcome::Cancelled(_) => "appointment_cancelled",
            Outcome::NoBooking => "no_booking",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Why an event could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// The body is not a messaging webhook (400).
    #[error("not a Telnyx messaging webhook: {0}")]
    BadPayload(String),
    /// Storage failed (500, so Telnyx retries).
    #[error(transparent)]
    Db(#[from] DbError),
}

/// True when an inbound text asks to cancel: `C`, any case, spaces ignored.
pub fn is_cancel_reply(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    compact.eq_ignore_ascii_case("c")
}

/// Handles one verified webhook body.
pub async fn handle(state: &AppState, body: &[u8]) -> Result<Outcome, InboundError> {
    let hook: Webhook =
        serde_json::from_slice(body).map_err(|e| InboundError::BadPayload(e.to_string()))?;
    let event = hook.data;
    let now = state.clock.now();
    let outcome = match event.event_type.as_str() {
        "message.sent" | "message.finalized" => delivery(state, event, now).await?,
        "message.received" => received(state, event, now).await?,
        _ => {
            let handled = db::messaging::Event {
                id: event.id,
                kind: event.event_type,
                message_id: None,
                status: None,
                detail: None,
            };
            state
                .store
                .messaging()
                .record_event(handled, now.as_second())
                .await?;
            Outcome::Ignored
        }
    };
    if matches!(outcome, Outcome::Cancelled(_) | Outcome::NoBooking) {
        state.outbox.notify_one();
    }
    Ok(outcome)
}

async fn delivery(state: &AppState, event: Event, now: Timestamp) -> Result<Outcome, DbError> {
    let Some(message_id) = event.payload.id.clone() else {
        return Ok(Outcome::Ignored);
    };
    let to_status = event.payload.to.first().and_then(|t| t.status.clone());
    let status = match (event.event_type.as_str(), to_status.as_deref()) {
        ("message.sent", _) => Some("sent"),
        (_, Some("delivered")) => Some("delivered"),
        (_, Some("sending_failed" | "delivery_failed")) => Some("failed"),
        _ => None, // delivery_unconfirmed: stays `sent`
    };
    let detail = event.payload.errors.first().map(|e| {
        let code = e
            .get("code")
            .map(|c| c.to_string().replace('"', ""))
            .unwrap_or_default();
        let title = e.get("title").and_then(|t| t.as_str()).unwrap_or_default();
        format!("delivery failed: {code} {title}")
            .trim()
            .to_string()
    });
    let p = &event.payload;
    let sent_as = match (
        p.to.first().and_then(|t| t.phone_number.clone()),
        p.from.as_ref().and_then(|f| f.phone_number.clone()),
        p.text.clone(),
    ) {
        (Some(to), Some(from), Some(text)) => Some((to, from, text)),
        _ => None,
    };
    let handled = db::messaging::Event {
        id: event.id,
        kind: event.event_type,
        message_id: Some(message_id),
        status: status.map(str::to_owned),
        detail,
    };
    let changed = state
        .store
        .messaging()
        .delivery(handled, sent_as, now.as_second())
        .await?;
    Ok(changed.map_or(Outcome::Duplicate, Outcome::Status))
}

async fn received(state: &AppState, event: Event, now: Timestamp) -> Result<Outcome, DbError> {
    let p = &event.payload;
    let tenant_number =
        p.to.first()
            .and_then(|t| t.phone_number.as_deref())
            .and_then(|n| PhoneNumber::parse(n).ok());
    let customer = p
        .from
        .as_ref()
        .and_then(|f| f.phone_number.as_deref())
        .and_then(|n| PhoneNumber::parse(n).ok());
    let keyword = p.autoresponse_type.as_deref().map(str::to_ascii_uppercase);
    let wants_cancel = p.text.as_deref().is_some_and(is_cancel_reply);
    let profile = p.messaging_profile_id.clone();
    let default_profile = state.settings.messaging_profile_id.clone();
    let text = match (tenant_number, customer) {
        (Some(line), Some(customer)) => Some(db::messaging::Inbound {
            line,
            customer: customer.as_str().to_owned(),
            keyword,
            wants_cancel,
            profile,
        }),
        _ => None,
    };
    let plan = move |tenant: &db::tenants::Tenant| db::messaging::ReplyPlan {
        from: reminders::sender(&tenant.spec).to_owned(),
        profile: reminders::profile(&tenant.spec, default_profile.as_deref()),
        no_booking: texts::no_booking(&tenant.spec.name, tenant.spec.phone_number.as_str()),
    };
    let received = state
        .store
        .messaging()
        .received(event.id, event.event_type, text, now.as_second(), plan)
        .await?;
    let outcome = match received {
        db::messaging::Received::Duplicate => Outcome::Duplicate,
        db::messaging::Received::Ignored => Outcome::Ignored,
        db::messaging::Received::OptedOut => Outcome::OptedOut,
        db::messaging::Received::OptedIn => Outcome::OptedIn,
        db::messaging::Received::Cancelled(id) => Outcome::Cancelled(id),
        db::messaging::Received::NoBooking => Outcome::NoBooking,
    };
    let from = p
        .from
        .as_ref()
        .and_then(|f| f.phone_number.as_deref())
        .map(mask)
        .unwrap_or_default();
    tracing::info!(from = %from, outcome = outcome.as_str(), "inbound text");
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_in_any_case_with_spaces_is_a_cancel_reply() {
        for yes in ["C", "c", " c ", "\tC\n"] {
            assert!(is_cancel_reply(yes), "{yes:?}");
        }
        for no in ["", "cc", "Can I move it to 4pm?", "CANCEL", "c."] {
            assert!(!is_cancel_reply(no), "{no:?}");
        }
    }

    #[test]
    fn the_fixtures_parse() {
        for name in [
            "message-webhook-sent.json",
            "message-webhook-finalized.json",
            "message-webhook-received.json",
            "message-webhook-received-stop.json",
        ] {
            let path = format!(
                "{}/tests/fixtures/telnyx/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            let hook: Webhook = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            assert!(hook.data.event_type.starts_with("message."));
            assert!(hook.data.payload.id.is_some());
        }
    }
}
