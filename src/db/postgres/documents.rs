//! Document versions on PostgreSQL ([`crate::db::documents`] is the interface).

use super::cached::Cached;
use super::{
    Pg,
    changes::{Change, announce},
};
use crate::db::{DbError, documents::Version};

/// Records `body` as the newest version of `name`, after the file it replaces when that
/// differs from the newest recorded version; the new version's id.
pub async fn record(
    pg: &Pg,
    tenant: i64,
    name: &str,
    on_disk: Option<(&str, i64)>,
    body: &str,
    saved_by: &str,
    now: i64,
) -> Result<i64, DbError> {
    pg.write(async |tx| {
        if let Some((previous, modified)) = on_disk {
            let newest: Option<String> = tx
                .query_opt_cached(
                    "SELECT body FROM texml_versions WHERE tenant_id = $1 AND name = $2
                     ORDER BY id DESC LIMIT 1",
                    &[&tenant, &name],
                )
                .await?
                .map(|r| r.get(0));
            if newest.as_deref() != Some(previous) {
                tx.execute_cached(
                    "INSERT INTO texml_versions (tenant_id, name, body, saved_at, saved_by)
                     VALUES ($1, $2, $3, $4, 'file')",
                    &[&tenant, &name, &previous, &modified],
                )
                .await?;
            }
        }
        let id = tx
            .query_one_cached(
                "INSERT INTO texml_versions (tenant_id, name, body, saved_at, saved_by)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&tenant, &name, &body, &now, &saved_by],
            )
            .await?
            .get(0);
        announce(tx, Change::Documents).await?;
        Ok(id)
    })
    .await
}

/// Every recorded version of `name`, oldest first.
pub async fn versions(pg: &Pg, tenant: i64, name: &str) -> Result<Vec<Version>, DbError> {
    pg.run(async |c| {
        let rows = c
            .query_cached(
                "SELECT id, name, body, saved_at, saved_by FROM texml_versions
                 WHERE tenant_id = $1 AND name = $2 ORDER BY id",
                &[&tenant, &name],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Version {
                id: r.get(0),
                name: r.get(1),
                body: r.get(2),
                saved_at: r.get(3),
                saved_by: r.get(4),
            })
            .collect())
    })
    .await
}

/// The newest version of every tenant's every document, with the tenant's slug.
pub async fn newest(pg: &Pg) -> Result<Vec<(String, String, String)>, DbError> {
    pg.run(async |c| {
        Ok(c.query_cached(
            "SELECT t.slug, v.name, v.body FROM texml_versions v JOIN tenants t ON t.id = v.tenant_id
             WHERE v.id = (SELECT max(w.id) FROM texml_versions w
                           WHERE w.tenant_id = v.tenant_id AND w.name = v.name)
             ORDER BY t.slug, v.name",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
    })
    .await
}

/// Whether `body` is a recorded version of tenant `slug`'s document `name`.
pub async fn recorded(pg: &Pg, slug: &str, name: &str, body: &str) -> Result<bool, DbError> {
    pg.run(async |c| {
        Ok(c.query_one_cached(
            "SELECT EXISTS (SELECT 1 FROM texml_versions v JOIN tenants t ON t.id = v.tenant_id
                            WHERE t.slug = $1 AND v.name = $2 AND v.body = $3)",
            &[&slug, &name, &body],
        )
        .await?
        .get(0))
    })
    .await
}
