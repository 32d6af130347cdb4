//! A tenant's day or week: providers as columns, appointments as blocks (booked, held,
//! cancelled, reminded) between blocks of free opening time; each booked block has a move
//! and a cancel form. Both go through the API's own functions (`agenda::reschedule`,
//! `db::appointments::cancel`), so they refuse what the API refuses, and a refusal is
//! shown on the block with the field it is about.

use askama::Template;
use jiff::{
    Timestamp,
    civil::{Date, Time},
    tz::TimeZone,
};
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;

use crate::{
    agenda::{self, AgendaError, MoveRequest},
    booking::{local_day_bounds, today_local},
    console::{
        ConsoleError,
        auth::{Operator, Posted},
        render, see_other, tenant,
        view::{Frame, clock, masked, zone},
    },
    db::{DbError, console::AgendaItem, tenants::Tenant},
    domain::tenant::parse_date,
    startup::AppState,
};

/// One block in a provider's column.
pub struct Block {
    /// `booked`, `held`, `cancelled`, `reminded` or `free`.
    kind: &'static str,
    start: String,
    end: String,
    item: Option<Item>,
}

/// An appointment's details in its block.
pub struct Item {
    id: i64,
    service: String,
    customer: String,
    phone: String,
    /// The values its move form shows.
    form: MoveForm,
}

/// What a move form holds.
#[derive(Clone, Default)]
pub struct MoveForm {
    date: String,
    time: String,
    provider: String,
}

/// A provider's column.
pub struct Column {
    provider: String,
    blocks: Vec<Block>,
}

/// One day of the view.
pub struct Day {
    date: String,
    label: String,
    open: bool,
    columns: Vec<Column>,
}

/// A refused change, shown on its block.
pub struct Problem {
    appointment: i64,
    field: String,
    message: String,
    form: MoveForm,
}

#[derive(Template)]
#[template(path = "console/agenda.html")]
struct Page {
    frame: Frame,
    slug: String,
    view: &'static str,
    date: String,
    prev: String,
    next: String,
    date_error: Option<String>,
    done: Option<&'static str>,
    days: Vec<Day>,
    providers: Vec<String>,
    problem: Option<Problem>,
}

impl Page {
    fn problem_for(&self, id: &i64, field: &str) -> Option<&str> {
        self.problem
            .as_ref()
            .filter(|p| p.appointment == *id && p.field == field)
            .map(|p| p.message.as_str())
    }

    fn general_problem_for(&self, id: &i64) -> Option<&str> {
        self.problem
            .as_ref()
            .filter(|p| {
                p.appointment == *id && !["date", "time", "provider"].contains(&p.field.as_str())
            })
            .map(|p| p.message.as_str())
    }

    fn form_for(&self, item: &Item) -> MoveForm {
        match &self.problem {
            Some(p) if p.appointment == item.id && !p.form.time.is_empty() => p.form.clone(),
            _ => item.form.clone(),
        }
    }

