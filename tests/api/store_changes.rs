//! Caches across nodes (issue 16): a change committed by one node is heard by every
//! other node's listener, a listener that lost its connection reconnects and asks for
//! everything to be reloaded, and a change made without an announcement is caught by the
//! version poll. PostgreSQL only (one SQLite file has one node).

use std::time::Duration;

use slotline::{
    caches,
    db::{
        postgres::{
            Pg,
            changes::{self, Change},
        },
        store::Store,
        tenants::{Beside, Changed},
    },
    directory::Directory,
    domain::PhoneNumber,
    texml::docs::cards::Cards,
};
use tokio::sync::mpsc;

use crate::postgres::Scratch;

struct Nothing;

impl Beside for Nothing {
    fn undo(self) {}
}

/// The next change the listener heard; a hang guard, not a timing assertion.
async fn next(heard: &mut mpsc::UnboundedReceiver<Change>, waiting_for: &str) -> Change {
    tokio::time::timeout(Duration::from_secs(30), heard.recv())
        .await
        .unwrap_or_else(|_| panic!("the listener heard nothing: {waiting_for}"))
        .expect("the listener stopped")
}

fn spec(slug: &str, line: &str) -> slotline::domain::TenantSpec {
    let mut json: serde_json::Value =
        serde_json::from_str(include_str!("../../data/demo-tenant.json")).unwrap();
    json["slug"] = slug.into();
    json["phone_number"] = line.into();
    slotline::domain::TenantSpec::from_json(&json).unwrap()
}

#[tokio::test]
async fn store_postgres_a_tenant_change_on_one_node_is_heard_by_the_others_even_after_a_lost_connection()
 {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let node_a = Store::Postgres(Pg::open(&scratch.url).await.unwrap());
    let (tell, mut heard) = mpsc::unbounded_channel();
    let listener = changes::listen(scratch.url.clone(), Duration::from_millis(200), move |c| {
        let _ = tell.send(c);
    });
    assert_eq!(
        next(&mut heard, "step 1").await,
        Change::Everything,
        "on connecting"
    );

    let created = node_a
        .tenants()
        .create(spec("salon", "+13125550177"), "t".into(), 1, |_| {
            Ok(Nothing)
        })
        .await
        .unwrap();
    let Changed::Done(tenant) = created else {
        panic!("not created")
    };
    assert_eq!(
        next(&mut heard, "step 2").await,
        Change::Tenants,
        "a create is heard"
    );

    // A change that rolls back is never announced: the failed step beside undoes it.
    let failed = node_a
        .tenants()
        .create(spec("other", "+13125550178"), "t".into(), 1, |_| {
            Err::<Nothing, _>(std::io::Error::other("no"))
        })
        .await
        .unwrap();
    assert!(matches!(failed, Changed::Beside(_)));

    // The listener's connection is cut: it comes back and asks for everything.
    let client = scratch.client().await;
    let cut = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1 AND datname = current_database()",
            &[&changes::LISTENER],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(cut, 1);
    assert_eq!(
        next(&mut heard, "step 3").await,
        Change::Everything,
        "after reconnecting (and not the rolled-back create)"
    );

    node_a
        .tenants()
        .update(
            tenant.id.to_string(),
            |t| -> Result<_, ()> {
                let mut s = t.spec.clone();
                s.greeting = "Hi".into();
                Ok(s)
            },
            "t".into(),
            2,
            |_, _| Ok(Nothing),
        )
        .await
        .unwrap();
    assert_eq!(
        next(&mut heard, "step 4").await,
        Change::Tenants,
        "heard again after the reconnect"
    );

    // A change without an announcement, only the version moved: the poll catches it.
    client
        .batch_execute(
            "UPDATE settings SET value = (value::bigint + 1)::text WHERE key = 'changes'",
        )
        .await
        .unwrap();
    assert_eq!(
        next(&mut heard, "step 5").await,
        Change::Everything,
        "the version poll"
    );

    node_a
        .tenants()
        .delete(tenant.id, |_| Ok(Nothing))
        .await
        .unwrap();
    assert_eq!(
        next(&mut heard, "step 6").await,
        Change::Tenants,
        "a delete is heard"
    );
    listener.abort();
    drop(node_a);
    drop(client);
    scratch.drop_database().await;
}

