//! Oracle tests: slotline's feeds read by two independent iCalendar parsers (Python
//! `icalendar`, npm `ical.js`) and its webhook signatures checked by the official Python
//! `standardwebhooks` package. Ignored in a plain `cargo test`; `.ci/run` installs the
//! pinned tools into `target/ci-tools/` and runs `cargo test --test api oracle -- --ignored`
//! with `SLOTLINE_ORACLE_PYTHON` and `SLOTLINE_ORACLE_ICALJS` set. Under `CI=true` a missing
//! tool fails the test.

use std::{io::Write, path::PathBuf, process::Stdio};

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    feeds::{book_at, cancel_appointment, create_feed, fetch, move_appointment, try_book_at},
    helpers::{TestApp, spawn_app},
    webhook_receiver::Receiver,
    webhooks::create_endpoint,
};

/// The tool named by `var`, or `None` (with a note) outside CI; under `CI=true`, a panic.
fn tool(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{var} is not set; .ci/run installs the oracle tools and sets it")
        }
        _ => {
            eprintln!("skipped: {var} is not set (run .ci/run, which installs the oracles)");
            None
        }
    }
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracles")
        .join(name)
}

/// Runs `program args` with `input` on stdin; (success, stdout, stderr).
fn run(program: &str, args: &[&str], envs: &[(&str, &str)], input: &str) -> (bool, String, String) {
    let mut child = std::process::Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Names a caller might give, or a speech recogniser might produce.
const HOSTILE_NAMES: &[&str] = &[
    "Lopez, Maria; Jr.",
    r"Back\slash \n not a newline",
    "Two\nLines",
    "Zoë 😀🎉 Smith",
    "山田 太郎",
    "김민준",
    "O'Brien \"Danny\"",
    "Comma,Semi;Colon:Colon",
];

/// Pieces of generated names: the characters RFC 5545 escapes, quotes, emoji (4-octet
/// UTF-8), CJK (3-octet), accents (2-octet) and plain words.
const NAME_PIECES: &[&str] = &[
    "Maria",
    "López",
    ",",
    ";",
    "\\",
    "\n",
    "\\n",
    "😀",
    "👩‍👩‍👧",
    "山田",
    "太郎",
    "Zoë",
    "O'Neil",
    "\"Q\"",
    " ",
    "é",
    "ß",
    ":",
    "=",
    "Ω",
    "🇲🇽",
];

/// Books `n` appointments at random quarter hours in `[from, to)` (a fixed seed, printed)
/// for random providers, with random names up to 200 characters; the ids of those booked
/// (a taken time is skipped).
async fn book_random(app: &TestApp, n: usize, from: i64, to: i64) -> Vec<i64> {
    use rand::{Rng, SeedableRng};
    let seed = 0x5107_1135;
    eprintln!("generated bookings from seed {seed:#x}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut ids = Vec::new();
    for _ in 0..n {
        let start = from + rng.random_range(0..(to - from) / 900) * 900;
        let mut name = String::new();
        for _ in 0..rng.random_range(1..12) {
            name.push_str(NAME_PIECES[rng.random_range(0..NAME_PIECES.len())]);
        }
        if rng.random_bool(0.2) {
            name = name.repeat(200);
        }
        let name: String = name.chars().take(200).collect();
        if let Some(id) = try_book_at(app, &name, rng.random_range(0..2), start, None).await {
            ids.push(id);
        }
    }
    ids
}

/// Local wall times in Chicago around both DST changes in the feed's window, and the two
/// instants that are both 01:30 on the night clocks fall back.
fn dst_instants() -> Vec<i64> {
    let tz = jiff::tz::TimeZone::get("America/Chicago").unwrap();
    let mut out: Vec<i64> = [
        "2026-10-31T10:00",
        "2026-11-01T00:30",
        "2026-11-01T03:00",
        "2026-11-02T10:00",
        "2026-11-23T09:15",
        "2027-03-13T10:00",
        "2027-03-14T01:30",
        "2027-03-14T03:30",
        "2027-03-15T10:00",
    ]
    .iter()
    .map(|s| {
        let dt: jiff::civil::DateTime = s.parse().unwrap();
        dt.to_zoned(tz.clone()).unwrap().timestamp().as_second()
    })
    .collect();
    // 01:30 CDT and 01:30 CST on 2026-11-01.
    out.push(
        "2026-11-01T06:30:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second(),
    );
    out.push(
        "2026-11-01T07:30:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second(),
    );
    out
}

#[tokio::test]
#[ignore = "needs the oracle tools; .ci/run installs them"]
async fn oracle_icalendar_and_icaljs_read_the_instants_the_admin_api_shows() {
    let (Some(python), Some(icaljs)) = (
        tool("SLOTLINE_ORACLE_PYTHON"),
        tool("SLOTLINE_ORACLE_ICALJS"),
    ) else {
        return;
    };
    let app = spawn_app().await;
    // A long horizon, so next spring's DST change is inside the feed's window.
    let longer = json!({"horizon_days": 150});
    app.admin_expect(Method::PATCH, "/tenants/bella-salon", Some(&longer), 200)
        .await;
    let long_name = format!("{}é", "Ann-Marie ".repeat(20).trim_end());
    let mut names: Vec<String> = HOSTILE_NAMES.iter().map(|s| s.to_string()).collect();
    names.push(long_name.chars().take(200).collect());
    let now = app.clock.now().as_second();
    let mut ids = Vec::new();
    for (i, start) in dst_instants().into_iter().enumerate() {
        for provider in 0..2 {
            let name = &names[(2 * i + provider) % names.len()];
            ids.push(book_at(&app, name, provider, start, None).await);
        }
    }
    let random = book_random(&app, 40, now - 29 * 86_400, now + 150 * 86_400).await;
    assert!(
        random.len() >= 30,
        "only {} generated bookings found a free time",
        random.len()
    );
    ids.extend(random);
    // One held (TENTATIVE), one moved (SEQUENCE 1), one cancelled (CANCELLED, SEQUENCE 1).
    book_at(&app, &names[8], 0, now + 5 * 86_400, Some(now + 3600)).await;
    let moved = ids[8];
    move_appointment(&app, moved, "2026-11-24", "11:00").await;
    let cancelled = ids[9];
    cancel_appointment(&app, cancelled).await;

    let feed = create_feed(&app, json!({"scope": "tenant", "detail": "full"})).await;
    let (status, doc) = fetch(&app, feed["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let icalendar_py = script("ics_icalendar.py");
    let icaljs_mjs = script("ics_icaljs.mjs");
    let parsed: Vec<Value> = [
        run(&python, &[icalendar_py.to_str().unwrap()], &[], &doc),
        run(
            "node",
            &[icaljs_mjs.to_str().unwrap()],
            &[("SLOTLINE_ORACLE_ICALJS", &icaljs)],
            &doc,
        ),
    ]
    .into_iter()
    .map(|(ok, out, err)| {
        assert!(ok, "the parser failed: {err}\n{doc}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    })
    .collect();
    for p in &parsed {
        assert_eq!(p["problems"], json!([]), "{p}");
        assert_eq!(p["name"], "Bella Salon");
    }
    assert_eq!(
        parsed[0]["events"], parsed[1]["events"],
        "icalendar and ical.js disagree"
    );

    let listed = app.appointments("bella-salon").await;
    assert_eq!(listed.len(), ids.len() + 1);
    let events = parsed[0]["events"].as_array().unwrap();
    assert_eq!(events.len(), listed.len(), "{events:?}");
    for a in &listed {
        let uid = format!("appt-{}@booking.example.com", a["id"]);
        let e = events
            .iter()
            .find(|e| e["uid"] == uid.as_str())
            .unwrap_or_else(|| panic!("{uid} is not in the feed"));
        assert_eq!(e["start"], a["start_at"], "{uid}");
        assert_eq!(e["end"], a["end_at"], "{uid}");
        let name = a["customer_name"].as_str().unwrap();
        assert_eq!(e["summary"], format!("Haircut — {}", name.trim()), "{uid}");
        let (status, sequence) = match a["status"].as_str().unwrap() {
            "held" => ("TENTATIVE", 0),
            "cancelled" => ("CANCELLED", 1),
            _ if a["id"] == moved => ("CONFIRMED", 1),
            _ => ("CONFIRMED", 0),
        };
        assert_eq!(
            (
                e["status"].as_str().unwrap(),
                e["sequence"].as_i64().unwrap()
            ),
            (status, sequence),
            "{uid}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the oracle tools; .ci/run installs them"]
async fn oracle_the_official_standardwebhooks_package_verifies_our_signatures() {
    let Some(python) = tool("SLOTLINE_ORACLE_PYTHON") else {
        return;
    };
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let endpoint = create_endpoint(
        &app,
        &receiver.url(),
        &["appointment.booked", "appointment.cancelled"],
    )
    .await;
    let secret = endpoint["secret"].as_str().unwrap();
    let id = crate::feeds::book(&app, "Zoë 😀 山田, \"Jr\"", 0, "2026-11-23T16:00:00Z").await;
    cancel_appointment(&app, id).await;
    let got = receiver.wait_for(2).await;
    let verify = script("verify_webhook.py");
    let check = |headers: Value, body: &str| {
        let input = json!({"headers": headers, "body": body}).to_string();
        run(&python, &[verify.to_str().unwrap(), secret], &[], &input)
    };
    for (g, kind) in got
        .iter()
        .zip(["appointment.booked", "appointment.cancelled"])
    {
        let headers = json!({
            "webhook-id": g.id,
            "webhook-timestamp": g.timestamp,
            "webhook-signature": g.signature,
        });
        let (ok, out, err) = check(headers.clone(), &g.body);
        assert!(ok, "standardwebhooks refused our delivery: {err}");
        assert_eq!(out.trim(), kind);
        // The check can fail: a changed body is refused.
        let tampered = g.body.replacen("bella-salon", "other-salon", 1);
        let (ok, _, err) = check(headers, &tampered);
        assert!(!ok, "a tampered body was accepted");
        assert!(err.contains("Verification"), "{err}");
    }
}
