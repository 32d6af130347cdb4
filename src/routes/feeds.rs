//! Calendar feeds: the admin routes that create, list, rotate and revoke them
//! (`/tenants/{id}/feeds…`), and the public `GET /ics/{feed}/{secret}.ics` that calendar
//! apps poll. Thin: parse, call `feeds`/`db`, answer.

use poem::{
    IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Json, Path},
};
use serde_json::Value;

use super::admin::{Admin, find, json_body};
use crate::{
    agenda, body::AdminBody, calendar::Detail, db, domain::FieldError, error::AppError, feeds,
    startup::AppState,
};

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid(FieldError {
        field: field.into(),
        message: message.into(),
    })
}

fn no_feed() -> AppError {
    AppError::NotFound("no feed with that id for this tenant".into())
}

fn feed_error(e: db::DbError) -> AppError {
    match e {
        db::DbError::NotFound => no_feed(),
        other => other.into(),
    }
}

/// The feed as JSON, with its URL when the secret is at hand (creation and rotation only).
fn feed_json(feed: &db::feeds::Feed, url: Option<String>) -> Value {
    let mut v = serde_json::to_value(feed).unwrap_or_default();
    if let Some(url) = url {
        v["webcal_url"] = url
            .replacen("https://", "webcal://", 1)
            .replacen("http://", "webcal://", 1)
            .into();
        v["url"] = url.into();
    }
    v
}

/// `POST /tenants/{id}/feeds` `{"scope": "tenant" | "provider", "provider": "Anna",
/// "detail": "full" | "initials" | "busy"}`: 201 with the feed and its URL, shown only now.
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
            "send a JSON object such as {\"scope\": \"tenant\", \"detail\": \"full\"}".into(),
        )
        .into());
    };
    if let Some(unknown) = body
        .keys()
        .find(|k| !["scope", "provider", "detail"].contains(&k.as_str()))
    {
        return Err(invalid(
            unknown,
            format!("{unknown:?} is not a feed field; use scope, provider and detail"),
        )
        .into());
    }
    let text = |field: &str| -> Result<Option<&str>, AppError> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(invalid(field, format!("must be a string, not {other}"))),
        }
    };
    let (feed, url) = create_feed(
        &state,
        &tenant,
        text("scope")?,
        text("provider")?,
        text("detail")?,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(feed_json(&feed, Some(url)))))
}

/// Creates a feed of `tenant` from its `scope`, `provider` and `detail` as an operator gave
/// them (the API's JSON fields, the console's form fields), refusing a bad one by field;
/// answers the feed and its URL (shown only now).
pub async fn create_feed(
    state: &AppState,
    tenant: &db::tenants::Tenant,
    scope: Option<&str>,
    provider: Option<&str>,
    detail: Option<&str>,
) -> Result<(db::feeds::Feed, String), AppError> {
    let provider = match (scope, provider) {
        (Some("tenant"), None) => None,
        (Some("tenant"), Some(_)) => {
            return Err(invalid(
                "provider",
                "a tenant feed shows every provider; drop \"provider\" or use \"scope\": \"provider\"",
            ));
        }
        (Some("provider"), Some(name)) => {
            let i = agenda::provider_index(tenant, name).map_err(AppError::from)?;
            Some(tenant.provider_ids[i])
        }
        (Some("provider"), None) => {
            return Err(invalid(
                "provider",
                "a provider feed needs \"provider\": the provider's name, e.g. \"Anna\"",
            ));
        }
        (other, _) => {
            let got = other.map_or("nothing".to_string(), |s| format!("{s:?}"));
            return Err(invalid(
                "scope",
                format!(
                    "got {got}; use \"tenant\" (every provider) or \"provider\" (with \"provider\": \"Anna\")"
                ),
            ));
        }
    };
    let detail = match detail {
        None => Detail::Full,
        Some(d) => Detail::parse(d).ok_or_else(|| {
            invalid(
                "detail",
                format!("{d:?} is not a detail; use \"full\", \"initials\" or \"busy\""),
            )
        })?,
    };
    let (secret, hash) = feeds::new_secret();
    let (tenant_id, now) = (tenant.id, state.clock.now().as_second());
    let feed = state
        .store
        .feeds()
        .create(tenant_id, provider, detail.as_str(), hash, now)
        .await?;
    tracing::info!(
        tenant = tenant_id,
        feed = feed.id,
        detail = detail.as_str(),
        "calendar feed created"
    );
    let url = feeds::url(&state.settings.public_url, feed.id, &secret);
    Ok((feed, url))
}

