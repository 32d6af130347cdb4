//! `kill -9` in the middle of a booking burst, against the built binary: after a restart
//! on the same database, every booking a caller heard read back is there, no provider is
//! double-booked, and no confirmation is texted twice.

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    time::Duration,
};

use jiff::{Timestamp, ToSpan, civil::Weekday, tz::TimeZone};
use serde_json::{Value, json};

use crate::{fake_telnyx::FakeMessaging, helpers::*};

/// The admin token the spawned server is given.
const TOKEN: &str = "crash-test-admin-token-0123456789abcdef";
/// Callers in the burst.
const CALLERS: usize = 50;

/// A `slotline serve --demo` process on a free port, signing key = the fixtures' key;
/// killed when dropped, so a failing test leaves no server behind.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &std::path::Path, messaging: &str) -> Server {
    spawn(
        db.as_os_str(),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        &db.with_file_name("texml"),
        messaging,
    )
}

/// A `slotline serve --demo` node on `db` (a file or a `postgres://` URL), run in `dir`
/// (its demo key and token files go there).
fn spawn(
    db: &std::ffi::OsStr,
    dir: &std::path::Path,
    texml: &std::path::Path,
    messaging: &str,
) -> Server {
    let demo_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo-tenant.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_slotline"))
        .args(["serve", "--demo", "--demo-file"])
        .arg(demo_file)
        .current_dir(dir)
        .env("SLOTLINE_DB", db)
        .env("SLOTLINE_LISTEN", "127.0.0.1:0")
        .env("SLOTLINE_PUBLIC_URL", "https://booking.example.com")
        .env("SLOTLINE_TEXML_DIR", texml)
        .env("SLOTLINE_ADMIN_TOKEN", TOKEN)
        .env("TELNYX_PUBLIC_KEY", FIXTURE_PUBLIC_KEY)
        .env("TELNYX_API_KEY", TEST_API_KEY)
        .env("TELNYX_API_BASE", messaging)
        .env("RUST_LOG", "warn")
        .env_remove("SLOTLINE_INSECURE_SKIP_SIGNATURES")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut sent = false;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(addr) = line.split("listening on ").nth(1) {
                let _ = tx.send(addr.trim().to_string());
                sent = true;
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server prints its address");
    Server { child, base }
}

/// GETs an admin path of `base` with the test token; its JSON.
async fn admin_get<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> T {
    get_json(client, &format!("{base}{path}"), TOKEN).await
}

/// `n` distinct weekday-hour slots from next week on (the salon opens 09:00 on weekdays).
fn slots(n: usize) -> Vec<(String, String)> {
    let tz = TimeZone::get("America/Chicago").unwrap();
    let mut day = Timestamp::now()
        .to_zoned(tz)
        .date()
        .checked_add(7.days())
        .unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            for hour in 9..16 {
                out.push((day.to_string(), format!("{hour:02}:00")));
            }
        }
        day = day.checked_add(1.day()).unwrap();
    }
    out.truncate(n);
    out
}

/// One caller: the voice request, then the booking; whether they heard it booked.
async fn call(client: &reqwest::Client, base: &str, i: usize, date: &str, time: &str) -> bool {
    let sid = format!("v3:crash-{i}");
    let sign = |body: &str| {
        let key = fixture_key();
        let ts = Timestamp::now().as_second().to_string();
        let mut msg = ts.clone().into_bytes();
        msg.push(b'|');
        msg.extend_from_slice(body.as_bytes());
        use base64::Engine;
        use ed25519_dalek::Signer;
        let sig = base64::engine::general_purpose::STANDARD.encode(key.sign(&msg).to_bytes());
        (ts, sig)
    };
    let post = |path: String, body: String| {
        let (ts, sig) = sign(&body);
        client
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("telnyx-timestamp", ts)
            .header("telnyx-signature-ed25519", sig)
            .body(body)
            .send()
    };
    let Ok(resp) = post(
        "/texml/voice".into(),
        voice_body(&sid, "+13125550199", "+13125550100"),
    )
    .await
    else {
        return false;
    };
    let Ok(doc) = resp.text().await else {
        return false;
    };
    let Some(action) = attr(&doc, "AIGather", "action") else {
        return false;
    };
    let result = json!({"customer_name": format!("Caller {i}"), "service": "Haircut",
        "preferred_date": date, "preferred_time": time, "callback_number": format!("+1312555{:04}", 1000 + i)});
    match post(gather_path(&action), gather_body(&sid, &result)).await {
        Ok(resp) => resp
            .text()
            .await
            .is_ok_and(|doc| doc.contains("is booked for")),
        Err(_) => false,
    }
}

