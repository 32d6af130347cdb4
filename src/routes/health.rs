//! `GET /health`: liveness for monitors.

use poem::{
    handler,
    web::{Data, Json},
};
use serde_json::{Value, json};

use crate::{db, startup::AppState};

/// `{"status":"ok","uptime_seconds":…,"active_sessions":…,"version":…}`; `status` is
/// `degraded` when the database does not answer.
#[handler]
pub async fn health(state: Data<&AppState>) -> Json<Value> {
    let now = state.clock.now().as_second();
    let active = state.db.run(move |c| db::calls::active(c, now)).await;
    Json(json!({
        "status": if active.is_ok() { "ok" } else { "degraded" },
        "uptime_seconds": state.started.elapsed().as_secs(),
        "active_sessions": active.unwrap_or(0),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}
