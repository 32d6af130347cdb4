//! Webhook endpoints of a tenant (`/tenants/{id}/webhooks…`): create (the secret is shown
//! only then and at rotation), list, delete, rotate, and each endpoint's delivery history.
//! Thin: parse and check the URL (`webhooks::address`), call `db`, answer JSON.

use poem::{
    handler,
    http::StatusCode,
    web::{Data, Json, Path, Query},
};
use serde_json::Value;

use super::{
    admin::{Admin, find, json_body},
    paging,
};
use crate::{
    body::AdminBody,
    db::{self, webhooks::EVENT_TYPES},
    domain::FieldError,
    error::AppError,
    startup::AppState,
    webhooks::{address, sign},
};

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid(FieldError {
        field: field.into(),
        message: message.into(),
    })
}

fn endpoint_error(e: db::DbError) -> AppError {
    match e {
        db::DbError::NotFound => {
            AppError::NotFound("no webhook endpoint with that id for this tenant".into())
        }
        other => other.into(),
    }
}

/// The endpoint as JSON, with its secret when one was just made.
fn endpoint_json(e: &db::webhooks::Endpoint, secret: Option<String>) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(secret) = secret {
        v["secret"] = secret.into();
    }
    v
}

/// The `events` list: known types, at least one, no repeats.
pub fn parse_events(v: Option<&Value>) -> Result<Vec<String>, AppError> {
    let all = EVENT_TYPES.join(", ");
    let Some(Value::Array(given)) = v else {
        return Err(invalid(
            "events",
            format!("give the events to send as a list, from: {all}"),
        ));
    };
    if given.is_empty() {
        return Err(invalid(
            "events",
            format!("the list is empty; name at least one of: {all}"),
        ));
    }
    let mut events = Vec::new();
    for item in given {
        let name = item.as_str().unwrap_or_default();
        if !EVENT_TYPES.contains(&name) {
            return Err(invalid(
                "events",
                format!("{item} is not an event type; use any of: {all}"),
            ));
        }
        if !events.iter().any(|e| e == name) {
            events.push(name.to_string());
        }
    }
    Ok(events)
}

/// `POST /tenants/{id}/webhooks` `{"url": "https://…", "events": [...]}`: 201 with the
/// endpoint and its `whsec_` secret, shown only now.
#[handler]
pub async fn create(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
    AdminBody(body): AdminBody,
) -> poem::Result<(StatusCode, Json<Value>)> {
    let tenant = find(&state, id).await?;
    let body = json_body(body).await?;
    let Some(body) = body.as_object() else {
        return Err(AppError::BadJson(
            "send a JSON object such as {\"url\": \"https://hooks.example.com/slotline\", \"events\": [\"appointment.booked\"]}".into(),
        )
        .into());
    };
    if let Some(unknown) = body
        .keys()
        .find(|k| !["url", "events"].contains(&k.as_str()))
    {
        return Err(invalid(
            unknown,
            format!("{unknown:?} is not a webhook field; use url and events"),
        )
        .into());
    }
    let Some(url) = body.get("url").and_then(Value::as_str) else {
        return Err(invalid(
            "url",
            "give the endpoint's https:// URL, e.g. \"https://hooks.example.com/slotline\"",
        )
        .into());
    };
    let events = parse_events(body.get("events"))?;
    let (endpoint, secret) = create_endpoint(&state, tenant.id, url, events).await?;
    Ok((
        StatusCode::CREATED,
        Json(endpoint_json(&endpoint, Some(secret))),
    ))
}

/// Creates an endpoint of tenant `tenant_id` at `url` (checked: https, public) for
/// `events` (already parsed); answers it and its `whsec_` secret, shown only now.
pub async fn create_endpoint(
    state: &AppState,
    tenant_id: i64,
    url: &str,
    events: Vec<String>,
) -> Result<(db::webhooks::Endpoint, String), AppError> {
    let url = address::check(url, state.settings.webhooks_allow_private)
        .await
        .map_err(|e| invalid("url", e))?
        .to_string();
    let secret = sign::new_secret();
    let (now, stored_secret) = (state.clock.now().as_second(), secret.clone());
    let endpoint = state
        .store
        .webhooks()
        .create_endpoint(tenant_id, url, events, stored_secret, now)
        .await?;
    tracing::info!(
        tenant = tenant_id,
        endpoint = endpoint.id,
        "webhook endpoint created"
    );
    Ok((endpoint, secret))
}

