//! The booking engine through the phone line and the admin API: no double booking under
//! concurrency, holds, alternatives, operators' changes, stats, and times read back right.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn ask(service: &str, date: &str, time: &str) -> Value {
    json!({"customer_name": "Sam", "service": service, "preferred_date": date, "preferred_time": time})
}

/// No two booked or held appointments of one provider overlap, buffers included.
async fn assert_no_overlaps(app: &TestApp, tenant: i64) {
    let rows = app
        .state
        .store
        .appointments()
        .booked_intervals(tenant)
        .await
        .unwrap();
    for w in rows.windows(2) {
        let ((p1, _, end1), (p2, start2, _)) = (w[0], w[1]);
        assert!(
            p1 != p2 || start2 >= end1,
            "provider {p1} double-booked: {w:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_callers_for_one_slot_get_one_booking_and_49_alternatives() {
    // About the race, not the deadline: fifty answers at once on a loaded 2-core machine
    // can take longer than the default 1.5 s (then a caller would hear the apology).
    let app = Arc::new(
        spawn_with(Options {
            request_deadline: std::time::Duration::from_secs(20),
            ..Options::default()
        })
        .await,
    );
    let t = app
        .create_tenant(&open_every_day(
            "solo",
            "+13125550160",
            "America/Chicago",
            &["Ana"],
        ))
        .await;
    let mut paths = Vec::new();
    for i in 0..50 {
        let sid = format!("v3:race{i}");
        paths.push((sid.clone(), app.start_call(&sid, "+13125550160").await.1));
    }
    let tasks: Vec<_> = paths
        .into_iter()
        .map(|(sid, path)| {
            let app = app.clone();
            tokio::spawn(async move {
                app.answer(&path, &sid, &ask("Cut", "2026-11-24", "10:00"))
                    .await
            })
        })
        .collect();
    let tally = tally_ten_oclock_race(tasks).await;
    assert_eq!(tally, (1, 49), "(booked, offered alternatives)");
    assert_eq!(app.appointments("solo").await.len(), 1);
    assert_no_overlaps(&app, t["id"].as_i64().unwrap()).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn concurrent_random_overlapping_requests_never_double_book(
        reqs in prop::collection::vec((0usize..2, 0u32..12, prop::option::of(0usize..3)), 8..24)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let app = Arc::new(spawn_app().await);
            let mut tenant = open_every_day("prop", "+13125550161", "Europe/Berlin", &["A", "B", "C"]);
            tenant["buffer_minutes"] = 10.into();
            let t = app.create_tenant(&tenant).await;
            let mut calls = Vec::new();
            for (i, (service, quarter, provider)) in reqs.iter().enumerate() {
                let sid = format!("v3:p{i}");
                let (_, path) = app.start_call(&sid, "+13125550161").await;
                let time = format!("{:02}:{:02}", 10 + quarter / 4, (quarter % 4) * 15);
                let mut result = ask(["Cut", "Colour"][*service], "2026-11-25", &time);
                if let Some(p) = provider {
                    result["provider"] = ["A", "B", "C"][*p].into();
                }
                calls.push((sid, path, result));
            }
            let tasks: Vec<_> = calls.into_iter().map(|(sid, path, result)| {
                let app = app.clone();
                tokio::spawn(async move { app.answer(&path, &sid, &result).await })
            }).collect();
            for t in tasks {
                t.await.unwrap();
            }
            assert_no_overlaps(&app, t["id"].as_i64().unwrap()).await;
        });
    }
}

