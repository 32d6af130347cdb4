//! Signed webhooks: endpoints through the admin API, events from bookings, moves,
//! cancellations and calls, delivered signed, in order per appointment, through outages
//! and restarts; private addresses refused.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    feeds::{book, cancel_appointment, move_appointment},
    helpers::{Options, TestApp, form, spawn_app, spawn_with, texml_ok},
    webhook_receiver::Receiver,
};

const APPOINTMENT_EVENTS: [&str; 3] = [
    "appointment.booked",
    "appointment.rescheduled",
    "appointment.cancelled",
];

/// Creates an endpoint for `url` and `events`; its JSON (with `secret`), panicking unless 201.
pub async fn create_endpoint(app: &TestApp, url: &str, events: &[&str]) -> Value {
    let body = json!({"url": url, "events": events});
    app.post_created("/tenants/bella-salon/webhooks", &body)
        .await
}

/// (appointment id, event type) of each delivery, in arrival order.
fn sequence(got: &[crate::webhook_receiver::Got]) -> Vec<(i64, String)> {
    got.iter()
        .map(|g| {
            let v = g.json();
            (
                v["data"]["appointment"]["id"].as_i64().unwrap(),
                v["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Checks that each appointment's events arrived in the order booked, rescheduled,
/// cancelled (those it had), and none twice.
fn assert_in_order_per_appointment(got: &[(i64, String)], expected: &[(i64, &[&str])]) {
    for (id, kinds) in expected {
        let seen: Vec<&str> = got
            .iter()
            .filter(|(a, _)| a == id)
            .map(|(_, k)| k.as_str())
            .collect();
        assert_eq!(&seen, kinds, "appointment {id}: {got:?}");
    }
}

#[tokio::test]
async fn a_booking_a_move_and_a_cancellation_arrive_signed_and_in_order() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let endpoint = create_endpoint(&app, &receiver.url(), &APPOINTMENT_EVENTS).await;
    let secret = endpoint["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));

    let id = book(&app, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await;
    move_appointment(&app, id, "2026-11-24", "11:00").await;
    cancel_appointment(&app, id).await;
    let got = receiver.wait_for(3).await;

    assert_eq!(
        sequence(&got),
        APPOINTMENT_EVENTS
            .iter()
            .map(|k| (id, k.to_string()))
            .collect::<Vec<_>>()
    );
    for g in &got {
        assert!(g.signed_with(secret), "{g:?}");
        assert!(!g.signed_with("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        let v = g.json();
        assert_eq!(v["id"], g.id.as_str(), "the body's id is the webhook-id");
        assert_eq!(v["tenant"], "bella-salon");
        let ts: i64 = g.timestamp.parse().unwrap();
        assert!(
            (jiff::Timestamp::now().as_second() - ts).abs() < 60,
            "wall-clock timestamp"
        );
    }
    // The appointment as the admin API shows it, at each step.
    let booked = &got[0].json()["data"]["appointment"];
    assert_eq!(booked["start_at"], 1_795_449_600);
    assert_eq!(booked["start"], "2026-11-23T10:00:00-06:00");
    assert_eq!(booked["status"], "booked");
    assert_eq!(
        got[1].json()["data"]["appointment"]["start"],
        "2026-11-24T11:00:00-06:00"
    );
    let listed = app.appointments("bella-salon").await;
    let now_shown = listed.iter().find(|a| a["id"] == id).unwrap();
    assert_eq!(&got[2].json()["data"]["appointment"], now_shown);

    let deliveries: Value = app
        .admin_json(
            Method::GET,
            &format!(
                "/tenants/bella-salon/webhooks/{}/deliveries",
                endpoint["id"]
            ),
        )
        .await;
    let deliveries = deliveries.as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    for d in deliveries {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["history"][0]["http_status"], 204);
        assert!(d["history"][0]["duration_ms"].is_i64());
    }
    let list: Value = app
        .admin_json(Method::GET, "/tenants/bella-salon/webhooks")
        .await;
    assert!(
        !list.to_string().contains(secret),
        "the list never shows the secret"
    );
}

#[tokio::test]
async fn an_endpoint_down_for_a_while_gets_every_event_in_order_once_it_is_up() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let port = receiver.port;
    let endpoint = create_endpoint(&app, &receiver.url(), &APPOINTMENT_EVENTS).await;
    receiver.stop().await;

    let a = book(&app, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await;
    let b = book(&app, "Li Wei", 1, "2026-11-23T16:00:00Z").await;
    move_appointment(&app, a, "2026-11-24", "11:00").await;
    cancel_appointment(&app, b).await;
    move_appointment(&app, a, "2026-11-25", "11:00").await;
    cancel_appointment(&app, a).await;

    // Failing attempts are recorded with why.
    let path = format!(
        "/tenants/bella-salon/webhooks/{}/deliveries",
        endpoint["id"]
    );
    let mut failed = Value::Null;
    for _ in 0..200 {
        failed = app.admin_json(Method::GET, &path).await;
        if failed
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["attempts"].as_i64().unwrap_or(0) >= 2)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_error = failed
        .as_array()
        .unwrap()
        .iter()
        .find_map(|d| d["history"][0]["error"].as_str())
        .expect("a failed attempt with its error");
    assert!(
        first_error.to_lowercase().contains("connect"),
        "{first_error}"
    );

    let receiver = Receiver::start_on(port).await;
    let got = receiver.wait_for(6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_all = receiver.got();
    assert_eq!(
        got_all.len(),
        6,
        "each event once: {:?}",
        sequence(&got_all)
    );
    let seq = sequence(&got);
    assert_in_order_per_appointment(
        &seq,
        &[
            (
                a,
                &[
                    "appointment.booked",
                    "appointment.rescheduled",
                    "appointment.rescheduled",
                    "appointment.cancelled",
                ],
            ),
            (b, &["appointment.booked", "appointment.cancelled"]),
        ],
    );
    let moves: Vec<Value> = got
        .iter()
        .map(|g| g.json())
        .filter(|v| v["type"] == "appointment.rescheduled")
        .map(|v| v["data"]["appointment"]["start"].clone())
        .collect();
    assert_eq!(
        moves,
        ["2026-11-24T11:00:00-06:00", "2026-11-25T11:00:00-06:00"],
        "each move carries the time it moved to"
    );
}

#[tokio::test]
async fn a_restart_in_the_middle_loses_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("restart.db");
    let receiver = Receiver::start().await;
    let port = receiver.port;
    let first = spawn_with(Options {
        db_path: Some(db_path.clone()),
        ..Options::default()
    })
    .await;
    create_endpoint(&first, &receiver.url(), &APPOINTMENT_EVENTS).await;
    receiver.stop().await;
    let ids = [
        book(&first, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await,
        book(&first, "Li Wei", 1, "2026-11-23T16:00:00Z").await,
        book(&first, "Ann", 0, "2026-11-23T18:00:00Z").await,
    ];
    // Let it fail a few times, then stop it with everything still queued.
    tokio::time::sleep(Duration::from_millis(150)).await;
    first.shut_down().await;

    let receiver = Receiver::start_on(port).await;
    let second = spawn_with(Options {
        db_path: Some(db_path),
        ..Options::default()
    })
    .await;
    let got = receiver.wait_for(3).await;
    let mut delivered: Vec<i64> = sequence(&got).into_iter().map(|(id, _)| id).collect();
    delivered.sort();
    assert_eq!(delivered, ids);
    second.shut_down().await;
}

#[tokio::test]
async fn a_private_address_is_refused_at_creation_and_at_delivery() {
    let strict = spawn_with(Options {
        webhooks_allow_private: false,
        ..Options::default()
    })
    .await;
    for (url, says) in [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.0.0.7/hook", "private"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://localhost/hook", "loopback"),
        ("http://hooks.example.com/hook", "https://"),
    ] {
        let body = json!({"url": url, "events": ["appointment.booked"]});
        strict
            .assert_invalid("/tenants/bella-salon/webhooks", &body, "url", says)
            .await;
    }
    strict.shut_down().await;

    // An endpoint stored while private addresses were allowed, whose name resolves to
    // loopback, is refused when a delivery is due and they no longer are.
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("private.db");
    let receiver = Receiver::start().await;
    let lenient = spawn_with(Options {
        db_path: Some(db_path.clone()),
        ..Options::default()
    })
    .await;
    let url = format!("https://localhost:{}/hook", receiver.port);
    let endpoint = create_endpoint(&lenient, &url, &["appointment.booked"]).await;
    lenient.shut_down().await;
    let strict = spawn_with(Options {
        db_path: Some(db_path),
        webhooks_allow_private: false,
        ..Options::default()
    })
    .await;
    book(&strict, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await;
    let path = format!(
        "/tenants/bella-salon/webhooks/{}/deliveries",
        endpoint["id"]
    );
    let mut error = String::new();
    for _ in 0..200 {
        let list: Value = strict.admin_json(Method::GET, &path).await;
        if let Some(e) = list[0]["history"][0]["error"].as_str() {
            error = e.to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        error.contains("127.0.0.1") && error.contains("loopback"),
        "{error:?}"
    );
    assert!(
        receiver.got().is_empty(),
        "nothing reached the private address"
    );
}

#[tokio::test]
async fn a_finished_call_sends_call_completed_with_its_outcome() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    create_endpoint(&app, &receiver.url(), &["call.completed"]).await;
    let sid = "v3:hook-call";
    let (_, path) = app.start_call(sid, "+13125550100").await;
    app.answer(
        &path,
        sid,
        &json!({"customer_name": "Maria Lopez", "service": "Haircut", "preferred_date": "2026-11-24", "preferred_time": "10:00"}),
    )
    .await;
    let status = |s: &'static str| {
        form(&[
            ("CallSid", sid),
            ("CallStatus", s),
            ("CallDuration", "75"),
            ("From", "+13125550199"),
            ("To", "+13125550100"),
        ])
    };
    texml_ok(app.post_signed("/texml/status", status("completed")).await).await;
    // A repeated final callback announces nothing more.
    texml_ok(app.post_signed("/texml/status", status("completed")).await).await;
    let got = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.got().len(), 1);
    let v = got[0].json();
    assert_eq!(v["type"], "call.completed");
    assert_eq!(v["data"]["outcome"], "booked");
    assert_eq!(v["data"]["call"]["call_sid"], sid);
    assert_eq!(v["data"]["call"]["status"], "completed");
    assert_eq!(v["data"]["appointment"]["customer_name"], "Maria Lopez");
}

#[tokio::test]
async fn an_endpoint_answering_errors_is_retried_until_it_accepts() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let endpoint = create_endpoint(&app, &receiver.url(), &["appointment.booked"]).await;
    book(&app, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await;
    receiver.wait_for(3).await;
    receiver.answer(200);
    let path = format!(
        "/tenants/bella-salon/webhooks/{}/deliveries",
        endpoint["id"]
    );
    for _ in 0..300 {
        let list: Value = app.admin_json(Method::GET, &path).await;
        if list[0]["status"] == "delivered" {
            let history = list[0]["history"].as_array().unwrap();
            assert!(history.len() >= 4, "{list}");
            assert_eq!(history[0]["http_status"], 500);
            assert_eq!(history.last().unwrap()["http_status"], 200);
            let ids: std::collections::HashSet<String> =
                receiver.got().iter().map(|g| g.id.clone()).collect();
            assert_eq!(ids.len(), 1, "every retry carries the same webhook-id");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never delivered");
}

#[tokio::test]
async fn bad_webhook_requests_say_what_to_fix() {
    let app = spawn_app().await;
    for (body, field, says) in [
        (json!({"events": ["appointment.booked"]}), "url", "https://"),
        (
            json!({"url": "https://hooks.example.com/x"}),
            "events",
            "appointment.booked",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": []}),
            "events",
            "at least one",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "events": ["appointment.moved"]}),
            "events",
            "appointment.rescheduled",
        ),
        (
            json!({"url": "not a url", "events": ["call.completed"]}),
            "url",
            "not a URL",
        ),
        (
            json!({"url": "https://x.example.com", "events": ["call.completed"], "secret": "mine"}),
            "secret",
            "url and events",
        ),
    ] {
        app.assert_invalid("/tenants/bella-salon/webhooks", &body, field, says)
            .await;
    }
    for (method, path) in [
        (Method::DELETE, "/tenants/bella-salon/webhooks/99"),
        (Method::POST, "/tenants/bella-salon/webhooks/99/rotate"),
        (Method::GET, "/tenants/bella-salon/webhooks/99/deliveries"),
        (Method::POST, "/tenants/bella-salon/webhooks/99/enable"),
    ] {
        let resp = app.admin(method, path).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn a_rotated_secret_signs_from_then_on_and_a_deleted_endpoint_gets_nothing() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let endpoint = create_endpoint(&app, &receiver.url(), &["appointment.booked"]).await;
    let old = endpoint["secret"].as_str().unwrap().to_string();
    book(&app, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await;
    receiver.wait_for(1).await;
    let rotated: Value = app
        .admin_json(
            Method::POST,
            &format!("/tenants/bella-salon/webhooks/{}/rotate", endpoint["id"]),
        )
        .await;
    let new = rotated["secret"].as_str().unwrap();
    assert_ne!(new, old);
    book(&app, "Li Wei", 1, "2026-11-23T16:00:00Z").await;
    let got = receiver.wait_for(2).await;
    assert!(got[0].signed_with(&old));
    assert!(got[1].signed_with(new) && !got[1].signed_with(&old));

    let path = format!("/tenants/bella-salon/webhooks/{}", endpoint["id"]);
    app.admin_expect(Method::DELETE, &path, None, 204).await;
    book(&app, "Ann", 0, "2026-11-23T18:00:00Z").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.got().len(), 2);
}

#[tokio::test]
async fn delivery_reports_of_texts_send_message_delivered_and_message_failed() {
    use crate::{
        fake_telnyx::FakeMessaging,
        sms::{book as book_by_phone, post_webhook, spawn_with_api, status_is, wait_for, webhook},
    };
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    let receiver = Receiver::start().await;
    create_endpoint(
        &app,
        &receiver.url(),
        &["message.delivered", "message.failed"],
    )
    .await;
    book_by_phone(&app, "v3:hook-dlr", "2026-11-23", "10:00").await;
    wait_for(&app, "the confirmation", |l| {
        status_is(l, "confirmation", "sent")
    })
    .await;
    let id = api.received()[0].answered_id.clone().unwrap();
    let delivered = webhook("message-webhook-finalized.json", "evt-hook-fin", |v| {
        v["data"]["payload"]["id"] = id.clone().into();
    });
    assert_eq!(
        post_webhook(&app, &delivered).await["outcome"],
        "status_updated"
    );
    let got = receiver.wait_for(1).await;
    let v = got[0].json();
    assert_eq!(v["type"], "message.delivered");
    assert_eq!(v["data"]["message"]["telnyx_message_id"], id.as_str());
    assert_eq!(v["data"]["message"]["kind"], "confirmation");
    assert_eq!(v["data"]["appointment"]["customer_name"], "Maria Lopez");
    // A repeated report is a duplicate and announces nothing.
    post_webhook(&app, &delivered).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.got().len(), 1);
}