    fn has_problem(&self, id: &i64) -> bool {
        self.problem.as_ref().is_some_and(|p| p.appointment == *id)
    }
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct ViewQuery {
    date: Option<String>,
    view: Option<String>,
    done: Option<String>,
}

fn at(tz: &TimeZone, date: Date, t: Time) -> Option<i64> {
    date.to_datetime(t)
        .to_zoned(tz.clone())
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// The blocks of one provider on one day: appointments, and the free opening time
/// between them (at least one slot long).
fn column(
    tenant: &Tenant,
    tz: &TimeZone,
    date: Date,
    provider: usize,
    items: &[AgendaItem],
) -> Column {
    let pid = tenant.provider_ids[provider];
    let spec = &tenant.spec;
    let mine: Vec<&AgendaItem> = items.iter().filter(|i| i.provider_id == pid).collect();
    let mut blocks: Vec<(i64, Block)> = mine
        .iter()
        .map(|i| {
            let kind = match i.status.as_str() {
                "held" => "held",
                "cancelled" => "cancelled",
                _ if i.reminded => "reminded",
                _ => "booked",
            };
            let block = Block {
                kind,
                start: clock(i.start_at, tz),
                end: clock(i.end_at, tz),
                item: Some(Item {
                    id: i.id,
                    service: i.service.clone(),
                    customer: i.customer_name.clone(),
                    phone: masked(i.customer_phone.as_deref()),
                    form: MoveForm {
                        date: date.to_string(),
                        time: clock(i.start_at, tz),
                        provider: spec.providers[provider].name.clone(),
                    },
                }),
            };
            (i.start_at, block)
        })
        .collect();
    let closed_today = spec.closures.contains(&date);
    let weekday = date.weekday().to_monday_zero_offset() as usize;
    let slot = i64::from(spec.slot_minutes) * 60;
    if !closed_today {
        let mut busy: Vec<(i64, i64)> = mine
            .iter()
            .filter(|i| i.status != "cancelled")
            .map(|i| (i.start_at, i.end_at))
            .collect();
        busy.sort();
        for (opens, closes) in &spec.hours[weekday] {
            let (Some(open), Some(close)) = (at(tz, date, *opens), at(tz, date, *closes)) else {
                continue;
            };
            let mut cursor = open;
            for (s, e) in busy.iter().copied().chain([(close, close)]) {
                let (s, e) = (s.clamp(open, close), e.clamp(open, close));
                if s - cursor >= slot {
                    blocks.push((
                        cursor,
                        Block {
                            kind: "free",
                            start: clock(cursor, tz),
                            end: clock(s, tz),
                            item: None,
                        },
                    ));
                }
                cursor = cursor.max(e);
            }
        }
    }
    blocks.sort_by_key(|(start, b)| (*start, b.kind == "free"));
    Column {
        provider: spec.providers[provider].name.clone(),
        blocks: blocks.into_iter().map(|(_, b)| b).collect(),
    }
}

/// Renders the view of `date` (`week`: the seven days from that date's Monday).
#[allow(clippy::too_many_arguments)]
async fn show(
    state: &AppState,
    tenant: Tenant,
    form_token: &str,
    date: Date,
    week: bool,
    date_error: Option<String>,
    done: Option<&'static str>,
    problem: Option<Problem>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let tz = zone(&tenant);
    let first = if week {
        date.checked_sub(jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())))
            .unwrap_or(date)
    } else {
        date
    };
    let count = if week { 7 } else { 1 };
    let dates: Vec<Date> = (0..count)
        .filter_map(|d| first.checked_add(jiff::Span::new().days(d)).ok())
        .collect();
    let (Some((from, _)), Some((_, to))) = (
        dates.first().and_then(|d| local_day_bounds(&tz, *d)),
        dates.last().and_then(|d| local_day_bounds(&tz, *d)),
    ) else {
        return Err(ConsoleError::NotFound("that date cannot be shown".into()));
    };
    let (tenant_id, now) = (tenant.id, state.clock.now().as_second());
    let (f, t) = (from.as_second(), to.as_second());
    let items = state
        .store
        .appointments()
        .agenda(tenant_id, f, t, now)
        .await?;
    let days = dates
        .iter()
        .map(|d| {
            let (s, e) =
                local_day_bounds(&tz, *d).map_or((0, 0), |(s, e)| (s.as_second(), e.as_second()));
            let on_day: Vec<AgendaItem> = items
                .iter()
                .filter(|i| i.start_at >= s && i.start_at < e)
                .cloned()
                .collect();
            let weekday = d.weekday().to_monday_zero_offset() as usize;
            Day {
                date: d.to_string(),
                label: d.strftime("%A %-d %B %Y").to_string(),
                open: !tenant.spec.closures.contains(d) && !tenant.spec.hours[weekday].is_empty(),
                columns: (0..tenant.spec.providers.len())
                    .map(|p| column(&tenant, &tz, *d, p, &on_day))
                    .collect(),
            }
        })
        .collect();
    let step = jiff::Span::new().days(if week { 7 } else { 1 });
    let html = Page {
        frame: Frame::of(
            &tenant,
            if week { "Week" } else { "Day" },
            form_token,
            "agenda",
        ),
        slug: tenant.spec.slug.clone(),
        view: if week { "week" } else { "day" },
        date: date.to_string(),
        prev: date.checked_sub(step).unwrap_or(date).to_string(),
        next: date.checked_add(step).unwrap_or(date).to_string(),
        date_error,
        done,
        days,
        providers: tenant
            .spec
            .providers
            .iter()
            .map(|p| p.name.clone())
            .collect(),
        problem,
    };
    render(&html, status)
}

/// `GET /console/tenants/{id}?date=&view=day|week`: today by default.
#[handler]
pub async fn page(
    Operator(session): Operator,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(q): Query<ViewQuery>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let today = today_local(state.clock.now(), &zone(&tenant));
    let (date, date_error, status) =
        match q.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            None => (today, None, StatusCode::OK),
            Some(raw) => match parse_date(raw) {
                Some(d) => (d, None, StatusCode::OK),
                None => (
                    today,
                    Some(format!(
                        "{raw:?} is not a date; use YYYY-MM-DD (showing today instead)"
                    )),
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
            },
        };
    let week = q.view.as_deref() == Some("week");
    let done = match q.done.as_deref() {
        Some("moved") => Some("The appointment was moved; its reminders follow it."),
        Some("cancelled") => Some("The appointment was cancelled and its time is free again."),
        _ => None,
    };
    Ok(show(
        &state,
        tenant,
        &session.form_token,
        date,
        week,
        date_error,
        done,
        None,
        status,
    )
    .await?)
}

