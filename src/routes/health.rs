//! `GET /health` and `GET /ready`. `/health` is liveness, from memory only: it touches
//! neither the database nor any lock a request needs, so a flood of it from anyone cannot
//! slow a call down. `/ready` is readiness ([`crate::readiness`]): 200 `ready` or 503 with
//! a one-line reason for a monitor, and the whole report as JSON to a request that carries
//! the admin token.

use poem::{
    FromRequest, IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Json},
};
use serde_json::{Value, json};

use super::admin::Admin;
use crate::startup::AppState;

/// `{"status":"ok","uptime_seconds":…,"version":…}`.
#[handler]
pub async fn health(state: Data<&AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "uptime_seconds": state.started.elapsed().as_secs(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET /ready`: 200 when every check passes, else 503; `text/plain` one line, or the
/// report as JSON with `Authorization: Bearer <admin token>` (a wrong token is a 401, and
/// throttled like any admin request).
#[handler]
pub async fn ready(req: &Request, state: Data<&AppState>) -> poem::Result<Response> {
    let detail = match req.headers().contains_key(header::AUTHORIZATION) {
        true => Some(Admin::from_request_without_body(req).await?),
        false => None,
    };
    let report = state.readiness.report().await;
    let status = match report.ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    Ok(match detail {
        Some(Admin) => Json(&*report).with_status(status).into_response(),
        None => report.line().with_status(status).into_response(),
    })
}
