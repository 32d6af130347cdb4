//! Texts under faults: a Messaging API that loses its answer, times out, refuses the key
//! or is slow; fairness between senders; the sender read at send time; and a server that
//! will not start without a key or an explicit dry run; and the caps that keep callers
//! from texting arbitrary numbers or booking out the week. Each test takes seconds.

use std::{collections::HashSet, time::Duration};

use serde_json::{Value, json};

use crate::{
    fake_telnyx::{FakeMessaging, Reply},
    helpers::*,
    sms::{
        CUSTOMER, book, haircut, messages, post_webhook, spawn_with_api, status_is, wait_for,
        webhook,
    },
    sql::{int, text},
};

/// The lease the test harness gives a claimed text.
const LEASE: Duration = Duration::from_secs(3);

async fn patch_bella(app: &TestApp, body: Value) {
    let resp = app
        .admin(reqwest::Method::PATCH, "/tenants/bella-salon")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// Waits (up to 10 s) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn confirmation(list: &[Value]) -> Value {
    list.iter()
        .find(|m| m["kind"] == "confirmation")
        .cloned()
        .expect("a confirmation")
}

#[tokio::test]
async fn a_messaging_api_that_answers_200_then_resets_the_connection_sends_one_text_not_two() {
    let api = FakeMessaging::start(vec![Reply::OkThenReset]).await;
    let app = spawn_with_api(&api).await;

    book(&app, "v3:reset", "2026-11-23", "10:00").await;
    let list = wait_for(&app, "the confirmation held as unknown", |l| {
        status_is(l, "confirmation", "unknown")
    })
    .await;
    let held = confirmation(&list);
    let reason = held["last_error"].as_str().unwrap();
    assert!(
        reason.contains("outcome unknown") && reason.contains("not sent again"),
        "{reason}"
    );
    // Past the lease and a sweep: a blindly re-claimed text would have gone again by now.
    tokio::time::sleep(LEASE + Duration::from_millis(1500)).await;
    assert_eq!(api.received().len(), 1, "one request, not two");
    assert!(status_is(&messages(&app).await, "confirmation", "unknown"));

    // Telnyx's delivery webhook names the id slotline never read: matched by to/from/text.
    let sent = &api.received()[0];
    let id = sent.answered_id.clone().unwrap();
    let hook = webhook("message-webhook-sent.json", "evt-reset-sent", |v| {
        let p = &mut v["data"]["payload"];
        p["id"] = id.clone().into();
        p["to"][0]["phone_number"] = sent.body["to"].clone();
        p["from"]["phone_number"] = sent.body["from"].clone();
        p["text"] = sent.body["text"].clone();
    });
    assert_eq!(post_webhook(&app, &hook).await["outcome"], "status_updated");
    let c = confirmation(&messages(&app).await);
    assert_eq!(c["status"], "sent");
    assert_eq!(c["telnyx_message_id"], id.as_str());
    assert_eq!(api.received().len(), 1);
}

