//! Calendar feeds and webhook endpoints of a tenant: create a feed (its URL shown once, to
//! copy), rotate or revoke it; add a webhook endpoint (its secret shown once), rotate,
//! re-enable or delete it, and read its delivery log. Each form goes through the same
//! functions as `/tenants/{id}/feeds…` and `/tenants/{id}/webhooks…`, so it refuses the
//! same input with the same message, shown on its field.

use askama::Template;
use jiff::Timestamp;
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Path},
};
use serde_json::Value;

use crate::{
    console::{
        ConsoleError,
        auth::{Operator, Posted},
        render, see_other, tenant,
        view::{Frame, when, zone},
    },
    db::{DbError, tenants::Tenant, webhooks::EVENT_TYPES},
    domain::FieldError,
    error::AppError,
    routes::{create_endpoint, create_feed, parse_events, rotate_endpoint, rotate_feed},
    startup::AppState,
};

/// A feed in the list.
pub struct FeedRow {
    id: i64,
    shows: String,
    detail: String,
    created: String,
    rotated: Option<String>,
}

/// An endpoint in the list.
pub struct EndpointRow {
    id: i64,
    url: String,
    events: String,
    state: String,
    disabled: bool,
}

/// A secret to copy now, shown once.
pub struct Shown {
    what: &'static str,
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "console/calendar.html")]
struct Page {
    frame: Frame,
    slug: String,
    feeds: Vec<FeedRow>,
    endpoints: Vec<EndpointRow>,
    providers: Vec<String>,
    events: &'static [&'static str],
    shown: Option<Shown>,
    error: Option<(&'static str, FieldError)>,
    typed_url: String,
}

impl Page {
    fn error_on(&self, form: &str, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, e)| *f == form && e.field == field)
            .map(|(_, e)| e.message.as_str())
    }
}

