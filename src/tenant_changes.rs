//! Creating, changing and deleting tenants as operators do it: the database rows and the
//! tenant's TeXML documents directory change together or not at all. The directory step
//! (see `texml::docs::owners`) runs inside the tenant's write transaction, just before it
//! commits: if it fails, the write rolls back; if the commit fails, the directory is moved
//! back. So a renamed tenant keeps its documents, a deleted tenant's documents are
//! archived, and a new tenant never serves documents it did not write.

use jiff::Timestamp;

use crate::{
    db::{
        DbError,
        store::Store,
        tenants::{Beside, Changed, Tenant},
    },
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

/// A move of a tenant's documents directory is the step its change takes beside the
/// database: done just before the commit, undone if the commit fails.
impl Beside for Moved {
    fn undo(self) {
        Moved::undo(self);
    }
}

/// The change's value, or why the files step failed.
fn settled<T, R>(changed: Changed<T, R>) -> Result<Result<T, R>, ChangeError> {
    match changed {
        Changed::Done(value) => Ok(Ok(value)),
        Changed::Refused(refused) => Ok(Err(refused)),
        Changed::Beside(e) => Err(ChangeError::Files(e.to_string())),
    }
}

/// Stores a new tenant, its wording as the first version. A directory already named by
/// its slug belongs to no tenant (the slug was free), so it is archived rather than served.
pub async fn create(
    store: &Store,
    docs: &Library,
    spec: TenantSpec,
    by: String,
    now: Timestamp,
) -> Result<Tenant, ChangeError> {
    let docs = docs.clone();
    let changed = store
        .tenants()
        .create(spec, by, now.as_second(), move |tenant| {
            docs.archive(&tenant.spec.slug, "unowned", now)
        })
        .await?;
    settled(changed)?.map_err(|never| match never {})
}

/// Replaces the tenant named by `key` (id or slug) with what `merge` makes of the stored
/// one (see [`crate::db::tenants::Tenants::update`] for what happens to services and
/// providers it no longer lists), read and written in one transaction so nothing changes
/// in between; on a slug change the documents directory is renamed with it. A refusal
/// from `merge` (a stale `If-Match`, an invalid field) writes and moves nothing. A change
/// to the wording is recorded as its newest version, by `by`.
pub async fn update(
    store: &Store,
    docs: &Library,
    key: String,
    merge: impl FnOnce(&Tenant) -> Result<TenantSpec, AppError> + Send + 'static,
    by: String,
    now: Timestamp,
) -> Result<Result<Tenant, AppError>, ChangeError> {
    let docs = docs.clone();
    let changed = store
        .tenants()
        .update(key, merge, by, now.as_second(), move |before, tenant| {
            docs.follow_slug(before, &tenant.spec.slug, now)
        })
        .await;
    match changed {
        Err(DbError::NotFound) => Ok(Err(AppError::NotFound(
            "no tenant with that id or slug".into(),
        ))),
        changed => settled(changed?),
    }
}

/// Deletes tenant `id` and everything it has; its documents directory is archived as
/// `_archive/<slug>-<id>-<time>/`.
pub async fn delete(
    store: &Store,
    docs: &Library,
    id: i64,
    now: Timestamp,
) -> Result<(), ChangeError> {
    let docs = docs.clone();
    let changed = store
        .tenants()
        .delete(id, move |slug| docs.archive(slug, &id.to_string(), now))
        .await?;
    settled(changed)?.map_err(|never| match never {})
}