#[tokio::test]
async fn a_preferred_provider_who_is_busy_brings_the_same_time_with_someone_else() {
    let app = spawn_app().await;
    app.create_tenant(&open_every_day(
        "duo",
        "+13125550162",
        "America/Chicago",
        &["Ana", "Ben"],
    ))
    .await;
    let mut with_ana = ask("Cut", "2026-11-24", "11:00");
    with_ana["provider"] = "Ana".into();
    let (_, path) = app.start_call("v3:duo1", "+13125550162").await;
    app.answer(&path, "v3:duo1", &with_ana).await;
    let (_, path) = app.start_call("v3:duo2", "+13125550162").await;
    let doc = app.answer(&path, "v3:duo2", &with_ana).await;
    let params: Value = serde_json::from_str(&texts(&doc, "Parameters")[0]).unwrap();
    assert_eq!(
        params["properties"]["offered_time"]["enum"][0],
        "2026-11-24 11:00 with Ben"
    );
    // The caller takes that offer.
    let path2 = gather_path(&attr(&doc, "AIGather", "action").unwrap());
    let done = app.answer(&path2, "v3:duo2", &json!({"customer_name": "Sam", "service": "Cut", "preferred_date": "2026-11-24", "preferred_time": "11:00", "offered_time": "2026-11-24 11:00 with Ben"})).await;
    assert!(
        texts(&done, "Say")[0].contains("with Ben is booked for Tuesday, November 24 at 11:00 AM"),
        "{done}"
    );
}

#[tokio::test]
async fn the_least_booked_provider_gets_the_appointment() {
    let app = spawn_app().await;
    app.create_tenant(&open_every_day(
        "pair",
        "+13125550163",
        "America/Chicago",
        &["Ana", "Ben"],
    ))
    .await;
    let mut first = ask("Cut", "2026-11-24", "09:00");
    first["provider"] = "Ana".into();
    let (_, path) = app.start_call("v3:l1", "+13125550163").await;
    app.answer(&path, "v3:l1", &first).await;
    let (_, path) = app.start_call("v3:l2", "+13125550163").await;
    let doc = app
        .answer(&path, "v3:l2", &ask("Cut", "2026-11-24", "14:00"))
        .await;
    assert!(texts(&doc, "Say")[0].contains("with Ben"), "{doc}");
}

async fn confirming_tenant(app: &TestApp) {
    let mut t = open_every_day("hold", "+13125550164", "America/Chicago", &["Ana"]);
    t["confirm_before_booking"] = true.into();
    t["hold_seconds"] = 120.into();
    app.create_tenant(&t).await;
}

async fn hold_slot(app: &TestApp, sid: &str) -> String {
    let (_, path) = app.start_call(sid, "+13125550164").await;
    let doc = app
        .answer(&path, sid, &ask("Cut", "2026-11-24", "10:00"))
        .await;
    assert!(
        texts(&doc, "Greeting")[0].contains("Shall I book it?"),
        "{doc}"
    );
    let params: Value = serde_json::from_str(&texts(&doc, "Parameters")[0]).unwrap();
    assert_eq!(
        params["properties"]["confirm"]["enum"],
        json!(["yes", "no"])
    );
    gather_path(&attr(&doc, "AIGather", "action").unwrap())
}

#[tokio::test]
async fn a_held_slot_is_booked_when_the_caller_says_yes() {
    let app = spawn_app().await;
    confirming_tenant(&app).await;
    let confirm = hold_slot(&app, "v3:h1").await;
    assert_eq!(app.appointments("hold").await[0]["status"], "held");
    // While held, another caller cannot have it.
    let (_, path) = app.start_call("v3:h2", "+13125550164").await;
    let doc = app
        .answer(&path, "v3:h2", &ask("Cut", "2026-11-24", "10:00"))
        .await;
    assert!(
        texts(&doc, "Greeting")[0].contains("already taken"),
        "{doc}"
    );
    let done = app
        .answer(&confirm, "v3:h1", &json!({"confirm": "yes"}))
        .await;
    assert!(
        texts(&done, "Say")[0].contains("is booked for Tuesday, November 24 at 10:00 AM"),
        "{done}"
    );
    let appts = app.appointments("hold").await;
    assert_eq!(
        (appts.len(), appts[0]["status"].as_str()),
        (1, Some("booked"))
    );
}

