//! `GET /tenants/{id}/calls`: the tenant's calls, outbound reminder attempts and inbound
//! calls together, newest first, in pages like the other lists.

use super::{admin::Admin, paging};
use crate::{db, error::AppError, startup::AppState};
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
    let (list, next) = state
        .db
        .run(move |c| {
            let rows = db::reminder_calls::list(c, tenant_id, before, limit + 1)?;
            let (rows, next) = paging::split(rows, limit, |r| (r.at, r.key));
            Ok((paging::with_time(rows, "time", |r| r.at), next))
        })
        .await
        .map_err(AppError::from)?;
    Ok(paging::answer(list, next, req.uri().path(), &query))
}
