//! Texts: the confirmation and reminders through the outbox, retries and failures against a
//! scripted fake Messaging API, opt-outs, the `C` reply, delivery webhooks, dry run,
//! pacing and a restart. The clock stands at Friday 2026-11-20 09:00 in Chicago.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use slotline::sms::words;

use crate::{
    fake_telnyx::{FakeMessaging, Reply},
    helpers::*,
};

pub(crate) const CUSTOMER: &str = "+13125550199";

/// A haircut with Anna (named, so the texts' wording does not depend on which of the
/// equally free providers a call would be given).
pub(crate) fn haircut(date: &str, time: &str) -> Value {
    json!({"customer_name": "Maria Lopez", "service": "haircut", "preferred_date": date,
           "preferred_time": time, "callback_number": CUSTOMER, "provider": "Anna"})
}

/// Books a haircut through a whole call and checks it was booked.
pub(crate) async fn book(app: &TestApp, sid: &str, date: &str, time: &str) {
    let (_, path) = app.start_call(sid, "+13125550100").await;
    let doc = app.answer(&path, sid, &haircut(date, time)).await;
    assert!(doc.contains("is booked for"), "{doc}");
}

/// The tenant's texts as the admin API lists them, oldest first.
pub(crate) async fn messages(app: &TestApp) -> Vec<Value> {
    let resp = app
        .admin(reqwest::Method::GET, "/tenants/bella-salon/messages")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut list: Vec<Value> = resp.json().await.unwrap();
    list.reverse();
    list
}

/// Texts of one kind.
async fn of_kind(app: &TestApp, kind: &str) -> Vec<Value> {
    messages(app)
        .await
        .into_iter()
        .filter(|m| m["kind"] == kind)
        .collect()
}

