//! What the line says: every wording field in one form (saved only when the tenant check
//! accepts it all, with the refusal shown under its field), the documents to edit, and a
//! preview of what a caller hears at each step, built by the functions that answer
//! Telnyx with the tenant's real values, plus each booking text filled with a sample
//! booking; and the wording's history (who changed it, when, what differs from now),
//! each version one click from being restored.

use askama::Template;
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{apply_patch, apply_patch_by};
use crate::{
    call::heard::{self, Verb},
    cli::PreviewStep,
    console::{
        ConsoleError,
        auth::{Operator, Posted},
        render, see_other, tenant,
        view::{Frame, when, zone},
    },
    db::{self, tenants::Tenant},
    domain::FieldError,
    flow::preview,
    startup::AppState,
    texml::docs::NAMES,
    wording::{self, FIELDS, Values},
};

/// One wording field in the form.
pub struct FieldRow {
    name: &'static str,
    when: &'static str,
    placeholders: String,
    value: String,
    default: &'static str,
    sample: String,
    error: Option<String>,
}

/// One step of the call as a caller hears it.
pub struct Step {
    title: &'static str,
    lines: Vec<String>,
}

/// One version of the wording in the history.
pub struct VersionRow {
    id: i64,
    saved: String,
    by: String,
    /// The fields in which it differs from the wording now; empty for the current one.
    differs: String,
}

#[derive(Template)]
#[template(path = "console/wording.html")]
struct Page {
    frame: Frame,
    slug: String,
    fields: Vec<FieldRow>,
    steps: Vec<Step>,
    documents: &'static [&'static str],
    versions: Vec<VersionRow>,
    notice: Option<&'static str>,
    other_error: Option<String>,
}

