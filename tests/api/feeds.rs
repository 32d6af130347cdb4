//! Calendar feeds: created, served, rotated and revoked through the admin API; the ICS a
//! calendar app gets, its ETag and its rate limit.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use slotline::db;

use crate::helpers::{TestApp, spawn_app};

/// Books directly in the database (as a call would) for the demo tenant with `provider`
/// (0: Anna, 1: Marco) at `start` (RFC 3339) for 45 minutes; the appointment id.
pub async fn book(app: &TestApp, name: &str, provider: usize, start: &str) -> i64 {
    let start: jiff::Timestamp = start.parse().unwrap();
    book_at(app, name, provider, start.as_second(), None).await
}

/// [`book`] at Unix seconds `start`, held until `hold_until` when given.
pub async fn book_at(
    app: &TestApp,
    name: &str,
    provider: usize,
    start: i64,
    hold_until: Option<i64>,
) -> i64 {
    try_book_at(app, name, provider, start, hold_until)
        .await
        .expect("the time is free")
}

/// [`book_at`], or `None` when the time is taken.
pub async fn try_book_at(
    app: &TestApp,
    name: &str,
    provider: usize,
    start: i64,
    hold_until: Option<i64>,
) -> Option<i64> {
    let now = app.clock.now().as_second();
    let store = &app.state.store;
    let t = store.tenants().find("bella-salon".into()).await.unwrap();
    let appt = db::appointments::NewAppointment {
        tenant_id: t.id,
        service_id: t.service_ids[0],
        provider_id: t.provider_ids[provider],
        customer_name: name.to_string(),
        customer_phone: Some("+13125550199".into()),
        caller_number: None,
        start,
        end: start + 2700,
        blocked_until: start + 2700,
        call_sid: Some(format!("v3:direct-{start}-{provider}")),
        hold_until,
        cap: None,
        texts: Vec::new(),
    };
    match store.appointments().book(appt, None, now).await.unwrap() {
        db::appointments::BookOutcome::Booked(id) => Some(id),
        db::appointments::BookOutcome::Taken => None,
        other => panic!("not booked: {other:?}"),
    }
}

/// Moves appointment `id` through the admin API; panics unless 200.
pub async fn move_appointment(app: &TestApp, id: i64, date: &str, time: &str) {
    let path = format!("/tenants/bella-salon/appointments/{id}");
    let to = json!({"date": date, "time": time});
    app.admin_expect(Method::PATCH, &path, Some(&to), 200).await;
}

/// Cancels appointment `id` through the admin API; panics unless 200.
pub async fn cancel_appointment(app: &TestApp, id: i64) {
    let path = format!("/tenants/bella-salon/appointments/{id}");
    app.admin_expect(Method::DELETE, &path, None, 200).await;
}

/// Creates a feed with `body`; its JSON (with `url`), panicking unless 201.
pub async fn create_feed(app: &TestApp, body: Value) -> Value {
    app.post_created("/tenants/bella-salon/feeds", &body).await
}

/// The feed's URL on the test server (its public URL is https://booking.example.com).
pub fn local(app: &TestApp, url: &str) -> String {
    url.replace("https://booking.example.com", &app.base)
}

/// GETs a feed; (status, body).
pub async fn fetch(app: &TestApp, url: &str) -> (StatusCode, String) {
    let resp = app.client.get(local(app, url)).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// The unfolded lines of the VEVENT with `uid`, if the feed has it.
fn event<'a>(lines: &'a [String], uid: &str) -> Option<&'a [String]> {
    let at = lines.iter().position(|l| l == &format!("UID:{uid}"))?;
    let start = lines[..at].iter().rposition(|l| l == "BEGIN:VEVENT")?;
    let end = at + lines[at..].iter().position(|l| l == "END:VEVENT")?;
    Some(&lines[start..=end])
}

fn unfold(doc: &str) -> Vec<String> {
    doc.replace("\r\n ", "")
        .split("\r\n")
        .map(str::to_string)
        .collect()
}

fn prop<'a>(event: &'a [String], name: &str) -> &'a str {
    event
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {event:?}"))
}

