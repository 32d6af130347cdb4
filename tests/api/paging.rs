//! Admin lists come in pages (`limit`, a `Link` to the next page) and can be narrowed by
//! date, call and appointment, so years of history are never built into one answer.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Books `times` on Monday 2026-11-23 by phone; returns the call ids.
async fn book(app: &TestApp, times: &[&str]) -> Vec<String> {
    // Every test call comes from the same number; let it hold more than the default 3.
    let resp = app
        .admin(Method::PATCH, "/tenants/bella-salon")
        .json(&json!({"max_future_bookings_per_caller": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut sids = Vec::new();
    for (i, time) in times.iter().enumerate() {
        let sid = format!("v3:page-{i}");
        let (_, path) = app.start_call(&sid, "+13125550100").await;
        let doc = app
            .answer(
                &path,
                &sid,
                &json!({"customer_name": format!("Caller {i}"), "service": "Haircut",
                        "preferred_date": "2026-11-23", "preferred_time": time,
                        "callback_number": format!("+1312555{:04}", 2000 + i)}),
            )
            .await;
        assert!(doc.contains("is booked for"), "{doc}");
        sids.push(sid);
    }
    sids
}

/// GETs `path` with the admin token: its JSON and the next page's path, if any.
async fn page(app: &TestApp, path: &str) -> (u16, Value, Option<String>) {
    let resp = app.admin(Method::GET, path).send().await.unwrap();
    let status = resp.status().as_u16();
    let next = resp
        .headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_string())
        .map(|l| {
            l.trim_start_matches('<')
                .split(">;")
                .next()
                .unwrap()
                .to_string()
        });
    (status, resp.json().await.unwrap(), next)
}

#[tokio::test]
async fn appointments_come_in_pages_linked_to_the_next_one() {
    let app = spawn_app().await;
    book(&app, &["10:00", "11:00", "12:00", "13:00", "14:00"]).await;
    let mut path = Some("/tenants/bella-salon/appointments?limit=2".to_string());
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(p) = path {
        let (status, list, next) = page(&app, &p).await;
        assert_eq!(status, 200, "{list}");
        pages += 1;
        for a in list.as_array().unwrap() {
            seen.push(a["start"].as_str().unwrap().to_string());
        }
        path = next;
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "soonest first, across pages");
    assert_eq!(seen.len(), 5, "every appointment once: {seen:?}");
    app.shut_down().await;
}

#[tokio::test]
async fn appointments_can_be_narrowed_by_local_date_and_by_call() {
    let app = spawn_app().await;
    let sids = book(&app, &["10:00", "11:00"]).await;
    let (_, on_monday, _) = page(
        &app,
        "/tenants/bella-salon/appointments?from=2026-11-23&to=2026-11-23",
    )
    .await;
    assert_eq!(on_monday.as_array().unwrap().len(), 2);
    let (_, tuesday, _) = page(&app, "/tenants/bella-salon/appointments?from=2026-11-24").await;
    assert!(tuesday.as_array().unwrap().is_empty(), "{tuesday}");
    let (_, one, _) = page(
        &app,
        &format!("/tenants/bella-salon/appointments?call_sid={}", sids[1]),
    )
    .await;
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one[0]["call_sid"], sids[1].as_str());
    app.shut_down().await;
}

#[tokio::test]
async fn a_bad_page_request_says_which_parameter_to_fix() {
    let app = spawn_app().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("cursor=xyz", "cursor"),
        ("from=23/11/2026", "from"),
    ] {
        let (status, body, _) =
            page(&app, &format!("/tenants/bella-salon/appointments?{query}")).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let (status, body, _) = page(&app, "/tenants/bella-salon/messages?appointment=x").await;
    assert_eq!((status, body["field"].as_str()), (422, Some("appointment")));
    app.shut_down().await;
}

#[tokio::test]
async fn texts_come_in_pages_newest_first_and_by_appointment() {
    let app = spawn_app().await;
    book(&app, &["10:00", "11:00"]).await;
    let appointments = app.appointments("bella-salon").await;
    let first = appointments[0]["id"].as_i64().unwrap();
    let (_, all, _) = page(&app, "/tenants/bella-salon/messages?limit=1000").await;
    let total = all.as_array().unwrap().len();
    assert!(total >= 2, "{all}");
    let (_, one, next) = page(&app, "/tenants/bella-salon/messages?limit=1").await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    let (_, rest, _) = page(&app, &next.expect("a link to the next page")).await;
    assert_ne!(one[0]["id"], rest[0]["id"]);
    let (_, mine, _) = page(
        &app,
        &format!("/tenants/bella-salon/messages?appointment={first}"),
    )
    .await;
    let mine = mine.as_array().unwrap();
    assert!(!mine.is_empty());
    assert!(
        mine.iter().all(|t| t["appointment_id"] == first),
        "{mine:?}"
    );
    app.shut_down().await;
}