/// The history rows of `tenant`'s wording, newest first.
fn version_rows(tenant: &Tenant, versions: Vec<db::wording::Version>) -> Vec<VersionRow> {
    let tz = zone(tenant);
    let now = wording::snapshot(&tenant.spec);
    versions
        .into_iter()
        .map(|v| {
            let body: Map<String, Value> = serde_json::from_str(&v.body).unwrap_or_default();
            let differs: Vec<&str> = FIELDS
                .iter()
                .map(|f| f.name)
                .filter(|name| body.get(*name).unwrap_or(&Value::Null) != &now[*name])
                .collect();
            VersionRow {
                id: v.id,
                saved: when(v.saved_at, &tz),
                by: v.saved_by,
                differs: differs.join(", "),
            }
        })
        .collect()
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct WordingQuery {
    done: Option<String>,
}

/// Lines a caller hears in `verbs`.
pub fn heard_lines(verbs: &[Verb]) -> Vec<String> {
    verbs
        .iter()
        .filter_map(|v| match v {
            Verb::Say { text, .. } => Some(text.clone()),
            Verb::Gather(g) => Some(format!("{} (then the AI listens)", g.greeting)),
            Verb::Dial(_) => Some("(the call is handed to the tenant's number)".into()),
            Verb::Hangup => Some("(the line hangs up)".into()),
            Verb::Other(_) => None,
        })
        .collect()
}

/// What a caller hears at each step, for `tenant` as stored.
fn steps(state: &AppState, tenant: &Tenant) -> Vec<Step> {
    [
        ("When the call is answered", PreviewStep::Voice),
        (
            "After an answer the line could not read",
            PreviewStep::Gather,
        ),
        ("While the tenant is closed", PreviewStep::Closed),
        (
            "If slotline cannot be reached (fallback)",
            PreviewStep::Fallback,
        ),
    ]
    .into_iter()
    .map(|(title, step)| {
        let lines = match preview::document(state, tenant, step) {
            Ok(doc) => match heard::read(doc.as_str()) {
                Ok(verbs) => heard_lines(&verbs),
                Err(e) => vec![e.to_string()],
            },
            Err(e) => vec![format!("this step cannot be previewed: {e}")],
        };
        Step { title, lines }
    })
    .collect()
}

fn rows(tenant: &Tenant, posted: Option<&Posted>, error: Option<&FieldError>) -> Vec<FieldRow> {
    let spec = &tenant.spec;
    let first_provider = spec.providers.first().map(|p| p.name.as_str());
    let first_service = spec.services.first().map(|s| s.name.to_lowercase());
    FIELDS
        .iter()
        .map(|f| {
            let value = match posted {
                Some(p) => p.raw(f.name).unwrap_or_default().to_string(),
                None => spec.wording(f).to_string(),
            };
            let sample = Values {
                name: Some("Jane Doe"),
                service: first_service.as_deref(),
                provider: first_provider,
                date: Some("Tuesday, November 24"),
                time: Some("3:00 PM"),
                business: Some(&spec.name),
            };
            FieldRow {
                name: f.name,
                when: f.when,
                placeholders: f
                    .allowed
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                sample: wording::fill(spec.wording(f), &sample),
                value,
                default: f.default,
                error: error
                    .filter(|e| e.field == f.name)
                    .map(|e| e.message.clone()),
            }
        })
        .collect()
}

async fn page_for(
    state: &AppState,
    tenant: &Tenant,
    form_token: &str,
    posted: Option<&Posted>,
    error: Option<FieldError>,
    notice: Option<&'static str>,
) -> Result<Page, ConsoleError> {
    let tenant_id = tenant.id;
    let versions = state.store.tenants().wording_versions(tenant_id).await?;
    let other_error = error
        .as_ref()
        .filter(|e| !FIELDS.iter().any(|f| f.name == e.field))
        .map(|e| e.to_string());
    Ok(Page {
        frame: Frame::of(tenant, "What the line says", form_token, "wording"),
        slug: tenant.spec.slug.clone(),
        fields: rows(tenant, posted, error.as_ref()),
        steps: steps(state, tenant),
        documents: &NAMES,
        versions: version_rows(tenant, versions),
        notice,
        other_error,
    })
}

/// `GET /console/tenants/{id}/wording`.
#[handler]
pub async fn page(
    Operator(session): Operator,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(q): Query<WordingQuery>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let notice = match q.done.as_deref() {
        Some("saved") => {
            Some("Saved. The next call hears the new wording; the preview below shows it.")
        }
        Some("restored") => Some(
            "Restored as the newest version. The next call hears it; the preview below shows it.",
        ),
        _ => None,
    };
    let html = page_for(&state, &tenant, &session.form_token, None, None, notice).await?;
    Ok(render(&html, StatusCode::OK)?)
}

/// `POST /console/tenants/{id}/wording`: every field at once; an empty field goes back
/// to the default.
#[handler]
pub async fn save(
    form: Posted,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let mut patch = Map::new();
    for f in FIELDS {
        let text = form.text(f.name);
        let value = if text.is_empty() || text == f.default {
            Value::Null
        } else {
            Value::String(text.to_string())
        };
        patch.insert(f.name.to_string(), value);
    }
    let outcome = apply_patch(&state, tenant.id, patch).await?;
    Ok(saved_or_refused(&state, &form, &tenant, outcome, "saved", Some(&form)).await?)
}

/// After a change: back to the page saying `done`, or the page again with the refusal in
/// place (and what was `posted` kept).
async fn saved_or_refused(
    state: &AppState,
    form: &Posted,
    tenant: &Tenant,
    outcome: Result<Tenant, FieldError>,
    done: &str,
    posted: Option<&Posted>,
) -> Result<Response, ConsoleError> {
    match outcome {
        Ok(saved) => Ok(see_other(&format!(
            "/console/tenants/{}/wording?done={done}",
            saved.spec.slug
        ))),
        Err(e) => {
            let token = &form.session.form_token;
            let html = page_for(state, tenant, token, posted, Some(e), None).await?;
            render(&html, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

/// `POST /console/tenants/{id}/wording/restore` with `version`: that version's wording
/// becomes the tenant's (checked again, as any change) and the newest version.
#[handler]
pub async fn restore(
    form: Posted,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    let tenant = tenant(&state, id).await?;
    let wanted = super::chosen_version(&form)?;
    let tenant_id = tenant.id;
    let old = state
        .store
        .tenants()
        .wording_version(tenant_id, wanted)
        .await
        .map_err(ConsoleError::from)?
        .ok_or_else(|| ConsoleError::NotFound(format!("the wording has no version {wanted}")))?;
    let patch: Map<String, Value> = serde_json::from_str(&old.body)
        .map_err(|e| ConsoleError::NotFound(format!("version {wanted} cannot be read: {e}")))?;
    let by = format!("console (restored version {wanted})");
    // An old version the tenant check no longer takes (a placeholder dropped since, say)
    // is refused in place, and nothing changes.
    let outcome = apply_patch_by(&state, tenant.id, patch, by).await?;
    Ok(saved_or_refused(&state, &form, &tenant, outcome, "restored", None).await?)
}