#[tokio::test]
async fn a_tenant_feed_serves_its_bookings_as_icalendar_and_never_lists_the_secret() {
    let app = spawn_app().await;
    let id = book(&app, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await;
    let feed = create_feed(&app, json!({"scope": "tenant", "detail": "full"})).await;
    let url = feed["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("https://booking.example.com/ics/{}/", feed["id"])));
    assert!(
        feed["webcal_url"]
            .as_str()
            .unwrap()
            .starts_with("webcal://booking.example.com/ics/")
    );

    let resp = app.client.get(local(&app, url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["content-type"], "text/calendar; charset=utf-8");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    assert!(h["cache-control"].to_str().unwrap().starts_with("private"));
    assert!(h.contains_key("etag"));
    let doc = resp.text().await.unwrap();
    for line in doc.split_terminator("\r\n") {
        assert!(line.len() <= 75, "{line:?}");
    }
    let lines = unfold(&doc);
    let e = event(&lines, &format!("appt-{id}@booking.example.com")).expect("the booking");
    assert_eq!(prop(e, "DTSTART"), "20261123T160000Z");
    assert_eq!(prop(e, "DTEND"), "20261123T164500Z");
    assert_eq!(prop(e, "SUMMARY"), "Haircut — Maria Lopez");
    assert_eq!(prop(e, "STATUS"), "CONFIRMED");

    let list: Value = app
        .admin_json(Method::GET, "/tenants/bella-salon/feeds")
        .await;
    assert_eq!(list[0]["id"], feed["id"]);
    assert_eq!(list[0]["scope"], "tenant");
    let secret = url.rsplit('/').next().unwrap().trim_end_matches(".ics");
    assert!(!list.to_string().contains(secret), "{list}");
    assert!(list[0].get("url").is_none());
}

#[tokio::test]
async fn uids_stay_and_sequence_rises_across_a_move_and_a_cancellation() {
    let app = spawn_app().await;
    let id = book(&app, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await;
    let feed = create_feed(&app, json!({"scope": "tenant"})).await;
    let url = feed["url"].as_str().unwrap();
    let uid = format!("appt-{id}@booking.example.com");
    let seq = |doc: &str| {
        let lines = unfold(doc);
        let e = event(&lines, &uid).expect("the appointment").to_vec();
        (
            prop(&e, "SEQUENCE").parse::<i64>().unwrap(),
            prop(&e, "DTSTART").to_string(),
            prop(&e, "STATUS").to_string(),
        )
    };
    let (_, before) = fetch(&app, url).await;
    assert_eq!(
        seq(&before),
        (0, "20261123T160000Z".into(), "CONFIRMED".into())
    );

    move_appointment(&app, id, "2026-11-24", "11:00").await;
    let (_, after_move) = fetch(&app, url).await;
    assert_eq!(
        seq(&after_move),
        (1, "20261124T170000Z".into(), "CONFIRMED".into())
    );

    cancel_appointment(&app, id).await;
    let (_, after_cancel) = fetch(&app, url).await;
    assert_eq!(
        seq(&after_cancel),
        (2, "20261124T170000Z".into(), "CANCELLED".into())
    );

    // Kept for 7 days after the cancellation, then dropped.
    app.clock.set("2026-11-27T14:00:00Z".parse().unwrap());
    let (_, day_7) = fetch(&app, url).await;
    assert!(
        event(&unfold(&day_7), &uid).is_some(),
        "still there within 7 days"
    );
    app.clock.set("2026-11-27T16:00:00Z".parse().unwrap());
    let (_, day_8) = fetch(&app, url).await;
    assert!(event(&unfold(&day_8), &uid).is_none(), "{day_8}");
}

#[tokio::test]
async fn revoked_and_rotated_urls_answer_404_and_the_new_one_works() {
    let app = spawn_app().await;
    let feed = create_feed(&app, json!({"scope": "tenant"})).await;
    let first = feed["url"].as_str().unwrap().to_string();
    assert_eq!(fetch(&app, &first).await.0, 200);

    let rotated: Value = app
        .admin_json(
            Method::POST,
            &format!("/tenants/bella-salon/feeds/{}/rotate", feed["id"]),
        )
        .await;
    let second = rotated["url"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    assert_eq!(fetch(&app, &first).await.0, 404, "the old URL dies at once");
    assert_eq!(fetch(&app, &second).await.0, 200);

    let path = format!("/tenants/bella-salon/feeds/{}", feed["id"]);
    app.admin_expect(Method::DELETE, &path, None, 204).await;
    assert_eq!(fetch(&app, &second).await.0, 404);
    app.admin_expect(Method::DELETE, &path, None, 404).await;
    // A made-up secret for a live feed is a 404 too, not a hint.
    let live = create_feed(&app, json!({"scope": "tenant"})).await;
    let guessed = format!("{}/ics/{}/{}.ics", app.base, live["id"], "A".repeat(43));
    assert_eq!(app.client.get(guessed).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn an_unchanged_feed_answers_304_and_a_change_gives_a_new_etag() {
    let app = spawn_app().await;
    book(&app, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await;
    let feed = create_feed(&app, json!({"scope": "tenant"})).await;
    let url = local(&app, feed["url"].as_str().unwrap());
    let first = app.client.get(&url).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.text().await.unwrap().is_empty());

    book(&app, "Li Wei", 1, "2026-11-23T18:00:00Z").await;
    let changed = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
}

#[tokio::test]
async fn a_provider_feed_shows_only_that_provider_and_a_busy_feed_only_busy() {
    let app = spawn_app().await;
    let anna = book(&app, "Maria Lopez", 0, "2026-11-23T16:00:00Z").await;
    let marco = book(&app, "Li Wei", 1, "2026-11-23T16:00:00Z").await;
    let initials = create_feed(
        &app,
        json!({"scope": "provider", "provider": "anna", "detail": "initials"}),
    )
    .await;
    assert_eq!(initials["provider"], "Anna");
    let (_, doc) = fetch(&app, initials["url"].as_str().unwrap()).await;
    let lines = unfold(&doc);
    let e = event(&lines, &format!("appt-{anna}@booking.example.com")).unwrap();
    assert_eq!(prop(e, "SUMMARY"), "Haircut — M. L.");
    assert!(event(&lines, &format!("appt-{marco}@booking.example.com")).is_none());
    assert!(!doc.contains("Maria") && !doc.contains("5550199"), "{doc}");
    assert!(doc.contains("X-WR-CALNAME:Bella Salon — Anna\r\n"), "{doc}");

    let busy = create_feed(&app, json!({"scope": "tenant", "detail": "busy"})).await;
    let (_, doc) = fetch(&app, busy["url"].as_str().unwrap()).await;
    assert_eq!(doc.matches("SUMMARY:Busy\r\n").count(), 2, "{doc}");
    for private in ["Maria", "Li Wei", "Anna", "Marco", "5550199", "Haircut"] {
        assert!(!doc.contains(private), "{private} in {doc}");
    }
}

#[tokio::test]
async fn a_feed_polled_too_often_answers_429_with_retry_after() {
    let app = spawn_app().await;
    let feed = create_feed(&app, json!({"scope": "tenant"})).await;
    let url = feed["url"].as_str().unwrap();
    for _ in 0..slotline::feeds::REQUESTS_PER_WINDOW {
        assert_eq!(fetch(&app, url).await.0, 200);
    }
    let resp = app.client.get(local(&app, url)).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    app.clock.set("2026-11-20T15:01:01Z".parse().unwrap());
    assert_eq!(fetch(&app, url).await.0, 200, "a new minute");
}

#[tokio::test]
async fn bad_feed_requests_say_what_to_fix() {
    let app = spawn_app().await;
    for (body, field, says) in [
        (json!({}), "scope", "\"tenant\""),
        (json!({"scope": "everyone"}), "scope", "\"provider\""),
        (json!({"scope": "provider"}), "provider", "provider's name"),
        (
            json!({"scope": "provider", "provider": "Zoe"}),
            "provider",
            "Anna, Marco",
        ),
        (
            json!({"scope": "tenant", "provider": "Anna"}),
            "provider",
            "drop",
        ),
        (
            json!({"scope": "tenant", "detail": "some"}),
            "detail",
            "\"initials\"",
        ),
        (
            json!({"scope": "tenant", "colour": "red"}),
            "colour",
            "scope, provider and detail",
        ),
        (json!({"scope": 3}), "scope", "must be a string"),
    ] {
        app.assert_invalid("/tenants/bella-salon/feeds", &body, field, says)
            .await;
    }
    let unknown = app
        .admin(Method::POST, "/tenants/nobody/feeds")
        .json(&json!({"scope": "tenant"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let no_token = app
        .client
        .get(format!("{}/tenants/bella-salon/feeds", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
}