/// What happened, for the page.
#[derive(Default)]
struct Outcome {
    shown: Option<Shown>,
    error: Option<(&'static str, FieldError)>,
    typed_url: String,
}

async fn show(
    state: &AppState,
    tenant: &Tenant,
    form_token: &str,
    outcome: Outcome,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let tz = zone(tenant);
    let tenant_id = tenant.id;
    let feeds = state.store.feeds().list(tenant_id).await?;
    let endpoints = state.store.webhooks().list_endpoints(tenant_id).await?;
    let html = Page {
        frame: Frame::of(tenant, "Feeds and webhooks", form_token, "calendar"),
        slug: tenant.spec.slug.clone(),
        feeds: feeds
            .into_iter()
            .map(|f| FeedRow {
                id: f.id,
                shows: f.provider.unwrap_or_else(|| "every provider".into()),
                detail: f.detail,
                created: when(f.created_at, &tz),
                rotated: f.rotated_at.map(|r| when(r, &tz)),
            })
            .collect(),
        endpoints: endpoints
            .into_iter()
            .map(|e| EndpointRow {
                id: e.id,
                url: e.url,
                events: e.events.join(", "),
                state: match (&e.disabled_reason, e.failing_since_ms) {
                    (Some(why), _) => format!("disabled: {why}"),
                    (None, Some(ms)) => format!("failing since {}", when(ms / 1000, &tz)),
                    (None, None) => "sending".into(),
                },
                disabled: e.disabled_at.is_some(),
            })
            .collect(),
        providers: tenant
            .spec
            .providers
            .iter()
            .map(|p| p.name.clone())
            .collect(),
        events: EVENT_TYPES,
        shown: outcome.shown,
        error: outcome.error,
        typed_url: outcome.typed_url,
    };
    render(&html, status)
}

/// A refusal by field, or an error page.
fn refused(e: AppError) -> Result<FieldError, ConsoleError> {
    match e {
        AppError::Invalid(f) => Ok(f),
        AppError::Conflict { field, message } => Ok(FieldError { field, message }),
        other => Err(other.into()),
    }
}

/// The page after a create (`made`: the value shown once, or the refusal shown in place:
/// `refused_in` names the form and what was typed in its URL field) or a rotate (`made`
/// always a value).
async fn show_made(
    state: &AppState,
    tenant: &Tenant,
    form: &Posted,
    made: Result<String, AppError>,
    shown: (&'static str, &'static str),
    refused_in: (&'static str, String),
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let ((what, label), (form_name, typed_url)) = (shown, refused_in);
    let (outcome, status) = match made {
        Ok(value) => (
            Outcome {
                shown: Some(Shown { what, label, value }),
                ..Outcome::default()
            },
            status,
        ),
        Err(e) => (
            Outcome {
                error: Some((form_name, refused(e)?)),
                typed_url,
                ..Outcome::default()
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    show(state, tenant, &form.session.form_token, outcome, status).await
}

fn optional(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// `GET /console/tenants/{id}/calendar`.
#[handler]
pub async fn page(
    Operator(session): Operator,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    Ok(show(
        &state,
        &tenant,
        &session.form_token,
        Outcome::default(),
        StatusCode::OK,
    )
    .await?)
}

/// `POST /console/tenants/{id}/feeds` with `scope`, `provider`, `detail`.
#[handler]
pub async fn create_feed_form(
    form: Posted,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let scope = form.text("scope");
    // A provider picked in the list only counts for a provider feed.
    let provider = optional(form.text("provider")).filter(|_| scope == "provider");
    let made = create_feed(
        &state,
        &tenant,
        optional(scope),
        provider,
        optional(form.text("detail")),
    )
    .await;
    let made = made.map(|(_, url)| url);
    let shown = ("The new feed's address", "Feed URL");
    let status = StatusCode::CREATED;
    Ok(show_made(
        &state,
        &tenant,
        &form,
        made,
        shown,
        ("feed", String::new()),
        status,
    )
    .await?)
}

/// `POST /console/tenants/{id}/feeds/{feed}/rotate`.
#[handler]
pub async fn rotate_feed_form(
    form: Posted,
    state: Data<&AppState>,
    Path((id, feed)): Path<(String, i64)>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let (_, url) = rotate_feed(&state, tenant.id, feed)
        .await
        .map_err(ConsoleError::from)?;
    let shown = (
        "The feed's new address (the old one no longer works)",
        "Feed URL",
    );
    let status = StatusCode::OK;
    Ok(show_made(
        &state,
        &tenant,
        &form,
        Ok(url),
        shown,
        ("feed", String::new()),
        status,
    )
    .await?)
}

/// `POST /console/tenants/{id}/feeds/{feed}/revoke`.
#[handler]
pub async fn revoke_feed(
    _: Posted,
    state: Data<&AppState>,
    Path((id, feed)): Path<(String, i64)>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let tenant_id = tenant.id;
    state
        .store
        .feeds()
        .delete(tenant_id, feed)
        .await
        .map_err(not_found("feed"))?;
    tracing::info!(
        tenant = tenant_id,
        feed,
        "calendar feed revoked from the console"
    );
    Ok(see_other(&format!(
        "/console/tenants/{}/calendar",
        tenant.spec.slug
    )))
}

fn not_found(what: &'static str) -> impl Fn(DbError) -> ConsoleError {
    move |e| match e {
        DbError::NotFound => ConsoleError::NotFound(format!("this tenant has no such {what}")),
        other => other.into(),
    }
}

/// `POST /console/tenants/{id}/webhooks` with `url` and one `events` per ticked box.
#[handler]
pub async fn create_endpoint_form(
    form: Posted,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let url = form.text("url").to_string();
    let ticked = Value::Array(
        EVENT_TYPES
            .iter()
            .filter(|e| !form.text(&format!("event.{e}")).is_empty())
            .map(|e| Value::String(e.to_string()))
            .collect(),
    );
    let made = match (url.is_empty(), parse_events(Some(&ticked))) {
        (true, _) => Err(AppError::Invalid(FieldError {
            field: "url".into(),
            message: "give the endpoint's https:// URL, e.g. https://hooks.example.com/slotline"
                .into(),
        })),
        (false, Err(e)) => Err(e),
        (false, Ok(events)) => create_endpoint(&state, tenant.id, &url, events).await,
    };
    let made = made.map(|(_, secret)| secret);
    let shown = ("The endpoint's signing secret", "Signing secret");
    let status = StatusCode::CREATED;
    Ok(show_made(
        &state,
        &tenant,
        &form,
        made,
        shown,
        ("webhook", url),
        status,
    )
    .await?)
}

/// `POST /console/tenants/{id}/webhooks/{w}/rotate`.
#[handler]
pub async fn rotate_endpoint_form(
    form: Posted,
    state: Data<&AppState>,
    Path((id, endpoint)): Path<(String, i64)>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let (_, secret) = rotate_endpoint(&state, tenant.id, endpoint)
        .await
        .map_err(ConsoleError::from)?;
    let shown = ("The endpoint's new signing secret", "Signing secret");
    let status = StatusCode::OK;
    Ok(show_made(
        &state,
        &tenant,
        &form,
        Ok(secret),
        shown,
        ("webhook", String::new()),
        status,
    )
    .await?)
}

/// `POST /console/tenants/{id}/webhooks/{w}/enable`.
#[handler]
pub async fn enable_endpoint(
    _: Posted,
    state: Data<&AppState>,
    Path((id, endpoint)): Path<(String, i64)>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let tenant_id = tenant.id;
    state
        .store
        .webhooks()
        .enable_endpoint(tenant_id, endpoint)
        .await
        .map_err(not_found("webhook endpoint"))?;
    Ok(see_other(&format!(
        "/console/tenants/{}/calendar",
        tenant.spec.slug
    )))
}

/// `POST /console/tenants/{id}/webhooks/{w}/delete`.
#[handler]
pub async fn delete_endpoint(
    _: Posted,
    state: Data<&AppState>,
    Path((id, endpoint)): Path<(String, i64)>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let tenant_id = tenant.id;
    state
        .store
        .webhooks()
        .delete_endpoint(tenant_id, endpoint)
        .await
        .map_err(not_found("webhook endpoint"))?;
    tracing::info!(
        tenant = tenant_id,
        endpoint,
        "webhook endpoint deleted from the console"
    );
    Ok(see_other(&format!(
        "/console/tenants/{}/calendar",
        tenant.spec.slug
    )))
}

/// One delivery in the log.
pub struct DeliveryView {
    kind: String,
    appointment: Option<i64>,
    status: String,
    attempts: Vec<String>,
    last_error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/deliveries.html")]
struct DeliveriesPage {
    frame: Frame,
    slug: String,
    url: String,
    rows: Vec<DeliveryView>,
}

/// `GET /console/tenants/{id}/webhooks/{w}`: the newest 100 deliveries with every attempt.
#[handler]
pub async fn deliveries(
    Operator(session): Operator,
    state: Data<&AppState>,
    Path((id, endpoint)): Path<(String, i64)>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let tz = zone(&tenant);
    let tenant_id = tenant.id;
    let webhooks = state.store.webhooks();
    let e = webhooks
        .get_endpoint(tenant_id, endpoint)
        .await
        .map_err(not_found("webhook endpoint"))?;
    let rows = webhooks
        .deliveries(tenant_id, endpoint, 100)
        .await
        .map_err(not_found("webhook endpoint"))?;
    let at = |ms: i64| Timestamp::from_millisecond(ms).map_or(0, |t| t.as_second());
    let html = DeliveriesPage {
        frame: Frame::of(
            &tenant,
            "Webhook deliveries",
            &session.form_token,
            "calendar",
        ),
        slug: tenant.spec.slug.clone(),
        url: e.url,
        rows: rows
            .into_iter()
            .map(|d| DeliveryView {
                kind: d.kind,
                appointment: d.appointment_id,
                status: d.status,
                attempts: d
                    .history
                    .iter()
                    .map(|a| {
                        let answer = a
                            .http_status
                            .map_or_else(|| "no answer".to_string(), |s| format!("HTTP {s}"));
                        let why = a
                            .error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default();
                        format!(
                            "{}, {answer} in {} ms{why}",
                            when(at(a.at_ms), &tz),
                            a.duration_ms
                        )
                    })
                    .collect(),
                last_error: d.last_error,
            })
            .collect(),
    };
    Ok(render(&html, StatusCode::OK)?)
}