#[tokio::test]
async fn store_postgres_every_node_serves_a_tenant_change_from_memory_and_keeps_serving_it_while_the_database_is_away()
 {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let store_a = Store::Postgres(Pg::open(&scratch.url).await.unwrap());
    let store_b = Store::Postgres(Pg::open(&scratch.url).await.unwrap());
    let (directory, cards) = (Directory::default(), Cards::default());
    let (tell, mut reloads) = mpsc::unbounded_channel();
    let follower = caches::follow(
        scratch.url.clone(),
        Duration::from_millis(200),
        store_a.clone(),
        directory.clone(),
        cards.clone(),
        move |r| {
            let _ = tell.send(r.map_err(|e| e.to_string()));
        },
    );
    let mut reloaded = async || {
        tokio::time::timeout(Duration::from_secs(30), reloads.recv())
            .await
            .expect("no reload")
            .unwrap()
    };
    assert_eq!(reloaded().await, Ok(0), "on connecting, with no tenant yet");

    // Node B creates a tenant and changes its greeting: node A holds each version.
    let Changed::Done(tenant) = store_b
        .tenants()
        .create(spec("salon", "+13125550177"), "t".into(), 1, |_| {
            Ok(Nothing)
        })
        .await
        .unwrap()
    else {
        panic!("not created")
    };
    assert_eq!(reloaded().await, Ok(1));
    let line = PhoneNumber::parse("+13125550177").unwrap();
    store_b
        .tenants()
        .update(
            "salon".into(),
            |t| -> Result<_, ()> {
                let mut s = t.spec.clone();
                s.greeting = "Welcome to {business}".into();
                Ok(s)
            },
            "t".into(),
            2,
            |_, _| Ok(Nothing),
        )
        .await
        .unwrap();
    assert_eq!(reloaded().await, Ok(1));
    let entry = directory.by_phone(&store_a, &line).await.unwrap().unwrap();
    assert_eq!(entry.tenant.id, tenant.id);
    assert!(
        entry.greeting.starts_with("Welcome to "),
        "{}",
        entry.greeting
    );
    assert!(cards.get("salon").is_some());

    // The database goes away: node A still answers for the tenant it holds, and cannot
    // answer for a number it has not seen.
    let name = scratch.url.rsplit('/').next().unwrap().to_string();
    let server = std::env::var("SLOTLINE_TEST_POSTGRES").unwrap();
    let outside = slotline::db::postgres::connect(&server).await.unwrap();
    outside
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    outside
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .unwrap();
    let held = directory.by_phone(&store_a, &line).await.unwrap().unwrap();
    assert!(
        held.greeting.starts_with("Welcome to "),
        "served from memory"
    );
    assert!(directory.by_id(&store_a, tenant.id).await.is_ok());
    assert!(cards.get("salon").is_some());
    let unknown = PhoneNumber::parse("+13125550100").unwrap();
    assert!(
        directory.by_phone(&store_a, &unknown).await.is_err(),
        "an unseen number needs the database"
    );

    // It comes back: the listener reconnects and reloads everything.
    outside
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    assert_eq!(reloaded().await, Ok(1), "reloaded after reconnecting");
    store_b
        .tenants()
        .delete(tenant.id, |_| Ok(Nothing))
        .await
        .unwrap();
    assert_eq!(
        reloaded().await,
        Ok(0),
        "a delete empties node A's copies too"
    );
    assert!(cards.get("salon").is_none());
    follower.abort();
    drop((store_a, store_b, outside));
    scratch.drop_database().await;
}
