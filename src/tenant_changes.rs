//! Creating, changing and deleting tenants as operators do it: the database rows and the
//! tenant's TeXML documents directory change together or not at all. The directory step
//! (see `texml::docs::owners`) runs inside the tenant's write transaction, just before it
//! commits: if it fails, the write rolls back; if the commit fails, the directory is moved
//! back. So a renamed tenant keeps its documents, a deleted tenant's documents are
//! archived, and a new tenant never serves documents it did not write.

use jiff::Timestamp;

use crate::{
    db::{self, Db, DbError, tenants::Tenant},
    domain::TenantSpec,
    error::AppError,
    texml::docs::{Library, owners::Moved},
};

/// Why a tenant change was not made; nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The database refused it (conflict, not found) or failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The documents directory could not be moved (500; the cause is logged).
    #[error("moving the tenant's TeXML documents failed: {0}")]
    Files(String),
}

impl From<ChangeError> for AppError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Db(e) => e.into(),
            files @ ChangeError::Files(_) => AppError::Internal(files.to_string()),
        }
    }
}

/// Runs `write` and then `files` in one IMMEDIATE transaction on the writer thread; commits
/// only when both succeeded, and undoes the files step if the commit fails.
async fn together<T: Send + 'static>(
    db: &Db,
    write: impl FnOnce(&crate::db::Tx<'_>) -> Result<T, DbError> + Send + 'static,
    files: impl FnOnce(&T) -> std::io::Result<Moved> + Send + 'static,
) -> Result<T, ChangeError> {
    let outcome = db
        .write_alone(move |c| {
            let tx = crate::db::begin(c)?;
            let value = write(&tx)?;
            let moved = match files(&value) {
                Ok(moved) => moved,
                // Dropping `tx` rolls the write back.
                Err(e) => return Ok(Err(e.to_string())),
            };
            if let Err(e) = tx.commit() {
                moved.undo();
                return Err(e.into());
            }
            Ok(Ok(value))
        })
        .await?;
    outcome.map_err(ChangeError::Files)
}

/// Stores a new tenant. A directory already named by its slug belongs to no tenant (the
/// slug was free), so it is archived rather than served.
pub async fn create(
    db: &Db,
    docs: &Library,
    spec: TenantSpec,
    by: String,
    now: Timestamp,
) -> Result<Tenant, ChangeError> {
    let docs = docs.clone();
    together(
        db,
        move |tx| {
            let tenant = db::tenants::insert_in(tx, &spec)?;
            record_wording(tx, &tenant, &by, now)?;
            Ok(tenant)
        },
        move |tenant| docs.archive(&tenant.spec.slug, "unowned", now),
    )
    .await
}

/// Records `tenant`'s wording as its newest version when it differs from the last one.
fn record_wording(
    tx: &rusqlite::Connection,
    tenant: &Tenant,
    by: &str,
    now: Timestamp,
) -> Result<(), DbError> {
    let body = serde_json::Value::Object(crate::wording::snapshot(&tenant.spec)).to_string();
    db::wording::record(tx, tenant.id, &body, by, now.as_second())
}

/// Replaces the tenant named by `key` (id or slug) with what `merge` makes of the stored
/// one (see `db::tenants::replace_in` for what happens to services and providers it no
/// longer lists), read and written in one transaction so nothing changes in between; on a
/// slug change the documents directory is renamed with it. A refusal from `merge` (a stale
/// `If-Match`, an invalid field) writes and moves nothing. A change to the wording is
/// recorded as its newest version, by `by`.
pub async fn update(
    db: &Db,
    docs: &Library,
    key: String,
    merge: impl FnOnce(&Tenant) -> Result<TenantSpec, AppError> + Send + 'static,
    by: String,
    now: Timestamp,
) -> Result<Result<Tenant, AppError>, ChangeError> {
    let docs = docs.clone();
    let outcome = together(
        db,
        move |tx| {
            let stored = match db::tenants::find(tx, &key) {
                Ok(t) => t,
                Err(DbError::NotFound) => {
                    return Ok(Err(AppError::NotFound(
                        "no tenant with that id or slug".into(),
                    )));
                }
                Err(e) => return Err(e),
            };
            match merge(&stored) {
                Ok(spec) => {
                    // A tenant stored before versions were kept (or by `slotline` itself)
                    // keeps its wording as it was as the first version, so it can be
                    // restored.
                    if db::wording::versions(tx, stored.id)?.is_empty() {
                        record_wording(tx, &stored, "as it was before", now)?;
                    }
                    let (before, tenant) =
                        db::tenants::replace_in(tx, stored.id, &spec, now.as_second())?;
                    record_wording(tx, &tenant, &by, now)?;
                    Ok(Ok((before, tenant)))
                }
                Err(refused) => Ok(Err(refused)),
            }
        },
        move |outcome: &Result<(String, Tenant), AppError>| match outcome {
            Ok((before, tenant)) => docs.follow_slug(before, &tenant.spec.slug, now),
            Err(_) => Ok(Moved::nothing()),
        },
    )
    .await?;
    Ok(outcome.map(|(_, tenant)| tenant))
}

/// Deletes tenant `id` and everything it has; its documents directory is archived as
/// `_archive/<slug>-<id>-<time>/`.
pub async fn delete(db: &Db, docs: &Library, id: i64, now: Timestamp) -> Result<(), ChangeError> {
    let docs = docs.clone();
    together(
        db,
        move |tx| db::tenants::delete_in(tx, id),
        move |slug: &String| docs.archive(slug, &id.to_string(), now),
    )
    .await?;
    Ok(())
}
