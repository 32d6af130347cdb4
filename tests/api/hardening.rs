//! Abuse and faults: idle, trickling and slow clients, the connection cap, replayed
//! signatures, token guessing, the separate admin listener, start-up refusals, lost-update
//! protection and names that would reorder a text.

use std::{sync::Arc, time::Duration};

use reqwest::Method;
use serde_json::{Value, json};
use slotline::{
    clock::Clock,
    config::{HttpLimits, Secret, Settings},
    startup::Application,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::*;

/// Limits with short deadlines, so the tests that wait for one take under a second.
fn quick(max_connections: usize) -> HttpLimits {
    HttpLimits {
        max_connections,
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
    }
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or resets it); what it sent before.
/// A safety bound stops a broken server from hanging the suite; it is not a timing check.
async fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = spawn_with(Options {
        http: quick(100),
        ..Options::default()
    })
    .await;
    let mut idle = TcpStream::connect(addr(&app)).await.unwrap();
    assert!(
        until_closed(&mut idle).await.is_some(),
        "the server kept an idle connection open for 30 s"
    );
}

#[tokio::test]
async fn a_header_trickled_byte_by_byte_does_not_keep_the_connection() {
    let app = spawn_with(Options {
        http: quick(100),
        ..Options::default()
    })
    .await;
    let mut slow = TcpStream::connect(addr(&app)).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    // 1,000 header bytes, 20 ms apart: 20 s of trickle against a 300 ms deadline.
    let mut refused = false;
    for _ in 0..1000 {
        if slow.write_all(b"X").await.is_err() {
            refused = true;
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(20), slow.read(&mut probe)).await
        {
            refused = true;
            break;
        }
    }
    assert!(
        refused,
        "the server kept reading a trickled header for 20 s"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_still_gets_answers_within_the_deadline() {
    let app = spawn_with(Options {
        http: quick(100),
        ..Options::default()
    })
    .await;
    let mut conn = TcpStream::connect(addr(&app)).await.unwrap();
    for _ in 0..3 {
        conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = conn.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once_and_served_again_when_places_free_up() {
    let app = spawn_with(Options {
        http: HttpLimits {
            max_connections: 4,
            ..HttpLimits::default()
        },
        ..Options::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = TcpStream::connect(addr(&app)).await.unwrap();
        // A whole request, so the connection is surely accepted and counted.
        c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        assert!(c.read(&mut buf).await.unwrap() > 0);
        held.push(c);
    }
    let mut extra = TcpStream::connect(addr(&app)).await.unwrap();
    let _ = extra
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = until_closed(&mut extra).await.expect("closed");
    assert!(answer.is_empty(), "over the cap it was answered: {answer}");

    drop(held);
    // The server notices the closed connections as it reads them; a new client then gets in.
    let mut served = false;
    for _ in 0..100 {
        let fresh = reqwest::Client::new();
        if let Ok(r) = fresh.get(format!("{}/health", app.base)).send().await
            && r.status() == 200
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "no place came free after four connections closed");
}

/// Limits where only the pressure rule can close an idle connection within the test: the
/// full header deadline is two minutes.
fn patient(max_connections: usize) -> HttpLimits {
    HttpLimits {
        max_connections,
        header_timeout: Duration::from_secs(120),
        ..HttpLimits::default()
    }
}

#[tokio::test]
async fn near_the_cap_connections_without_headers_are_shed_so_callers_get_in() {
    let app = spawn_with(Options {
        http: patient(8),
        ..Options::default()
    })
    .await;
    // A stranger takes every place and sends nothing.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    // Under pressure they are shed a second into their wait (until a quarter of the
    // places is free again), so a caller gets in long before their two-minute deadline.
    let mut served = false;
    for _ in 0..200 {
        let fresh = reqwest::Client::new();
        if let Ok(r) = fresh.get(format!("{}/health", app.base)).send().await
            && r.status() == 200
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "idle connections kept every place");
    let mut shed = 0;
    for c in &mut idle {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(50), c.read(&mut byte)).await
        {
            shed += 1;
        }
    }
    // The caller's place came from a shed connection (shedding goes on until a quarter of
    // the cap is free, so how many are closed by now depends on timing).
    assert!(shed >= 1, "no idle connection was shed");
}

#[tokio::test]
async fn with_room_to_spare_a_slow_client_keeps_its_full_header_deadline() {
    let app = spawn_with(Options {
        http: patient(100),
        ..Options::default()
    })
    .await;
    let mut c = TcpStream::connect(addr(&app)).await.unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    // Well past the one second that applies under pressure, the connection is still open
    // and its request is answered once the headers are complete.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    c.write_all(b"Host: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut c).await.expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_telnyx_body_that_does_not_arrive_in_time_gets_408() {
    let app = spawn_with(Options {
        http: quick(100),
        ..Options::default()
    })
    .await;
    let mut c = TcpStream::connect(addr(&app)).await.unwrap();
    c.write_all(
        b"POST /texml/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nCallSid=slow",
    )
    .await
    .unwrap();
    let answer = until_closed(&mut c).await.expect("closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within"), "{answer}");
}

#[tokio::test]
async fn a_chunked_telnyx_body_over_256_kib_gets_413_while_it_is_read() {
    let app = spawn_app().await;
    let mut c = TcpStream::connect(addr(&app)).await.unwrap();
    c.write_all(
        b"POST /texml/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    // Five chunks of 64 KiB, no length announced: the cap applies as the body arrives.
    let chunk = [b"10000\r\n".as_slice(), &[b'a'; 0x10000], b"\r\n"].concat();
    for _ in 0..5 {
        if c.write_all(&chunk).await.is_err() {
            break; // the server answered and stopped reading
        }
    }
    let _ = c.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), c.read(&mut answer))
        .await
        .expect("no answer within 30 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn an_admin_body_over_one_mebibyte_gets_413() {
    let app = spawn_app().await;
    let resp = app
        .admin(Method::POST, "/tenants")
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("larger than"), "{v}");
}

#[tokio::test]
async fn the_fallback_finds_tenants_by_slug_only_not_by_row_id() {
    let app = spawn_app().await;
    let id = app
        .admin_json::<Value>(Method::GET, "/tenants/bella-salon")
        .await["id"]
        .as_i64()
        .unwrap();
    let by_id = texml_ok(
        app.client
            .get(format!("{}/texml/doc/{id}/fallback", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(!by_id.contains("Bella"), "{by_id}");
    let by_slug = texml_ok(
        app.client
            .get(format!("{}/texml/doc/bella-salon/fallback", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(by_slug.contains("Bella Salon"), "{by_slug}");
}

#[tokio::test]
async fn with_an_admin_listener_the_admin_api_is_served_there_and_only_there() {
    let app = spawn_with(Options {
        admin_listen: true,
        ..Options::default()
    })
    .await;
    let admin = app.admin_base.clone().expect("an admin listener");
    let get = |base: &str| {
        app.client
            .get(format!("{base}/tenants"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    assert_eq!(get(&app.base).await.unwrap().status(), 404);
    assert_eq!(get(&admin).await.unwrap().status(), 200);
    let voice = app
        .client
        .post(format!("{admin}/texml/voice"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        voice.status(),
        404,
        "Telnyx routes are not on the admin listener"
    );
    let doc = app.voice("v3:split", "+13125550199", "+13125550100").await;
    assert!(doc.contains("<AIGather"), "{doc}");
}

#[tokio::test]
async fn repeated_wrong_tokens_get_429_with_retry_after_until_the_minute_is_over() {
    let app = spawn_app().await;
    let with = |token: &'static str| {
        app.client
            .get(format!("{}/tenants", app.base))
            .bearer_auth(token)
            .send()
    };
    for _ in 0..5 {
        assert_eq!(with("guess").await.unwrap().status(), 401);
    }
    let held = with("guess").await.unwrap();
    assert_eq!(held.status(), 429);
    let wait: u64 = held.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        with(ADMIN_TOKEN).await.unwrap().status(),
        429,
        "while held, even the right token waits"
    );
    app.clock
        .set(app.clock.now() + jiff::SignedDuration::from_secs(61));
    assert_eq!(with(ADMIN_TOKEN).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_signed_body_replayed_on_another_route_is_refused() {
    let app = spawn_app().await;
    let body = form(&[
        ("CallSid", "v3:replay"),
        ("CallStatus", "completed"),
        ("From", "+13125550199"),
        ("To", "+13125550100"),
    ]);
    let (ts, sig) = app.sign(body.as_bytes());
    let post = |path: &'static str| {
        app.post_raw(
            path,
            body.clone().into_bytes(),
            Some((&ts, &sig)),
            "application/x-www-form-urlencoded",
        )
    };
    assert_eq!(post("/texml/status").await.status(), 200);
    let replayed = post("/texml/voice").await;
    assert_eq!(replayed.status(), 403);
    assert!(replayed.text().await.unwrap().contains("replayed"));
}

#[tokio::test]
async fn a_delivery_repeated_with_the_same_signature_is_answered_as_the_first() {
    let app = spawn_app().await;
    let body = voice_body("v3:again", "+13125550199", "+13125550100");
    let (ts, sig) = app.sign(body.as_bytes());
    let send = || {
        app.post_raw(
            "/texml/voice",
            body.clone().into_bytes(),
            Some((&ts, &sig)),
            "application/x-www-form-urlencoded",
        )
    };
    let first = texml_ok(send().await).await;
    let again = texml_ok(send().await).await;
    assert_eq!(first, again);
}

/// Settings as the harness builds them, for start-up checks.
fn settings(dir: &tempfile::TempDir) -> Settings {
    Settings {
        listen: "127.0.0.1:0".into(),
        db_path: dir.path().join("s.db"),
        texml_dir: dir.path().join("texml"),
        admin_token: Some(Secret::new(ADMIN_TOKEN)),
        telnyx_public_key: Some(FIXTURE_PUBLIC_KEY.into()),
        public_url: "https://booking.example.com".into(),
        ..Settings::default()
    }
}

async fn start_error(settings: Settings) -> String {
    match Application::build(settings, Clock::system()).await {
        Ok(_) => panic!("started"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn start_up_refuses_a_short_admin_token_and_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let err = start_error(Settings {
        admin_token: Some(Secret::new("salon123")),
        ..settings(&dir)
    })
    .await;
    assert!(err.contains("SLOTLINE_ADMIN_TOKEN"), "{err}");
    assert!(err.contains("openssl rand -base64 32"), "{err}");
}

#[tokio::test]
async fn start_up_refuses_skipping_signatures_next_to_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = start_error(Settings {
        insecure_skip_signatures: true,
        ..settings(&dir)
    })
    .await;
    assert!(err.contains("SLOTLINE_INSECURE_SKIP_SIGNATURES"), "{err}");
}

#[tokio::test]
async fn start_up_refuses_a_public_url_telnyx_cannot_reach_next_to_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["http://booking.example.com", "https://127.0.0.1:8080"] {
        let err = start_error(Settings {
            public_url: url.into(),
            ..settings(&dir)
        })
        .await;
        assert!(err.contains("SLOTLINE_PUBLIC_URL"), "{url}: {err}");
    }
}

#[tokio::test]
async fn patch_with_a_stale_if_match_gets_412_and_changes_nothing() {
    let app = spawn_app().await;
    let read = app
        .admin(Method::GET, "/tenants/bella-salon")
        .send()
        .await
        .unwrap();
    let etag = read.headers()["etag"].to_str().unwrap().to_string();
    let patch = |tag: Option<&str>, name: &str| {
        let mut req = app
            .admin(Method::PATCH, "/tenants/bella-salon")
            .json(&json!({ "name": name }));
        if let Some(tag) = tag {
            req = req.header("if-match", tag);
        }
        req.send()
    };
    let first = patch(Some(&etag), "Bella Salon One").await.unwrap();
    assert_eq!(first.status(), 200);
    let new_tag = first.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(new_tag, etag);

    let stale = patch(Some(&etag), "Bella Salon Two").await.unwrap();
    assert_eq!(stale.status(), 412);
    let v: Value = stale.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("GET it again"), "{v}");
    let now: Value = app.admin_json(Method::GET, "/tenants/bella-salon").await;
    assert_eq!(now["name"], "Bella Salon One");

    let blind = patch(None, "Bella Salon Three").await.unwrap();
    assert_eq!(blind.status(), 200, "without If-Match PATCH still works");
    let any = patch(Some("*"), "Bella Salon Four").await.unwrap();
    assert_eq!(any.status(), 200);
}

#[tokio::test]
async fn a_name_with_a_bidi_override_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let mut tenant = open_every_day("bidi", "+13125550171", "America/Chicago", &["Ana"]);
    tenant["services"][0]["name"] = json!("Cut\u{202E}tuC");
    let resp = app
        .admin(Method::POST, "/tenants")
        .json(&tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["field"], "services[0].name", "{v}");
    assert!(v["error"].as_str().unwrap().contains("U+202E"), "{v}");
}

/// The idle clients and callers of the fault test.
const IDLE: usize = 2_000;
const CALLERS: usize = 50;

/// File descriptors the fault test needs: both ends of every connection, plus slack.
fn raise_fd_limit() {
    let needed = (2 * (IDLE + CALLERS) + 512) as u64;
    let got = rlimit::increase_nofile_limit(needed).unwrap_or(0);
    assert!(
        got >= needed,
        "the fault test needs {needed} file descriptors and could raise the soft limit only to {got}; raise the hard limit (ulimit -Hn)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_and_a_health_flood_do_not_stop_fifty_bookings() {
    raise_fd_limit();
    // About connections, not the deadline: the fifty bookings share one caller ID, so on
    // PostgreSQL they queue behind that number's lock (the per-caller cap) one by one.
    let app = Arc::new(
        spawn_with(Options {
            request_deadline: Duration::from_secs(20),
            ..Options::default()
        })
        .await,
    );
    let mut tenant = open_every_day("fault", "+13125550177", "America/Chicago", &["Ana"]);
    // Every test caller has the same caller ID.
    tenant["max_future_bookings_per_caller"] = json!(100);
    app.create_tenant(&tenant).await;
    // Half send nothing, half a request line and one header, then nothing more.
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let mut c = TcpStream::connect(addr(&app)).await.unwrap();
        if i % 2 == 1 {
            c.write_all(b"POST /texml/voice HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        idle.push(c);
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..8)
        .map(|_| {
            let (base, stop) = (app.base.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut ok = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(r) = client.get(format!("{base}/health")).send().await
                        && r.status() == 200
                    {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();

    let days = [
        (23, "Monday"),
        (24, "Tuesday"),
        (25, "Wednesday"),
        (26, "Thursday"),
        (27, "Friday"),
    ];
    let times = [
        ("10:00", "10:00 AM"),
        ("10:30", "10:30 AM"),
        ("11:00", "11:00 AM"),
        ("11:30", "11:30 AM"),
        ("13:00", "1:00 PM"),
        ("13:30", "1:30 PM"),
        ("14:00", "2:00 PM"),
        ("14:30", "2:30 PM"),
        ("15:00", "3:00 PM"),
        ("15:30", "3:30 PM"),
    ];
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            let app = app.clone();
            let (day, weekday) = days[i % days.len()];
            let (time, spoken) = times[i / days.len()];
            tokio::spawn(async move {
                let sid = format!("v3:fault{i}");
                let (_, path) = app.start_call(&sid, "+13125550177").await;
                let ask = json!({"customer_name": "Sam", "service": "Cut", "preferred_date": format!("2026-11-{day}"), "preferred_time": time});
                let doc = app.answer(&path, &sid, &ask).await;
                let said = texts(&doc, "Say").join(" ");
                let want = format!("is booked for {weekday}, November {day} at {spoken}");
                assert!(said.contains(&want), "caller {i} wanted {want:?}: {doc}");
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("every caller is booked");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut health = 0;
    for f in flood {
        health += f.await.unwrap();
    }
    assert_eq!(app.appointments("fault").await.len(), CALLERS);
    assert!(health > 0, "the health flood got no answers");
    drop(idle);
}

/// Runs the built binary's `texml preview` for the demo tenant against `db`.
fn preview(db: &std::path::Path) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slotline"))
        .args([
            "texml",
            "preview",
            "--tenant",
            "bella-salon",
            "--step",
            "fallback",
        ])
        .env("SLOTLINE_DB", db)
        .env("SLOTLINE_TEXML_DIR", db.with_file_name("texml"))
        .env_remove("SLOTLINE_URL_SECRET")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn texml_preview_reads_the_database_without_creating_a_url_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("p.db");
    let db = slotline::db::Db::open(&db_path).unwrap();
    let spec = slotline::domain::TenantSpec::from_json(&demo_tenant()).unwrap();
    db.run_blocking(|c| slotline::db::tenants::insert(c, &spec))
        .unwrap();
    drop(db);
    let (code, err) = preview(&db_path);
    assert_eq!(code, 0, "{err}");
    let conn = rusqlite::Connection::open(&db_path).unwrap();
    let secrets: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM settings WHERE key = 'url_secret'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(secrets, 0, "preview stored a URL secret");
}

#[test]
fn texml_preview_refuses_an_older_schema_instead_of_migrating_it() {
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("old.db");
    let conn = rusqlite::Connection::open(&db_path).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    let (code, err) = preview(&db_path);
    assert_eq!(code, 1);
    assert!(err.contains("slotline migrate"), "{err}");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1, "the schema was touched");
}

#[test]
fn texml_preview_of_a_missing_database_says_so_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("nothing-here.db");
    let (code, err) = preview(&db_path);
    assert_eq!(code, 1);
    assert!(err.contains("no database at"), "{err}");
    assert!(!db_path.exists());
}

#[tokio::test]
async fn patching_in_another_tenants_number_names_phone_number_not_slug() {
    let app = spawn_app().await;
    app.create_tenant(&open_every_day(
        "other",
        "+13125550172",
        "America/Chicago",
        &["Ana"],
    ))
    .await;
    let resp = app
        .admin(Method::PATCH, "/tenants/other")
        .json(&json!({"phone_number": "+13125550100"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["field"], "phone_number", "{v}");
}
