//! The operators' API (`/tenants…`), JSON in and out, behind a bearer token checked by the
//! [`Admin`] extractor so no handler can skip it. Wrong tokens are throttled per client
//! ([`super::throttle`]); `GET /tenants/{id}` carries an `ETag` that `PATCH` checks against
//! `If-Match`, so two operators cannot silently overwrite each other.

use poem::{
    FromRequest, IntoResponse, Request, RequestBody, Response, handler,
    http::{HeaderMap, StatusCode, header},
    web::{Data, Json, Path, Query},
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::paging;
use crate::{
    body::AdminBody, db, domain::TenantSpec, error::AppError, startup::AppState, tenant_changes,
};

/// Proof that the request carried the admin token.
pub struct Admin;

/// The token in `Authorization: Bearer <token>` (the scheme in any case), trimmed.
fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim())
}

impl<'a> FromRequest<'a> for Admin {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = req
            .data::<AppState>()
            .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
        let client = req.remote_addr().as_socket_addr().map(|a| a.ip());
        check_admin_token(state, client, bearer(req.headers()))?;
        Ok(Admin)
    }
}

/// Checks `given` against the admin token for `client`: a client that sent too many
/// wrong tokens is made to wait, and a wrong one counts against it. The console's sign-in
/// uses the same check, so both share one throttle.
pub fn check_admin_token(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    given: &str,
) -> Result<(), AppError> {
    let Some(expected) = &state.settings.admin_token else {
        return Err(AppError::AdminDisabled);
    };
    let now = state.clock.now().as_second();
    if let Some(ip) = client
        && let Err(retry_after) = state.admin_throttle.check(ip, now)
    {
        return Err(AppError::TooManyAttempts { retry_after });
    }
    // Digests of equal length, so the comparison does not reveal the token's length.
    let given = Sha256::digest(given.as_bytes());
    let wanted = Sha256::digest(expected.expose().as_bytes());
    if bool::from(given.as_slice().ct_eq(wanted.as_slice())) {
        Ok(())
    } else {
        if let Some(ip) = client {
            state.admin_throttle.failed(ip, now);
        }
        Err(AppError::Unauthorized)
    }
}

/// Whether an `If-Match` header value allows changing the version tagged `etag`: `*`, or
/// a list naming it (strong comparison, so a weak `W/` tag never matches).
fn if_match_allows(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag)
}

/// A tenant as JSON with its `ETag`.
fn tagged(tenant: &db::tenants::Tenant) -> Response {
    let etag = tenant.etag();
    Json(tenant.to_json())
        .with_header(header::ETAG, etag)
        .into_response()
}

