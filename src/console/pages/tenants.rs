//! The first screen: every tenant with today's bookings, calls and failed texts (today in
//! each tenant's own zone), and a search over name, slug and number.

use askama::Template;
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Query},
};
use serde::Deserialize;

use crate::{
    booking::{local_day_bounds, today_local},
    console::{
        ConsoleError,
        auth::Operator,
        render,
        view::{Frame, zone},
    },
    db,
    startup::AppState,
};

/// One row of the list.
pub struct Row {
    slug: String,
    name: String,
    number: String,
    timezone: String,
    closed: bool,
    counts: db::console::DayCounts,
}

#[derive(Template)]
#[template(path = "console/tenants.html")]
struct Page {
    frame: Frame,
    q: String,
    rows: Vec<Row>,
    total: usize,
}

/// The search box.
#[derive(Debug, Deserialize)]
pub struct Search {
    q: Option<String>,
}

/// Whether a tenant matches the search `q` (case-insensitive, over name, slug, number).
fn matches(t: &db::tenants::Tenant, q: &str) -> bool {
    let q = q.to_lowercase();
    q.is_empty()
        || t.spec.name.to_lowercase().contains(&q)
        || t.spec.slug.contains(&q)
        || t.spec.phone_number.as_str().contains(&q)
}

/// `GET /console/?q=`.
#[handler]
pub async fn list(
    Operator(session): Operator,
    state: Data<&AppState>,
    Query(search): Query<Search>,
) -> poem::Result<Response> {
    let q = search.q.unwrap_or_default().trim().to_string();
    let now = state.clock.now();
    let tenants = state
        .store
        .tenants()
        .list()
        .await
        .map_err(ConsoleError::from)?;
    let total = tenants.len();
    let wanted: Vec<db::tenants::Tenant> = tenants.into_iter().filter(|t| matches(t, &q)).collect();
    // Each tenant's local today, read for every tenant at once.
    let days: Vec<Option<(i64, i64, i64)>> = wanted
        .iter()
        .map(|t| {
            let tz = zone(t);
            local_day_bounds(&tz, today_local(now, &tz))
                .map(|(from, to)| (t.id, from.as_second(), to.as_second()))
        })
        .collect();
    let mut counted = state
        .store
        .appointments()
        .day_counts(days.iter().flatten().copied().collect())
        .await
        .map_err(ConsoleError::from)?
        .into_iter();
    let rows: Vec<Row> = wanted
        .into_iter()
        .zip(days)
        .map(|(t, day)| Row {
            slug: t.spec.slug.clone(),
            name: t.spec.name.clone(),
            number: t.spec.phone_number.as_str().to_string(),
            timezone: t.spec.timezone.clone(),
            closed: t.spec.closed,
            counts: day.and_then(|_| counted.next()).unwrap_or_default(),
        })
        .collect();
    let html = Page {
        frame: Frame::plain("Tenants", &session.form_token, "tenants"),
        q,
        rows,
        total,
    };
    Ok(render(&html, StatusCode::OK)?)
}
