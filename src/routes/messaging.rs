//! The messaging surface: Telnyx's messaging webhooks (`POST /messaging/webhook`, signed,
//! answered 200 JSON at once; the work is one small transaction) and the operators' view
//! of a tenant's texts (`GET /tenants/{id}/messages`), so failed texts are visible.

use poem::{
    handler,
    http::StatusCode,
    web::{Data, Json, Path},
};
use serde_json::{Value, json};

use super::admin::Admin;
use crate::{
    db,
    error::AppError,
    signature::Verified,
    sms::inbound::{self, InboundError},
    startup::AppState,
};

/// Most texts listed by `GET /tenants/{id}/messages`.
const LIST_LIMIT: usize = 500;

/// `POST /messaging/webhook`: delivery status, STOP/START and `C` replies.
#[handler]
pub async fn webhook(state: Data<&AppState>, body: Verified) -> poem::Result<Json<Value>> {
    match inbound::handle(&state, &body.body).await {
        Ok(outcome) => Ok(Json(json!({"status": "ok", "outcome": outcome.as_str()}))),
        Err(InboundError::BadPayload(e)) => {
            let error = crate::domain::redact::scrub(&e);
            tracing::warn!(%error, "refused a messaging webhook");
            Err(poem::Error::from_string(
                format!("not a Telnyx messaging webhook: {e}"),
                StatusCode::BAD_REQUEST,
            ))
        }
        Err(InboundError::Db(e)) => {
            // 500 makes Telnyx deliver it again; the event id was not recorded.
            tracing::error!(error = %e, "messaging webhook failed");
            Err(poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

/// `GET /tenants/{id}/messages`: the tenant's texts, newest first, with status, attempts,
/// the last error and the words sent (or recorded in dry run).
#[handler]
pub async fn list_messages(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Json<Value>> {
    let tenant_id = super::admin::find(&state, id).await?.id;
    let rows = state
        .db
        .run(move |c| db::outbox::list(c, tenant_id, LIST_LIMIT))
        .await
        .map_err(AppError::from)?;
    let list = rows
        .into_iter()
        .map(|r| {
            let mut v = serde_json::to_value(&r).unwrap_or_default();
            v["due"] = jiff::Timestamp::from_second(r.due_at)
                .map(|t| t.to_string())
                .unwrap_or_default()
                .into();
            v
        })
        .collect();
    Ok(Json(Value::Array(list)))
}