/// Where to go back to after a form: the view it was posted from.
fn back(form: &Posted, tenant: &Tenant, now: Timestamp) -> (Date, bool) {
    let date =
        parse_date(form.text("back_date")).unwrap_or_else(|| today_local(now, &zone(tenant)));
    (date, form.text("view") == "week")
}

/// A refusal as the field it is about and what to do.
fn problem_of(e: AgendaError) -> Result<(String, String, StatusCode), ConsoleError> {
    match e {
        AgendaError::Invalid { field, message } => {
            Ok((field.into(), message, StatusCode::UNPROCESSABLE_ENTITY))
        }
        AgendaError::Taken(message) => Ok(("time".into(), message, StatusCode::CONFLICT)),
        AgendaError::Db(DbError::Conflict(msg)) => {
            let (field, message) = msg.split_once(": ").unwrap_or(("status", msg.as_str()));
            Ok((field.into(), message.into(), StatusCode::CONFLICT))
        }
        AgendaError::Db(DbError::NotFound) => Err(ConsoleError::NotFound(
            "no such appointment for this tenant; it may have been deleted".into(),
        )),
        AgendaError::Db(e) => Err(e.into()),
    }
}

fn optional(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// `POST /console/tenants/{id}/appointments/{appt}/move` with `date`, `time`, `provider`.
#[handler]
pub async fn move_appointment(
    form: Posted,
    state: Data<&AppState>,
    Path((id, appt)): Path<(String, i64)>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let req = MoveRequest {
        date: optional(form.text("date")),
        time: optional(form.text("time")),
        provider: optional(form.text("provider")),
        // An unticked box is not sent.
        notify: Some(form.text("notify") == "yes"),
    };
    let view = if form.text("view") == "week" {
        "week"
    } else {
        "day"
    };
    match agenda::reschedule(
        &state.store,
        state.settings.messaging_profile_id.clone(),
        &tenant,
        appt,
        req,
        state.clock.now(),
    )
    .await
    {
        Ok(moved) => {
            tracing::info!(
                tenant = tenant.id,
                appointment = appt,
                "appointment moved from the console"
            );
            state.outbox.notify_one();
            let date = Timestamp::from_second(moved.start_at)
                .map(|t| t.to_zoned(zone(&tenant)).date().to_string())
                .unwrap_or_default();
            Ok(see_other(&format!(
                "/console/tenants/{}?date={date}&view={view}&done=moved",
                tenant.spec.slug
            )))
        }
        Err(e) => {
            let typed = MoveForm {
                date: form.text("date").to_string(),
                time: form.text("time").to_string(),
                provider: form.text("provider").to_string(),
            };
            Ok(refused_in_place(&state, &form, tenant, appt, e, typed).await?)
        }
    }
}

/// The view the form was posted from again, with refusal `e` shown on appointment `appt`
/// and what was `typed` kept in its form.
async fn refused_in_place(
    state: &AppState,
    form: &Posted,
    tenant: Tenant,
    appt: i64,
    e: AgendaError,
    typed: MoveForm,
) -> Result<Response, ConsoleError> {
    let (field, message, status) = problem_of(e)?;
    let (date, week) = back(form, &tenant, state.clock.now());
    let problem = Problem {
        appointment: appt,
        field,
        message,
        form: typed,
    };
    show(
        state,
        tenant,
        &form.session.form_token,
        date,
        week,
        None,
        None,
        Some(problem),
        status,
    )
    .await
}

/// `POST /console/tenants/{id}/appointments/{appt}/cancel`.
#[handler]
pub async fn cancel(
    form: Posted,
    state: Data<&AppState>,
    Path((id, appt)): Path<(String, i64)>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let view = if form.text("view") == "week" {
        "week"
    } else {
        "day"
    };
    match agenda::cancel(
        &state.store,
        state.settings.messaging_profile_id.clone(),
        &tenant,
        appt,
        form.text("notify") == "yes",
        state.clock.now(),
    )
    .await
    {
        Ok(_) => {
            tracing::info!(
                tenant = tenant.id,
                appointment = appt,
                "appointment cancelled from the console"
            );
            state.outbox.notify_one();
            let (date, _) = back(&form, &tenant, state.clock.now());
            Ok(see_other(&format!(
                "/console/tenants/{}?date={date}&view={view}&done=cancelled",
                tenant.spec.slug
            )))
        }
        Err(e) => Ok(refused_in_place(
            &state,
            &form,
            tenant,
            appt,
            AgendaError::Db(e),
            MoveForm::default(),
        )
        .await?),
    }
}
