//! The HTTP surface: one route table composing each module's handlers, request logging
//! that records the path but never the query (it carries state tokens), and a panic guard
//! that keeps TeXML routes answering TeXML. Calendar feed URLs (`/ics/…`) are logged
//! with their secret redacted. The table has two halves, Telnyx's routes and
//! the operators' admin API; a listener serves one or both ([`Surface`]).

mod admin;
mod agenda;
mod calls;
mod documents;
mod feeds;
mod health;
mod messaging;
mod metrics;
mod paging;
mod texml;
pub mod throttle;
mod webhooks;

pub use admin::check_admin_token;
pub use documents::write_checked;
pub use feeds::{create_feed, rotate_feed};
pub use webhooks::{create_endpoint, parse_events, rotate_endpoint};

use std::{sync::Arc, time::Instant};

use poem::{
    Endpoint, EndpointExt, IntoResponse, PathPattern, Request, Response, Route, RouteMethod, get,
    http::Method,
    middleware::{CatchPanic, PanicHandler},
    post,
};

use crate::{
    metrics::http::{HttpMetrics, UNMATCHED},
    startup::AppState,
    texml::Texml,
};

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Everything (one listener, no `SLOTLINE_ADMIN_LISTEN`).
    All,
    /// Telnyx's routes and `/health`; `/tenants…` answers 404.
    Telnyx,
    /// The admin API, the operator console and `/health` (the `SLOTLINE_ADMIN_LISTEN`
    /// listener).
    Admin,
}

/// The application as one listener serves it, ready to serve.
pub fn app(state: AppState, surface: Surface) -> impl Endpoint<Output = Response> {
    let mut table = Route::new()
        .at("/health", get(health::health))
        .at("/ready", get(health::ready));
    if surface != Surface::Admin {
        table = telnyx_routes(table);
    }
    if surface != Surface::Telnyx {
        table = admin_routes(table);
    }
    let voice =
        (surface != Surface::Admin).then(|| guarded_handler(texml::voice).data(state.clone()));
    Served {
        http: state.metrics.http.clone(),
        voice,
        table: table.data(state),
    }
}

/// The route template of the voice URL, as the table names it.
const VOICE: &str = "/texml/voice";

/// The route table behind the request log and counters, with one shortcut: `POST
/// /texml/voice`, which starts every call, goes straight to its handler (behind the same
/// panic guard) instead of through the table's match, which costs every request a path
/// search, the matched template stored in both the request and the answer, and another
/// boxed future. Any other method or path, `/texml/voice/` included, takes the table.
struct Served<V, T> {
    http: Arc<HttpMetrics>,
    voice: Option<V>,
    table: T,
}

impl<V, T> Endpoint for Served<V, T>
where
    V: Endpoint,
    T: Endpoint,
{
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if let Some(voice) = &self.voice
            && req.method() == Method::POST
            && req.uri().path() == VOICE
        {
            return logged(&self.http, voice, req, Some(VOICE)).await;
        }
        logged(&self.http, &self.table, req, None).await
    }
}

/// Calls `ep`, counts the answer under its route template (`template`, or the one the
/// table matched; never the raw path) and logs it with the path but never the query.
async fn logged<E: Endpoint>(
    http: &HttpMetrics,
    ep: &E,
    req: Request,
    template: Option<&'static str>,
) -> poem::Result<Response> {
    let started = Instant::now();
    let method = req.method().clone();
    // A feed URL's secret never reaches the log. Copied only when the line is written
    // (`RUST_LOG=warn` serves without it).
    let path = tracing::enabled!(tracing::Level::INFO)
        .then(|| crate::feeds::redacted_path(req.uri().path()).into_owned());
    let resp = ep.call(req).await.map(IntoResponse::into_response);
    let (status, matched) = match &resp {
        Ok(r) => (r.status(), r.data::<PathPattern>()),
        Err(e) => (e.status(), e.data::<PathPattern>()),
    };
    let route = template.unwrap_or_else(|| matched.map_or(UNMATCHED, |p| &p.0));
    let took = started.elapsed();
    http.observe(route, &method, status.as_u16(), took);
    if let Some(path) = path {
        // `?`: the path is the client's, so it is logged escaped (no forged lines).
        tracing::info!(%method, path = ?truncated(&path), status = status.as_u16(), micros = took.as_micros() as u64, "request");
    }
    resp
}

