//! Several nodes on one PostgreSQL database (issue 16): whole slotline servers, as Telnyx
//! reaches them (a call may start on one node and continue on another), racing for one
//! slot, draining texts, and living through a restart of PostgreSQL. PostgreSQL only;
//! skipped without a server outside CI.

use std::sync::Arc;

use serde_json::json;

use crate::{
    fake_telnyx::FakeMessaging,
    helpers::*,
    postgres::Scratch,
    store_restart::{cluster, own_cluster},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_callers_on_two_nodes_for_one_slot_get_one_booking_and_49_alternatives() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let node = |demo| Options {
        db_url: Some(scratch.url.clone()),
        demo,
        // About the race, not the deadline (fifty answers at once on 2 loaded cores).
        request_deadline: std::time::Duration::from_secs(20),
        ..Options::default()
    };
    // One node seeds the demo tenant; the other finds it there.
    let a = Arc::new(spawn_with(node(true)).await);
    let b = Arc::new(spawn_with(node(false)).await);
    let tenant = a
        .create_tenant(&open_every_day(
            "solo",
            "+13125550160",
            "America/Chicago",
            &["Ana"],
        ))
        .await;
    // Each call starts on one node and is answered by the other.
    let mut calls = Vec::new();
    for i in 0..50 {
        let sid = format!("v3:nodes{i}");
        let (start, answer) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (_, path) = start.start_call(&sid, "+13125550160").await;
        calls.push((answer.clone(), sid, path));
    }
    let ask = json!({"customer_name": "Sam", "service": "Cut", "preferred_date": "2026-11-24", "preferred_time": "10:00"});
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|(node, sid, path)| {
            let ask = ask.clone();
            tokio::spawn(async move { node.answer(&path, &sid, &ask).await })
        })
        .collect();
    let tally = tally_ten_oclock_race(tasks).await;
    assert_eq!(tally, (1, 49), "(booked, offered alternatives)");
    assert_eq!(a.appointments("solo").await.len(), 1);
    assert_eq!(
        b.appointments("solo").await.len(),
        1,
        "node B sees the same booking"
    );
    let client = scratch.client().await;
    let live: i64 = client
        .query_one(
            "SELECT count(*) FROM appointments WHERE tenant_id = $1 AND status IN ('held', 'booked')",
            &[&tenant["id"].as_i64().unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 1);
    drop(client);
    drop((a, b));
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_due_texts_drained_by_two_nodes_are_each_sent_once() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let api = FakeMessaging::start(vec![]).await;
    // A thousand texts due now, to a thousand numbers, from a sender allowed 1,000/s; then
    // a little longer for any double.
    let texts = crate::store_pacing::demo_texts(1000, 1000, "+1312556");
    let (a, b, client) = crate::store_pacing::two_nodes_send_all(&scratch, &api, &texts).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let accepted = api.accepted();
    let mut words: Vec<String> = accepted
        .iter()
        .map(|r| r.body["text"].as_str().unwrap().to_string())
        .collect();
    words.sort();
    words.dedup();
    assert_eq!(words.len(), 1000, "every text was sent");
    assert_eq!(accepted.len(), 1000, "and none twice");
    drop((a, b, client));
    api.stop().await;
    scratch.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_two_running_nodes_they_reconnect_reload_and_keep_booking() {
    // A cluster of its own: restarting the shared one would break the tests beside it.
    if crate::postgres::server().is_none() {
        return;
    }
    let (_dir, own, url) = own_cluster();
    let node = |demo| Options {
        db_url: Some(url.clone()),
        demo,
        ..Options::default()
    };
    let a = spawn_with(node(true)).await;
    let b = spawn_with(node(false)).await;
    a.create_tenant(&open_every_day(
        "solo",
        "+13125550160",
        "America/Chicago",
        &["Ana"],
    ))
    .await;
    let book = |time: &str| json!({"customer_name": "Sam", "service": "Cut", "preferred_date": "2026-11-24", "preferred_time": time});
    let (_, path) = a.start_call("v3:before", "+13125550160").await;
    let doc = b.answer(&path, "v3:before", &book("10:00")).await;
    assert!(doc.contains("is booked for"), "{doc}");

    cluster("restart", &own.0);
    // Each node is ready again once its pool writes through (a hang guard, not a timing).
    for app in [&a, &b] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while app
            .client
            .get(format!("{}/ready", app.base))
            .send()
            .await
            .unwrap()
            .status()
            != 200
        {
            assert!(
                std::time::Instant::now() < deadline,
                "a node never got ready again"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let (_, path) = b.start_call("v3:after", "+13125550160").await;
    let doc = a.answer(&path, "v3:after", &book("11:00")).await;
    assert!(
        doc.contains("is booked for"),
        "booking after the restart: {doc}"
    );
    assert_eq!(a.appointments("solo").await.len(), 2);

    // A change on node B reaches node A's copy of the tenant through the reconnected
    // listener (node A serves the greeting from memory).
    b.admin_expect(
        reqwest::Method::PATCH,
        "/tenants/solo",
        Some(&json!({"greeting": "Welcome back to {business}"})),
        200,
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (doc, _) = a.start_call("v3:greeting", "+13125550160").await;
        if doc.contains("Welcome back to") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node A kept the old greeting: {doc}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
