//! The first answer of a call (voice URL): find the tenant by the dialled number and ask
//! for the booking details with an `<AIGather>`.

use jiff::Timestamp;
use serde::Deserialize;

use super::{FlowError, gather::ask_doc};
use crate::{
    booking::today_local,
    calllog::CallStart,
    directory::Entry,
    domain::{PhoneNumber, mask},
    startup::AppState,
    texml::{Texml, docs::render::DocValues, templates::SayDoc},
    token::{Claims, LIFETIME_SECONDS},
};

/// Said to callers of a number no tenant owns.
pub const UNKNOWN_NUMBER: &str = "Sorry, this number is not set up to take bookings. Goodbye.";

/// The voice-URL fields slotline uses (PROTOCOL.md §1); others are ignored. `Debug`
/// masks the numbers.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VoiceRequest {
    /// The call id, which state tokens are bound to.
    pub call_sid: String,
    /// Caller.
    #[serde(default)]
    pub from: Option<String>,
    /// Dialled number: selects the tenant.
    #[serde(default)]
    pub to: Option<String>,
}

impl std::fmt::Debug for VoiceRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::domain::redact::Masked;
        f.debug_struct("VoiceRequest")
            .field("call_sid", &self.call_sid)
            .field("from", &Masked(self.from.as_deref()))
            .field("to", &Masked(self.to.as_deref()))
            .finish()
    }
}

/// Answers the voice URL.
pub async fn answer(state: &AppState, req: VoiceRequest) -> Result<Texml, FlowError> {
    let now = state.clock.now();
    let to = req.to.as_deref().and_then(|t| PhoneNumber::parse(t).ok());
    let entry = match to {
        Some(number) => state.directory.by_phone(&state.store, &number).await?,
        None => None,
    };
    let Some(entry) = entry else {
        tracing::warn!(to = %mask(req.to.as_deref().unwrap_or_default()), "call to a number no tenant owns");
        return Ok(Texml::render(&SayDoc {
            voice: None,
            message: UNKNOWN_NUMBER,
            transfer: None,
            caller_id: "",
        }));
    };
    let tenant = &entry.tenant;
    tracing::info!(tenant = tenant.id, call = %req.call_sid, from = %mask(req.from.as_deref().unwrap_or_default()), "call answered");
    let first = first(state, &entry, &req.call_sid, now);
    // For stats and the calls page, written in batches off the request path.
    state.calls.record(CallStart {
        call_sid: req.call_sid.clone(),
        tenant_id: tenant.id,
        from: req.from.clone(),
        to: req.to.clone(),
        at: now.as_second(),
        said: first.said,
        documents: first.documents,
    });
    Ok(first.doc)
}

/// The first answer of a call, and what the caller hears of it.
struct First {
    doc: Texml,
    /// The greeting, or the lines of `closed.xml`.
    said: String,
    /// `closed.xml` as served ([`crate::texml::docs::used`]), when it was.
    documents: Option<String>,
}

/// The first answer for a known tenant: `closed.xml` while it is marked closed, otherwise
/// the booking `<AIGather>`. Writes nothing (also used by `texml preview`).
pub fn first_answer(state: &AppState, entry: &Entry, call_sid: &str, now: Timestamp) -> Texml {
    first(state, entry, call_sid, now).doc
}

fn first(state: &AppState, entry: &Entry, call_sid: &str, now: Timestamp) -> First {
    let tenant = &entry.tenant;
    if tenant.spec.closed {
        tracing::info!(tenant = tenant.id, call = %call_sid, "tenant is closed; answered closed.xml");
        let values = DocValues::for_tenant(&tenant.spec);
        let (doc, used) = state
            .docs
            .serve_used(Some(&tenant.spec.slug), "closed", &values);
        return First {
            said: crate::call::heard::spoken_lines(doc.as_str()).join("\n"),
            documents: Some(used),
            doc,
        };
    }
    let claims = Claims::first(tenant.id, now.as_second() + LIFETIME_SECONDS);
    let today = today_local(now, &entry.rules.tz);
    First {
        doc: ask_doc(
            state,
            tenant,
            &claims,
            call_sid,
            &entry.greeting,
            &[],
            &entry.parameters(today),
        ),
        said: entry.greeting.clone(),
        documents: None,
    }
}
