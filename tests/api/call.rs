//! A booking call end to end, as Telnyx drives it.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::helpers::*;

fn haircut(date: &str, time: &str) -> Value {
    json!({"customer_name": "Maria Lopez", "service": "haircut", "preferred_date": date, "preferred_time": time, "callback_number": "+13125550199"})
}

#[tokio::test]
async fn the_fixture_call_books_and_reads_the_time_back_in_local_time() {
    // Arrange: stand at the fixtures' own signing time so their signatures verify as they are.
    let app = spawn_with(Options {
        now: Timestamp::from_second(FIXTURE_TS).unwrap(),
        ..Options::default()
    })
    .await;
    let voice = fixture("voice-url-request.form");
    let (ts, sig) = (
        FIXTURE_TS.to_string(),
        "2spIhsnLAghzoDDY0NRe4sgLJJoD9SK67blBqURZXkQv2YVr497mtVTvK6YC2U8K/XctG5SjrRirARNlPddbDg==",
    );

    // Act 1: the call arrives.
    let doc = texml_ok(
        app.post_raw(
            "/texml/voice",
            voice,
            Some((&ts, sig)),
            "application/x-www-form-urlencoded",
        )
        .await,
    )
    .await;
    assert_eq!(
        texts(&doc, "Greeting"),
        vec!["Thanks for calling Bella Salon. What can I book for you?"]
    );
    assert_eq!(
        attr(&doc, "Voice", "name").as_deref(),
        Some("Telnyx.NaturalHD.astra")
    );
    let params: Value = serde_json::from_str(&texts(&doc, "Parameters")[0]).unwrap();
    assert_eq!(
        params["properties"]["service"]["enum"],
        json!(["Haircut", "Colour", "Blow-dry", "none"]),
        "the services, and \"none\" for a caller who wants something else"
    );
    assert_eq!(
        params["properties"]["provider"]["enum"],
        json!(["Anna", "Marco"])
    );
    let date_help = params["properties"]["preferred_date"]["description"]
        .as_str()
        .unwrap();
    assert!(date_help.contains("Tuesday, 2025-07-15"), "{date_help}");
    let path = gather_path(&attr(&doc, "AIGather", "action").unwrap());

    // Act 2: the AI posts what it gathered (the fixture, byte for byte, with its signature).
    let gather = fixture("aigather-action-request.form");
    let sig =
        "7idGGCenpki5eBDJfkx6ruFWi6mEpd0zgpFp5NVRylsdK7345UNx7VkU8xQTV7fapJPsodpI3y9rvpzMMtgqDg==";
    let done = texml_ok(
        app.post_raw(
            &path,
            gather,
            Some((&ts, sig)),
            "application/x-www-form-urlencoded",
        )
        .await,
    )
    .await;

    // Assert: read back in Chicago time, hung up, and listed by the admin API.
    let said = texts(&done, "Say").join(" ");
    assert!(said.contains("Tuesday, July 22 at 3:00 PM"), "{said}");
    assert!(done.contains("<Hangup/>"));
    let appts = app.appointments("bella-salon").await;
    assert_eq!(appts.len(), 1);
    assert_eq!(appts[0]["customer_name"], "Maria Lopez");
    assert_eq!(appts[0]["service"], "Haircut");
    assert_eq!(appts[0]["start"], "2025-07-22T15:00:00-05:00");
    assert_eq!(appts[0]["customer_phone"], "+13125550199");
}

#[tokio::test]
async fn a_call_to_an_unknown_number_hears_a_polite_goodbye() {
    let app = spawn_app().await;
    let doc = app
        .voice("v3:unknown", "+13125550199", "+14155550100")
        .await;
    assert!(texts(&doc, "Say")[0].contains("not set up"));
    assert!(doc.contains("<Hangup/>"));
    assert!(!doc.contains("AIGather"));
}

#[tokio::test]
async fn the_action_url_is_absolute_and_carries_a_state_token() {
    let app = spawn_app().await;
    let (doc, path) = app.start_call("v3:abs", "+13125550100").await;
    let action = attr(&doc, "AIGather", "action").unwrap();
    assert!(
        action.starts_with("https://booking.example.com/texml/gather?s="),
        "{action}"
    );
    assert!(path.len() > "/texml/gather?s=".len() + 20);
}