/// `GET /tenants/{id}/feeds`: the feeds, without their secrets.
#[handler]
pub async fn list(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Json<Value>> {
    let tenant_id = find(&state, id).await?.id;
    let list = state
        .store
        .feeds()
        .list(tenant_id)
        .await
        .map_err(AppError::from)?;
    Ok(Json(list.iter().map(|f| feed_json(f, None)).collect()))
}

/// `DELETE /tenants/{id}/feeds/{feed}`: 204; the URL answers 404 from now on.
#[handler]
pub async fn revoke(
    _: Admin,
    state: Data<&AppState>,
    Path((id, feed)): Path<(String, i64)>,
) -> poem::Result<StatusCode> {
    let tenant_id = find(&state, id).await?.id;
    state
        .store
        .feeds()
        .delete(tenant_id, feed)
        .await
        .map_err(feed_error)?;
    tracing::info!(tenant = tenant_id, feed, "calendar feed revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /tenants/{id}/feeds/{feed}/rotate`: a new URL (shown only now); the old one is
/// dead at once.
#[handler]
pub async fn rotate(
    _: Admin,
    state: Data<&AppState>,
    Path((id, feed)): Path<(String, i64)>,
) -> poem::Result<Json<Value>> {
    let tenant_id = find(&state, id).await?.id;
    let (stored, url) = rotate_feed(&state, tenant_id, feed).await?;
    Ok(Json(feed_json(&stored, Some(url))))
}

/// Gives feed `feed` of tenant `tenant_id` a new secret; answers it and its new URL (shown
/// only now). The old URL is dead at once.
pub async fn rotate_feed(
    state: &AppState,
    tenant_id: i64,
    feed: i64,
) -> Result<(db::feeds::Feed, String), AppError> {
    let (secret, hash) = feeds::new_secret();
    let now = state.clock.now().as_second();
    let stored = state
        .store
        .feeds()
        .rotate(tenant_id, feed, hash, now)
        .await
        .map_err(feed_error)?;
    tracing::info!(tenant = tenant_id, feed, "calendar feed rotated");
    let url = feeds::url(&state.settings.public_url, stored.id, &secret);
    Ok((stored, url))
}

/// `GET /ics/{feed}/{secret}.ics`: the calendar, `text/calendar`, inline, with an ETag
/// (`If-None-Match` → 304) and `Cache-Control: private`. Unknown, revoked and rotated URLs
/// all answer 404; more than [`feeds::REQUESTS_PER_WINDOW`] requests a minute for one feed
/// answer 429.
#[handler]
pub async fn serve(
    state: Data<&AppState>,
    Path((feed, file)): Path<(String, String)>,
    req: &Request,
) -> poem::Result<Response> {
    let gone = || {
        (
            StatusCode::NOT_FOUND,
            "no calendar feed at this address; ask for a new link\n",
        )
            .into_response()
    };
    let (Ok(feed), Some(secret)) = (feed.parse::<i64>(), file.strip_suffix(".ics")) else {
        return Ok(gone());
    };
    let now = state.clock.now().as_second();
    if let Err(retry_after) = state.feed_limiter.check(feed, now) {
        return Ok(Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, retry_after)
            .body(format!(
                "this feed was fetched more than {} times in a minute; calendar apps need it far less often, try again in {retry_after} s\n",
                feeds::REQUESTS_PER_WINDOW
            )));
    }
    let served = feeds::serve(&state.store, &state.settings.public_url, feed, secret, now)
        .await
        .map_err(AppError::from)?;
    let Some(served) = served else {
        return Ok(gone());
    };
    let etag = feeds::etag(&served.body);
    let cache = "private, max-age=300";
    if let Some(given) = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && feeds::not_modified(given, &etag)
    {
        return Ok(Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, etag)
            .header(header::CACHE_CONTROL, cache)
            .finish());
    }
    Ok(Response::builder()
        .content_type("text/calendar; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{}\"", served.filename),
        )
        .header(header::ETAG, etag)
        .header(header::CACHE_CONTROL, cache)
        .body(served.body))
}