/// `GET /tenants/{id}/webhooks`: the endpoints (no secrets), with any failure streak and
/// why an endpoint was disabled.
#[handler]
pub async fn list(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Json<Value>> {
    let tenant_id = find(&state, id).await?.id;
    let list = state
        .store
        .webhooks()
        .list_endpoints(tenant_id)
        .await
        .map_err(AppError::from)?;
    Ok(Json(list.iter().map(|e| endpoint_json(e, None)).collect()))
}

/// `DELETE /tenants/{id}/webhooks/{w}`: 204; nothing more is sent there.
#[handler]
pub async fn delete(
    _: Admin,
    state: Data<&AppState>,
    Path((id, endpoint)): Path<(String, i64)>,
) -> poem::Result<StatusCode> {
    let tenant_id = find(&state, id).await?.id;
    state
        .store
        .webhooks()
        .delete_endpoint(tenant_id, endpoint)
        .await
        .map_err(endpoint_error)?;
    tracing::info!(tenant = tenant_id, endpoint, "webhook endpoint deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /tenants/{id}/webhooks/{w}/rotate`: a new secret (shown only now) signs every
/// delivery from now on.
#[handler]
pub async fn rotate(
    _: Admin,
    state: Data<&AppState>,
    Path((id, endpoint)): Path<(String, i64)>,
) -> poem::Result<Json<Value>> {
    let tenant_id = find(&state, id).await?.id;
    let (e, secret) = rotate_endpoint(&state, tenant_id, endpoint).await?;
    Ok(Json(endpoint_json(&e, Some(secret))))
}

/// Gives endpoint `endpoint` of tenant `tenant_id` a new secret, which signs every
/// delivery from now on; answers it (shown only now).
pub async fn rotate_endpoint(
    state: &AppState,
    tenant_id: i64,
    endpoint: i64,
) -> Result<(db::webhooks::Endpoint, String), AppError> {
    let secret = sign::new_secret();
    let stored_secret = secret.clone();
    let e = state
        .store
        .webhooks()
        .rotate_endpoint(tenant_id, endpoint, stored_secret)
        .await
        .map_err(endpoint_error)?;
    tracing::info!(tenant = tenant_id, endpoint, "webhook secret rotated");
    Ok((e, secret))
}

/// `POST /tenants/{id}/webhooks/{w}/enable`: an endpoint disabled for failing is sent
/// events again (its failure streak starts over).
#[handler]
pub async fn enable(
    _: Admin,
    state: Data<&AppState>,
    Path((id, endpoint)): Path<(String, i64)>,
) -> poem::Result<Json<Value>> {
    let tenant_id = find(&state, id).await?.id;
    let e = state
        .store
        .webhooks()
        .enable_endpoint(tenant_id, endpoint)
        .await
        .map_err(endpoint_error)?;
    tracing::info!(tenant = tenant_id, endpoint, "webhook endpoint enabled");
    Ok(Json(endpoint_json(&e, None)))
}

/// `GET /tenants/{id}/webhooks/{w}/deliveries?limit=`: the newest deliveries, each with
/// its status and every attempt (HTTP status, error, duration).
#[handler]
pub async fn deliveries(
    _: Admin,
    state: Data<&AppState>,
    Path((id, endpoint)): Path<(String, i64)>,
    Query(query): Query<Vec<(String, String)>>,
) -> poem::Result<Json<Value>> {
    let tenant_id = find(&state, id).await?.id;
    let limit = paging::limit(paging::arg(&query, "limit"))?;
    let rows = state
        .store
        .webhooks()
        .deliveries(tenant_id, endpoint, limit)
        .await
        .map_err(endpoint_error)?;
    Ok(Json(serde_json::to_value(rows).unwrap_or_default()))
}
