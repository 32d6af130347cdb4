//! The operators' API (`/tenants…`), JSON in and out, behind a bearer token checked by the
//! [`Admin`] extractor so no handler can skip it.

use poem::{
    FromRequest, IntoResponse, Request, RequestBody, handler,
    http::StatusCode,
    web::{Data, Json, Path, Query},
};
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::paging;
use crate::{db, domain::TenantSpec, error::AppError, startup::AppState, tenant_changes};

/// Proof that the request carried the admin token.
pub struct Admin;

impl<'a> FromRequest<'a> for Admin {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = req
            .data::<AppState>()
            .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
        let Some(expected) = &state.settings.admin_token else {
            return Err(AppError::AdminDisabled.into());
        };
        let given = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if bool::from(given.trim().as_bytes().ct_eq(expected.expose().as_bytes())) {
            Ok(Admin)
        } else {
            Err(AppError::Unauthorized.into())
        }
    }
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
    state: Data<&AppState>,
    body: Vec<u8>,
) -> poem::Result<(StatusCode, Json<Value>)> {
    let spec = TenantSpec::from_json(&json_body(body).await?).map_err(AppError::from)?;
    let tenant = tenant_changes::create(&state.db, &state.docs, spec, state.clock.now())
        .await
        .map_err(AppError::from)?;
    state.cards.put(tenant.id, &tenant.spec);
    state.directory.clear();
    tracing::info!(tenant = tenant.id, slug = %tenant.spec.slug, "tenant created");
    Ok((StatusCode::CREATED, Json(tenant.to_json())))
}

/// `GET /tenants`.
#[handler]
pub async fn list_tenants(_: Admin, state: Data<&AppState>) -> poem::Result<Json<Value>> {
    let tenants = state
        .db
        .run(|c| db::tenants::list(c))
        .await
        .map_err(AppError::from)?;
    Ok(Json(Value::Array(
        tenants.iter().map(|t| t.to_json()).collect(),
    )))
}

/// The tenant named by `id` (id or slug), or 404.
pub(super) async fn find(state: &AppState, id: String) -> Result<db::tenants::Tenant, AppError> {
    state
        .db
        .run(move |c| db::tenants::find(c, &id))
        .await
        .map_err(|e| match e {
            db::DbError::NotFound => AppError::NotFound("no tenant with that id or slug".into()),
            other => other.into(),
        })
}

/// `GET /tenants/{id}` (id or slug).
#[handler]
pub async fn get_tenant(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
) -> poem::Result<Json<Value>> {
    Ok(Json(find(&state, id).await?.to_json()))
}

/// `PATCH /tenants/{id}`: top-level fields in the body replace the stored ones; the result
/// is validated whole and written in one transaction.
#[handler]
pub async fn patch_tenant(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
    body: Vec<u8>,
) -> poem::Result<Json<Value>> {
    let patch = json_body(body).await?;
    let Some(patch) = patch.as_object() else {
        return Err(
            AppError::BadJson("send a JSON object with the fields to change".into()).into(),
        );
    };
    let current = find(&state, id).await?;
    let mut merged = current.spec.to_json();
    for (k, v) in patch {
        merged[k] = v.clone();
    }
    let spec = TenantSpec::from_json(&merged).map_err(AppError::from)?;
    let tenant_id = current.id;
    let tenant = tenant_changes::update(&state.db, &state.docs, tenant_id, spec, state.clock.now())
        .await
        .map_err(AppError::from)?;
    state.cards.put(tenant.id, &tenant.spec);
    state.directory.clear();
    Ok(Json(tenant.to_json()))
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
    tenant_changes::delete(&state.db, &state.docs, tenant.id, state.clock.now())
        .await
        .map_err(AppError::from)?;
    state.cards.remove(tenant.id);
    state.directory.clear();
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
    let tz = jiff::tz::TimeZone::get(&tenant.spec.timezone)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let arg = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
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
    let page = db::appointments::ListQuery {
        from: day_start("from", 0)?,
        to: day_start("to", 1)?,
        call_sid: arg("call_sid").map(str::to_string),
        after: paging::parse_cursor(arg("cursor"))?,
        limit: paging::limit(arg("limit"))? + 1,
    };
    let (tenant_id, now) = (tenant.id, state.clock.now().as_second());
    let (list, next) = state
        .db
        .run(move |c| {
            let mut rows = db::appointments::list(c, tenant_id, now, &page)?;
            let next = (rows.len() == page.limit).then(|| {
                rows.pop();
                rows.last().map(|r| paging::cursor(r.start_at, r.id))
            });
            let local = |secs: i64| {
                jiff::Timestamp::from_second(secs)
                    .map(|t| {
                        t.to_zoned(tz.clone())
                            .strftime("%Y-%m-%dT%H:%M:%S%:z")
                            .to_string()
                    })
                    .unwrap_or_default()
            };
            let list: Vec<Value> = rows
                .into_iter()
                .map(|r| {
                    let mut v = serde_json::to_value(&r).unwrap_or_default();
                    v["start"] = local(r.start_at).into();
                    v["end"] = local(r.end_at).into();
                    v
                })
                .collect();
            Ok((Value::Array(list), next.flatten()))
        })
        .await
        .map_err(AppError::from)?;
    let mut resp = Json(list).into_response();
    if let Some((name, value)) = next.and_then(|n| paging::next_link(req.uri().path(), &query, &n))
    {
        resp.headers_mut().insert(name, value);
    }
    Ok(resp)
}
