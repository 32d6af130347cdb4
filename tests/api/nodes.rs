//! Several nodes on one PostgreSQL database (issue 16): whole slotline servers, as Telnyx
//! reaches them (a call may start on one node and continue on another), racing for one
//! slot. PostgreSQL only; skipped without a server outside CI.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{helpers::*, postgres::Scratch};

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
    let (mut booked, mut offered) = (0, 0);
    for t in tasks {
        let doc = t.await.unwrap();
        if texts(&doc, "Say")
            .join(" ")
            .contains("is booked for Tuesday, November 24 at 10:00 AM")
        {
            booked += 1;
        } else {
            assert!(
                texts(&doc, "Greeting")[0].contains("already taken"),
                "{doc}"
            );
            let params: Value = serde_json::from_str(&texts(&doc, "Parameters")[0]).unwrap();
            assert_eq!(
                params["properties"]["offered_time"]["enum"][0], "2026-11-24 09:30",
                "nearest first: {params}"
            );
            offered += 1;
        }
    }
    assert_eq!((booked, offered), (1, 49));
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
