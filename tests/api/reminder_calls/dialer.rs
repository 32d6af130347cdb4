//! How reminder calls are dialled, scripted against the fake TeXML Calls API: the request
//! (signed URLs, no customer data, async AMD), the window, one retry after busy, 429/90103,
//! 10005, the app-scoped endpoint, dry run, the cap and the pacing under 100 due calls, a
//! restart, the call list, and the Prism check of the request against Telnyx's schema.

use super::*;

#[tokio::test]
async fn the_dial_request_carries_only_signed_tokens_a_status_callback_and_async_amd() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    // Before the due time, nothing is dialled.
    book_at(&app, JANE, "2026-11-24T15:00", 0).await;
    app.clock.set(local("2026-11-23T14:59"));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(fake.dials().is_empty());
    app.clock.set(local("2026-11-23T15:00"));
    let dial = fake.wait_for(1).await.remove(0);
    assert_eq!(dial.path, "/texml/Accounts/test-account/Calls");
    let b = &dial.body;
    assert_eq!(b["ApplicationSid"], "test-texml-app");
    assert_eq!(
        (b["To"].as_str(), b["From"].as_str()),
        (Some(JANE), Some(LINE))
    );
    assert_eq!(b["MachineDetection"], "DetectMessageEnd");
    assert_eq!(b["AsyncAmd"], true);
    assert_eq!(b["CallerId"], "Remind Salon");
    assert_eq!(
        b["StatusCallbackEvent"],
        "initiated ringing answered completed"
    );
    for field in ["Url", "StatusCallback", "AsyncAmdStatusCallback"] {
        let url = b[field].as_str().unwrap();
        assert!(
            url.starts_with("https://booking.example.com/texml/reminder"),
            "{url}"
        );
        assert!(url.contains("?s="), "{url}");
        for private in ["Jane", "3125550183", "Cut", "Ana"] {
            assert!(!url.contains(private), "{field} leaks {private}: {url}");
        }
    }
    // A tampered token is refused with 403, and so is an unsigned request.
    let url = path_of(b["Url"].as_str().unwrap());
    let tampered = url.replacen("?s=", "?s=9", 1);
    let resp = app.post_signed(&tampered, telnyx("v3:x", JANE, &[])).await;
    assert_eq!(resp.status(), 403);
    let resp = app
        .post_raw(
            &url,
            telnyx("v3:x", JANE, &[]).into_bytes(),
            None,
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(resp.status(), 403);
    let list = calls(&app).await;
    assert_eq!(list[0]["status"], "live");
    assert_eq!(list[0]["attempt"], 1);
}

#[tokio::test]
async fn busy_is_retried_once_at_least_two_hours_later_and_then_no_more() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:busy1").await;
    fake.ended();
    call.status(&app, "busy").await;
    let list = calls_of(&app, id).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["outcome"], "busy");
    assert_eq!(
        (list[1]["attempt"].as_i64(), list[1]["status"].as_str()),
        (Some(2), Some("queued"))
    );
    assert_eq!(list[1]["time"], local("2026-11-23T17:00").to_string());
    // A duplicate final status plans nothing more.
    call.status(&app, "busy").await;
    assert_eq!(calls_of(&app, id).await.len(), 2);
    app.clock.set(local("2026-11-23T16:59"));
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(fake.dials().len(), 1, "not before two hours");
    app.clock.set(local("2026-11-23T17:00"));
    let dials = fake.wait_for(2).await;
    let second = Ringing::of(&dials[1].body, "v3:busy2");
    fake.ended();
    second.status(&app, "no-answer").await;
    let list = calls_of(&app, id).await;
    assert_eq!(list.len(), 2, "no third attempt: {list:?}");
    assert_eq!(list[1]["outcome"], "no_answer");
    let appt = appointment(&app, id).await;
    let outcomes: Vec<&str> = appt["reminder_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["busy", "no_answer"]);
}

#[tokio::test]
async fn outside_the_window_a_call_waits_for_the_next_one_or_is_skipped_if_that_is_too_late() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    // Due Mon 10:00 and Mon 09:15; the dialer only "wakes" at Mon 20:30, after the window.
    let waits = book_at(&app, JANE, "2026-11-24T10:00", 0).await;
    let late = book_at(&app, "+13125550184", "2026-11-24T09:15", 0).await;
    app.clock.set(local("2026-11-23T20:30"));
    until(&app, "both decided", |l| {
        l.iter()
            .any(|c| c["appointment_id"] == late && c["status"] == "skipped")
            && l.iter().any(|c| {
                c["appointment_id"] == waits && c["time"] == local("2026-11-24T09:00").to_string()
            })
    })
    .await;
    assert!(fake.dials().is_empty(), "nothing dialled at night");
    let skipped = &calls_of(&app, late).await[0];
    assert!(
        skipped["reason"].as_str().unwrap().contains("too close"),
        "{skipped}"
    );
    app.clock.set(local("2026-11-24T09:00"));
    let dials = fake.wait_for(1).await;
    assert_eq!(dials[0].body["To"], JANE);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.dials().len(), 1);
}

