//! One TeXML document in an editor: saved only when the check accepts it (problems listed
//! with their line and column, nothing written otherwise), a preview of what a caller
//! hears with the tenant's values and the sample booking, and the version history with
//! who saved each one and a restore button.

use askama::Template;
use poem::{
    Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;

use super::wording::heard_lines;
use crate::{
    call::heard,
    console::{
        ConsoleError,
        auth::{Operator, Posted},
        render, see_other, tenant,
        view::{Frame, when, zone},
    },
    db::tenants::Tenant,
    routes::write_checked,
    startup::AppState,
    texml::docs::{FileProblem, NAMES, check_document, render::DocValues, render_checked},
};

/// One version in the history.
pub struct VersionRow {
    id: i64,
    saved_at: String,
    saved_by: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "console/document.html")]
struct Page {
    frame: Frame,
    slug: String,
    name: &'static str,
    names: &'static [&'static str],
    source: &'static str,
    text: String,
    problems: Vec<FileProblem>,
    heard: Vec<String>,
    versions: Vec<VersionRow>,
    notice: Option<String>,
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct DocQuery {
    saved: Option<i64>,
    restored: Option<i64>,
}

fn document_name(name: &str) -> Result<&'static str, ConsoleError> {
    NAMES.iter().copied().find(|n| *n == name).ok_or_else(|| {
        ConsoleError::NotFound(format!(
            "no document named {name:?}; the documents are {}",
            NAMES.join(", ")
        ))
    })
}

/// Renders the editor; `draft` (a refused text) replaces the stored one in the editor.
async fn show(
    state: &AppState,
    tenant: &Tenant,
    form_token: &str,
    name: &'static str,
    draft: Option<(String, Vec<FileProblem>)>,
    notice: Option<String>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let slug = &tenant.spec.slug;
    let (stored, source) = state
        .docs
        .get(Some(slug), name)
        .map(|(t, s)| (t.to_string(), s.as_str()))
        .unwrap_or_default();
    let heard = match render_checked(&stored, &DocValues::sample_for(&tenant.spec)) {
        Ok(xml) => heard::read(&xml)
            .map(|v| heard_lines(&v))
            .unwrap_or_else(|e| vec![e.to_string()]),
        Err(e) => vec![format!(
            "the document does not render with this tenant's values: {e}"
        )],
    };
    let tenant_id = tenant.id;
    let found = state.store.documents().versions(tenant_id, name).await?;
    let tz = zone(tenant);
    let newest = found.last().map(|v| v.id);
    let versions = found
        .iter()
        .rev()
        .map(|v| VersionRow {
            id: v.id,
            saved_at: when(v.saved_at, &tz),
            saved_by: v.saved_by.clone(),
            current: Some(v.id) == newest && v.body == stored,
        })
        .collect();
    let (text, problems) = draft.unwrap_or((stored, Vec::new()));
    let html = Page {
        frame: Frame::of(
            tenant,
            format!("Document {name}.xml"),
            form_token,
            "wording",
        ),
        slug: slug.clone(),
        name,
        names: &NAMES,
        source,
        text,
        problems,
        heard,
        versions,
        notice,
    };
    render(&html, status)
}

/// `GET /console/tenants/{id}/documents/{name}`.
#[handler]
pub async fn page(
    Operator(session): Operator,
    state: Data<&AppState>,
    Path((id, name)): Path<(String, String)>,
    Query(q): Query<DocQuery>,
) -> poem::Result<Response> {
    let name = document_name(&name)?;
    let tenant = tenant(&state, id).await?;
    let notice = match (q.saved, q.restored) {
        (_, Some(v)) => Some(format!("Version {v} is restored and served from now on.")),
        (Some(v), _) => Some(format!("Saved as version {v}; it is served from now on.")),
        _ => None,
    };
    Ok(show(
        &state,
        &tenant,
        &session.form_token,
        name,
        None,
        notice,
        StatusCode::OK,
    )
    .await?)
}

/// Checks and writes `text`; on problems, the editor again with them (nothing written).
async fn check_and_write(
    state: &AppState,
    form: &Posted,
    tenant: &Tenant,
    name: &'static str,
    text: String,
    saved_by: &str,
    done: &str,
) -> Result<Response, ConsoleError> {
    let file = format!("{}/{name}.xml", tenant.spec.slug);
    if let Err(problems) = check_document(&file, name, &text) {
        return show(
            state,
            tenant,
            &form.session.form_token,
            name,
            Some((text, problems)),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let version = write_checked(state, tenant, name, text, saved_by).await?;
    tracing::info!(
        tenant = tenant.id,
        document = name,
        version,
        "TeXML document saved from the console"
    );
    let shown = if done == "restored" {
        form.text("version").parse().unwrap_or(version)
    } else {
        version
    };
    Ok(see_other(&format!(
        "/console/tenants/{}/documents/{name}?{done}={shown}",
        tenant.spec.slug
    )))
}

/// `POST /console/tenants/{id}/documents/{name}` with `body`.
#[handler]
pub async fn save(
    form: Posted,
    state: Data<&AppState>,
    Path((id, name)): Path<(String, String)>,
) -> poem::Result<Response> {
    let name = document_name(&name)?;
    let tenant = tenant(&state, id).await?;
    // Browsers send textarea line breaks as CRLF.
    let text = form.raw("body").unwrap_or_default().replace("\r\n", "\n");
    Ok(check_and_write(&state, &form, &tenant, name, text, "console", "saved").await?)
}

/// `POST /console/tenants/{id}/documents/{name}/restore` with `version`: that version's
/// text becomes the newest version (checked again, as any save).
#[handler]
pub async fn restore(
    form: Posted,
    state: Data<&AppState>,
    Path((id, name)): Path<(String, String)>,
) -> poem::Result<Response> {
    let name = document_name(&name)?;
    let tenant = tenant(&state, id).await?;
    let wanted = super::chosen_version(&form)?;
    let tenant_id = tenant.id;
    let versions = state
        .store
        .documents()
        .versions(tenant_id, name)
        .await
        .map_err(ConsoleError::from)?;
    let Some(old) = versions.into_iter().find(|v| v.id == wanted) else {
        return Err(ConsoleError::NotFound(format!("{name}.xml has no version {wanted}")).into());
    };
    let by = format!("console (restored version {wanted})");
    Ok(check_and_write(&state, &form, &tenant, name, old.body, &by, "restored").await?)
}
