//! The messaging surface: Telnyx's messaging webhooks (`POST /messaging/webhook`, signed,
//! answered 200 JSON at once; the work is one small transaction) and the operators' view
//! of a tenant's texts (`GET /tenants/{id}/messages`), so failed texts are visible.

use poem::{
    handler,
    http::StatusCode,
    web::{Data, Json, Path, Query},
};
use serde_json::{Value, json};

use super::{admin::Admin, paging};
use crate::{
    db,
    error::AppError,
    signature::Verified,
    sms::inbound::{self, InboundError},
    startup::AppState,
};

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

/// `GET /tenants/{id}/messages?appointment=&limit=&cursor=`: one page of the tenant's
/// texts, newest first, with status, attempts, the last error and the words sent (or
/// recorded in dry run). Rows become JSON on the blocking pool, off the serving threads.
#[handler]
pub async fn list_messages(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    req: &poem::Request,
) -> poem::Result<poem::Response> {
    let tenant_id = super::admin::find(&state, id).await?.id;
    let arg = |name: &str| paging::arg(&query, name);
    let appointment_id = arg("appointment")
        .map(|raw| {
            raw.parse::<i64>().map_err(|_| {
                AppError::Invalid(crate::domain::FieldError {
                    field: "appointment".into(),
                    message: format!("{raw:?} is not an appointment id"),
                })
            })
        })
        .transpose()?;
    let limit = paging::limit(arg("limit"))?;
    let page = db::outbox::ListQuery {
        appointment_id,
        before: paging::parse_cursor(arg("cursor"))?,
        // One more than the page, to know whether there is a next one.
        limit: limit + 1,
    };
    let rows = state
        .store
        .outbox()
        .list(tenant_id, page)
        .await
        .map_err(AppError::from)?;
    let (list, next) = tokio::task::spawn_blocking(move || {
        let (rows, next) = paging::split(rows, limit, |r| (r.due_at, r.id));
        (paging::with_time(rows, "due", |r| r.due_at), next)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(paging::answer(list, next, req.uri().path(), &query))
}

/// `POST /tenants/{id}/messages/{msg}/requeue`: a failed text goes back to the queue with
/// its attempts reset and is sent again; 409 (field `status`) when it is not failed.
#[handler]
pub async fn requeue(
    _: Admin,
    state: Data<&AppState>,
    Path((id, msg)): Path<(String, i64)>,
) -> poem::Result<Json<Value>> {
    let tenant_id = super::admin::find(&state, id).await?.id;
    let now = state.clock.now().as_second();
    state
        .store
        .outbox()
        .requeue_failed(tenant_id, msg, now)
        .await
        .map_err(|e| match e {
            db::DbError::NotFound => AppError::NotFound("this tenant has no such text".into()),
            other => other.into(),
        })?;
    state.outbox.notify_one();
    tracing::info!(tenant = tenant_id, text = msg, "failed text requeued");
    Ok(Json(json!({"id": msg, "status": "queued"})))
}
