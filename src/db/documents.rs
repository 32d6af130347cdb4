//! The history of operator-edited TeXML documents (`texml_versions`): every version saved
//! through the admin API, with when and by whom, and the hand-edited file it replaced.
//! This is the interface; the SQL is in [`super::sqlite::documents`] and
//! [`super::postgres::documents`].

use serde::Serialize;

use super::{DbError, postgres, sqlite, store::Store};

/// One saved version of a tenant's document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    /// Row id; grows with every save.
    pub id: i64,
    /// Document name without `.xml`.
    pub name: String,
    /// The document text.
    pub body: String,
    /// Unix seconds.
    pub saved_at: i64,
    /// `admin`, `admin (label)` from `X-Slotline-Actor`, or `file` for a hand edit found
    /// on disk when the next version was saved.
    pub saved_by: String,
}

/// The document versions of a store ([`Store::documents`]).
pub struct Documents<'s>(pub(super) &'s Store);

impl Documents<'_> {
    /// Records `body` as the newest version of `name`. When `on_disk` (the text of the
    /// file being replaced and its modification time) differs from the newest recorded
    /// version, it is recorded first as a hand edit (`file`), so no version is lost, in
    /// the same transaction. Returns the new version's id.
    pub async fn record(
        &self,
        tenant: i64,
        name: &'static str,
        on_disk: Option<(String, i64)>,
        body: String,
        saved_by: String,
        now: i64,
    ) -> Result<i64, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.write(move |c| {
                    let on_disk = on_disk.as_ref().map(|(t, m)| (t.as_str(), *m));
                    sqlite::documents::record(c, tenant, name, on_disk, &body, &saved_by, now)
                })
                .await
            }
            Store::Postgres(pg) => {
                let on_disk = on_disk.as_ref().map(|(t, m)| (t.as_str(), *m));
                postgres::documents::record(pg, tenant, name, on_disk, &body, &saved_by, now).await
            }
        }
    }

    /// Every recorded version of `name`, oldest first.
    pub async fn versions(&self, tenant: i64, name: &'static str) -> Result<Vec<Version>, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::documents::versions(c, tenant, name))
                    .await
            }
            Store::Postgres(pg) => postgres::documents::versions(pg, tenant, name).await,
        }
    }

    /// The newest recorded version of every tenant's every document, with the tenant's
    /// slug: what each node's documents directory should hold (`(slug, name, body)`).
    pub async fn newest(&self) -> Result<Vec<(String, String, String)>, DbError> {
        match self.0 {
            Store::Sqlite(db) => db.run(|c| sqlite::documents::newest(c)).await,
            Store::Postgres(pg) => postgres::documents::newest(pg).await,
        }
    }

    /// Whether `body` is a recorded version of tenant `slug`'s document `name` (so a file
    /// holding it is no hand edit, and may be replaced).
    pub async fn recorded(
        &self,
        slug: String,
        name: String,
        body: String,
    ) -> Result<bool, DbError> {
        match self.0 {
            Store::Sqlite(db) => {
                db.run(move |c| sqlite::documents::recorded(c, &slug, &name, &body))
                    .await
            }
            Store::Postgres(pg) => postgres::documents::recorded(pg, &slug, &name, &body).await,
        }
    }
}
