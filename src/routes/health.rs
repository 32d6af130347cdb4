//! `GET /health`: liveness for monitors, from memory only. It touches neither the database
//! nor any lock a request needs, so a flood of it from anyone cannot slow a call down.

use poem::{
    handler,
    web::{Data, Json},
};
use serde_json::{Value, json};

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