/// Waits (up to 10 s) until `done` holds for the texts, and returns them.
pub(crate) async fn wait_for(
    app: &TestApp,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = messages(app).await;
        if done(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; texts: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) fn status_is(list: &[Value], kind: &str, status: &str) -> bool {
    list.iter()
        .any(|m| m["kind"] == kind && m["status"] == status)
}

pub(crate) async fn spawn_with_api(api: &FakeMessaging) -> TestApp {
    spawn_with(Options {
        messaging_api: Some(api.base.clone()),
        ..Options::default()
    })
    .await
}

/// A messaging webhook from a fixture, with a new event id and `edit` applied.
pub(crate) fn webhook(fixture_name: &str, event_id: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut v: Value = serde_json::from_slice(&fixture(fixture_name)).unwrap();
    let obj = v.as_object_mut().unwrap();
    obj.remove("_note");
    obj.remove("_http");
    v["data"]["id"] = event_id.into();
    edit(&mut v);
    v
}

pub(crate) async fn post_webhook(app: &TestApp, body: &Value) -> Value {
    let resp = app.post_json_signed("/messaging/webhook", body).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_booking_sends_its_confirmation_exactly_once() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;

    book(&app, "v3:once", "2026-11-23", "10:00").await;
    let list = wait_for(&app, "the confirmation", |l| {
        status_is(l, "confirmation", "sent")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let sent = api.received();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let req = &sent[0];
    assert_eq!(
        req.authorization.as_deref(),
        Some(format!("Bearer {TEST_API_KEY}").as_str())
    );
    assert_eq!(req.body["to"], CUSTOMER);
    assert_eq!(req.body["from"], "+13125550100");
    assert_eq!(req.body["type"], "SMS");
    assert_eq!(
        req.body["webhook_url"],
        "https://booking.example.com/messaging/webhook"
    );
    assert_eq!(
        req.body["text"],
        "Bella Salon: your Haircut with Anna is booked for Mon, Nov 23 at 10:00 AM. Can't make it? Reply C to call it off."
    );
    let confirmation = list.iter().find(|m| m["kind"] == "confirmation").unwrap();
    assert_eq!(
        confirmation["telnyx_message_id"],
        sent[0].answered_id.clone().unwrap().as_str()
    );
    assert_eq!(confirmation["attempts"], 1);
    assert_eq!(of_kind(&app, "confirmation").await.len(), 1);
}

#[tokio::test]
async fn a_retried_gather_callback_queues_no_second_confirmation() {
    let app = spawn_app().await;
    let (_, path) = app.start_call("v3:twice", "+13125550100").await;
    let first = app
        .answer(&path, "v3:twice", &haircut("2026-11-23", "10:00"))
        .await;
    let second = app
        .answer(&path, "v3:twice", &haircut("2026-11-23", "10:00"))
        .await;
    assert_eq!(first, second);
    wait_for(&app, "the dry-run confirmation", |l| {
        status_is(l, "confirmation", "dry_run")
    })
    .await;
    assert_eq!(of_kind(&app, "confirmation").await.len(), 1);
}

#[tokio::test]
async fn a_text_is_retried_after_429_and_503_then_sent() {
    let api = FakeMessaging::start(vec![Reply::RateLimited(1), Reply::Unavailable]).await;
    let app = spawn_with_api(&api).await;

    book(&app, "v3:retry", "2026-11-23", "10:00").await;
    let list = wait_for(&app, "the confirmation after retries", |l| {
        status_is(l, "confirmation", "sent")
    })
    .await;

    let sent = api.received();
    assert_eq!(sent.len(), 3, "429, 503, then 200");
    assert!(
        sent[1].at.duration_since(sent[0].at) >= Duration::from_millis(990),
        "x-ratelimit-reset (1 s) is honoured"
    );
    let c = list.iter().find(|m| m["kind"] == "confirmation").unwrap();
    assert_eq!(c["attempts"], 3);
    assert_eq!(
        c["telnyx_message_id"],
        sent[2].answered_id.clone().unwrap().as_str(),
        "the id recorded is the one of the accepted send"
    );
}

#[tokio::test]
async fn a_text_that_keeps_failing_is_marked_failed_with_the_reason() {
    let api = FakeMessaging::start(vec![Reply::Unavailable; 10]).await;
    let app = spawn_with_api(&api).await;

    book(&app, "v3:fail", "2026-11-23", "10:00").await;
    let list = wait_for(&app, "the failure", |l| {
        status_is(l, "confirmation", "failed")
    })
    .await;

    let c = list.iter().find(|m| m["kind"] == "confirmation").unwrap();
    assert_eq!(c["attempts"], 4, "the test limit is 4 attempts");
    let reason = c["last_error"].as_str().unwrap();
    assert!(reason.contains("gave up after 4 attempts"), "{reason}");
    assert!(reason.contains("503"), "{reason}");
    assert_eq!(api.received().len(), 4);
    assert!(c["text"].as_str().unwrap().contains("Reply C"));
}

#[tokio::test]
async fn an_opted_out_recipient_is_remembered_on_40300_and_later_bookings_queue_nothing() {
    let api = FakeMessaging::start(vec![Reply::OptedOut]).await;
    let app = spawn_with_api(&api).await;

    book(&app, "v3:stop1", "2026-11-23", "10:00").await;
    let list = wait_for(&app, "the refusal", |l| {
        status_is(l, "confirmation", "failed")
    })
    .await;
    let c = list.iter().find(|m| m["kind"] == "confirmation").unwrap();
    assert_eq!(c["attempts"], 1, "a permanent error is not retried");
    assert!(c["last_error"].as_str().unwrap().contains("40300"));
    assert!(
        status_is(&list, "reminder", "skipped"),
        "the queued reminder is skipped: {list:#?}"
    );

    let before = messages(&app).await.len();
    book(&app, "v3:stop2", "2026-11-24", "10:00").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(messages(&app).await.len(), before, "nothing queued");
    assert_eq!(api.received().len(), 1);
}

#[tokio::test]
async fn a_bad_sender_or_recipient_fails_at_once_with_the_reason() {
    let api = FakeMessaging::start(vec![Reply::BadSender, Reply::BadRecipient]).await;
    let app = spawn_with_api(&api).await;

    book(&app, "v3:from", "2026-11-23", "10:00").await;
    wait_for(&app, "the first refusal", |l| {
        status_is(l, "confirmation", "failed")
    })
    .await;
    book(&app, "v3:to", "2026-11-24", "10:00").await;
    let list = wait_for(&app, "both refusals", |l| {
        l.iter()
            .filter(|m| m["kind"] == "confirmation" && m["status"] == "failed")
            .count()
            == 2
    })
    .await;

    let reasons: Vec<&str> = list
        .iter()
        .filter(|m| m["kind"] == "confirmation")
        .map(|m| m["last_error"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].contains("40305") && reasons[0].contains("sms_from"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("40310"), "{reasons:?}");
    assert_eq!(api.received().len(), 2, "neither was retried");
}

#[tokio::test]
async fn stop_switches_texts_off_and_start_switches_them_back_on() {
    let app = spawn_app().await;
    book(&app, "v3:s1", "2026-11-23", "10:00").await;
    wait_for(&app, "the confirmation", |l| {
        status_is(l, "confirmation", "dry_run")
    })
    .await;

    let stop = webhook("message-webhook-received-stop.json", "evt-stop", |_| {});
    assert_eq!(post_webhook(&app, &stop).await["outcome"], "opted_out");
    let list = messages(&app).await;
    assert!(status_is(&list, "reminder", "skipped"), "{list:#?}");
    assert_eq!(
        post_webhook(&app, &stop).await["outcome"],
        "duplicate",
        "a redelivered event changes nothing"
    );

    book(&app, "v3:s2", "2026-11-24", "10:00").await;
    assert_eq!(
        messages(&app).await.len(),
        list.len(),
        "nothing queued while opted out"
    );

    let start = webhook("message-webhook-received-stop.json", "evt-start", |v| {
        v["data"]["payload"]["text"] = "START".into();
        v["data"]["payload"]["autoresponse_type"] = "START".into();
    });
    assert_eq!(post_webhook(&app, &start).await["outcome"], "opted_in");
    book(&app, "v3:s3", "2026-11-25", "10:00").await;
    wait_for(&app, "texts again", |l| {
        l.iter()
            .filter(|m| m["kind"] == "confirmation" && m["status"] == "dry_run")
            .count()
            == 2
    })
    .await;
}

#[tokio::test]
async fn replying_c_cancels_the_next_appointment_and_confirms_it() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    book(&app, "v3:c1", "2026-11-24", "10:00").await;
    book(&app, "v3:c2", "2026-11-23", "11:00").await;
    wait_for(&app, "both confirmations", |l| {
        l.iter()
            .filter(|m| m["kind"] == "confirmation" && m["status"] == "sent")
            .count()
            == 2
    })
    .await;

    let reply = webhook("message-webhook-received.json", "evt-c", |v| {
        v["data"]["payload"]["text"] = " c ".into();
    });
    assert_eq!(
        post_webhook(&app, &reply).await["outcome"],
        "appointment_cancelled"
    );
    assert_eq!(post_webhook(&app, &reply).await["outcome"], "duplicate");

    let appts = app.appointments("bella-salon").await;
    let monday = appts
        .iter()
        .find(|a| a["start"] == "2026-11-23T11:00:00-06:00")
        .unwrap();
    let tuesday = appts
        .iter()
        .find(|a| a["start"] == "2026-11-24T10:00:00-06:00")
        .unwrap();
    assert_eq!(monday["status"], "cancelled", "the next one goes");
    assert_eq!(tuesday["status"], "booked", "only the next one");

    let list = wait_for(&app, "the cancellation text", |l| {
        status_is(l, "cancelled", "sent")
    })
    .await;
    let text = list.iter().find(|m| m["kind"] == "cancelled").unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        "Bella Salon: your Haircut with Anna on Mon, Nov 23 at 11:00 AM is cancelled as you asked. Call +13125550100 to book again."
    );
    let monday_id = monday["id"].clone();
    let reminders: Vec<&Value> = list
        .iter()
        .filter(|m| m["kind"] == "reminder" && m["appointment_id"] == monday_id)
        .collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(
        reminders[0]["status"], "cancelled",
        "its reminder went with it"
    );
    assert_eq!(api.received().len(), 3);
}

#[tokio::test]
async fn replying_c_without_an_upcoming_appointment_gets_a_short_answer() {
    let app = spawn_app().await;
    let reply = webhook("message-webhook-received.json", "evt-c-none", |v| {
        v["data"]["payload"]["text"] = "C".into();
    });
    assert_eq!(post_webhook(&app, &reply).await["outcome"], "no_booking");
    let list = wait_for(&app, "the answer", |l| status_is(l, "reply", "dry_run")).await;
    let text = list[0]["text"].as_str().unwrap();
    assert!(text.contains("no upcoming booking"), "{text}");
    assert_eq!(words::forbidden_word(text), None);
}

#[tokio::test]
async fn other_inbound_texts_are_acknowledged_and_ignored() {
    let app = spawn_app().await;
    book(&app, "v3:other", "2026-11-23", "10:00").await;
    let hello = webhook("message-webhook-received.json", "evt-hello", |_| {});
    assert_eq!(post_webhook(&app, &hello).await["outcome"], "ignored");
    assert_eq!(app.appointments("bella-salon").await[0]["status"], "booked");
}

#[tokio::test]
async fn delivery_webhooks_move_a_text_forward_and_never_back() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    book(&app, "v3:dlr", "2026-11-23", "10:00").await;
    wait_for(&app, "the confirmation", |l| {
        status_is(l, "confirmation", "sent")
    })
    .await;
    let id = api.received()[0].answered_id.clone().unwrap();
    let with_id = |v: &mut Value| v["data"]["payload"]["id"] = id.clone().into();

    let delivered = webhook("message-webhook-finalized.json", "evt-fin", with_id);
    assert_eq!(
        post_webhook(&app, &delivered).await["outcome"],
        "status_updated"
    );
    assert_eq!(post_webhook(&app, &delivered).await["outcome"], "duplicate");
    let late_sent = webhook("message-webhook-sent.json", "evt-sent", with_id);
    assert_eq!(
        post_webhook(&app, &late_sent).await["outcome"],
        "status_unchanged",
        "a late message.sent does not undo delivered"
    );
    let list = messages(&app).await;
    let c = list.iter().find(|m| m["kind"] == "confirmation").unwrap();
    assert_eq!(c["status"], "delivered");
}

#[tokio::test]
async fn a_failed_delivery_is_recorded_with_the_carrier_error() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    book(&app, "v3:dlr-fail", "2026-11-23", "10:00").await;
    wait_for(&app, "the confirmation", |l| {
        status_is(l, "confirmation", "sent")
    })
    .await;
    let id = api.received()[0].answered_id.clone().unwrap();
    let failed = webhook("message-webhook-finalized.json", "evt-fail", |v| {
        v["data"]["payload"]["id"] = id.clone().into();
        v["data"]["payload"]["to"][0]["status"] = "delivery_failed".into();
        v["data"]["payload"]["errors"] =
            json!([{"code": "40010", "title": "Not 10DLC registered"}]);
    });
    post_webhook(&app, &failed).await;
    let list = messages(&app).await;
    let c = list.iter().find(|m| m["kind"] == "confirmation").unwrap();
    assert_eq!(c["status"], "failed");
    assert!(c["last_error"].as_str().unwrap().contains("40010"), "{c}");
}