#[tokio::test]
async fn a_taken_slot_is_refused_with_a_reason_and_alternatives() {
    let app = spawn_app().await;
    // Both providers get 10:00 on Monday 2026-11-23 (local), one call each.
    for sid in ["v3:a", "v3:b"] {
        let (_, path) = app.start_call(sid, "+13125550100").await;
        let doc = app
            .answer(&path, sid, &haircut("2026-11-23", "10:00"))
            .await;
        assert!(
            texts(&doc, "Say")
                .join(" ")
                .contains("Monday, November 23 at 10:00 AM"),
            "{doc}"
        );
    }
    let (_, path) = app.start_call("v3:c", "+13125550100").await;
    let doc = app
        .answer(&path, "v3:c", &haircut("2026-11-23", "10:00"))
        .await;
    let greeting = texts(&doc, "Greeting").join(" ");
    assert!(greeting.contains("already taken"), "{greeting}");
    assert!(
        greeting.contains("Monday, November 23 at"),
        "alternatives are offered: {greeting}"
    );
    let params: Value = serde_json::from_str(&texts(&doc, "Parameters")[0]).unwrap();
    assert_eq!(
        params["properties"]["offered_time"]["enum"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(
        !texts(&doc, "Message").is_empty(),
        "the conversation is carried in MessageHistory"
    );
    assert_eq!(app.appointments("bella-salon").await.len(), 2);
}

#[tokio::test]
async fn closed_days_hours_and_bad_fields_each_get_their_reason() {
    let app = spawn_app().await;
    let cases = [
        (haircut("2026-11-22", "10:00"), "closed"), // a Sunday
        (haircut("2026-12-25", "10:00"), "closed"), // a closure
        (haircut("2026-11-23", "18:00"), "opening hours"), // Monday after 17:00
        (haircut("2026-11-23", "10:07"), ""),       // off the 15-minute grid
        (haircut("2026-11-20", "09:30"), "notice"), // 30 minutes from now
        (haircut("2026-11-19", "10:00"), "past"),
        (haircut("2027-03-01", "10:00"), "ahead"), // beyond 60 days
        (haircut("next tuesday", "10:00"), "date"),
        (haircut("2026-11-23", "ten"), "time"),
        (
            json!({"customer_name": "Ann", "service": "Massage", "preferred_date": "2026-11-23", "preferred_time": "10:00"}),
            "don't offer",
        ),
        (
            json!({"customer_name": "Ann", "service": "Colour", "preferred_date": "2026-11-23", "preferred_time": "10:00", "provider": "Marco"}),
            "doesn't do",
        ),
    ];
    for (i, (result, reason)) in cases.iter().enumerate() {
        let sid = format!("v3:case{i}");
        let (_, path) = app.start_call(&sid, "+13125550100").await;
        let doc = app.answer(&path, &sid, result).await;
        let greeting = texts(&doc, "Greeting").join(" ");
        assert!(doc.contains("<AIGather"), "case {i} re-prompts: {doc}");
        assert!(
            greeting.to_lowercase().contains(reason),
            "case {i}: {greeting:?} should say {reason:?}"
        );
    }
    assert!(app.appointments("bella-salon").await.is_empty());
}

#[tokio::test]
async fn after_max_attempts_the_caller_is_handed_to_a_human() {
    let app = spawn_app().await;
    let (_, mut path) = app.start_call("v3:max", "+13125550100").await;
    let mut doc = String::new();
    for _ in 0..3 {
        doc = app
            .answer(&path, "v3:max", &haircut("2026-11-22", "10:00"))
            .await;
        if let Some(action) = attr(&doc, "AIGather", "action") {
            path = gather_path(&action);
        }
    }
    assert!(!doc.contains("<AIGather"), "{doc}");
    assert!(doc.contains("<Dial"), "{doc}");
    assert!(texts(&doc, "Number").contains(&"+13125550111".to_string()));
}

#[tokio::test]
async fn a_retried_callback_books_once_and_answers_the_same() {
    let app = spawn_app().await;
    let (_, path) = app.start_call("v3:retry", "+13125550100").await;
    let body = gather_body("v3:retry", &haircut("2026-11-24", "15:00"));
    let first = texml_ok(app.post_signed(&path, body.clone()).await).await;
    let second = texml_ok(app.post_signed(&path, body).await).await;
    assert_eq!(first, second);
    assert!(first.contains("Tuesday, November 24 at 3:00 PM"), "{first}");
    assert_eq!(app.appointments("bella-salon").await.len(), 1);
}

#[tokio::test]
async fn the_call_control_event_shape_books_too() {
    let app = spawn_app().await;
    let (_, path) = app.start_call("v3:event", "+13125550100").await;
    let event = json!({"data": {"event_type": "call.ai_gather.ended", "payload": {
        "call_control_id": "v3:event", "from": "+13125550199", "to": "+13125550100", "status": "valid",
        "result": haircut("2026-11-24", "09:00"),
        "message_history": [{"role": "user", "content": "hi"}]}}, "meta": {"attempt": 1}});
    let body = event.to_string().into_bytes();
    let (ts, sig) = app.sign(&body);
    let doc = texml_ok(
        app.post_raw(&path, body, Some((&ts, &sig)), "application/json")
            .await,
    )
    .await;
    assert!(doc.contains("Tuesday, November 24 at 9:00 AM"), "{doc}");
}

#[tokio::test]
async fn an_invalid_gather_status_re_prompts() {
    let app = spawn_app().await;
    let (_, path) = app.start_call("v3:inv", "+13125550100").await;
    let body = form(&[
        ("CallSid", "v3:inv"),
        ("Status", "invalid"),
        ("From", "+13125550199"),
    ]);
    let doc = texml_ok(app.post_signed(&path, body).await).await;
    assert!(texts(&doc, "Greeting")[0].contains("didn't catch"), "{doc}");
}

#[tokio::test]
async fn internal_errors_still_answer_valid_texml() {
    let app = spawn_app().await;
    let (_, path) = app.start_call("v3:gone", "+13125550100").await;
    // The tenant disappears mid-call.
    let resp = app
        .admin(reqwest::Method::DELETE, "/tenants/bella-salon")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let doc = app
        .answer(&path, "v3:gone", &haircut("2026-11-24", "09:00"))
        .await;
    assert!(texts(&doc, "Say")[0].contains("technical trouble"), "{doc}");
    // An unreadable, but signed, body.
    let doc = texml_ok(
        app.post_signed(&path, "CallSid=v3:gone&Base64Result=%%%")
            .await,
    )
    .await;
    assert!(doc.contains("technical trouble"));
    let doc = texml_ok(app.post_signed("/texml/voice", "no=call+sid").await).await;
    assert!(doc.contains("technical trouble"));
}

#[tokio::test]
async fn tenant_text_with_markup_emoji_and_control_characters_stays_valid_xml() {
    let app = spawn_app().await;
    let nasty = "Tom & Jerry's <Salon> \"best\" 💇‍♀️ \u{1}\u{1b}]]> שלום";
    let mut tenant = demo_tenant();
    tenant["slug"] = "nasty".into();
    tenant["phone_number"] = "+13125550177".into();
    tenant["greeting"] = nasty.into();
    tenant["voice"] = "Telnyx.\"quoted\"<v>".into();
    tenant["services"] = json!([{"name": "a]]>b & <c>", "duration_minutes": 30}]);
    // Names refuse control characters (422); the greeting still carries them.
    tenant["providers"] = json!([{"name": "Zoë", "services": ["a]]>b & <c>"]}]);
    let resp = app
        .admin(reqwest::Method::POST, "/tenants")
        .json(&tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let (doc, _) = app.start_call("v3:nasty", "+13125550177").await;
    assert_eq!(
        texts(&doc, "Greeting")[0],
        "Tom & Jerry's <Salon> \"best\" 💇‍♀️ ]]> שלום"
    );
    let params: Value = serde_json::from_str(&texts(&doc, "Parameters")[0]).unwrap();
    assert_eq!(params["properties"]["service"]["enum"][0], "a]]>b & <c>");
}

#[tokio::test]
async fn health_reports_liveness_from_memory_with_no_call_figures() {
    let app = spawn_app().await;
    let v: Value = app
        .client
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ok");
    assert!(v["uptime_seconds"].is_u64());
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["status", "uptime_seconds", "version"]);
}
