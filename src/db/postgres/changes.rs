//! Caches across nodes on PostgreSQL: a change to what nodes keep in memory (tenants,
//! documents) is announced inside its own transaction (`NOTIFY`, delivered to every
//! listening node when, and only if, it commits) and counted in a version row. Each node
//! keeps one listener connection of its own: it reports every announcement, reports
//! [`Change::Everything`] whenever it (re)connects, since announcements made while it
//! was away are lost, and polls the version as a backstop for changes made without an
//! announcement (a hand edit that bumped the version, a pooler that dropped one).

use std::{sync::Arc, time::Duration};

use deadpool_postgres::GenericClient;
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_postgres::AsyncMessage;

use crate::db::DbError;

/// The channel changes are announced on.
pub const CHANNEL: &str = "slotline_changes";
/// The `application_name` of each node's listener connection.
pub const LISTENER: &str = "slotline-listener";
/// How often the listener compares the version, by default.
pub const POLL: Duration = Duration::from_secs(5);
/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Anything may have changed (connected again, or the version moved unannounced):
    /// reload everything.
    Everything,
    /// A tenant was created, changed or deleted.
    Tenants,
    /// An operator-edited document was saved.
    Documents,
}

impl Change {
    fn payload(self) -> &'static str {
        match self {
            Change::Everything => "everything",
            Change::Tenants => "tenants",
            Change::Documents => "documents",
        }
    }

    fn parse(payload: &str) -> Self {
        match payload {
            "tenants" => Change::Tenants,
            "documents" => Change::Documents,
            _ => Change::Everything,
        }
    }
}

/// Announces inside `tx` that `what` changed: the version the listeners poll moves by
/// one, and every node hears the change with that version once `tx` commits. (The
/// version's row lock orders announcements as their transactions commit, so a listener
/// that hears version `n + 2` after `n` knows it missed one.)
pub async fn announce(tx: &impl GenericClient, what: Change) -> Result<(), DbError> {
    let version: i64 = tx
        .query_one(
            "INSERT INTO settings (key, value) VALUES ('changes', '1')
             ON CONFLICT (key) DO UPDATE SET value = (settings.value::bigint + 1)::text
             RETURNING value::bigint",
            &[],
        )
        .await?
        .get(0);
    let payload = format!("{} {version}", what.payload());
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .await?;
    Ok(())
}

/// An announcement's change and version.
fn heard(payload: &str) -> (Change, Option<i64>) {
    let (what, version) = payload.split_once(' ').unwrap_or((payload, ""));
    (Change::parse(what), version.parse().ok())
}

async fn version(client: &tokio_postgres::Client) -> Result<i64, tokio_postgres::Error> {
    Ok(client
        .query_opt(
            "SELECT value::bigint FROM settings WHERE key = 'changes'",
            &[],
        )
        .await?
        .map_or(0, |r| r.get(0)))
}

/// Listens on `url` until the returned task is aborted, calling `on_change` for every
/// change heard, [`Change::Everything`] on every (re)connection, and comparing the
/// version every `poll`. A lost connection is retried with a growing pause (at most
/// [`MAX_BACKOFF`]).
pub fn listen(
    url: String,
    poll: Duration,
    on_change: impl Fn(Change) + Send + Sync + 'static,
) -> JoinHandle<()> {
    let on_change = Arc::new(on_change);
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(100);
        loop {
            match session(&url, poll, on_change.as_ref()).await {
                Ok(()) => tracing::warn!("the PostgreSQL change listener's connection closed"),
                Err(e) => {
                    tracing::warn!(error = %e, "the PostgreSQL change listener lost its connection")
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_BACKOFF);
        }
    })
}

/// One connection's life (with the TLS the URL asks for, as the pool's): LISTEN, then
/// report until it ends.
async fn session(
    url: &str,
    poll: Duration,
    on_change: &(dyn Fn(Change) + Send + Sync),
) -> Result<(), DbError> {
    let target = super::tls::Target::new(url)?;
    let mut config = target.config.clone();
    config.application_name(LISTENER);
    let (client, mut connection) = target.connect(&config).await?;
    let (heard, mut hear) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if n.channel() == CHANNEL {
                        let _ = heard.send(self::heard(n.payload()));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    });
    let ended: Result<(), DbError> = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        let mut seen = version(&client).await?;
        // Only now: whatever changed before LISTEN took effect is covered by this.
        on_change(Change::Everything);
        let mut ticks = tokio::time::interval(poll);
        ticks.tick().await;
        loop {
            tokio::select! {
                change = hear.recv() => match change {
                    Some((change, Some(version))) => {
                        if version > seen + 1 {
                            // A change in between was not announced.
                            on_change(Change::Everything);
                        }
                        seen = seen.max(version);
                        on_change(change);
                    }
                    Some((_, None)) => on_change(Change::Everything),
                    None => return Ok(()),
                },
                _ = ticks.tick() => {
                    let now = version(&client).await?;
                    if now > seen {
                        // Moved without an announcement (or one still on its way: then
                        // this reload is merely early).
                        on_change(Change::Everything);
                        seen = now;
                    }
                }
            }
        }
    }
    .await;
    driver.abort();
    ended
}
