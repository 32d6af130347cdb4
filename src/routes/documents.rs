//! The operators' API for a tenant's TeXML documents (`/tenants/{id}/texml…`), behind the
//! same [`Admin`] token as the rest of the admin API. Documents are checked before they
//! are written; the file under `texml/<slug>/` is what is served, and every save is also
//! recorded in SQLite with its time and author.

use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Json, Path},
};
use serde_json::{Value, json};

use super::admin::{Admin, find};
use crate::{
    db,
    domain::FieldError,
    error::AppError,
    startup::AppState,
    texml::docs::{self, NAMES, check_document, render::DocValues, render_checked},
};

/// Header naming who made a change, recorded as `admin (label)`. There is one admin token,
/// so the label is the caller's own description, not an authenticated identity.
pub const ACTOR_HEADER: &str = "x-slotline-actor";

/// Who a change is recorded under: `admin`, or `admin (label)` from [`ACTOR_HEADER`].
pub(super) fn actor(req: &Request) -> Result<String, AppError> {
    let Some(value) = req.headers().get(ACTOR_HEADER) else {
        return Ok("admin".into());
    };
    let label = value.to_str().ok().map(str::trim).unwrap_or_default();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Err(AppError::Invalid(FieldError {
            field: "X-Slotline-Actor".into(),
            message: "must be 1 to 64 printable ASCII characters naming who made the change".into(),
        }));
    }
    Ok(format!("admin ({label})"))
}

/// Checks a document name from the URL: `[a-z0-9_-]+` (so no path can be built from it),
/// and one of the documents slotline serves.
fn document_name(name: &str) -> Result<&'static str, AppError> {
    if !docs::is_valid_name(name) {
        return Err(AppError::Invalid(FieldError {
            field: "name".into(),
            message: format!(
                "{name:?} is not a document name; names use only a-z, 0-9, '_' and '-' (e.g. fallback)"
            ),
        }));
    }
    NAMES.iter().copied().find(|n| *n == name).ok_or_else(|| {
        AppError::NotFound(format!(
            "no document named {name:?}; the documents are {}",
            NAMES.join(", ")
        ))
    })
}

/// Who the change is recorded under.
fn xml(body: String, source: Option<&str>) -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .content_type("application/xml; charset=utf-8");
    if let Some(source) = source {
        resp = resp.header("x-slotline-source", source);
    }
    resp.body(body)
}

fn utf8(body: Vec<u8>) -> Result<String, AppError> {
    String::from_utf8(body).map_err(|_| {
        AppError::Invalid(FieldError {
            field: "body".into(),
            message: "the document is not UTF-8; send it as UTF-8 text".into(),
        })
    })
}