#[tokio::test]
async fn a_messaging_webhook_without_a_good_signature_is_refused() {
    let app = spawn_app().await;
    let body = webhook("message-webhook-received.json", "evt-unsigned", |v| {
        v["data"]["payload"]["text"] = "C".into();
    });
    let resp = app
        .post_raw(
            "/messaging/webhook",
            body.to_string().into_bytes(),
            None,
            "application/json",
        )
        .await;
    assert_eq!(resp.status(), 403);
    let resp = app
        .post_json_signed("/messaging/webhook", &json!({"hello": "world"}))
        .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn without_an_api_key_texts_are_recorded_as_dry_run_with_their_words() {
    let app = spawn_app().await;
    book(&app, "v3:dry", "2026-11-23", "10:00").await;
    let list = wait_for(&app, "the dry run", |l| {
        status_is(l, "confirmation", "dry_run")
    })
    .await;
    let c = list.iter().find(|m| m["kind"] == "confirmation").unwrap();
    let text = c["text"].as_str().unwrap();
    assert!(
        text.starts_with("Bella Salon: your Haircut with Anna"),
        "{text}"
    );
    assert!(c["telnyx_message_id"].is_null());
    let r = list.iter().find(|m| m["kind"] == "reminder").unwrap();
    assert_eq!(r["status"], "queued");
    assert_eq!(
        r["due"], "2026-11-22T16:00:00Z",
        "24 h before, Sunday 10:00 local"
    );
}

#[tokio::test]
async fn the_reminder_goes_out_when_its_time_comes_with_the_current_time() {
    let app = spawn_app().await;
    book(&app, "v3:rem", "2026-11-23", "10:00").await;
    wait_for(&app, "the confirmation", |l| {
        status_is(l, "confirmation", "dry_run")
    })
    .await;
    assert!(status_is(&messages(&app).await, "reminder", "queued"));

    app.clock.set("2026-11-22T16:00:00Z".parse().unwrap());
    let list = wait_for(&app, "the reminder", |l| {
        status_is(l, "reminder", "dry_run")
    })
    .await;
    let text = list.iter().find(|m| m["kind"] == "reminder").unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        "Reminder from Bella Salon: your Haircut with Anna is on Mon, Nov 23 at 10:00 AM. Can't make it? Reply C to call it off."
    );
}

