//! `GET /metrics`: the Prometheus exposition ([`crate::metrics`]) behind the admin token,
//! on the admin listener. What lives in the database (texts, webhook deliveries and
//! reminder calls by status, the outbox's lag) is read from indexes at scrape time.

use poem::{Response, handler, web::Data};

use super::admin::Admin;
use crate::{error::AppError, readiness::wal_path, startup::AppState};

/// The OpenMetrics text format's media type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics` (Bearer): OpenMetrics text.
#[handler]
pub async fn metrics(_: Admin, state: Data<&AppState>) -> poem::Result<Response> {
    let now = state.clock.now().as_second();
    let queues = state
        .store
        .upkeep()
        .queues(now)
        .await
        .map_err(AppError::from)?;
    let m = &state.metrics;
    for (status, count) in queues.texts {
        m.texts.get_or_create(&[("status", status)]).set(count);
    }
    for (status, count) in queues.deliveries {
        m.webhook_deliveries
            .get_or_create(&[("status", status)])
            .set(count);
    }
    for (status, count) in queues.reminder_calls {
        m.reminder_calls
            .get_or_create(&[("status", status)])
            .set(count);
    }
    m.outbox_lag.set(
        queues
            .oldest_due_text
            .map_or(0.0, |due| (now - due).max(0) as f64),
    );
    m.call_log_queue.set(state.calls.queued() as i64);
    let wal = std::fs::metadata(wal_path(&state.settings.db_path)).map_or(0, |f| f.len());
    m.wal_bytes.set(wal as i64);
    Ok(Response::builder()
        .content_type(OPENMETRICS)
        .body(m.render()))
}