/// At most 200 bytes of `s` (on a character boundary), for logs.
pub(crate) fn truncated(s: &str) -> &str {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Telnyx's routes: TeXML, and the messaging webhook. The TeXML routes sit in the one
/// table at their full paths, each behind the panic guard, rather than in a table nested
/// under `/texml`: a nest costs every request a second route match, a rebuilt URI and a
/// route template assembled anew (the templates, `/texml/voice` and so on, are the same).
fn telnyx_routes(table: Route) -> Route {
    table
        .at("/texml/voice", guarded(post(texml::voice)))
        .at("/texml/gather", guarded(post(texml::gather)))
        .at("/texml/status", guarded(post(texml::status)))
        .at("/texml/reminder", guarded(post(texml::reminder)))
        .at(
            "/texml/reminder/answer",
            guarded(post(texml::reminder_choice)),
        )
        .at(
            "/texml/reminder/voicemail",
            guarded(post(texml::reminder_voicemail)),
        )
        .at(
            "/texml/reminder/status",
            guarded(post(texml::reminder_status)),
        )
        .at("/texml/reminder/amd", guarded(post(texml::reminder_amd)))
        .at(
            "/texml/doc/:tenant/fallback",
            guarded(get(texml::fallback).post(texml::fallback)),
        )
        .at("/messaging/webhook", post(messaging::webhook))
        .at("/ics/:feed/:file", get(feeds::serve))
}

/// The operators' API, behind the admin token.
fn admin_routes(table: Route) -> Route {
    table
        .at(
            "/tenants",
            get(admin::list_tenants).post(admin::create_tenant),
        )
        .at(
            "/tenants/:id",
            get(admin::get_tenant)
                .patch(admin::patch_tenant)
                .delete(admin::delete_tenant),
        )
        .at("/tenants/:id/appointments", get(admin::list_appointments))
        .at(
            "/tenants/:id/appointments/:appt",
            poem::patch(agenda::reschedule).delete(agenda::cancel),
        )
        .at("/tenants/:id/availability", get(agenda::availability))
        .at("/tenants/:id/stats", get(agenda::stats))
        .at("/tenants/:id/texml", get(documents::list))
        .at(
            "/tenants/:id/texml/:name",
            get(documents::read).put(documents::replace),
        )
        .at(
            "/tenants/:id/texml/:name/versions",
            get(documents::versions),
        )
        .at("/tenants/:id/texml/:name/preview", post(documents::preview))
        .at("/tenants/:id/messages", get(messaging::list_messages))
        .at("/tenants/:id/feeds", get(feeds::list).post(feeds::create))
        .at("/tenants/:id/feeds/:feed", poem::delete(feeds::revoke))
        .at("/tenants/:id/feeds/:feed/rotate", post(feeds::rotate))
        .at(
            "/tenants/:id/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .at("/tenants/:id/webhooks/:w", poem::delete(webhooks::delete))
        .at("/tenants/:id/webhooks/:w/rotate", post(webhooks::rotate))
        .at("/tenants/:id/webhooks/:w/enable", post(webhooks::enable))
        .at(
            "/tenants/:id/webhooks/:w/deliveries",
            get(webhooks::deliveries),
        )
        .at("/tenants/:id/calls", get(calls::list_calls))
        .at("/metrics", get(metrics::metrics))
        .at(
            "/tenants/:id/messages/:msg/requeue",
            post(messaging::requeue),
        )
        .nest("/console", crate::console::routes())
}

/// `ep` behind the panic guard of TeXML routes.
fn guarded(ep: RouteMethod) -> impl Endpoint {
    guarded_handler(ep)
}

/// A TeXML endpoint behind the panic guard.
fn guarded_handler<E: Endpoint>(ep: E) -> impl Endpoint {
    ep.with(CatchPanic::new().with_handler(ApologyOnPanic))
}

/// A panic inside a TeXML handler still answers a valid TeXML apology.
#[derive(Clone)]
struct ApologyOnPanic;

impl PanicHandler for ApologyOnPanic {
    type Response = Response;

    fn get_response(&self, _err: Box<dyn std::any::Any + Send + 'static>) -> Response {
        tracing::error!("a TeXML handler panicked; answered with the apology document");
        Texml::apology(None, "").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_paths_are_cut_at_200_bytes_on_a_character_boundary() {
        assert_eq!(truncated("/texml/voice"), "/texml/voice");
        let long = format!("/{}", "é".repeat(300));
        let cut = truncated(&long);
        assert!(cut.len() <= 200 && long.starts_with(cut));
        assert!(format!("{:?}", truncated("/x\n<forged>")).contains("\\n"));
    }
}
