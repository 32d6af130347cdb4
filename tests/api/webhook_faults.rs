//! Webhooks under faults: a slow endpoint delays neither other endpoints nor texts, an
//! attempt that outlasts the timeout is recorded as such, and redirects are not followed.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::{
    fake_telnyx::FakeMessaging,
    feeds::book,
    helpers::{TestApp, spawn_app},
    sms::{book as book_by_phone, spawn_with_api, status_is, wait_for},
    webhook_receiver::Receiver,
    webhooks::create_endpoint,
};

/// The first attempt of the newest delivery to `endpoint`, once there is one.
async fn first_attempt(app: &TestApp, endpoint: &Value) -> Value {
    let path = format!(
        "/tenants/bella-salon/webhooks/{}/deliveries",
        endpoint["id"]
    );
    for _ in 0..400 {
        let list: Value = app.admin_json(Method::GET, &path).await;
        if !list[0]["history"][0].is_null() {
            return list[0]["history"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no attempt recorded for {endpoint}");
}

#[tokio::test]
async fn a_slow_endpoint_delays_neither_another_endpoint_nor_the_texts() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    let slow = Receiver::start().await;
    slow.delay(Duration::from_millis(1500));
    let fast = Receiver::start().await;
    create_endpoint(&app, &slow.url(), &["appointment.booked"]).await;
    create_endpoint(&app, &fast.url(), &["appointment.booked"]).await;

    let started = Instant::now();
    book_by_phone(&app, "v3:slow-hook", "2026-11-23", "10:00").await;
    fast.wait_for(1).await;
    wait_for(&app, "the confirmation", |l| {
        status_is(l, "confirmation", "sent")
    })
    .await;
    let took = started.elapsed();
    slow.wait_for(1).await;
    assert!(
        took < Duration::from_millis(1200),
        "the fast endpoint and the text waited for the slow endpoint: {took:?}"
    );
}

#[tokio::test]
async fn an_attempt_that_outlasts_the_timeout_is_recorded_as_timed_out_and_retried() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    // The test server's timeout is 2 s.
    receiver.delay(Duration::from_secs(3));
    let endpoint = create_endpoint(&app, &receiver.url(), &["appointment.booked"]).await;
    book(&app, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await;
    let attempt = first_attempt(&app, &endpoint).await;
    assert!(attempt["http_status"].is_null(), "{attempt}");
    let error = attempt["error"].as_str().unwrap();
    assert!(error.contains("timed out"), "{error}");
    let took = attempt["duration_ms"].as_i64().unwrap();
    assert!((1900..2900).contains(&took), "{took} ms");
    let again = receiver.wait_for(2).await;
    assert_eq!(again[0].id, again[1].id, "the same event, tried again");
}

#[tokio::test]
async fn a_redirect_is_recorded_as_a_failure_and_never_followed() {
    let app = spawn_app().await;
    let elsewhere = Receiver::start().await;
    let redirecting = Receiver::start().await;
    redirecting.redirect_to(&elsewhere.url());
    let endpoint = create_endpoint(&app, &redirecting.url(), &["appointment.booked"]).await;
    book(&app, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await;
    let attempt = first_attempt(&app, &endpoint).await;
    assert_eq!(attempt["http_status"], 307);
    assert!(
        attempt["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{attempt}"
    );
    redirecting.wait_for(2).await;
    assert!(elsewhere.got().is_empty(), "the redirect was followed");
}
