//! A tenant's texts, newest first: status from queued to delivered or failed with
//! Telnyx's error, attempts, the words sent; a failed text can be requeued (the same
//! operation as `POST /tenants/{id}/messages/{msg}/requeue`).

use askama::Template;
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;

use crate::{
    console::{
        ConsoleError,
        auth::{Operator, Posted},
        render, see_other, tenant,
        view::{Frame, masked, when, zone},
    },
    db::{self, DbError, tenants::Tenant},
    startup::AppState,
};

/// Texts shown on the page.
const SHOWN: usize = 100;

/// One text as the page shows it.
pub struct Row {
    id: i64,
    due: String,
    kind: String,
    to: String,
    status: String,
    attempts: u32,
    error: Option<String>,
    text: Option<String>,
    appointment: Option<i64>,
}

#[derive(Template)]
#[template(path = "console/texts.html")]
struct Page {
    frame: Frame,
    slug: String,
    rows: Vec<Row>,
    notice: Option<&'static str>,
    problem: Option<(i64, String)>,
}

impl Page {
    fn problem_for(&self, id: &i64) -> Option<&str> {
        self.problem
            .as_ref()
            .filter(|(p, _)| p == id)
            .map(|(_, m)| m.as_str())
    }
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct TextsQuery {
    done: Option<String>,
}

async fn show(
    state: &AppState,
    tenant: Tenant,
    form_token: &str,
    notice: Option<&'static str>,
    problem: Option<(i64, String)>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let tz = zone(&tenant);
    let tenant_id = tenant.id;
    let list = state
        .store
        .outbox()
        .list(
            tenant_id,
            db::outbox::ListQuery {
                limit: SHOWN,
                ..Default::default()
            },
        )
        .await?;
    let rows = list
        .into_iter()
        .map(|r| Row {
            id: r.id,
            due: when(r.due_at, &tz),
            kind: r.kind,
            to: masked(Some(&r.to)),
            status: r.status,
            attempts: r.attempts,
            error: r.last_error,
            text: r.text,
            appointment: r.appointment_id,
        })
        .collect();
    let html = Page {
        frame: Frame::of(&tenant, "Texts", form_token, "texts"),
        slug: tenant.spec.slug.clone(),
        rows,
        notice,
        problem,
    };
    render(&html, status)
}

/// `GET /console/tenants/{id}/texts`.
#[handler]
pub async fn page(
    Operator(session): Operator,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(q): Query<TextsQuery>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let notice = (q.done.as_deref() == Some("requeued"))
        .then_some("The text is queued again and will be sent shortly.");
    Ok(show(
        &state,
        tenant,
        &session.form_token,
        notice,
        None,
        StatusCode::OK,
    )
    .await?)
}

/// `POST /console/tenants/{id}/texts/{msg}/requeue`.
#[handler]
pub async fn requeue(
    form: Posted,
    state: Data<&AppState>,
    Path((id, msg)): Path<(String, i64)>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let (tenant_id, now) = (tenant.id, state.clock.now().as_second());
    match state
        .store
        .outbox()
        .requeue_failed(tenant_id, msg, now)
        .await
    {
        Ok(()) => {
            state.outbox.notify_one();
            tracing::info!(
                tenant = tenant_id,
                text = msg,
                "failed text requeued from the console"
            );
            Ok(see_other(&format!(
                "/console/tenants/{}/texts?done=requeued",
                tenant.spec.slug
            )))
        }
        Err(DbError::Conflict(m)) => {
            let message = m.split_once(": ").map_or(m.clone(), |(_, m)| m.to_string());
            Ok(show(
                &state,
                tenant,
                &form.session.form_token,
                None,
                Some((msg, message)),
                StatusCode::CONFLICT,
            )
            .await?)
        }
        Err(DbError::NotFound) => {
            Err(ConsoleError::NotFound("this tenant has no such text".into()).into())
        }
        Err(e) => Err(ConsoleError::from(e).into()),
    }
}