/// `GET /tenants/{id}/texml`: every document and whether it is the default or the tenant's.
#[handler]
pub async fn list(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Json<Value>> {
    let tenant = find(&state, id).await?;
    let slug = &tenant.spec.slug;
    let list = NAMES
        .iter()
        .map(|name| {
            let source = state.docs.get(Some(slug), name).map(|(_, s)| s.as_str());
            json!({
                "name": name,
                "source": source,
                "file": state.docs.path_of(slug, name).display().to_string(),
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

/// `GET /tenants/{id}/texml/{name}`: the document as served (before placeholders are
/// filled); header `X-Slotline-Source` says `default` or `tenant`.
#[handler]
pub async fn read(
    _: Admin,
    state: Data<&AppState>,
    Path((id, name)): Path<(String, String)>,
) -> poem::Result<Response> {
    let name = document_name(&name)?;
    let tenant = find(&state, id).await?;
    let (text, source) = state
        .docs
        .get(Some(&tenant.spec.slug), name)
        .ok_or_else(|| AppError::NotFound(format!("no document named {name:?}")))?;
    Ok(xml(text.to_string(), Some(source.as_str())))
}

/// `PUT /tenants/{id}/texml/{name}`: checks the body, writes it atomically as the tenant's
/// document, records the version, and serves it from now on. 422 with line and column
/// when the document is invalid; nothing is written then.
#[handler]
pub async fn replace(
    _: Admin,
    req: &Request,
    state: Data<&AppState>,
    Path((id, name)): Path<(String, String)>,
    crate::body::AdminBody(body): crate::body::AdminBody,
) -> poem::Result<Json<Value>> {
    let name = document_name(&name)?;
    let saved_by = actor(req)?;
    let tenant = find(&state, id).await?;
    let text = utf8(body)?;
    let file = state
        .docs
        .path_of(&tenant.spec.slug, name)
        .display()
        .to_string();
    check_document(&file, name, &text).map_err(AppError::InvalidDocument)?;
    let version = write_checked(&state, &tenant, name, text, &saved_by).await?;
    tracing::info!(
        tenant = tenant.id,
        document = name,
        saved_by,
        "TeXML document saved"
    );
    Ok(Json(json!({
        "name": name,
        "source": "tenant",
        "file": file,
        "version": version,
        "saved_by": saved_by,
    })))
}

/// Writes `text` (already checked) as `tenant`'s document `name` and records the version
/// under `saved_by`; returns the version id. The console saves through this too.
pub async fn write_checked(
    state: &AppState,
    tenant: &db::tenants::Tenant,
    name: &'static str,
    text: String,
    saved_by: &str,
) -> Result<i64, AppError> {
    let file = state
        .docs
        .path_of(&tenant.spec.slug, name)
        .display()
        .to_string();
    let lib = state.docs.clone();
    let (to_write, owner) = (text.clone(), tenant.spec.slug.clone());
    let previous = tokio::task::spawn_blocking(move || lib.save(&owner, name, &to_write))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::Internal(format!("writing {file}: {e}")))?;
    let now = state.clock.now().as_second();
    Ok(state
        .store
        .documents()
        .record(tenant.id, name, previous, text, saved_by.to_string(), now)
        .await?)
}

/// `GET /tenants/{id}/texml/{name}/versions`: every recorded version, oldest first.
#[handler]
pub async fn versions(
    _: Admin,
    state: Data<&AppState>,
    Path((id, name)): Path<(String, String)>,
) -> poem::Result<Json<Value>> {
    let name = document_name(&name)?;
    let tenant = find(&state, id).await?;
    let tenant_id = tenant.id;
    let found = state
        .store
        .documents()
        .versions(tenant_id, name)
        .await
        .map_err(AppError::from)?;
    Ok(Json(serde_json::to_value(found).unwrap_or_default()))
}

/// `POST /tenants/{id}/texml/{name}/preview`: the document rendered with the tenant's
/// values and a sample booking. An empty body previews the document as served; a body is
/// a draft, checked like a save but not written.
#[handler]
pub async fn preview(
    _: Admin,
    state: Data<&AppState>,
    Path((id, name)): Path<(String, String)>,
    crate::body::AdminBody(body): crate::body::AdminBody,
) -> poem::Result<Response> {
    let name = document_name(&name)?;
    let tenant = find(&state, id).await?;
    let slug = &tenant.spec.slug;
    let text = if body.is_empty() {
        state
            .docs
            .get(Some(slug), name)
            .map(|(t, _)| t.to_string())
            .unwrap_or_default()
    } else {
        let draft = utf8(body)?;
        let file = state.docs.path_of(slug, name).display().to_string();
        check_document(&file, name, &draft).map_err(AppError::InvalidDocument)?;
        draft
    };
    let rendered = render_checked(&text, &DocValues::sample_for(&tenant.spec)).map_err(|e| {
        AppError::Invalid(FieldError {
            field: "body".into(),
            message: format!(
                "the document does not render to valid TeXML with this tenant's values: {e}"
            ),
        })
    })?;
    Ok(xml(rendered, None))
}
