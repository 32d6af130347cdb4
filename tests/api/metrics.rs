//! `GET /metrics`: behind the admin token, OpenMetrics text with bounded labels, and the
//! figures move when calls are answered and bookings made. An ignored test (run by
//! `.ci/run`) checks the exposition with the official Python client's strict parser.

use serde_json::json;

use crate::helpers::*;

/// The exposition, fetched with the admin token.
async fn scrape(app: &TestApp) -> String {
    let resp = app
        .admin(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    resp.text().await.unwrap()
}

/// The value of the sample written exactly as `series` (name and labels), or 0.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Books one appointment by phone on a fresh tenant.
async fn book_one(app: &TestApp) {
    app.create_tenant(&open_every_day(
        "metered",
        "+13125550170",
        "America/Chicago",
        &["Ana"],
    ))
    .await;
    let (_, path) = app.start_call("v3:metrics-1", "+13125550170").await;
    let ask = json!({"customer_name": "Sam", "service": "Cut", "preferred_date": "2026-11-24", "preferred_time": "10:00", "phone": "+13125550199"});
    let doc = app.answer(&path, "v3:metrics-1", &ask).await;
    assert!(doc.contains("is booked for"), "{doc}");
}

#[tokio::test]
async fn metrics_need_the_admin_token() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn metrics_move_when_a_booking_is_made() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    let booked = r#"slotline_bookings_total{outcome="booked"}"#;
    assert_eq!(sample(&before, booked), 0.0, "{before}");
    book_one(&app).await;
    let after = scrape(&app).await;
    assert_eq!(sample(&after, booked), 1.0, "{after}");
    let gathers =
        r#"slotline_http_requests_total{route="/texml/gather",method="POST",status="200"}"#;
    assert_eq!(sample(&after, gathers), 1.0, "{after}");
    let voice_latency =
        r#"slotline_http_request_duration_seconds_count{route="/texml/voice",method="POST"}"#;
    assert_eq!(sample(&after, voice_latency), 1.0, "{after}");
    // The first scrape is counted under its template too.
    let scrapes = r#"slotline_http_requests_total{route="/metrics",method="GET",status="200"}"#;
    assert!(sample(&after, scrapes) >= 1.0, "{after}");
    // The confirmation text is in the outbox (dry run: recorded, or still queued).
    let texts = sample(&after, r#"slotline_outbox_texts{status="queued"}"#)
        + sample(&after, r#"slotline_outbox_texts{status="dry_run"}"#)
        + sample(&after, r#"slotline_outbox_texts{status="sending"}"#);
    assert!(texts >= 1.0, "{after}");
    // The webhook and reminder-call queues are there, by status, even when empty.
    for series in [
        r#"slotline_webhook_deliveries{status="pending"} 0"#,
        r#"slotline_reminder_calls{status="queued"} 0"#,
    ] {
        assert!(after.lines().any(|l| l == series), "{series}: {after}");
    }
    assert!(
        after.contains("slotline_db_write_wait_seconds_bucket{le=\"0.000025\"}"),
        "{after}"
    );
    // The booking's writes were committed in groups, each group at least one job.
    let groups = sample(&after, "slotline_db_write_groups_total");
    assert!(groups >= 1.0, "{after}");
    assert!(
        sample(&after, "slotline_db_write_grouped_jobs_total") >= groups,
        "{after}"
    );
    assert!(
        after.contains("slotline_db_write_group_hold_seconds_count"),
        "{after}"
    );
    assert!(after.trim_end().ends_with("# EOF"), "{after}");
}

#[tokio::test]
async fn the_voice_url_by_another_method_or_with_a_trailing_slash_is_answered_by_the_table() {
    let app = spawn_app().await;
    let get = app
        .client
        .get(format!("{}/texml/voice", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    let slashed = app
        .post_raw(
            "/texml/voice/",
            voice_body("v3:slash", "+13125550199", "+13125550100").into_bytes(),
            None,
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(slashed.status(), 404);
    let unsigned = app
        .post_raw(
            "/texml/voice",
            voice_body("v3:unsigned", "+13125550199", "+13125550100").into_bytes(),
            None,
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(unsigned.status(), 403);
    let text = scrape(&app).await;
    for (series, n) in [
        (
            r#"slotline_http_requests_total{route="/texml/voice",method="GET",status="405"}"#,
            1.0,
        ),
        (
            r#"slotline_http_requests_total{route="/texml/voice",method="POST",status="403"}"#,
            1.0,
        ),
        (
            r#"slotline_http_requests_total{route="unmatched",method="POST",status="404"}"#,
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, series), n, "{series}: {text}");
    }
}

#[tokio::test]
async fn a_refused_signature_is_counted_by_reason_and_paths_are_never_labels() {
    let app = spawn_app().await;
    let resp = app
        .post_raw(
            "/texml/voice",
            voice_body("v3:x", "+13125550199", "+13125550100").into_bytes(),
            None,
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(resp.status(), 403);
    let _ = app
        .client
        .get(format!("{}/no/such/path/12345", app.base))
        .send()
        .await
        .unwrap();
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"slotline_signature_failures_total{reason="missing"}"#
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"slotline_http_requests_total{route="unmatched",method="GET",status="404"}"#
        ),
        1.0,
        "{text}"
    );
    assert!(!text.contains("12345"), "a raw path became a label: {text}");
}

/// Feeds `text` to tests/fixtures/metrics/parse.py under `python`.
fn parse(python: &str, text: &str) -> std::process::Output {
    use std::io::Write;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics/parse.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
#[ignore = "needs Python's prometheus_client; run by .ci/run"]
async fn the_exposition_parses_with_the_official_python_parser() {
    let Ok(python) = std::env::var("PROM_PYTHON") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI=true but PROM_PYTHON is not set: .ci/run installs the parser"
        );
        eprintln!("skipped: set PROM_PYTHON to a python with prometheus_client");
        return;
    };
    let app = spawn_app().await;
    book_one(&app).await;
    let text = scrape(&app).await;
    let out = parse(&python, &text);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    for family in [
        "slotline_http_requests counter",
        "slotline_http_request_duration_seconds histogram",
        "slotline_bookings counter",
        "slotline_db_write_wait_seconds histogram",
        "slotline_db_write_groups counter",
        "slotline_db_write_group_hold_seconds histogram",
        "slotline_outbox_lag_seconds gauge",
    ] {
        assert!(stdout.contains(family), "{family} missing: {stdout}");
    }
    // A broken exposition is refused, so the check can fail.
    let broken = text.replace("# EOF", "");
    assert!(
        !parse(&python, &broken).status.success(),
        "a broken exposition passed"
    );
}
