//! `GET /tenants/{id}/calls`: the tenant's calls, outbound reminder attempts and inbound
//! calls together, newest first, in pages like the other lists.

use super::{admin::Admin, paging};
use crate::{error::AppError, startup::AppState};
use poem::{
    handler,
    web::{Data, Path, Query},
};

/// `GET /tenants/{id}/calls?limit=&cursor=`: each reminder call attempt (its outcome,
/// status, attempt, reason) and each inbound call, newest first; `Link` to the next page.
#[handler]
pub async fn list_calls(
    _: Admin,
    state: Data<&AppState>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    req: &poem::Request,
) -> poem::Result<poem::Response> {
    let tenant_id = super::admin::find(&state, id).await?.id;
    let limit = paging::limit(paging::arg(&query, "limit"))?;
    let before = paging::parse_cursor(paging::arg(&query, "cursor"))?;
    let rows = state
        .store
        .reminder_calls()
        .list(tenant_id, before, limit + 1)
        .await
        .map_err(AppError::from)?;
    let (list, next) = tokio::task::spawn_blocking(move || {
        let (rows, next) = paging::split(rows, limit, |r| (r.at, r.key));
        (paging::with_time(rows, "time", |r| r.at), next)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(paging::answer(list, next, req.uri().path(), &query))
}
