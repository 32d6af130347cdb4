//! `slotline texml preview`: the document a caller of a tenant would get at one step, built
//! by the same functions that answer Telnyx, without writing anything about a call.

use jiff::{Timestamp, civil::DateTime};

use super::{FlowError, gather, voice};
use crate::{
    booking::today_local,
    cli::PreviewStep,
    db::tenants::Tenant,
    startup::AppState,
    texml::{Texml, docs::render::DocValues, templates::HistoryMessage},
    token::{Claims, LIFETIME_SECONDS, Step},
};

/// The CallSid state tokens are bound to in a preview.
pub const PREVIEW_CALL_SID: &str = "preview";

/// What the caller hears after an answer slotline could not read (the `gather` step).
pub const UNREADABLE: &str = "Sorry, I didn't catch all of that.";

/// Reads `--at` (`YYYY-MM-DDTHH:MM`, seconds optional) as a local time in `timezone`.
pub fn local_instant(at: &str, timezone: &str) -> Result<Timestamp, String> {
    let civil: DateTime = at.trim().parse().map_err(|e| {
        format!("--at {at:?} is not a local date and time; use e.g. 2026-11-24T15:00 ({e})")
    })?;
    let tz = crate::tzdb::get(timezone).map_err(|e| e.to_string())?;
    civil
        .to_zoned(tz)
        .map(|z| z.timestamp())
        .map_err(|e| format!("--at {at:?} in {timezone}: {e}"))
}

/// The document tenant `tenant` answers at `step`, at the state's clock.
pub fn document(state: &AppState, tenant: &Tenant, step: PreviewStep) -> Result<Texml, FlowError> {
    let now = state.clock.now();
    let spec = &tenant.spec;
    match step {
        PreviewStep::Voice => {
            let entry = crate::directory::Entry::new(tenant.clone())?;
            Ok(voice::first_answer(state, &entry, PREVIEW_CALL_SID, now))
        }
        PreviewStep::Fallback => {
            Ok(state
                .docs
                .serve(Some(&spec.slug), "fallback", &DocValues::for_tenant(spec)))
        }
        PreviewStep::Closed => {
            Ok(state
                .docs
                .serve(Some(&spec.slug), "closed", &DocValues::for_tenant(spec)))
        }
        PreviewStep::Gather => {
            let rules = super::rules_for(tenant)?;
            let claims = Claims {
                step: Step::Gather,
                attempt: 2,
                turn: 2,
                ..Claims::first(tenant.id, now.as_second() + LIFETIME_SECONDS)
            };
            let greeting = gather::reprompt_line(spec, UNREADABLE);
            let history = [HistoryMessage {
                role: "assistant",
                content: greeting.clone(),
            }];
            Ok(gather::gather_doc(
                state,
                tenant,
                &claims,
                PREVIEW_CALL_SID,
                &greeting,
                &history,
                today_local(now, &rules.tz),
                &[],
            ))
        }
    }
}