/// Books once against a Messaging API that answers `reply`, with a 1 s hold for texts of
/// unknown outcome; the confirmation's last error once it has failed, and how many sends
/// the API received.
async fn held_until_failed(reply: Reply, sid: &str) -> (String, usize) {
    let api = FakeMessaging::start(vec![reply]).await;
    let app = spawn_with(Options {
        messaging_api: Some(api.base.clone()),
        sms_unknown_hold: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    book(&app, sid, "2026-11-23", "10:00").await;
    let list = wait_for(&app, "the held text to fail", |l| {
        status_is(l, "confirmation", "failed")
    })
    .await;
    let reason = confirmation(&list)["last_error"]
        .as_str()
        .unwrap()
        .to_string();
    (reason, api.received().len())
}

#[tokio::test]
async fn a_send_that_times_out_is_held_never_resent_and_failed_after_the_hold() {
    let (reason, sends) = held_until_failed(Reply::Hang(Duration::from_secs(2)), "v3:slow").await;
    assert!(
        reason.contains("not re-sent") && reason.contains("timed out"),
        "{reason}"
    );
    assert_eq!(sends, 1, "the timed-out send was not repeated");
}

#[tokio::test]
async fn a_500_from_telnyx_holds_the_text_instead_of_sending_it_again() {
    let (reason, sends) = held_until_failed(Reply::ServerError, "v3:five-hundred").await;
    assert!(reason.contains("500"), "{reason}");
    assert_eq!(sends, 1, "a 500 is not a proof that nothing was taken");
}

#[tokio::test]
async fn a_401_storm_pauses_texts_fails_none_and_sends_all_once_the_key_works() {
    let api = FakeMessaging::start(vec![]).await;
    api.refuse_key(true);
    let app = spawn_with_api(&api).await;
    patch_bella(
        &app,
        json!({"reminder_hours": [], "sms_rate_per_second": 10}),
    )
    .await;

    for (i, time) in ["10:00", "11:00", "12:00"].iter().enumerate() {
        book(&app, &format!("v3:storm{i}"), "2026-11-23", time).await;
    }
    let list = wait_for(&app, "three paused confirmations", |l| {
        l.iter().filter(|m| m["status"] == "paused").count() == 3
    })
    .await;
    for m in &list {
        let reason = m["last_error"].as_str().unwrap();
        assert!(
            reason.contains("401") && reason.contains("resumes by itself"),
            "{reason}"
        );
    }
    // Probes go out one at a time, with backoff, and are refused too: still nothing fails.
    until("probes while paused", || api.received().len() >= 4).await;
    let list = messages(&app).await;
    // (Or queued again: a probe whose sender's pace is taken waits its turn.)
    assert!(
        list.iter()
            .all(|m| ["paused", "sending", "queued"].contains(&m["status"].as_str().unwrap())),
        "{list:#?}"
    );

    api.refuse_key(false);
    let list = wait_for(&app, "all three sent", |l| {
        l.iter().filter(|m| m["status"] == "sent").count() == 3
    })
    .await;
    let accepted = api.accepted();
    assert_eq!(accepted.len(), 3, "each paused text sent once");
    let texts: HashSet<String> = accepted
        .iter()
        .map(|r| r.body["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 3, "three different texts: {texts:?}");
    for m in &list {
        assert_eq!(
            m["attempts"], 1,
            "refusals of the key use up no attempts: {m}"
        );
    }
}

#[tokio::test]
async fn a_paced_senders_backlog_does_not_delay_another_senders_confirmation() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    // Bella (1 text/s) has 40 texts due since a minute ago.
    let bella: Value = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon")
        .await;
    let (tenant, due) = (
        bella["id"].as_i64().unwrap(),
        app.clock.now().as_second() - 60,
    );
    let texts: Vec<String> = (0..40)
        .map(|i| {
            let to = format!("+1312555{:04}", 2000 + i);
            crate::sql::bind(
                "INSERT INTO outbox (tenant_id, kind, to_number, from_number, due_at, text, created_at, updated_at)
                 VALUES (?1, 'reply', ?2, '+13125550100', ?3, 'Bella Salon: we have moved around the corner.', ?3, ?3);",
                &[int(tenant), text(&to), int(due)],
            )
        })
        .collect();
    app.exec_sql(&texts.concat(), &[]).await;
    let other = open_every_day("other", "+13125550111", "America/Chicago", &["Zoe"]);
    app.create_tenant(&other).await;

    let (_, path) = app.start_call("v3:fair", "+13125550111").await;
    let ask = json!({"customer_name": "Sam Lee", "service": "Cut", "preferred_date": "2026-11-23",
                     "preferred_time": "10:00", "callback_number": "+13125550177", "provider": "Zoe"});
    assert!(
        app.answer(&path, "v3:fair", &ask)
            .await
            .contains("is booked for")
    );
    let from_other = || {
        api.accepted()
            .iter()
            .any(|r| r.body["from"] == "+13125550111")
    };
    until("the other sender's confirmation", from_other).await;
    let bella_sent = api
        .accepted()
        .iter()
        .filter(|r| r.body["from"] == "+13125550100")
        .count();
    assert!(
        bella_sent < 10,
        "the confirmation went before most of Bella's backlog ({bella_sent} of 40 sent)"
    );
}

#[tokio::test]
async fn a_slow_answer_for_one_sender_does_not_hold_up_another() {
    let api = FakeMessaging::start(vec![Reply::HangUntilReleased]).await;
    // Telnyx may take its time: slotline waits for it (no timeout within the test).
    let app = spawn_with(Options {
        messaging_api: Some(api.base.clone()),
        sms_request_timeout: Duration::from_secs(30),
        ..Options::default()
    })
    .await;
    book(&app, "v3:slow-a", "2026-11-23", "10:00").await;
    until("Bella's text to reach Telnyx", || api.received().len() == 1).await;

    let other = open_every_day("other", "+13125550111", "America/Chicago", &["Zoe"]);
    app.create_tenant(&other).await;
    let (_, path) = app.start_call("v3:slow-b", "+13125550111").await;
    let ask = json!({"customer_name": "Sam Lee", "service": "Cut", "preferred_date": "2026-11-23",
                     "preferred_time": "10:00", "callback_number": "+13125550177", "provider": "Zoe"});
    assert!(
        app.answer(&path, "v3:slow-b", &ask)
            .await
            .contains("is booked for")
    );
    until("the other sender's text, while Bella's waits", || {
        api.accepted().len() == 2
    })
    .await;
    assert!(
        status_is(&messages(&app).await, "confirmation", "sending"),
        "Bella's text is still waiting for its answer"
    );
    api.release();
    wait_for(&app, "Bella's text sent", |l| {
        status_is(l, "confirmation", "sent")
    })
    .await;
}

#[tokio::test]
async fn a_tenant_patch_of_its_sender_applies_to_texts_already_queued() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    book(&app, "v3:moved", "2026-11-23", "10:00").await;
    wait_for(&app, "the confirmation", |l| {
        status_is(l, "confirmation", "sent")
    })
    .await;
    assert!(status_is(&messages(&app).await, "reminder", "queued"));

    patch_bella(
        &app,
        json!({"sms_from": "+13125550142", "messaging_profile_id": "profile-after-move"}),
    )
    .await;
    app.clock.set("2026-11-22T16:00:00Z".parse().unwrap());
    let list = wait_for(&app, "the reminder", |l| status_is(l, "reminder", "sent")).await;

    let sent = api.accepted();
    assert_eq!(sent[0].body["from"], "+13125550100");
    assert_eq!(sent[1].body["from"], "+13125550142", "the current sender");
    assert_eq!(sent[1].body["messaging_profile_id"], "profile-after-move");
    let r = list.iter().find(|m| m["kind"] == "reminder").unwrap();
    assert_eq!(r["from"], "+13125550142");
}

#[tokio::test]
async fn serve_without_an_api_key_refuses_to_start_and_says_what_to_set() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_slotline"))
        .arg("serve")
        .env("SLOTLINE_DB", tmp.path().join("s.db"))
        .env("SLOTLINE_LISTEN", "127.0.0.1:0")
        .env("SLOTLINE_TEXML_DIR", tmp.path().join("texml"))
        .env_remove("TELNYX_API_KEY")
        .env_remove("SLOTLINE_SMS_DRY_RUN")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("slotline exits instead of serving")
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TELNYX_API_KEY") && err.contains("SLOTLINE_SMS_DRY_RUN=1"),
        "{err}"
    );
}

