//! The first answer of a call (voice URL): find the tenant by the dialled number and ask
//! for the booking details with an `<AIGather>`.

use jiff::Timestamp;
use serde::Deserialize;

use super::{FlowError, gather::gather_doc};
use crate::{
    booking::today_local,
    db::{self, tenants::Tenant},
    domain::{PhoneNumber, mask},
    startup::AppState,
    texml::{Texml, docs::render::DocValues, templates::SayDoc},
    token::{Claims, LIFETIME_SECONDS, Step},
    wording::{self, Values},
};

/// Said to callers of a number no tenant owns.
pub const UNKNOWN_NUMBER: &str = "Sorry, this number is not set up to take bookings. Goodbye.";

/// The voice-URL fields slotline uses (PROTOCOL.md §1); others are ignored.
#[derive(Debug, Deserialize)]
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

/// Answers the voice URL.
pub async fn answer(state: &AppState, req: VoiceRequest) -> Result<Texml, FlowError> {
    let now = state.clock.now();
    let to = req.to.as_deref().and_then(|t| PhoneNumber::parse(t).ok());
    let tenant = match to {
        Some(number) => {
            state
                .db
                .run(move |c| db::tenants::by_phone(c, &number))
                .await?
        }
        None => None,
    };
    let Some(tenant) = tenant else {
        tracing::warn!(to = %mask(req.to.as_deref().unwrap_or_default()), "call to a number no tenant owns");
        return Ok(Texml::render(&SayDoc {
            voice: None,
            message: UNKNOWN_NUMBER,
            transfer: None,
            caller_id: "",
        }));
    };
    tracing::info!(tenant = tenant.id, call = %req.call_sid, from = %mask(req.from.as_deref().unwrap_or_default()), "call answered");
    {
        let (sid, tid, from, to) = (
            req.call_sid.clone(),
            tenant.id,
            req.from.clone(),
            req.to.clone(),
        );
        let secs = now.as_second();
        // Stats only: a failure here must not cost the caller the booking.
        if let Err(e) = state
            .db
            .write(move |c| {
                db::calls::record_start(c, &sid, Some(tid), from.as_deref(), to.as_deref(), secs)
            })
            .await
        {
            tracing::error!(error = %e, "could not record the call");
        }
    }
    first_answer(state, &tenant, &req.call_sid, now)
}

/// What a call to `tenant` hears first: the booking `<AIGather>`, or `closed.xml` while
/// the tenant is marked closed. Writes nothing (`texml preview` shows it).
pub fn first_answer(
    state: &AppState,
    tenant: &Tenant,
    call_sid: &str,
    now: Timestamp,
) -> Result<Texml, FlowError> {
    if tenant.spec.closed {
        tracing::info!(tenant = tenant.id, call = %call_sid, "tenant is closed; answered closed.xml");
        let values = DocValues::for_tenant(&tenant.spec);
        return Ok(state.docs.serve(Some(&tenant.spec.slug), "closed", &values));
    }
    let rules = super::rules_for(tenant)?;
    let claims = Claims {
        tenant_id: tenant.id,
        step: Step::Gather,
        attempt: 1,
        expires_at: now.as_second() + LIFETIME_SECONDS,
    };
    let today = today_local(now, &rules.tz);
    let greeting = wording::fill(&tenant.spec.greeting, &Values::business(&tenant.spec.name));
    Ok(gather_doc(
        state,
        tenant,
        &claims,
        call_sid,
        &greeting,
        &[],
        today,
        &[],
    ))
}
