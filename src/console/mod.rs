//! The operator console: server-rendered pages under `/console/` that work without
//! JavaScript, on the admin surface. Every page needs a signed-in [`auth::Operator`];
//! every state change is a POST that passes the cross-site rules ([`csrf`]) and carries
//! the session's form token ([`auth::Posted`]). Pages call the same functions as the JSON
//! API, so a form refuses exactly what the API refuses, with the same messages.

mod auth;
pub mod csrf;
mod error;
mod pages;
pub mod session;
mod view;

use askama::Template;
use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get,
    http::{HeaderValue, StatusCode, header},
    post,
};

pub use error::ConsoleError;
pub use session::Keys;

use crate::{db, startup::AppState};

/// The stylesheet, served with a long cache under a versioned name.
const STYLESHEET: &str = include_str!("../../templates/console/console.css");
/// Path of [`STYLESHEET`]; the version changes whenever the file does.
pub const STYLESHEET_PATH: &str = "/console/console-v1.css";

/// The console's routes, to be nested at `/console`.
pub fn routes() -> impl Endpoint {
    use pages::{agenda, calendar, calls, documents, health, settings, tenants, texts, wording};
    Route::new()
        .at("/", get(tenants::list))
        .at("/console-v1.css", get(stylesheet))
        .at("/health", get(health::page))
        .at("/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .at("/sign-out", post(auth::sign_out))
        .at("/tenants/:id", get(agenda::page))
        .at(
            "/tenants/:id/appointments/:appt/move",
            post(agenda::move_appointment),
        )
        .at(
            "/tenants/:id/appointments/:appt/cancel",
            post(agenda::cancel),
        )
        .at("/tenants/:id/calls", get(calls::page))
        .at("/tenants/:id/texts", get(texts::page))
        .at("/tenants/:id/texts/:msg/requeue", post(texts::requeue))
        .at(
            "/tenants/:id/wording",
            get(wording::page).post(wording::save),
        )
        .at("/tenants/:id/wording/restore", post(wording::restore))
        .at(
            "/tenants/:id/documents/:name",
            get(documents::page).post(documents::save),
        )
        .at(
            "/tenants/:id/documents/:name/restore",
            post(documents::restore),
        )
        .at("/tenants/:id/settings", get(settings::page))
        .at("/tenants/:id/settings/:section", post(settings::save))
        .at("/tenants/:id/calendar", get(calendar::page))
        .at("/tenants/:id/feeds", post(calendar::create_feed_form))
        .at(
            "/tenants/:id/feeds/:feed/rotate",
            post(calendar::rotate_feed_form),
        )
        .at(
            "/tenants/:id/feeds/:feed/revoke",
            post(calendar::revoke_feed),
        )
        .at(
            "/tenants/:id/webhooks",
            post(calendar::create_endpoint_form),
        )
        .at("/tenants/:id/webhooks/:w", get(calendar::deliveries))
        .at(
            "/tenants/:id/webhooks/:w/rotate",
            post(calendar::rotate_endpoint_form),
        )
        .at(
            "/tenants/:id/webhooks/:w/enable",
            post(calendar::enable_endpoint),
        )
        .at(
            "/tenants/:id/webhooks/:w/delete",
            post(calendar::delete_endpoint),
        )
        .around(guard)
}

/// Refuses cross-site state changes before any handler runs, and marks every answer as
/// not to be framed, cached by others, or run as script.
async fn guard<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ConsoleError::Internal("no application state".into()))?;
    let trusted = csrf::origin_of(&state.settings.public_url);
    if let Err(refusal) = csrf::check(req.method(), req.headers(), &trusted) {
        tracing::warn!(%refusal, "refused a cross-site console request");
        return Err(ConsoleError::Forbidden(format!(
            "{refusal}; changes can only be made from the console's own pages"
        ))
        .into());
    }
    let mut resp = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(resp)
}

#[poem::handler]
fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
        .body(STYLESHEET)
}

/// A rendered page with `status`.
fn render(page: &impl Template, status: StatusCode) -> Result<Response, ConsoleError> {
    Ok(Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// 303 to `to` (after a change, so a reload does not post again).
fn see_other(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .finish()
}

/// The tenant named by `id` (id or slug), or a 404 page.
async fn tenant(state: &AppState, id: String) -> Result<db::tenants::Tenant, ConsoleError> {
    state.store.tenants().find(id).await.map_err(|e| match e {
        db::DbError::NotFound => ConsoleError::NotFound(
            "no tenant with that id or slug; pick one from the tenants list".into(),
        ),
        other => other.into(),
    })
}