#[tokio::test]
async fn a_429_with_90103_makes_every_dial_wait_and_then_dials_the_same_call_once() {
    let fake = FakeCalls::start(vec![Dial::RateLimited, Dial::RateLimited]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, _) = dialled_jane(&app, &fake, "v3:limited").await;
    let dials = fake.wait_for(3).await;
    assert!(dials.iter().all(|d| d.body["To"] == JANE));
    let list = until(&app, "the call goes live", |l| {
        l.iter().any(|c| c["status"] == "live")
    })
    .await;
    let mine: Vec<&Value> = list.iter().filter(|c| c["appointment_id"] == id).collect();
    assert_eq!(mine.len(), 1, "still one attempt: {mine:?}");
    assert_eq!(mine[0]["attempt"], 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.dials().len(), 3, "accepted once, dialled no more");
}

#[tokio::test]
async fn error_10005_fails_the_call_loudly_naming_both_fixes() {
    let fake = FakeCalls::start(vec![Dial::NotFound]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, _) = dialled_jane(&app, &fake, "v3:nf").await;
    let list = until(&app, "failed", |l| {
        l.iter().any(|c| c["status"] == "failed")
    })
    .await;
    let call = list.iter().find(|c| c["appointment_id"] == id).unwrap();
    let reason = call["reason"].as_str().unwrap();
    assert!(
        reason.contains("10005")
            && reason.contains("TELNYX_ACCOUNT_SID")
            && reason.contains("whoami"),
        "{reason}"
    );
    assert!(reason.contains("TELNYX_CALLS_ENDPOINT=app"), "{reason}");
}

#[tokio::test]
async fn the_deprecated_app_scoped_endpoint_is_a_setting() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |o| {
        o.calls.endpoint = slotline::reminder_calls::Endpoint::App;
        o.calls.account_sid = None;
    })
    .await;
    let (_, _) = dialled_jane(&app, &fake, "v3:app").await;
    let dial = &fake.dials()[0];
    assert_eq!(dial.path, "/texml/calls/test-texml-app");
    assert!(dial.body.get("ApplicationSid").is_none(), "{}", dial.body);
}

#[tokio::test]
async fn without_an_api_key_calls_are_recorded_as_dry_run() {
    let app = app_with(None, ON(), |_| {}).await;
    let id = book_at(&app, JANE, "2026-11-24T15:00", 0).await;
    app.clock.set(local("2026-11-23T15:00"));
    let list = until(&app, "dry run", |l| {
        l.iter().any(|c| c["status"] == "dry_run")
    })
    .await;
    let call = list.iter().find(|c| c["appointment_id"] == id).unwrap();
    assert!(
        call["reason"].as_str().unwrap().contains("TELNYX_API_KEY"),
        "{call}"
    );
    let stats: Value = app
        .admin_json(Method::GET, &format!("/tenants/{SLUG}/stats?period=all"))
        .await;
    assert_eq!(stats["reminder_calls"]["dialled"], 1, "{stats}");
    assert_eq!(stats["reminder_calls"]["outcomes"]["dry_run"], 1, "{stats}");
}

#[tokio::test]
async fn a_hundred_due_calls_keep_to_the_cap_and_the_pacing() {
    let fake = FakeCalls::start(vec![]).await;
    let providers: Vec<String> = (0..10).map(|i| format!("P{i}")).collect();
    let names: Vec<&str> = providers.iter().map(String::as_str).collect();
    let mut opts = Options {
        messaging_api: Some(fake.base.clone()),
        ..Options::default()
    };
    opts.calls.app_id = Some("test-texml-app".into());
    opts.calls.max_concurrent = 3;
    opts.calls.per_second = 25.0;
    let app = spawn_with(opts).await;
    app.create_tenant(&salon(ON(), &names)).await;
    for i in 0..100 {
        let at = local("2026-11-24T10:00") + jiff::SignedDuration::from_mins(30 * (i / 10) as i64);
        let at = at
            .to_zoned(jiff::tz::TimeZone::get(TZ).unwrap())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string();
        book_at(&app, &format!("+1312555{:04}", 2000 + i), &at, i % 10).await;
    }
    app.clock.set(local("2026-11-23T15:00"));
    let mut ended = 0;
    while ended < 100 {
        // Let the dialer fill the cap before one call ends.
        let dials = fake.wait_for((ended + 3).min(100)).await;
        // End the oldest call not yet ended, as Telnyx would report it.
        let call = Ringing::of(&dials[ended].body, &format!("v3:bulk-{ended}"));
        fake.ended();
        call.status(&app, "completed").await;
        ended += 1;
    }
    let dials = fake.dials();
    assert_eq!(dials.len(), 100, "each call dialled once");
    let mut to: Vec<&str> = dials
        .iter()
        .map(|d| d.body["To"].as_str().unwrap())
        .collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 100, "no number called twice");
    let most = dials.iter().map(|d| d.live_at_dial).max().unwrap();
    assert_eq!(most, 3, "the cap is reached and never passed");
    // 25 dials a second, no bursts: 100 dials span at least 99 gaps of 40 ms.
    let span = dials[99].at - dials[0].at;
    assert!(span >= Duration::from_millis(99 * 40 * 9 / 10), "{span:?}");
}

