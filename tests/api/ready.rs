//! `/health` and `/ready`: liveness answers from memory; readiness answers 503 with the
//! reason a monitor can act on when the SMS worker is stopped, the writer is blocked, the
//! disk is (by a threshold) full, a due text waits, or the signature key is missing, and
//! shows the whole report to the admin.

use std::time::Duration;

use serde_json::Value;

use crate::{helpers::*, sql::int};

/// `/ready`'s status and body without a token.
async fn ready(app: &TestApp) -> (u16, String) {
    let resp = app
        .client
        .get(format!("{}/ready", app.base))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Asks `/ready` until its one-line answer contains `needle` (reports are reused for up to
/// a second, and a stopped task takes a moment to wind down); panics after 10 s.
async fn ready_until(app: &TestApp, needle: &str) -> (u16, String) {
    for _ in 0..100 {
        let (status, line) = ready(app).await;
        if line.contains(needle) {
            return (status, line);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/ready never said {needle:?}; last: {:?}", ready(app).await);
}

#[tokio::test]
async fn a_healthy_server_is_ready_and_the_admin_sees_why() {
    let app = spawn_app().await;
    assert_eq!(ready(&app).await, (200, "ready".to_string()));
    let resp = app
        .admin(reqwest::Method::GET, "/ready")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["ready"], true, "{report}");
    let tasks: Vec<&str> = report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in [
        "call log",
        "housekeeping",
        "SMS worker",
        "webhook worker",
        "reminder-call dialer",
    ] {
        assert!(tasks.contains(&name), "{report}");
    }
    assert!(
        report["writer_round_trip_ms"].as_f64().is_some(),
        "{report}"
    );
    match app.db_url {
        None => assert!(report["free_disk_bytes"].as_u64().unwrap() > 0),
        // The server's disk and WAL are the PostgreSQL server's own monitoring's.
        Some(_) => assert!(report["free_disk_bytes"].is_null(), "{report}"),
    }
    let tz = &report["tzdb"];
    assert!(
        ["system", "bundled"].contains(&tz["source"].as_str().unwrap()),
        "{tz}"
    );
    assert!(
        tz["version"].as_str().is_some_and(|v| v.starts_with("20")),
        "{tz}"
    );
}

#[tokio::test]
async fn a_wrong_token_on_ready_is_refused_rather_than_shown_the_detail() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(format!("{}/ready", app.base))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn a_stopped_sms_worker_makes_the_server_not_ready() {
    let app = spawn_app().await;
    app.stop_task("SMS worker").await;
    let (status, line) = ready_until(&app, "SMS worker is stopped").await;
    assert_eq!(status, 503);
    assert!(line.starts_with("not ready: "), "{line}");
    // Liveness is unaffected: the process still answers.
    let health = app
        .client
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_blocked_writer_makes_the_server_not_ready() {
    // About SQLite's writer thread.
    let app = spawn_with(Options {
        sqlite: true,
        tweak: |s| s.upkeep.writer_deadline = Duration::from_millis(100),
        ..Options::default()
    })
    .await;
    let (release, held) = std::sync::mpsc::channel::<()>();
    let db = app.state.db().clone();
    let blocker = tokio::spawn(async move {
        db.write(move |_| {
            let _ = held.recv_timeout(Duration::from_secs(30));
            Ok(())
        })
        .await
    });
    let (status, line) =
        ready_until(&app, "the database writer did not answer within 100 ms").await;
    assert_eq!(status, 503, "{line}");
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    // Once the writer is free again, the server is ready again.
    ready_until(&app, "ready").await;
    for _ in 0..100 {
        if ready(&app).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "still not ready after the writer was released: {:?}",
        ready(&app).await
    );
}

#[tokio::test]
async fn a_disk_below_the_free_space_threshold_makes_the_server_not_ready() {
    // About the SQLite file's disk (PostgreSQL's is the server's to watch).
    let app = spawn_with(Options {
        sqlite: true,
        // More than any disk has: the threshold is crossed wherever the test runs.
        tweak: |s| s.upkeep.min_free_bytes = u64::MAX,
        ..Options::default()
    })
    .await;
    let (status, line) = ready(&app).await;
    assert_eq!(status, 503);
    assert!(
        line.contains("MB free on the database's disk (limit"),
        "{line}"
    );
}

#[tokio::test]
async fn a_wal_above_its_threshold_makes_the_server_not_ready() {
    // About the SQLite file's WAL.
    let app = spawn_with(Options {
        sqlite: true,
        tweak: |s| {
            s.upkeep.max_wal_bytes = 0;
            // Nothing truncates the WAL behind the test's back.
            s.upkeep.checkpoints = false;
        },
        ..Options::default()
    })
    .await;
    let (status, line) = ready_until(&app, "the WAL is").await;
    assert_eq!(status, 503);
    assert!(line.contains("(limit 0 MB)"), "{line}");
}

#[tokio::test]
async fn a_server_without_the_signature_key_is_not_ready() {
    let app = spawn_with(Options {
        tweak: |s| s.telnyx_public_key = None,
        ..Options::default()
    })
    .await;
    let (status, line) = ready(&app).await;
    assert_eq!(status, 503);
    assert!(
        line.contains("TELNYX_PUBLIC_KEY is not set: every Telnyx request is refused (403)"),
        "{line}"
    );
}

#[tokio::test]
async fn a_due_text_left_unsent_past_the_limit_makes_the_server_not_ready() {
    let app = spawn_with(Options {
        tweak: |s| s.upkeep.max_text_lag = Duration::from_secs(60),
        ..Options::default()
    })
    .await;
    // Pause sending (as an account-level refusal does), then queue a text due 10 minutes ago.
    let now = app.clock.now().as_second();
    let tenant = app.state.store.tenants().list().await.unwrap()[0].id;
    app.stop_task("SMS worker").await;
    ready_until(&app, "SMS worker is stopped").await;
    app.exec_sql(
        "INSERT INTO outbox (tenant_id, kind, to_number, from_number, due_at, text, created_at, updated_at)
         VALUES (?1, 'reply', '+13125550199', '+13125550100', ?2, 'hello', ?2, ?2)",
        &[int(tenant), int(now - 600)],
    )
    .await;
    let (status, _) = ready_until(
        &app,
        "the oldest due text has waited 600 s unsent (limit 60 s)",
    )
    .await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn ready_answers_503_when_the_webhook_worker_or_the_reminder_call_dialer_is_stopped() {
    for task in ["webhook worker", "reminder-call dialer"] {
        let app = spawn_app().await;
        app.stop_task(task).await;
        let (status, line) = ready_until(&app, &format!("{task} is stopped")).await;
        assert_eq!(status, 503, "{task}: {line}");
    }
}
