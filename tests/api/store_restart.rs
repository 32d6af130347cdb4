//! PostgreSQL restarted mid-run (issue 16): a node's pool and its change listener come
//! back on their own, the node's copies are reloaded, and writes made after the restart
//! are heard. The test runs its own cluster (`.ci/postgres`), since restarting the shared
//! one would break the tests running beside it.

use std::{path::Path, process::Command, time::Duration};

use slotline::{
    caches,
    db::{
        postgres::Pg,
        store::Store,
        tenants::{Beside, Changed},
    },
    directory::Directory,
    texml::docs::{Library, cards::Cards},
};
use tokio::sync::mpsc;

struct Nothing;

impl Beside for Nothing {
    fn undo(self) {}
}

/// `.ci/postgres CMD DIR`; its standard output.
pub(crate) fn cluster(cmd: &str, dir: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/postgres");
    let out = Command::new(script).arg(cmd).arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        ".ci/postgres {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Stops the cluster however the test ends.
pub(crate) struct Cluster(pub(crate) std::path::PathBuf);

/// A PostgreSQL cluster of the test's own (restarting the shared one would break the
/// tests beside it), started in a temp dir: the dir, the guard that stops it, its URL.
pub(crate) fn own_cluster() -> (tempfile::TempDir, Cluster, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pg");
    let export = cluster("start", &data);
    let url = export
        .trim()
        .strip_prefix("export SLOTLINE_TEST_POSTGRES=")
        .unwrap()
        .to_string();
    (dir, Cluster(data), url)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        cluster("stop", &self.0);
    }
}

fn spec(slug: &str, line: &str) -> slotline::domain::TenantSpec {
    let mut json: serde_json::Value =
        serde_json::from_str(include_str!("../../data/demo-tenant.json")).unwrap();
    json["slug"] = slug.into();
    json["phone_number"] = line.into();
    slotline::domain::TenantSpec::from_json(&json).unwrap()
}

/// The next reload of the tenants (a hang guard, not a timing assertion).
async fn tenants_reloaded(reloads: &mut mpsc::UnboundedReceiver<caches::Reloaded>) -> usize {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(60), reloads.recv())
            .await
            .expect("no reload")
            .unwrap();
        if let Some(tenants) = next.tenants {
            return tenants.unwrap();
        }
    }
}

#[tokio::test]
async fn store_postgres_restarted_mid_run_the_nodes_reconnect_and_reload_their_copies() {
    // Only where the suite has PostgreSQL (and under CI=true, where it must).
    if crate::postgres::server().is_none() {
        return;
    }
    let (_dir, own, url) = own_cluster();
    let node_a = Store::Postgres(Pg::open(&url).await.unwrap());
    let node_b = Store::Postgres(Pg::open(&url).await.unwrap());
    let texml = tempfile::tempdir().unwrap();
    let copies = caches::Copies {
        directory: Directory::default(),
        cards: Cards::default(),
        docs: Library::load(texml.path()),
    };
    let (tell, mut reloads) = mpsc::unbounded_channel();
    let follower = caches::follow(
        url.clone(),
        Duration::from_millis(200),
        node_a.clone(),
        copies.clone(),
        move |r| {
            let _ = tell.send(r);
        },
    );
    assert_eq!(tenants_reloaded(&mut reloads).await, 0);
    node_b
        .tenants()
        .create(spec("salon", "+13125550177"), "t".into(), 1, |_| {
            Ok(Nothing)
        })
        .await
        .unwrap();
    assert_eq!(tenants_reloaded(&mut reloads).await, 1);

    // The server restarts (every session ends; the test cluster runs without fsync, so a
    // crash would lose its last commits, which a real one with synchronous commit keeps).
    cluster("restart", &own.0);
    assert_eq!(
        tenants_reloaded(&mut reloads).await,
        1,
        "the listener reconnected and reloaded everything"
    );
    // Both pools come back (connections the restart broke are not handed out again).
    let created = node_b
        .tenants()
        .create(spec("garage", "+13125550178"), "t".into(), 2, |_| {
            Ok(Nothing)
        })
        .await
        .unwrap();
    assert!(matches!(created, Changed::Done(_)));
    assert_eq!(
        tenants_reloaded(&mut reloads).await,
        2,
        "a write after the restart is heard"
    );
    assert_eq!(node_a.tenants().list().await.unwrap().len(), 2);
    assert!(copies.cards.get("garage").is_some());
    follower.abort();
}