#[tokio::test]
async fn a_restart_with_calls_due_loses_and_doubles_nothing() {
    let fake = FakeCalls::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("restart.db");
    let app = app_with(Some(&fake), ON(), |o| o.db_path = Some(db_path.clone())).await;
    let a = book_at(&app, JANE, "2026-11-24T15:00", 0).await;
    let b = book_at(&app, "+13125550185", "2026-11-24T16:00", 0).await;
    let c = book_at(&app, "+13125550186", "2026-11-24T11:00", 0).await;
    // A dialer that died mid-request left `c` dialling with its request started, and `b`
    // claimed before its request.
    app.state
        .db()
        .write(move |conn| {
            conn.execute(
                "UPDATE reminder_calls SET status = 'dialing', lease_until_ms = 0, request_started = 1, dialed_at = 1 WHERE appointment_id = ?1",
                [c],
            )?;
            conn.execute(
                "UPDATE reminder_calls SET status = 'dialing', lease_until_ms = 0 WHERE appointment_id = ?1",
                [b],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    app.shut_down().await;
    let mut opts = Options {
        messaging_api: Some(fake.base.clone()),
        db_path: Some(db_path.clone()),
        demo: false,
        now: local("2026-11-23T17:00"),
        ..Options::default()
    };
    opts.calls.app_id = Some("test-texml-app".into());
    opts.calls.max_concurrent = 10;
    let app = spawn_with(opts).await;
    until(&app, "a and b dialled", |l| {
        l.iter().filter(|c| c["status"] == "live").count() == 2
    })
    .await;
    let dials = fake.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut to: Vec<String> = fake
        .dials()
        .iter()
        .map(|d| d.body["To"].as_str().unwrap().to_string())
        .collect();
    to.sort();
    assert_eq!(dials.len(), 2);
    assert_eq!(
        to,
        [JANE, "+13125550185"],
        "a and b dialled once each; c maybe reached Telnyx, so never again"
    );
    let c_call = &calls_of(&app, c).await[0];
    assert_eq!(c_call["status"], "unknown", "{c_call}");
    assert_eq!(calls_of(&app, a).await.len(), 1);
}

#[tokio::test]
async fn the_calls_list_shows_inbound_and_outbound_newest_first_in_pages() {
    let app = app_with(None, ON(), |_| {}).await;
    let id = book_at(&app, JANE, "2026-11-24T15:00", 0).await;
    app.clock.set(local("2026-11-23T15:00"));
    until(&app, "dry run", |l| {
        l.iter().any(|c| c["status"] == "dry_run")
    })
    .await;
    app.clock.set(local("2026-11-23T16:00"));
    app.voice("v3:inbound-1", JANE, LINE).await;
    app.state.calls.flush().await;
    let first: reqwest::Response = app
        .admin(Method::GET, &format!("/tenants/{SLUG}/calls?limit=1"))
        .send()
        .await
        .unwrap();
    let link = first
        .headers()
        .get("link")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let page: Vec<Value> = first.json().await.unwrap();
    assert_eq!(page[0]["direction"], "inbound", "{page:?}");
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_string();
    let rest: Vec<Value> = app.admin_json(Method::GET, &next).await;
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(
        (
            rest[0]["direction"].as_str(),
            rest[0]["appointment_id"].as_i64()
        ),
        (Some("outbound"), Some(id))
    );
}

#[tokio::test]
#[ignore = "needs Prism serving the Telnyx OpenAPI subset (PRISM_URL); run by .ci/run"]
async fn prism_accepts_our_dial_request_and_refuses_one_without_to() {
    let base = std::env::var("PRISM_URL").expect("PRISM_URL is set by .ci/run");
    // The request slotline really sends, captured by the fake.
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (_, _) = dialled_jane(&app, &fake, "v3:prism").await;
    let ours = fake.dials()[0].body.clone();
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(format!("{base}/texml/Accounts/test-account/Calls"))
            .bearer_auth("prism-test-key")
            .json(&body)
            .send()
    };
    let resp = post(ours.clone()).await.unwrap();
    let status = resp.status();
    assert_eq!(
        status,
        200,
        "Prism refused our dial request: {}",
        resp.text().await.unwrap()
    );
    let mut without_to = ours;
    without_to.as_object_mut().unwrap().remove("To");
    let resp = post(without_to).await.unwrap();
    assert_eq!(
        resp.status(),
        422,
        "the check can fail: a dial without To is refused"
    );
}