#[tokio::test]
async fn a_callback_number_in_another_country_is_ignored_and_the_caller_is_texted_instead() {
    let app = spawn_app().await;
    let (_, path) = app.start_call("v3:abroad", "+13125550100").await;
    let mut ask = haircut("2026-11-23", "10:00");
    ask["callback_number"] = "+447911123456".into();
    assert!(
        app.answer(&path, "v3:abroad", &ask)
            .await
            .contains("is booked for")
    );

    let list = wait_for(&app, "the confirmation", |l| {
        status_is(l, "confirmation", "dry_run")
    })
    .await;
    assert!(list.iter().all(|m| m["to"] == CUSTOMER), "{list:#?}");
}

#[tokio::test]
async fn a_caller_at_the_future_bookings_cap_is_refused_on_the_phone_and_offered_a_person() {
    let app = spawn_app().await;
    for (i, time) in ["10:00", "11:00", "12:00"].iter().enumerate() {
        book(&app, &format!("v3:cap{i}"), "2026-11-23", time).await;
    }
    let (_, path) = app.start_call("v3:cap3", "+13125550100").await;
    let doc = app
        .answer(&path, "v3:cap3", &haircut("2026-11-23", "13:00"))
        .await;
    assert!(!doc.contains("is booked for"), "{doc}");
    let said = texts(&doc, "Say").join(" ");
    assert!(
        said.contains("this number already has 3 upcoming appointments with us"),
        "{doc}"
    );
    assert!(
        doc.contains("+13125550111"),
        "handed to the transfer number: {doc}"
    );
    assert_eq!(app.appointments("bella-salon").await.len(), 3);

    // The cap is the tenant's: raised, the same caller books again.
    let resp = app
        .admin(reqwest::Method::PATCH, "/tenants/bella-salon")
        .json(&json!({"max_future_bookings_per_caller": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["field"], "max_future_bookings_per_caller");
    assert!(
        err["error"].as_str().unwrap().contains("from 1 to 100"),
        "{err}"
    );
    patch_bella(&app, json!({"max_future_bookings_per_caller": 4})).await;
    book(&app, "v3:cap4", "2026-11-23", "13:00").await;
}

#[tokio::test]
async fn a_caller_naming_a_new_callback_number_each_call_still_stops_at_the_cap() {
    let app = spawn_app().await;
    for (i, time) in ["10:00", "11:00", "12:00", "13:00"].iter().enumerate() {
        let sid = format!("v3:fresh-callback-{i}");
        let (_, path) = app.start_call(&sid, "+13125550100").await;
        let mut ask = haircut("2026-11-23", time);
        ask["callback_number"] = json!(format!("+1312555{:04}", 4000 + i));
        let doc = app.answer(&path, &sid, &ask).await;
        if i < 3 {
            assert!(doc.contains("is booked for"), "booking {i}: {doc}");
        } else {
            assert!(
                doc.contains("already has 3 upcoming appointments"),
                "the fourth booking from the same caller ID: {doc}"
            );
        }
    }
    assert_eq!(app.appointments("bella-salon").await.len(), 3);
}

#[tokio::test]
async fn texts_to_one_number_stop_at_the_daily_cap() {
    let api = FakeMessaging::start(vec![]).await;
    let app = spawn_with_api(&api).await;
    patch_bella(&app, json!({"sms_rate_per_second": 50})).await;
    // Twelve "C" texts from a number with no booking: each queues a short answer.
    for i in 0..12 {
        let hook = webhook(
            "message-webhook-received.json",
            &format!("evt-cap-{i}"),
            |v| {
                v["data"]["payload"]["text"] = "C".into();
                v["data"]["payload"]["from"]["phone_number"] = "+13125550188".into();
            },
        );
        assert_eq!(post_webhook(&app, &hook).await["outcome"], "no_booking");
    }
    let list = wait_for(&app, "every reply settled", |l| {
        l.iter()
            .filter(|m| m["status"] == "sent" || m["status"] == "skipped")
            .count()
            == 12
    })
    .await;
    assert_eq!(api.accepted().len(), 10, "the cap is 10 a day");
    let skipped: Vec<&Value> = list.iter().filter(|m| m["status"] == "skipped").collect();
    assert_eq!(skipped.len(), 2);
    let reason = skipped[0]["last_error"].as_str().unwrap();
    assert!(reason.contains("SLOTLINE_SMS_DAILY_CAP"), "{reason}");
}

#[tokio::test]
async fn a_text_paused_when_the_server_stops_is_sent_once_after_a_restart() {
    let api = FakeMessaging::start(vec![]).await;
    api.refuse_key(true);
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("paused.db");
    let app = spawn_with(Options {
        messaging_api: Some(api.base.clone()),
        db_path: Some(db_path.clone()),
        ..Options::default()
    })
    .await;
    book(&app, "v3:paused-restart", "2026-11-23", "10:00").await;
    wait_for(&app, "the paused confirmation", |l| {
        status_is(l, "confirmation", "paused")
    })
    .await;
    app.shut_down().await;

    let app = spawn_with(Options {
        messaging_api: Some(api.base.clone()),
        db_path: Some(db_path),
        demo: false,
        ..Options::default()
    })
    .await;
    api.refuse_key(false);
    wait_for(&app, "the confirmation", |l| {
        status_is(l, "confirmation", "sent")
    })
    .await;
    assert_eq!(api.accepted().len(), 1, "sent once");
}
