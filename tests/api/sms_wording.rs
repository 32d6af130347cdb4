//! A tenant's own `sms_confirmation` and `sms_reminder` are what customers get, with the
//! placeholders filled and "Reply C" added, and wording that could never be sent safely is
//! refused on save. The demo tenant at Friday 2026-11-20 09:00 in Chicago.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::{fake_telnyx::FakeMessaging, helpers::*};

const CUSTOMER: &str = "+13125550199";

async fn patch(app: &TestApp, body: &Value) -> (u16, Value) {
    let resp = app
        .admin(Method::PATCH, "/tenants/bella-salon")
        .json(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn book(app: &TestApp, sid: &str) {
    let (_, path) = app.start_call(sid, "+13125550100").await;
    let asked = json!({"customer_name": "Maria Lopez", "service": "haircut", "provider": "Anna",
                       "preferred_date": "2026-11-23", "preferred_time": "10:00",
                       "callback_number": CUSTOMER});
    let doc = app.answer(&path, sid, &asked).await;
    assert!(doc.contains("is booked for"), "{doc}");
}

/// Waits (up to 10 s) until the tenant has a text of `kind` in `status`; its words.
async fn text_of(app: &TestApp, kind: &str, status: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list: Vec<Value> = app
            .admin_json(Method::GET, "/tenants/bella-salon/messages")
            .await;
        if let Some(m) = list
            .iter()
            .find(|m| m["kind"] == kind && m["status"] == status)
        {
            return m["text"].as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} text became {status}: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_tenant_with_its_own_sms_confirmation_texts_those_words() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with(Options {
        messaging_api: Some(api.base.clone()),
        ..Options::default()
    })
    .await;
    let (status, body) = patch(
        &app,
        &json!({"sms_confirmation": "Hi {name}, {provider} will see you {date} at {time} for your {service}. {business}"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    book(&app, "v3:w1").await;
    let recorded = text_of(&app, "confirmation", "sent").await;

    let expected = "Hi Maria Lopez, Anna will see you Mon, Nov 23 at 10:00 AM for your Haircut. Bella Salon. Can't make it? Reply C to call it off.";
    let sent = api.received();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].body["text"], expected);
    assert_eq!(recorded, expected);
}

#[tokio::test]
async fn a_tenant_with_its_own_sms_reminder_reminds_in_those_words_in_dry_run() {
    let app = spawn_app().await;
    let wording = "{business} here: {name}, see you tomorrow at {time}. To call it off, reply C.";
    assert_eq!(patch(&app, &json!({"sms_reminder": wording})).await.0, 200);
    book(&app, "v3:w2").await;
    let confirmation = text_of(&app, "confirmation", "dry_run").await;
    assert!(
        confirmation.starts_with("Bella Salon: your Haircut with Anna"),
        "{confirmation}"
    );

    app.clock.set("2026-11-22T16:00:00Z".parse().unwrap());

    assert_eq!(
        text_of(&app, "reminder", "dry_run").await,
        "Bella Salon here: Maria Lopez, see you tomorrow at 10:00 AM. To call it off, reply C."
    );
}

#[tokio::test]
async fn sms_wording_with_an_opt_out_keyword_or_too_long_to_text_gets_422() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"sms_confirmation": "Booked {date}. Text STOP to stop."}),
            "sms_confirmation",
            "says STOP, which Telnyx treats as an opt-out keyword",
        ),
        (
            json!({"sms_reminder": "{business}: see you {date} {time}. ".repeat(12)}),
            "sms_reminder",
            "is too long for a text",
        ),
    ];
    for (body, field, says) in cases {
        let (status, err) = patch(&app, &body).await;
        assert_eq!((status, err["field"].as_str()), (422, Some(field)), "{err}");
        assert!(err["error"].as_str().unwrap().contains(says), "{err}");
    }
    let t: Value = app.admin_json(Method::GET, "/tenants/bella-salon").await;
    assert_eq!(
        (&t["sms_confirmation"], &t["sms_reminder"]),
        (&Value::Null, &Value::Null)
    );
}
