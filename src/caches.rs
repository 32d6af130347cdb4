//! Keeping a node's in-memory copies current when another node changes them
//! (PostgreSQL): the tenant directory and the documents' cards are reloaded whole when
//! the change listener ([`crate::db::postgres::changes`]) hears a tenant change or asks
//! for everything, so every node serves a change within a second, and keeps serving what
//! it last loaded while the database cannot be reached.

use std::time::Duration;

use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    db::{
        DbError,
        postgres::changes::{self, Change},
        store::Store,
    },
    directory::Directory,
    texml::docs::cards::Cards,
};

/// Reloads the directory and the cards from `store` in one read of every tenant;
/// returns how many tenants the directory now holds. On an error both keep what they had.
pub async fn reload(store: &Store, directory: &Directory, cards: &Cards) -> Result<usize, DbError> {
    let tenants = store.tenants().list().await?;
    cards.replace_all(tenants.iter().map(|t| (t.id, &t.spec)));
    directory.reload(tenants)
}

/// Follows the changes announced on the PostgreSQL database at `url`: each tenant change
/// or request for everything reloads ([`reload`]); changes heard while a reload runs are
/// folded into one more. `reloaded` is told each outcome (the server logs it; tests wait
/// on it). Runs until the returned task is aborted.
pub fn follow(
    url: String,
    poll: Duration,
    store: Store,
    directory: Directory,
    cards: Cards,
    reloaded: impl Fn(Result<usize, DbError>) + Send + Sync + 'static,
) -> JoinHandle<()> {
    let (tell, mut heard) = mpsc::unbounded_channel();
    let listener = changes::listen(url, poll, move |change| {
        if matches!(change, Change::Tenants | Change::Everything) {
            let _ = tell.send(());
        }
    });
    tokio::spawn(async move {
        let _listener = AbortOnDrop(listener);
        while heard.recv().await.is_some() {
            while heard.try_recv().is_ok() {}
            reloaded(reload(&store, &directory, &cards).await);
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
