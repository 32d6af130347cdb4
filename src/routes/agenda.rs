//! Operators' appointment routes: availability, cancel, reschedule, stats. Thin: parse,
//! call `agenda`/`db`, answer JSON.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use poem::{
    handler,
    web::{Data, Json, Path, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{Admin, find};
use crate::{
    agenda::{self, AgendaError, MoveRequest},
    db,
    domain::{FieldError, tenant::parse_date},
    error::AppError,
    startup::AppState,
};

impl From<AgendaError> for AppError {
    fn from(e: AgendaError) -> Self {
        match e {
            AgendaError::Invalid { field, message } => AppError::Invalid(FieldError {
                field: field.into(),
                message,
            }),
            AgendaError::Taken(message) => AppError::Conflict {
                field: "time".into(),
                message,
            },
            AgendaError::Db(db::DbError::NotFound) => {
                AppError::NotFound("no such appointment for this tenant".into())
            }
            AgendaError::Db(e) => e.into(),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Invalid(FieldError {
        field: field.into(),
        message: message.into(),
    })
}

/// `GET /tenants/{id}/availability?service=&date=&provider=`.
#[handler]
pub async fn availability(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> poem::Result<Json<Value>> {
    let tenant = find(&state, id).await?;
    let service = q.get("service").ok_or_else(|| {
        invalid(
            "service",
            "give the service, e.g. ?service=Haircut&date=2026-11-24",
        )
    })?;
    let service = agenda::service_index(&tenant, service).map_err(AppError::from)?;
    let date_text = q
        .get("date")
        .ok_or_else(|| invalid("date", "give the date as YYYY-MM-DD"))?;
    let date = parse_date(date_text).ok_or_else(|| {
        invalid(
            "date",
            format!("{date_text:?} is not a date; use YYYY-MM-DD"),
        )
    })?;
    let provider = q
        .get("provider")
        .filter(|p| !p.is_empty())
        .map(|p| agenda::provider_index(&tenant, p))
        .transpose()
        .map_err(AppError::from)?;
    let times = agenda::availability(
        &state.store,
        &tenant,
        service,
        date,
        provider,
        state.clock.now(),
    )
    .await
    .map_err(AppError::from)?;
    Ok(Json(json!({
        "date": date.to_string(),
        "service": tenant.spec.services[service].name,
        "provider": provider.map(|p| tenant.spec.providers[p].name.clone()),
        "timezone": tenant.spec.timezone,
        "times": times,
    })))
}

/// The query of `DELETE /tenants/{id}/appointments/{appt}`.
#[derive(Debug, Deserialize)]
pub struct CancelQuery {
    /// `false`: do not text the customer.
    #[serde(default)]
    notify: Option<String>,
}

/// `DELETE /tenants/{id}/appointments/{appt}[?notify=false]`: cancels, freeing the time,
/// and texts the customer unless `notify=false`.
#[handler]
pub async fn cancel(
    _: Admin,
    state: Data<&AppState>,
    Path((id, appt)): Path<(String, i64)>,
    Query(q): Query<CancelQuery>,
) -> poem::Result<Json<Value>> {
    let notify = match q.notify.as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(AppError::Invalid(crate::domain::FieldError {
                field: "notify".into(),
                message: format!("{other:?} is not true or false"),
            })
            .into());
        }
    };
    let tenant = find(&state, id).await?;
    let tenant_id = tenant.id;
    let row = agenda::cancel(
        &state.store,
        state.settings.messaging_profile_id.clone(),
        &tenant,
        appt,
        notify,
        state.clock.now(),
    )
    .await
    .map_err(|e| AppError::from(AgendaError::from(e)))?;
    state.outbox.notify_one();
    tracing::info!(
        tenant = tenant_id,
        appointment = appt,
        "appointment cancelled by an operator"
    );
    Ok(Json(serde_json::to_value(row).unwrap_or_default()))
}

/// `PATCH /tenants/{id}/appointments/{appt}` with `{"date", "time", "provider", "notify"}`.
#[handler]
pub async fn reschedule(
    _: Admin,
    state: Data<&AppState>,
    Path((id, appt)): Path<(String, i64)>,
    crate::body::AdminBody(body): crate::body::AdminBody,
) -> poem::Result<Json<Value>> {
    let req: MoveRequest = serde_json::from_slice(&body).map_err(|e| {
        AppError::BadJson(format!(
            "{e}; send {{\"date\": \"YYYY-MM-DD\", \"time\": \"HH:MM\", \"provider\": \"Name\", \"notify\": true}}"
        ))
    })?;
    let tenant = find(&state, id).await?;
    let row = agenda::reschedule(
        &state.store,
        state.settings.messaging_profile_id.clone(),
        &tenant,
        appt,
        req,
        state.clock.now(),
    )
    .await
    .map_err(AppError::from)?;
    state.outbox.notify_one();
    Ok(Json(serde_json::to_value(row).unwrap_or_default()))
}

/// The stats query.
#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    period: Option<String>,
}

/// `GET /tenants/{id}/stats?period=24h|7d|30d|90d|all` (default 7d).
#[handler]
pub async fn stats(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(q): Query<StatsQuery>,
) -> poem::Result<Json<Value>> {
    let tenant = find(&state, id).await?;
    let period = q.period.unwrap_or_else(|| "7d".into());
    let now = state.clock.now();
    let hours = match period.as_str() {
        "24h" => Some(24),
        "7d" => Some(24 * 7),
        "30d" => Some(24 * 30),
        "90d" => Some(24 * 90),
        "all" => None,
        other => {
            return Err(invalid(
                "period",
                format!("{other:?} is not a period; use 24h, 7d, 30d, 90d or all"),
            )
            .into());
        }
    };
    let from = hours
        .map(|h| now - SignedDuration::from_hours(h))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let (tenant_id, f, t) = (tenant.id, from.as_second(), now.as_second() + 1);
    let tz =
        crate::tzdb::get(&tenant.spec.timezone).map_err(|e| AppError::Internal(e.to_string()))?;
    // Counted in SQL per quarter hour; only the quarters are placed in the tenant's zone,
    // on the blocking pool.
    let (log, outbox, dialer) = (
        state.store.calls(),
        state.store.outbox(),
        state.store.reminder_calls(),
    );
    let (s, texts, reminder_calls) = tokio::try_join!(
        log.stats(tenant_id, f, t),
        outbox.counts(tenant_id, f, t),
        dialer.counts(tenant_id, f, t),
    )
    .map_err(AppError::from)?;
    let quarters = s.calls_per_quarter.clone();
    let peak_hour = tokio::task::spawn_blocking(move || {
        let mut per_hour = [0i64; 24];
        for (quarter, calls) in &quarters {
            if let Ok(ts) = Timestamp::from_second(*quarter) {
                per_hour[ts.to_zoned(tz.clone()).hour() as usize] += calls;
            }
        }
        (0..24)
            .filter(|h| per_hour[*h] > 0)
            .max_by_key(|h| (per_hour[*h], std::cmp::Reverse(*h)))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let funnel = state
        .store
        .upkeep()
        .funnel(tenant_id, f, t)
        .await
        .map_err(AppError::from)?;
    Ok(Json(json!({
        "period": period,
        "from": from.to_string(),
        "to": now.to_string(),
        "total_calls": s.total_calls,
        "avg_duration_seconds": s.avg_duration_seconds,
        "inbound": s.inbound,
        "outbound": s.outbound,
        "peak_hour": peak_hour,
        "bookings": s.bookings,
        "bookings_by_phone": s.bookings_by_phone,
        "cancelled": s.cancelled,
        "texts": texts,
        "reminder_calls": reminder_calls,
        "funnel": funnel,
        "booked_per_call": (s.total_calls > 0).then(|| s.bookings_by_phone as f64 / s.total_calls as f64),
    })))
}
