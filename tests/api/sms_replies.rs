//! A "C" is answered by the tenant that texted the customer from the number it was sent
//! to: its `phone_number` or its `sms_from`, which several tenants may share. Tenants here
//! text from a dedicated SMS number, +13125550150; the clock starts at Friday 2026-11-20
//! 09:00 in Chicago.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::{fake_telnyx::FakeMessaging, helpers::*};

const CUSTOMER: &str = "+13125550199";
const SMS_NUMBER: &str = "+13125550150";

/// A tenant open every day whose texts come from [`SMS_NUMBER`].
fn texting_tenant(slug: &str, line: &str) -> Value {
    let mut t = open_every_day(slug, line, "America/Chicago", &["Ana"]);
    t["sms_from"] = SMS_NUMBER.into();
    t
}

async fn spawn_with_api(api: &FakeMessaging) -> TestApp {
    spawn_with(Options {
        messaging_api: Some(api.base.clone()),
        demo: false,
        ..Options::default()
    })
    .await
}

/// Books a Cut on `line` at `time` on Monday 2026-11-23; the appointment id.
async fn book(app: &TestApp, sid: &str, slug: &str, line: &str, time: &str) -> i64 {
    let (_, path) = app.start_call(sid, line).await;
    let asked = json!({"customer_name": "Maria Lopez", "service": "Cut", "preferred_date": "2026-11-23",
                       "preferred_time": time, "callback_number": CUSTOMER});
    let doc = app.answer(&path, sid, &asked).await;
    assert!(doc.contains("is booked for"), "{doc}");
    let list = app.appointments(slug).await;
    list.iter()
        .map(|a| a["id"].as_i64().unwrap())
        .max()
        .unwrap()
}

async fn messages(app: &TestApp, slug: &str) -> Vec<Value> {
    app.admin_json(Method::GET, &format!("/tenants/{slug}/messages"))
        .await
}

/// Waits (up to 10 s) until `slug` has `count` texts of `kind` sent.
async fn wait_sent(app: &TestApp, slug: &str, kind: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = messages(app, slug).await;
        let sent = list
            .iter()
            .filter(|m| m["kind"] == kind && m["status"] == "sent")
            .count();
        if sent >= count {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{slug}: {count} {kind} text(s) never sent: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The customer texts `text` to `to`; the webhook's outcome.
async fn customer_texts(app: &TestApp, event_id: &str, to: &str, text: &str) -> String {
    let mut v: Value = serde_json::from_slice(&fixture("message-webhook-received.json")).unwrap();
    let obj = v.as_object_mut().unwrap();
    obj.remove("_note");
    obj.remove("_http");
    v["data"]["id"] = event_id.into();
    v["data"]["payload"]["text"] = text.into();
    v["data"]["payload"]["from"]["phone_number"] = CUSTOMER.into();
    v["data"]["payload"]["to"][0]["phone_number"] = to.into();
    let resp = app.post_json_signed("/messaging/webhook", &v).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["outcome"].as_str().unwrap().to_string()
}

async fn status_of(app: &TestApp, slug: &str, id: i64) -> String {
    let list = app.appointments(slug).await;
    let a = list.iter().find(|a| a["id"] == id).unwrap();
    a["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_c_sent_to_the_tenants_sms_from_cancels_the_appointment() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    app.create_tenant(&texting_tenant("studio", "+13125550140"))
        .await;
    let id = book(&app, "v3:h1", "studio", "+13125550140", "10:00").await;
    let list = wait_sent(&app, "studio", "confirmation", 1).await;
    assert_eq!(list[0]["from"], SMS_NUMBER);

    let outcome = customer_texts(&app, "evt-h1", SMS_NUMBER, "C").await;

    assert_eq!(outcome, "appointment_cancelled");
    assert_eq!(status_of(&app, "studio", id).await, "cancelled");
    let list = wait_sent(&app, "studio", "cancelled", 1).await;
    let answer = list.iter().find(|m| m["kind"] == "cancelled").unwrap();
    assert_eq!(
        (&answer["to"], &answer["from"]),
        (&json!(CUSTOMER), &json!(SMS_NUMBER))
    );
}

#[tokio::test]
async fn with_a_shared_sms_from_the_c_goes_to_the_tenant_that_texted_last() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    app.create_tenant(&texting_tenant("north", "+13125550140"))
        .await;
    app.create_tenant(&texting_tenant("south", "+13125550160"))
        .await;
    let north = book(&app, "v3:h2a", "north", "+13125550140", "10:00").await;
    wait_sent(&app, "north", "confirmation", 1).await;
    app.clock.set("2026-11-20T15:05:00Z".parse().unwrap());
    let south = book(&app, "v3:h2b", "south", "+13125550160", "11:00").await;
    wait_sent(&app, "south", "confirmation", 1).await;

    assert_eq!(
        customer_texts(&app, "evt-h2a", SMS_NUMBER, "C").await,
        "appointment_cancelled"
    );
    assert_eq!(status_of(&app, "south", south).await, "cancelled");
    assert_eq!(status_of(&app, "north", north).await, "booked");

    // North texts last now (a second booking), so the next "C" is north's.
    wait_sent(&app, "south", "cancelled", 1).await;
    app.clock.set("2026-11-20T15:10:00Z".parse().unwrap());
    let later = book(&app, "v3:h2c", "north", "+13125550140", "14:00").await;
    wait_sent(&app, "north", "confirmation", 2).await;
    assert_eq!(
        customer_texts(&app, "evt-h2b", SMS_NUMBER, "C").await,
        "appointment_cancelled"
    );
    assert_eq!(
        status_of(&app, "north", north).await,
        "cancelled",
        "the next one"
    );
    assert_eq!(status_of(&app, "north", later).await, "booked");
}

#[tokio::test]
async fn a_c_to_an_sms_from_that_never_texted_the_customer_is_answered_by_its_tenant() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    app.create_tenant(&texting_tenant("studio", "+13125550140"))
        .await;

    let outcome = customer_texts(&app, "evt-h3", SMS_NUMBER, "c").await;

    assert_eq!(outcome, "no_booking");
    let list = wait_sent(&app, "studio", "reply", 1).await;
    assert!(
        list[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("studio: we found no upcoming booking"),
        "{list:#?}"
    );
    assert_eq!(
        customer_texts(&app, "evt-h3b", "+13125550170", "C").await,
        "ignored",
        "a number no tenant uses"
    );
}
