//! Status callbacks: call progress and end, kept for stats.

use std::collections::HashMap;

use super::FlowError;
use crate::{db::calls::StatusUpdate, domain::PhoneNumber, signature::Verified, startup::AppState};

/// Stores one status callback.
pub async fn record(state: &AppState, body: &Verified) -> Result<(), FlowError> {
    let form: HashMap<String, String> = body
        .form()
        .map_err(|e| FlowError::BadRequest(e.to_string()))?;
    let get = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let Some(call_sid) = get("CallSid") else {
        return Err(FlowError::BadRequest(
            "status callback without CallSid".into(),
        ));
    };
    let update = StatusUpdate {
        call_sid,
        status: get("CallStatus").unwrap_or_else(|| "unknown".into()),
        duration_seconds: get("CallDuration").and_then(|d| d.parse().ok()),
        direction: get("Direction"),
        from: get("From"),
        to: get("To").map(|t| {
            PhoneNumber::parse(&t)
                .map(|p| p.as_str().to_string())
                .unwrap_or(t)
        }),
    };
    let now = state.clock.now().as_second();
    state.store.calls().record_status(update, now).await?;
    Ok(())
}