#[tokio::test]
async fn names_with_keywords_long_names_and_non_latin_names_make_safe_short_texts() {
    let app = spawn_app().await;
    let resp = app
        .admin(reqwest::Method::PATCH, "/tenants/bella-salon")
        .json(&json!({
            "name": "Full Stop & Quit Barbers — 東京ヘアサロン銀座本店スペシャルスタイリングスタジオ and The End Lounge",
            "providers": [{"name": "Анна-Мария Константинопольская", "services": ["Haircut", "Colour", "Blow-dry"]},
                          {"name": "Marco", "services": ["Haircut", "Blow-dry"]}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The providers were renamed above, so this booking names none.
    let (_, path) = app.start_call("v3:names", "+13125550100").await;
    let mut any = haircut("2026-11-23", "10:00");
    any.as_object_mut().unwrap().remove("provider");
    assert!(
        app.answer(&path, "v3:names", &any)
            .await
            .contains("is booked for")
    );
    app.clock.set("2026-11-22T16:00:00Z".parse().unwrap());
    let list = wait_for(&app, "both texts", |l| {
        status_is(l, "confirmation", "dry_run") && status_is(l, "reminder", "dry_run")
    })
    .await;
    for m in &list {
        let text = m["text"].as_str().unwrap();
        assert_eq!(words::forbidden_word(text), None, "{text}");
        assert!(words::segments(text) <= 2, "{text}");
        assert!(text.contains("Mon, Nov 23 at 10:00 AM"), "{text}");
        assert!(text.contains("Reply C"), "{text}");
    }
}

#[tokio::test]
async fn each_sender_is_paced_to_its_tenant_rate() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    let resp = app
        .admin(reqwest::Method::PATCH, "/tenants/bella-salon")
        .json(&json!({"sms_rate_per_second": 4, "reminder_hours": [], "max_future_bookings_per_caller": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for (i, time) in ["10:00", "11:00", "12:00", "13:00"].iter().enumerate() {
        book(&app, &format!("v3:pace{i}"), "2026-11-23", time).await;
    }
    wait_for(&app, "four confirmations", |l| {
        l.iter().filter(|m| m["status"] == "sent").count() == 4
    })
    .await;
    // Sends are scheduled 250 ms apart; one arrival may be late and shrink one gap, but
    // four texts cannot arrive in much less than three gaps (750 ms) unless pacing broke.
    let at: Vec<Instant> = api.received().iter().map(|r| r.at).collect();
    let span = at[at.len() - 1].duration_since(at[0]);
    assert!(
        span >= Duration::from_millis(600),
        "4 texts at 4/s span about 750 ms, got {span:?}"
    );
}

#[tokio::test]
async fn the_rate_setting_is_validated_and_shown() {
    let app = spawn_app().await;
    let resp = app
        .admin(reqwest::Method::PATCH, "/tenants/bella-salon")
        .json(&json!({"sms_rate_per_second": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["field"], "sms_rate_per_second");
    assert!(body["error"].as_str().unwrap().contains("texts per second"));
    let resp = app
        .admin(reqwest::Method::GET, "/tenants/bella-salon")
        .send()
        .await
        .unwrap();
    let tenant: Value = resp.json().await.unwrap();
    assert_eq!(tenant["sms_rate_per_second"], 1.0);
}

#[tokio::test]
async fn a_text_queued_while_the_api_is_down_is_sent_exactly_once_after_a_restart() {
    // The API is down: take a free port and close it again.
    let down = FakeMessaging::start(vec![]).await;
    let (port, base) = (down.port, down.base.clone());
    down.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("restart.db");
    let app = spawn_with(Options {
        messaging_api: Some(base.clone()),
        db_path: Some(db_path.clone()),
        sms_max_attempts: 50,
        ..Options::default()
    })
    .await;
    book(&app, "v3:restart", "2026-11-23", "10:00").await;
    wait_for(&app, "a failed attempt", |l| {
        l.iter().any(|m| {
            m["kind"] == "confirmation"
                && m["status"] == "queued"
                && m["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("connect"))
        })
    })
    .await;
    app.shut_down().await;

    let api = FakeMessaging::start_on(port, vec![]).await;
    let app = spawn_with(Options {
        messaging_api: Some(base),
        db_path: Some(db_path),
        demo: false,
        sms_max_attempts: 50,
        ..Options::default()
    })
    .await;
    wait_for(&app, "the confirmation after the restart", |l| {
        status_is(l, "confirmation", "sent")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(api.received().len(), 1, "sent exactly once");
    assert_eq!(of_kind(&app, "confirmation").await.len(), 1);
}

/// `.ci/run` starts Prism on the real Telnyx schema subset and sets `PRISM_URL`; this shows
/// Prism accepts our request as valid and that an invalid one would be refused.
#[tokio::test]
#[ignore = "needs Prism; run by .ci/run"]
async fn prism_accepts_our_send_request_as_valid_for_the_telnyx_schema() {
    use slotline::{
        config::Secret,
        sms::{
            MessagingClient,
            client::{SendRequest, Timeouts},
        },
    };
    let base = std::env::var("PRISM_URL").expect("PRISM_URL is set by .ci/run");
    let client =
        MessagingClient::new(&base, Secret::new("prism-test-key"), Timeouts::default()).unwrap();
    let text = slotline::sms::texts::render(
        slotline::sms::Kind::Confirmation,
        &slotline::sms::texts::Facts {
            business: "Bella Salon".into(),
            service: "Haircut".into(),
            provider: "Anna".into(),
            start: "2026-11-24T21:00:00Z".parse().unwrap(),
            tz: jiff::tz::TimeZone::get("America/Chicago").unwrap(),
            phone: "+13125550100".into(),
            name: "Maria Lopez".into(),
            sms_confirmation: None,
            sms_reminder: None,
            sms_moved: None,
        },
    );
    let req = SendRequest {
        from: "+13125550100".into(),
        to: CUSTOMER.into(),
        text,
        messaging_profile_id: Some("4000eba1-a0c0-4563-9925-b25e842a7cb6".into()),
        webhook_url: Some("https://booking.example.com/messaging/webhook".into()),
        kind: "SMS",
    };
    let sent = client
        .send(&req)
        .await
        .unwrap_or_else(|e| panic!("Prism refused our request: {e}"));
    assert!(!sent.id.is_empty());

    // The check can fail: a request without `to` is refused by the same mock.
    let resp = reqwest::Client::new()
        .post(format!("{base}/messages"))
        .bearer_auth("prism-test-key")
        .json(&json!({"from": "+13125550100", "text": "no recipient", "type": "SMS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        422,
        "Prism validates requests against the schema"
    );
}