/// Reads the body as JSON, turning a syntax error into a 400 that says where.
pub(super) async fn json_body(body: Vec<u8>) -> Result<Value, AppError> {
    if body.is_empty() {
        return Err(AppError::BadJson(
            "the body is empty; send the tenant as JSON".into(),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| AppError::BadJson(e.to_string()))
}

/// `POST /tenants`: 201 with the stored tenant.
#[handler]
pub async fn create_tenant(
    _: Admin,
    req: &Request,
    state: Data<&AppState>,
    AdminBody(body): AdminBody,
) -> poem::Result<(StatusCode, Json<Value>)> {
    let by = super::documents::actor(req)?;
    let spec = TenantSpec::from_json(&json_body(body).await?).map_err(AppError::from)?;
    let tenant = tenant_changes::create(&state.store, &state.docs, spec, by, state.clock.now())
        .await
        .map_err(AppError::from)?;
    state.directory.clear();
    state.cards.put(tenant.id, &tenant.spec);
    tracing::info!(tenant = tenant.id, slug = %tenant.spec.slug, "tenant created");
    Ok((StatusCode::CREATED, Json(tenant.to_json())))
}

/// `GET /tenants`.
#[handler]
pub async fn list_tenants(_: Admin, state: Data<&AppState>) -> poem::Result<Json<Value>> {
    let tenants = state.store.tenants().list().await.map_err(AppError::from)?;
    Ok(Json(Value::Array(
        tenants.iter().map(|t| t.to_json()).collect(),
    )))
}

fn not_found() -> AppError {
    AppError::NotFound("no tenant with that id or slug".into())
}

/// The tenant named by `id` (id or slug), or 404.
pub(super) async fn find(state: &AppState, id: String) -> Result<db::tenants::Tenant, AppError> {
    state.store.tenants().find(id).await.map_err(|e| match e {
        db::DbError::NotFound => not_found(),
        other => other.into(),
    })
}

/// `GET /tenants/{id}` (id or slug), with its `ETag`.
#[handler]
pub async fn get_tenant(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Response> {
    Ok(tagged(&find(&state, id).await?))
}

/// `PATCH /tenants/{id}`: top-level fields in the body replace the stored ones; the result
/// is validated whole and written in one transaction. With `If-Match`, the write happens
/// only if the stored tenant is still that version (checked on the writer, so no other
/// write slips in between); otherwise 412.
#[handler]
pub async fn patch_tenant(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
    req: &Request,
    AdminBody(body): AdminBody,
) -> poem::Result<Response> {
    let if_match = req
        .headers()
        .get(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let by = super::documents::actor(req)?;
    let patch = json_body(body).await?;
    let Some(patch) = patch.as_object() else {
        return Err(
            AppError::BadJson("send a JSON object with the fields to change".into()).into(),
        );
    };
    // Read, check, merge and write in one transaction on the writer: nothing can change
    // the tenant between the version checked and the version merged onto, and its
    // documents move with a slug change in the same step.
    let patch = patch.clone();
    let merge = move |stored: &db::tenants::Tenant| {
        if let Some(given) = if_match
            && !if_match_allows(&given, &stored.etag())
        {
            let current = stored.etag();
            return Err(AppError::PreconditionFailed { given, current });
        }
        let mut merged = stored.spec.to_json();
        for (k, v) in patch {
            merged[k] = v;
        }
        TenantSpec::from_json(&merged).map_err(AppError::from)
    };
    let tenant =
        tenant_changes::update(&state.store, &state.docs, id, merge, by, state.clock.now())
            .await
            .map_err(AppError::from)??;
    state.directory.clear();
    state.cards.put(tenant.id, &tenant.spec);
    Ok(tagged(&tenant))
}

/// `DELETE /tenants/{id}`: 204; the tenant's appointments go with it, and its TeXML
/// documents are archived.
#[handler]
pub async fn delete_tenant(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<StatusCode> {
    let tenant = find(&state, id).await?;
    tenant_changes::delete(&state.store, &state.docs, tenant.id, state.clock.now())
        .await
        .map_err(AppError::from)?;
    state.directory.clear();
    state.cards.remove(tenant.id);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /tenants/{id}/appointments?from=&to=&call_sid=&limit=&cursor=`: one page, soonest
/// first; `from`/`to` are local dates (inclusive). Rows become JSON on the blocking pool,
/// off the serving threads.
#[handler]
pub async fn list_appointments(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    req: &poem::Request,
) -> poem::Result<poem::Response> {
    let tenant = find(&state, id).await?;
    let tz =
        crate::tzdb::get(&tenant.spec.timezone).map_err(|e| AppError::Internal(e.to_string()))?;
    let arg = |name: &str| paging::arg(&query, name);
    let day_start = |field: &str, days: i64| -> Result<Option<i64>, AppError> {
        let Some(raw) = arg(field) else {
            return Ok(None);
        };
        let date = crate::domain::tenant::parse_date(raw).ok_or_else(|| {
            AppError::Invalid(crate::domain::FieldError {
                field: field.into(),
                message: format!("{raw:?} is not a date; use YYYY-MM-DD"),
            })
        })?;
        let day = date
            .checked_add(jiff::Span::new().days(days))
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let start = day
            .to_zoned(tz.clone())
            .map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Some(start.timestamp().as_second()))
    };
    let limit = paging::limit(arg("limit"))?;
    let page = db::appointments::ListQuery {
        from: day_start("from", 0)?,
        to: day_start("to", 1)?,
        call_sid: arg("call_sid").map(str::to_string),
        after: paging::parse_cursor(arg("cursor"))?,
        // One more than the page, to know whether there is a next one.
        limit: limit + 1,
    };
    let (tenant_id, now) = (tenant.id, state.clock.now().as_second());
    let rows = state
        .store
        .appointments()
        .list(tenant_id, now, page)
        .await
        .map_err(AppError::from)?;
    let (rows, next) = paging::split(rows, limit, |r| (r.start_at, r.id));
    let list: Vec<Value> = rows
        .iter()
        .map(|r| db::appointments::admin_json(r, &tz))
        .collect();
    let list = Value::Array(list);
    Ok(paging::answer(list, next, req.uri().path(), &query))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_names_the_version_or_any() {
        assert!(if_match_allows("\"abc\"", "\"abc\""));
        assert!(if_match_allows("\"x\", \"abc\"", "\"abc\""));
        assert!(if_match_allows("*", "\"abc\""));
        assert!(!if_match_allows("\"abd\"", "\"abc\""));
        assert!(
            !if_match_allows("W/\"abc\"", "\"abc\""),
            "strong comparison"
        );
        assert!(!if_match_allows("", "\"abc\""));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_trimmed() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer  tok ".parse().unwrap());
        assert_eq!(bearer(&h), "tok");
        h.insert(header::AUTHORIZATION, "Basic tok".parse().unwrap());
        assert_eq!(bearer(&h), "");
    }
}