#[tokio::test]
async fn saying_no_releases_the_held_slot() {
    let app = spawn_app().await;
    confirming_tenant(&app).await;
    let confirm = hold_slot(&app, "v3:n1").await;
    let doc = app
        .answer(&confirm, "v3:n1", &json!({"confirm": "no"}))
        .await;
    assert!(
        texts(&doc, "Greeting")[0].contains("day or time would suit you"),
        "{doc}"
    );
    assert!(app.appointments("hold").await.is_empty());
}

#[tokio::test]
async fn an_expired_hold_frees_the_slot_for_the_next_caller() {
    let app = spawn_app().await;
    confirming_tenant(&app).await;
    let confirm = hold_slot(&app, "v3:e1").await;
    app.clock
        .set(app.clock.now() + SignedDuration::from_secs(121));
    // The next caller holds (and confirms) the same time.
    let path2 = hold_slot(&app, "v3:e2").await;
    app.answer(&path2, "v3:e2", &json!({"confirm": "yes"}))
        .await;
    // The first caller's late yes finds it gone.
    let doc = app
        .answer(&confirm, "v3:e1", &json!({"confirm": "yes"}))
        .await;
    assert!(
        texts(&doc, "Greeting")[0].contains("just been taken"),
        "{doc}"
    );
    assert_eq!(app.appointments("hold").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_from_one_number_at_once_stop_at_the_per_caller_cap() {
    let app = Arc::new(
        spawn_with(Options {
            request_deadline: std::time::Duration::from_secs(20),
            ..Options::default()
        })
        .await,
    );
    let mut tenant = open_every_day("capped", "+13125550161", "America/Chicago", &["Ana", "Bo"]);
    tenant["max_future_bookings_per_caller"] = 1.into();
    app.create_tenant(&tenant).await;
    // Eight calls from the same number, each asking for its own free time, answered at
    // once: the count read before the slot search sees none booked for all of them.
    let mut paths = Vec::new();
    for i in 0..8 {
        let sid = format!("v3:capped{i}");
        paths.push((i, sid.clone(), app.start_call(&sid, "+13125550161").await.1));
    }
    let tasks: Vec<_> = paths
        .into_iter()
        .map(|(i, sid, path)| {
            let app = app.clone();
            tokio::spawn(async move {
                let time = format!("{}:00", 9 + i);
                app.answer(&path, &sid, &ask("Cut", "2026-11-24", &time))
                    .await
            })
        })
        .collect();
    let mut booked = 0;
    for t in tasks {
        let doc = t.await.unwrap();
        if texts(&doc, "Say").join(" ").contains("is booked for") {
            booked += 1;
        } else {
            assert!(
                texts(&doc, "Say")
                    .join(" ")
                    .contains("already has 1 upcoming appointments with us"),
                "{doc}"
            );
        }
    }
    assert_eq!(booked, 1, "the cap holds however the answers interleave");
    assert_eq!(app.appointments("capped").await.len(), 1);
}

#[tokio::test]
async fn operators_cancel_move_and_see_free_times() {
    let app = spawn_app().await;
    app.create_tenant(&open_every_day(
        "ops",
        "+13125550165",
        "America/Chicago",
        &["Ana"],
    ))
    .await;
    for (i, time) in ["10:00", "11:00"].iter().enumerate() {
        let sid = format!("v3:ops{i}");
        let (_, path) = app.start_call(&sid, "+13125550165").await;
        app.answer(&path, &sid, &ask("Cut", "2026-11-24", time))
            .await;
    }
    let appts = app.appointments("ops").await;
    let (first, second) = (
        appts[0]["id"].as_i64().unwrap(),
        appts[1]["id"].as_i64().unwrap(),
    );
    let free = |v: &Value| {
        v["times"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["time"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };

    let avail: Value = app
        .admin_json(
            Method::GET,
            "/tenants/ops/availability?service=Cut&date=2026-11-24",
        )
        .await;
    assert!(
        !free(&avail).contains(&"10:00".to_string()) && free(&avail).contains(&"10:30".to_string()),
        "{avail}"
    );
    assert_eq!(avail["times"][0]["providers"], json!(["Ana"]));

    // Moving onto the other appointment is a conflict, and nothing moves.
    let resp = app
        .admin(Method::PATCH, &format!("/tenants/ops/appointments/{first}"))
        .json(&json!({"time": "11:15"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let resp = app
        .admin(Method::PATCH, &format!("/tenants/ops/appointments/{first}"))
        .json(&json!({"time": "09:00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["start_at"],
        Timestamp::from_second(0).unwrap().as_second()
            + "2026-11-24T15:00:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_second()
    );
    // Outside hours or off the grid: 422 naming the field.
    let resp = app
        .admin(Method::PATCH, &format!("/tenants/ops/appointments/{first}"))
        .json(&json!({"time": "18:00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.json::<Value>().await.unwrap()["field"], "time");

    let resp = app
        .admin(
            Method::DELETE,
            &format!("/tenants/ops/appointments/{second}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "cancelled");
    let avail: Value = app
        .admin_json(
            Method::GET,
            "/tenants/ops/availability?service=Cut&date=2026-11-24",
        )
        .await;
    assert!(
        free(&avail).contains(&"11:00".to_string()) && !free(&avail).contains(&"09:00".to_string()),
        "{avail}"
    );
    assert_eq!(
        app.admin(Method::DELETE, "/tenants/ops/appointments/999")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn bad_availability_queries_say_what_to_fix() {
    let app = spawn_app().await;
    for (query, field) in [
        ("date=2026-11-24", "service"),
        ("service=Perm&date=2026-11-24", "service"),
        ("service=Haircut", "date"),
        ("service=Haircut&date=24.11.2026", "date"),
        ("service=Haircut&date=2026-11-24&provider=Zed", "provider"),
    ] {
        let resp = app
            .admin(
                Method::GET,
                &format!("/tenants/bella-salon/availability?{query}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422, "{query}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["field"],
            field,
            "{query}"
        );
    }
}

#[tokio::test]
async fn stats_count_calls_durations_peak_hour_and_bookings() {
    let app = spawn_app().await;
    for (i, book) in [true, false, false].iter().enumerate() {
        let sid = format!("v3:st{i}");
        let (_, path) = app.start_call(&sid, "+13125550100").await;
        if *book {
            app.answer(&path, &sid, &json!({"customer_name": "A", "service": "Haircut", "preferred_date": "2026-11-24", "preferred_time": "10:00"})).await;
        }
        let body = form(&[
            ("CallSid", &sid),
            ("CallStatus", "completed"),
            ("CallDuration", &(60 * (i + 1)).to_string()),
            ("From", "+13125550199"),
            ("To", "+13125550100"),
        ]);
        texml_ok(app.post_signed("/texml/status", body).await).await;
    }
    let s: Value = app
        .admin_json(Method::GET, "/tenants/bella-salon/stats?period=24h")
        .await;
    assert_eq!(s["period"], "24h");
    assert_eq!(s["total_calls"], 3);
    assert_eq!(s["avg_duration_seconds"], 120.0);
    assert_eq!(
        (s["inbound"].as_i64(), s["outbound"].as_i64()),
        (Some(3), Some(0))
    );
    assert_eq!(s["peak_hour"], 9, "09:00 in Chicago: {s}");
    assert_eq!(s["bookings"], 1);
    assert!((s["booked_per_call"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    let resp = app
        .admin(Method::GET, "/tenants/bella-salon/stats?period=fortnight")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
}

/// Books `date time` for a tenant in `tz` with the clock at `now`; returns (spoken, stored local start).
async fn book_in(tz: &str, now: &str, date: &str, time: &str) -> (String, String) {
    let app = spawn_with(Options {
        now: now.parse().unwrap(),
        ..Options::default()
    })
    .await;
    let mut t = open_every_day("tz", "+13125550170", tz, &["Ana"]);
    t["hours"]["sun"] = json!([["00:00", "23:59"]]);
    app.create_tenant(&t).await;
    let (_, path) = app.start_call("v3:tz", "+13125550170").await;
    let doc = app.answer(&path, "v3:tz", &ask("Cut", date, time)).await;
    let appts = app.appointments("tz").await;
    (
        texts(&doc, "Say").join(" ").to_string() + &texts(&doc, "Greeting").join(" "),
        appts
            .first()
            .map(|a| a["start"].as_str().unwrap().to_string())
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn times_are_read_back_and_stored_on_the_tenants_wall_clock_across_dst() {
    let cases = [
        (
            "America/Chicago",
            "2026-03-05T15:00:00Z",
            "2026-03-06",
            "10:00",
            "Friday, March 6 at 10:00 AM",
            "2026-03-06T10:00:00-06:00",
        ),
        (
            "America/Chicago",
            "2026-03-05T15:00:00Z",
            "2026-03-09",
            "10:00",
            "Monday, March 9 at 10:00 AM",
            "2026-03-09T10:00:00-05:00",
        ),
        (
            "America/Chicago",
            "2026-10-30T15:00:00Z",
            "2026-11-02",
            "10:00",
            "Monday, November 2 at 10:00 AM",
            "2026-11-02T10:00:00-06:00",
        ),
        (
            "Europe/Berlin",
            "2026-03-26T08:00:00Z",
            "2026-03-30",
            "10:00",
            "Monday, March 30 at 10:00 AM",
            "2026-03-30T10:00:00+02:00",
        ),
        (
            "Europe/Berlin",
            "2026-10-22T08:00:00Z",
            "2026-10-26",
            "10:00",
            "Monday, October 26 at 10:00 AM",
            "2026-10-26T10:00:00+01:00",
        ),
        (
            "Asia/Kolkata",
            "2026-11-20T03:00:00Z",
            "2026-11-24",
            "15:00",
            "Tuesday, November 24 at 3:00 PM",
            "2026-11-24T15:00:00+05:30",
        ),
        (
            "America/Chicago",
            "2028-02-20T15:00:00Z",
            "2028-02-29",
            "09:15",
            "Tuesday, February 29 at 9:15 AM",
            "2028-02-29T09:15:00-06:00",
        ),
    ];
    for (tz, now, date, time, spoken, stored) in cases {
        let (said, start) = book_in(tz, now, date, time).await;
        assert!(said.contains(spoken), "{tz} {date}: {said}");
        assert_eq!(start, stored, "{tz} {date}");
    }
}

#[tokio::test]
async fn a_time_skipped_by_the_dst_change_is_refused_with_the_reason() {
    // Sunday 2026-03-08 in Chicago: 02:00 jumps to 03:00.
    let (said, start) = book_in(
        "America/Chicago",
        "2026-03-06T15:00:00Z",
        "2026-03-08",
        "02:30",
    )
    .await;
    assert!(said.contains("daylight"), "{said}");
    assert!(start.is_empty());
    // The repeated hour on 2026-11-01 books its first occurrence (CDT).
    let (said, start) = book_in(
        "America/Chicago",
        "2026-10-29T15:00:00Z",
        "2026-11-01",
        "01:30",
    )
    .await;
    assert!(said.contains("Sunday, November 1 at 1:30 AM"), "{said}");
    assert_eq!(start, "2026-11-01T01:30:00-05:00");
}

async fn texts_of(app: &TestApp, tenant: &str) -> Vec<(String, String, String)> {
    let list: Vec<Value> = app
        .admin_json(Method::GET, &format!("/tenants/{tenant}/messages"))
        .await;
    let mut out: Vec<_> = list
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().to_string(),
                m["status"].as_str().unwrap().to_string(),
                m["due"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_held_slot_texts_nobody_until_the_caller_says_yes() {
    let app = spawn_app().await;
    confirming_tenant(&app).await;
    let confirm = hold_slot(&app, "v3:ht1").await;
    assert!(
        texts_of(&app, "hold").await.is_empty(),
        "nothing is queued for a hold"
    );
    app.answer(&confirm, "v3:ht1", &json!({"confirm": "yes"}))
        .await;
    let kinds: Vec<String> = texts_of(&app, "hold")
        .await
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert_eq!(kinds, vec!["confirmation", "reminder"]);
}

#[tokio::test]
async fn an_operators_cancel_withdraws_the_reminder_and_a_move_replans_it() {
    let app = spawn_app().await;
    app.create_tenant(&open_every_day(
        "txt",
        "+13125550166",
        "America/Chicago",
        &["Ana"],
    ))
    .await;
    for (i, time) in ["10:00", "12:00"].iter().enumerate() {
        let sid = format!("v3:txt{i}");
        let (_, path) = app.start_call(&sid, "+13125550166").await;
        app.answer(&path, &sid, &json!({"customer_name": "Sam", "service": "Cut", "preferred_date": "2026-11-24", "preferred_time": time, "callback_number": "+13125550199"})).await;
    }
    let appts = app.appointments("txt").await;
    let (first, second) = (
        appts[0]["id"].as_i64().unwrap(),
        appts[1]["id"].as_i64().unwrap(),
    );
    app.admin(
        Method::DELETE,
        &format!("/tenants/txt/appointments/{first}"),
    )
    .send()
    .await
    .unwrap();
    let resp = app
        .admin(
            Method::PATCH,
            &format!("/tenants/txt/appointments/{second}"),
        )
        .json(&json!({"date": "2026-11-26"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let reminders: Vec<(String, String)> = texts_of(&app, "txt")
        .await
        .into_iter()
        .filter(|t| t.0 == "reminder")
        .map(|t| (t.1, t.2))
        .collect();
    // First: withdrawn. Second: its old reminder withdrawn, a new one 24 h before 2026-11-26 12:00 CST.
    assert_eq!(
        reminders.iter().filter(|r| r.0 == "cancelled").count(),
        2,
        "{reminders:?}"
    );
    assert!(
        reminders
            .iter()
            .any(|r| r.1 == "2026-11-25T18:00:00Z" && r.0 != "cancelled"),
        "{reminders:?}"
    );
}

#[tokio::test]
async fn a_bad_move_says_what_to_fix_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_tenant(&open_every_day(
        "mv",
        "+13125550167",
        "America/Chicago",
        &["Ana"],
    ))
    .await;
    let (_, path) = app.start_call("v3:mv", "+13125550167").await;
    app.answer(&path, "v3:mv", &ask("Cut", "2026-11-24", "10:00"))
        .await;
    let id = app.appointments("mv").await[0]["id"].as_i64().unwrap();
    let url = format!("/tenants/mv/appointments/{id}");
    for (body, status, field) in [
        (json!({"date": "24/11/2026"}), 422, Some("date")),
        (json!({"time": "9am"}), 422, Some("time")),
        (json!({"provider": "Zed"}), 422, Some("provider")),
        (json!({"when": "tomorrow"}), 400, None),
    ] {
        let resp = app
            .admin(Method::PATCH, &url)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert!(!err["error"].as_str().unwrap().is_empty(), "{err}");
        assert_eq!(err["field"].as_str(), field, "{body}: {err}");
    }
    assert_eq!(
        app.appointments("mv").await[0]["start"],
        "2026-11-24T10:00:00-06:00",
        "nothing moved"
    );
    let resp = app
        .admin(Method::PATCH, "/tenants/mv/appointments/999")
        .json(&json!({"time": "11:00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