#[tokio::test]
async fn kill_9_during_a_booking_burst_loses_no_booking_a_caller_heard() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("slotline.db");
    let fake = FakeMessaging::start(vec![]).await;
    let mut server = start(&db, &fake.base);
    let client = reqwest::Client::new();
    // Texts go out as fast as the fake takes them, so the test need not wait on pacing;
    // and every caller of the burst has the same caller ID.
    let patched = client
        .patch(format!("{}/tenants/bella-salon", server.base))
        .bearer_auth(TOKEN)
        .json(&json!({"sms_rate_per_second": 500, "max_future_bookings_per_caller": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let slots = slots(CALLERS);
    let mut calls = tokio::task::JoinSet::new();
    for (i, (date, time)) in slots.iter().cloned().enumerate() {
        let (client, base) = (client.clone(), server.base.clone());
        calls.spawn(async move { (i, call(&client, &base, i, &date, &time).await) });
    }
    // Kill the server once a few callers have been told their booking; the rest are cut
    // off mid-call.
    let mut heard = Vec::new();
    while let Some(done) = calls.join_next().await {
        let (i, booked) = done.unwrap();
        if booked {
            heard.push(i);
        }
        if heard.len() == 10 {
            server.child.kill().unwrap();
            server.child.wait().unwrap();
        }
    }
    if heard.len() < 10 {
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }
    assert!(!heard.is_empty(), "no caller was booked before the kill");

    let mut again = start(&db, &fake.base);
    no_booking_heard_lost_and_no_text_doubled(&client, &again.base, &heard, &fake).await;
    again.child.kill().unwrap();
    again.child.wait().unwrap();
    fake.stop().await;
}

#[tokio::test]
async fn kill_9_of_one_of_two_nodes_on_postgres_mid_burst_loses_no_booking_and_doubles_no_text() {
    let Some(scratch) = crate::postgres::Scratch::new().await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fake = FakeMessaging::start(vec![]).await;
    let url = std::ffi::OsString::from(&scratch.url);
    // Node A seeds the demo tenant; node B finds it there.
    let mut a = spawn(&url, dir_a.path(), &dir_a.path().join("texml"), &fake.base);
    let b = spawn(&url, dir_b.path(), &dir_b.path().join("texml"), &fake.base);
    let client = reqwest::Client::new();
    let patched = client
        .patch(format!("{}/tenants/bella-salon", a.base))
        .bearer_auth(TOKEN)
        .json(&json!({"sms_rate_per_second": 500, "max_future_bookings_per_caller": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    // Half the callers reach node A, half node B; node A is killed once ten of all the
    // callers heard their booking, cutting off its calls and leaving its claims behind.
    let mut calls = tokio::task::JoinSet::new();
    for (i, (date, time)) in slots(CALLERS).into_iter().enumerate() {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let client = client.clone();
        calls.spawn(async move { (i, call(&client, &base, i, &date, &time).await) });
    }
    let mut heard = Vec::new();
    let mut killed = false;
    while let Some(done) = calls.join_next().await {
        let (i, booked) = done.unwrap();
        if booked {
            heard.push(i);
        }
        if heard.len() >= 10 && !killed {
            a.child.kill().unwrap();
            a.child.wait().unwrap();
            killed = true;
        }
    }
    if !killed {
        a.child.kill().unwrap();
        a.child.wait().unwrap();
    }
    assert!(
        heard.iter().any(|i| i % 2 == 1),
        "node B booked callers while node A died: {heard:?}"
    );
    no_booking_heard_lost_and_no_text_doubled(&client, &b.base, &heard, &fake).await;
    drop(b);
    fake.stop().await;
    scratch.drop_database().await;
}

/// After the kill: every booking a caller heard read back is there (as `base` lists
/// them), no provider is double-booked, and no confirmation reached `fake` twice (each
/// reached it once, or is held as of unknown outcome).
async fn no_booking_heard_lost_and_no_text_doubled(
    client: &reqwest::Client,
    base: &str,
    heard: &[usize],
    fake: &FakeMessaging,
) {
    let appointments: Vec<Value> =
        admin_get(client, base, "/tenants/bella-salon/appointments?limit=1000").await;
    let booked: HashMap<String, &Value> = appointments
        .iter()
        .filter(|a| a["status"] == "booked")
        .map(|a| (a["call_sid"].as_str().unwrap_or_default().to_string(), a))
        .collect();
    for i in heard {
        assert!(
            booked.contains_key(&format!("v3:crash-{i}")),
            "caller {i} heard their booking read back, but it is gone after the restart"
        );
    }
    let mut by_provider: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    for a in booked.values() {
        by_provider
            .entry(a["provider"].as_str().unwrap())
            .or_default()
            .push((a["start"].as_str().unwrap(), a["end"].as_str().unwrap()));
    }
    for (provider, mut spans) in by_provider {
        spans.sort();
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "{provider} is double-booked: {pair:?}"
            );
        }
    }
    // No confirmation is texted twice. Each booking's confirmation goes out once the
    // server is back, except one whose send was under way at the kill: its outcome is
    // unknown, so it is held (shown as `sending`, then `unknown`), never sent again.
    let confirmation_of = |id: &Value| {
        let (client, base, id) = (client.clone(), base.to_string(), id.clone());
        async move {
            let path = format!("/tenants/bella-salon/messages?appointment={id}");
            let texts: Vec<Value> = admin_get(&client, &base, &path).await;
            texts
                .into_iter()
                .find(|t| t["kind"] == "confirmation")
                .map(|t| {
                    (
                        t["status"].as_str().unwrap_or_default().to_string(),
                        t["to"].clone(),
                    )
                })
        }
    };
    let mut unsettled = Vec::new();
    for _ in 0..300 {
        unsettled.clear();
        for a in booked.values() {
            let (status, _) = confirmation_of(&a["id"])
                .await
                .expect("a confirmation was queued");
            if status == "queued" {
                unsettled.push(a["id"].clone());
            }
        }
        if unsettled.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        unsettled.is_empty(),
        "confirmations never sent: {unsettled:?}"
    );
    let mut per_number: HashMap<String, usize> = HashMap::new();
    for r in fake.received() {
        *per_number
            .entry(r.body["to"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    assert!(
        per_number.values().all(|n| *n == 1),
        "a confirmation was texted twice: {per_number:?}"
    );
    for a in booked.values() {
        let (status, to) = confirmation_of(&a["id"]).await.unwrap();
        let received = per_number.contains_key(to.as_str().unwrap_or_default());
        assert!(
            received || matches!(status.as_str(), "sending" | "unknown"),
            "appointment {} has its confirmation {status} but it never reached Telnyx",
            a["id"]
        );
    }
}
