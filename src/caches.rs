//! Keeping a node's in-memory copies current when another node changes them
//! (PostgreSQL): the tenant directory and the documents' cards are reloaded whole when
//! the change listener ([`crate::db::postgres::changes`]) hears a tenant change or asks
//! for everything, and the documents directory takes the newest saved version of each
//! tenant's document when it hears a save, so every node serves a change within a
//! second, and keeps serving what it last loaded while the database cannot be reached.

use std::time::Duration;

use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    db::{
        DbError,
        postgres::changes::{self, Change},
        store::Store,
    },
    directory::Directory,
    texml::docs::{Library, cards::Cards},
};

/// Reloads the directory and the cards from `store` in one read of every tenant;
/// returns how many tenants the directory now holds. On an error both keep what they had.
pub async fn reload(store: &Store, directory: &Directory, cards: &Cards) -> Result<usize, DbError> {
    // Before the read: a change on this node meanwhile wins over what the read saw.
    let since = directory.generation();
    let tenants = store.tenants().list().await?;
    directory.reload(since, tenants, |entries| {
        cards.replace_all(entries.iter().map(|e| (e.tenant.id, &e.tenant.spec)));
    })
}

/// Writes into `docs` the newest saved version of every tenant's document that its
/// file does not hold yet; returns how many files it wrote. A file that holds text no
/// version recorded (a hand edit on this node) is kept, with a warning: replacing it
/// would lose it. A file that cannot be written is logged and skipped.
pub async fn sync_documents(store: &Store, docs: &Library) -> Result<usize, DbError> {
    let mut written = 0;
    for (slug, name, body) in store.documents().newest().await? {
        let on_disk = tokio::fs::read_to_string(docs.path_of(&slug, &name))
            .await
            .ok();
        if on_disk.as_deref() == Some(body.as_str()) {
            continue;
        }
        if let Some(text) = on_disk
            && !store
                .documents()
                .recorded(slug.clone(), name.clone(), text)
                .await?
        {
            tracing::warn!(tenant = %slug, document = %name, "this node's file was edited by hand and the edit is not recorded: kept, not replaced by the newest saved version (save it through the admin API)");
            continue;
        }
        let (library, owner, file) = (docs.clone(), slug.clone(), name.clone());
        let saved = tokio::task::spawn_blocking(move || library.save(&owner, &file, &body)).await;
        match saved {
            Ok(Ok(_)) => written += 1,
            Ok(Err(e)) => {
                tracing::warn!(tenant = %slug, document = %name, error = %e, "cannot write the newest saved version of a document")
            }
            Err(e) => tracing::warn!(error = %e, "writing a document failed"),
        }
    }
    Ok(written)
}

/// What a change heard brought about: how many tenants the directory holds now, and how
/// many document files were written (each `None` when that part was not reloaded).
#[derive(Debug)]
pub struct Reloaded {
    /// After a tenant change or a request for everything.
    pub tenants: Option<Result<usize, DbError>>,
    /// After a document save or a request for everything.
    pub documents: Option<Result<usize, DbError>>,
}

/// The node's copies that follow the database.
#[derive(Clone)]
pub struct Copies {
    /// Tenants by number and id.
    pub directory: Directory,
    /// What documents know of each tenant.
    pub cards: Cards,
    /// The operator-edited documents.
    pub docs: Library,
}

/// Follows the changes announced on the PostgreSQL database at `url`: a tenant change
/// reloads the directory and the cards ([`reload`]), a document save syncs the documents
/// ([`sync_documents`]), a request for everything does both; changes heard while one
/// runs are folded into the next. `reloaded` is told each outcome (the server logs it;
/// tests wait on it). Runs until the returned task is aborted.
pub fn follow(
    url: String,
    poll: Duration,
    store: Store,
    copies: Copies,
    reloaded: impl Fn(Reloaded) + Send + Sync + 'static,
) -> JoinHandle<()> {
    let (tell, mut heard) = mpsc::unbounded_channel();
    let listener = changes::listen(url, poll, move |change| {
        let _ = tell.send(change);
    });
    tokio::spawn(async move {
        let _listener = AbortOnDrop(listener);
        while let Some(first) = heard.recv().await {
            let (mut tenants, mut documents) = (false, false);
            let mut note = |c: Change| {
                tenants |= matches!(c, Change::Tenants | Change::Everything);
                documents |= matches!(c, Change::Documents | Change::Everything);
            };
            note(first);
            while let Ok(more) = heard.try_recv() {
                note(more);
            }
            let tenants = match tenants {
                true => Some(reload(&store, &copies.directory, &copies.cards).await),
                false => None,
            };
            let documents = match documents {
                true => Some(sync_documents(&store, &copies.docs).await),
                false => None,
            };
            reloaded(Reloaded { tenants, documents });
        }
    })
}

/// Stops the listener with the task that follows it.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
