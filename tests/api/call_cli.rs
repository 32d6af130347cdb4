//! `slotline call` run as the built binary against a spawned server in demo mode, and
//! `serve --demo` as shipped: the demo key and token, and that nothing of demo mode is
//! accepted outside it.

use std::{path::Path, process::Stdio, time::Duration};

use jiff::{Timestamp, ToSpan, civil::Weekday, tz::TimeZone};
use reqwest::Method;
use serde_json::{Value, json};
use slotline::demo;
use tokio::{io::AsyncWriteExt, process::Command};

use crate::helpers::*;

/// What a run of the binary printed.
struct Ran {
    code: i32,
    out: String,
    err: String,
}

/// Runs `slotline ARGS` with `SLOTLINE_DB` beside which the demo files are, feeding
/// `stdin` when given.
async fn slotline(args: &[&str], db: &Path, stdin: Option<&str>) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slotline"))
        .args(args)
        .env("SLOTLINE_DB", db)
        .env_remove("SLOTLINE_ADMIN_TOKEN")
        .env_remove("SLOTLINE_LISTEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("slotline call finishes")
        .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8(out.stdout).unwrap(),
        err: String::from_utf8(out.stderr).unwrap(),
    }
}

impl Ran {
    /// Asserts the exit status and that standard output says each of `phrases`.
    fn says(&self, code: i32, phrases: &[&str]) {
        assert_eq!(self.code, code, "{}\n{}", self.out, self.err);
        for p in phrases {
            assert!(self.out.contains(p), "missing {p:?} in:\n{}", self.out);
        }
    }
}

/// The admin token `serve --demo` generated beside the app's database.
fn demo_token(app: &TestApp) -> String {
    std::fs::read_to_string(app.db_path.with_file_name(demo::TOKEN_FILE))
        .unwrap()
        .trim()
        .to_string()
}

/// A demo-mode app whose clock is the real time (the binary signs with it).
async fn demo_app() -> TestApp {
    spawn_with(Options {
        now: Timestamp::now(),
        admin_token: None,
        demo_mode: true,
        ..Options::default()
    })
    .await
}

/// The next Monday at least two days ahead in Chicago (the demo salon is open 09:00-17:00).
fn next_monday() -> String {
    let today = Timestamp::now()
        .to_zoned(TimeZone::get("America/Chicago").unwrap())
        .date();
    let mut day = today.checked_add(2.days()).unwrap();
    while day.weekday() != Weekday::Monday {
        day = day.checked_add(1.day()).unwrap();
    }
    day.to_string()
}

fn booking_args<'a>(app: &'a TestApp, date: &'a str) -> Vec<&'a str> {
    vec![
        "call",
        "--server",
        &app.base,
        "--answer",
        "customer_name=Jane Doe",
        "--answer",
        "service=Haircut",
        "--answer",
        "preferred_time=10:00",
        "--answer",
        date,
        "+13125550100",
    ]
}

#[tokio::test]
async fn slotline_call_books_an_appointment_without_prompts_and_shows_the_texts() {
    let app = demo_app().await;
    let date = format!("preferred_date={}", next_monday());
    let ran = slotline(&booking_args(&app, &date), &app.db_path, None).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.out, ran.err);
    for heard in [
        "the line of Bella Salon (bella-salon)",
        "voice:    Telnyx.NaturalHD.astra",
        "AI says:  \"Thanks for calling Bella Salon. What can I book for you?\"",
        "service (required): one of Haircut | Colour | Blow-dry",
        "caller:   customer_name=Jane Doe,",
        "is booked for Monday,",
        "hangs up",
        "Booked: Haircut with ",
    ] {
        assert!(
            ran.out.contains(heard),
            "missing {heard:?} in:\n{}",
            ran.out
        );
    }
    let confirmation = ran
        .out
        .lines()
        .find(|l| l.trim_start().starts_with("confirmation"))
        .unwrap_or_else(|| panic!("no confirmation text in:\n{}", ran.out));
    assert!(
        confirmation.contains("dry_run") && confirmation.contains("Reply C"),
        "{confirmation}"
    );
    let url = format!("{}/tenants/bella-salon/appointments", app.base);
    let appointments: Value = get_json(&app.client, &url, &demo_token(&app)).await;
    let booked = appointments.as_array().unwrap();
    assert_eq!(booked.len(), 1, "{appointments}");
    assert_eq!(booked[0]["customer_name"], "Jane Doe");
    assert!(booked[0]["start"].as_str().unwrap().contains("T10:00:00"));
    app.shut_down().await;
}

#[tokio::test]
async fn slotline_call_reads_the_booking_from_an_admin_api_on_its_own_address() {
    let app = spawn_with(Options {
        now: Timestamp::now(),
        admin_token: None,
        demo_mode: true,
        admin_listen: true,
        ..Options::default()
    })
    .await;
    let admin = app.admin_base.clone().expect("an admin listener");
    let date = format!("preferred_date={}", next_monday());
    let mut args = booking_args(&app, &date);
    args.splice(1..1, ["--admin", admin.as_str()]);
    let ran = slotline(&args, &app.db_path, None).await;
    ran.says(0, &["Booked: Haircut with ", "confirmation"]);
    // Without --admin it asks the Telnyx listener, which has no admin API.
    let ran = slotline(
        &booking_args(&app, "preferred_date=2026-12-07"),
        &app.db_path,
        None,
    )
    .await;
    assert_eq!(ran.code, 1, "{}\n{}", ran.out, ran.err);
    app.shut_down().await;
}

#[tokio::test]
async fn slotline_call_asks_each_field_in_the_terminal_when_given_no_answers() {
    let app = demo_app().await;
    // intent "book" by number, name, service by number, date, time, then Enter for the
    // optional fields.
    let typed = format!("1\nJane Doe\n1\n{}\n10:00\n\n\n\n", next_monday());
    let args = ["call", "--server", &app.base, "+13125550100"];
    let ran = slotline(&args, &app.db_path, Some(&typed)).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.out, ran.err);
    assert!(
        ran.out
            .contains("service [1) Haircut  2) Colour  3) Blow-dry  4) none]: "),
        "{}",
        ran.out
    );
    assert!(ran.out.contains("Booked: Haircut with "), "{}", ran.out);
    app.shut_down().await;
}

#[tokio::test]
async fn slotline_call_follows_alternatives_to_the_hand_off_and_exits_3() {
    let app = demo_app().await;
    let date = format!("preferred_date={}", next_monday());
    for _ in 0..2 {
        // Anna, then Marco: both stylists who cut hair are booked at 10:00.
        let ran = slotline(&booking_args(&app, &date), &app.db_path, None).await;
        assert_eq!(ran.code, 0, "{}\n{}", ran.out, ran.err);
    }
    let ran = slotline(&booking_args(&app, &date), &app.db_path, None).await;
    ran.says(
        3,
        &[
            "That time is already taken",
            "offered_time: one of ",
            "hands the call to +13125550111",
            "Not booked",
        ],
    );
    app.shut_down().await;
}

#[tokio::test]
async fn slotline_call_says_yes_when_the_line_asks_to_confirm_and_books() {
    let app = demo_app().await;
    let resp = app
        .client
        .patch(format!("{}/tenants/bella-salon", app.base))
        .bearer_auth(demo_token(&app))
        .json(&json!({"confirm_before_booking": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let date = format!("preferred_date={}", next_monday());
    let mut args = booking_args(&app, &date);
    args.insert(1, "--yes");
    let ran = slotline(&args, &app.db_path, None).await;
    ran.says(
        0,
        &[
            "Shall I book it?",
            ": one of yes | no",
            "caller:   confirm=yes",
            "Booked: Haircut with ",
        ],
    );
    app.shut_down().await;
}

#[tokio::test]
async fn slotline_call_reports_a_closed_line_with_exit_3() {
    let app = demo_app().await;
    let resp = app
        .client
        .patch(format!("{}/tenants/bella-salon", app.base))
        .bearer_auth(demo_token(&app))
        .json(&json!({"closed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let date = format!("preferred_date={}", next_monday());
    let ran = slotline(&booking_args(&app, &date), &app.db_path, None).await;
    ran.says(3, &["We are closed at the moment", "Not booked"]);
    app.shut_down().await;
}

#[tokio::test]
async fn slotline_call_reports_an_unknown_number_with_exit_3() {
    let app = demo_app().await;
    let args = [
        "call",
        "--server",
        &app.base,
        "--answer",
        "customer_name=Jane",
        "+13125550177",
    ];
    let ran = slotline(&args, &app.db_path, None).await;
    assert_eq!(ran.code, 3, "{}\n{}", ran.out, ran.err);
    assert!(ran.out.contains("no tenant has this number"), "{}", ran.out);
    assert!(
        ran.out.contains("not set up to take bookings"),
        "{}",
        ran.out
    );
    app.shut_down().await;
}

#[tokio::test]
async fn slotline_call_with_a_wrong_key_exits_1_and_says_what_to_fix() {
    let app = demo_app().await;
    let other = app.db_path.with_file_name("other.key");
    std::fs::write(&other, "00".repeat(32)).unwrap();
    let mut args = booking_args(&app, "preferred_date=2026-12-07");
    let other_path = other.to_str().unwrap();
    args.splice(1..1, ["--key-file", other_path]);
    let ran = slotline(&args, &app.db_path, None).await;
    assert_eq!(ran.code, 1, "{}\n{}", ran.out, ran.err);
    assert!(
        ran.err
            .contains("refused the signed request: 403 signature does not match"),
        "{}",
        ran.err
    );
    assert!(ran.err.contains(other_path), "{}", ran.err);
    assert!(ran.err.contains("TELNYX_PUBLIC_KEY"), "{}", ran.err);
    app.shut_down().await;
}

#[tokio::test]
async fn slotline_call_without_a_server_exits_1_and_says_how_to_start_one() {
    let app = demo_app().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = format!("http://127.0.0.1:{port}");
    let args = [
        "call",
        "--server",
        &server,
        "--answer",
        "x=y",
        "+13125550100",
    ];
    let ran = slotline(&args, &app.db_path, None).await;
    assert_eq!(ran.code, 1, "{}\n{}", ran.out, ran.err);
    assert!(ran.err.contains("cannot reach slotline at"), "{}", ran.err);
    assert!(ran.err.contains("serve --demo"), "{}", ran.err);
    app.shut_down().await;
}

#[tokio::test]
async fn slotline_call_with_a_bad_argument_exits_1_and_says_what_to_fix() {
    let app = demo_app().await;
    let no_demo = tempfile::tempdir().unwrap();
    let elsewhere = no_demo.path().join("slotline.db");
    let cases: Vec<(Vec<&str>, &Path, &str)> = vec![
        (
            vec!["call", "--server", &app.base, "--answer", "x=y", "312-555"],
            &app.db_path,
            "TO_NUMBER \"312-555\"",
        ),
        (
            vec![
                "call",
                "--server",
                &app.base,
                "--from",
                "nobody",
                "--answer",
                "x=y",
                "+13125550100",
            ],
            &app.db_path,
            "--from \"nobody\"",
        ),
        (
            vec![
                "call",
                "--server",
                "localhost:8080",
                "--answer",
                "x=y",
                "+13125550100",
            ],
            &app.db_path,
            "give a base URL",
        ),
        (
            vec![
                "call",
                "--server",
                &app.base,
                "--answer",
                "Jane",
                "+13125550100",
            ],
            &app.db_path,
            "write it as FIELD=VALUE",
        ),
        (
            vec![
                "call",
                "--server",
                &app.base,
                "--answer",
                "x=y",
                "+13125550100",
            ],
            &elsewhere,
            "no demo signing key at",
        ),
        (
            vec![
                "call",
                "--server",
                &app.base,
                "--token",
                "wrong-token-wrong-token-wrong-token",
                "--answer",
                "x=y",
                "+13125550100",
            ],
            &app.db_path,
            "refused the token",
        ),
    ];
    for (args, db, says) in cases {
        let ran = slotline(&args, db, None).await;
        assert_eq!(ran.code, 1, "{args:?}\n{}\n{}", ran.out, ran.err);
        assert!(
            ran.err.contains(says),
            "{args:?}: wanted {says:?} in {}",
            ran.err
        );
    }
    // With the key but no token anywhere, it says where a token comes from.
    let key_only = tempfile::tempdir().unwrap();
    demo::load_or_create(key_only.path(), false).unwrap();
    let args = [
        "call",
        "--server",
        &app.base,
        "--answer",
        "x=y",
        "+13125550100",
    ];
    let ran = slotline(&args, &key_only.path().join("slotline.db"), None).await;
    assert_eq!(ran.code, 1, "{}", ran.err);
    assert!(
        ran.err.contains("no admin token: pass --token"),
        "{}",
        ran.err
    );
    app.shut_down().await;
}

#[tokio::test]
async fn the_demo_key_and_token_are_refused_outside_demo_mode() {
    // A database directory that holds demo files from an earlier `serve --demo`.
    let dir = tempfile::tempdir().unwrap();
    let files = demo::load_or_create(dir.path(), true).unwrap();
    let key = demo::read_signing_key(&files.key_path).unwrap();
    let app = spawn_with(Options {
        db_path: Some(dir.path().join("test.db")),
        admin_token: None,
        ..Options::default()
    })
    .await;
    let body = voice_body("v3:demo-outside", "+13125550199", "+13125550100");
    let resp = app.post_signed_by(&key, "/texml/voice", body).await;
    assert_eq!(resp.status(), 403);
    let resp = app
        .client
        .get(format!("{}/tenants", app.base))
        .bearer_auth(files.token.unwrap().expose())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503, "no admin token outside demo mode");
    app.shut_down().await;
}

#[tokio::test]
async fn in_demo_mode_the_demo_key_and_telnyx_key_both_sign() {
    let app = spawn_with(Options {
        demo_mode: true,
        ..Options::default()
    })
    .await;
    let key = demo::read_signing_key(&app.db_path.with_file_name(demo::KEY_FILE)).unwrap();
    let body = voice_body("v3:demo-inside", "+13125550199", "+13125550100");
    let resp = app.post_signed_by(&key, "/texml/voice", body).await;
    texml_ok(resp).await;
    app.voice("v3:telnyx-key", "+13125550199", "+13125550100")
        .await;
    // SLOTLINE_ADMIN_TOKEN wins over the demo token file, which is then not made.
    let tenants = app.admin(Method::GET, "/tenants").send().await.unwrap();
    assert_eq!(tenants.status(), 200);
    assert!(!app.db_path.with_file_name(demo::TOKEN_FILE).exists());
    app.shut_down().await;
}

/// `serve --demo` as a user starts it: the banner, then a whole call against it.
#[tokio::test]
async fn serve_demo_as_shipped_prints_its_token_once_and_takes_a_signed_call() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("slotline.db");
    let start = || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_slotline"))
            .args(["serve", "--demo"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("SLOTLINE_DB", &db)
            .env("SLOTLINE_LISTEN", "127.0.0.1:0")
            .env("SLOTLINE_TEXML_DIR", tmp.path().join("texml"))
            .env("RUST_LOG", "warn")
            .env_remove("SLOTLINE_ADMIN_TOKEN")
            .env_remove("TELNYX_PUBLIC_KEY")
            .env_remove("TELNYX_API_KEY")
            .env_remove("SLOTLINE_PUBLIC_URL")
            .env_remove("SLOTLINE_INSECURE_SKIP_SIGNATURES")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let banner = read_banner(child.stdout.take().unwrap());
        (KillOnDrop(child), banner)
    };
    let (first, banner) = start();
    let addr = banner
        .lines()
        .find_map(|l| l.split("listening on ").nth(1))
        .unwrap_or_else(|| panic!("no address in:\n{banner}"))
        .trim()
        .to_string();
    let token = std::fs::read_to_string(tmp.path().join(demo::TOKEN_FILE)).unwrap();
    assert!(
        banner.contains(&format!("admin token:       {}", token.trim())),
        "{banner}"
    );
    assert!(
        banner.contains("demo mode:         signatures ON"),
        "{banner}"
    );
    assert!(banner.contains("call --server "), "{banner}");
    let date = format!("preferred_date={}", next_monday());
    let args = [
        "call",
        "--server",
        &addr,
        "--answer",
        "customer_name=Jane Doe",
        "--answer",
        "service=Haircut",
        "--answer",
        "preferred_time=11:00",
        "--answer",
        &date,
        "+13125550100",
    ];
    let ran = slotline(&args, &db, None).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.out, ran.err);
    drop(first);
    let (second, banner) = start();
    assert!(!banner.contains(token.trim()), "printed once:\n{banner}");
    assert!(banner.contains("admin token:       in "), "{banner}");
    drop(second);
}

/// A server process, killed when dropped (also when the test fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The banner: standard output up to the line that says how to call. The rest is drained
/// on a thread, so the server never writes into a closed pipe.
fn read_banner(stdout: std::process::ChildStdout) -> String {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = String::new();
        let mut sent = false;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sent {
                continue;
            }
            banner.push_str(&line);
            banner.push('\n');
            if line.contains("try a call:") {
                let _ = tx.send(std::mem::take(&mut banner));
                sent = true;
            }
        }
        if !sent {
            let _ = tx.send(banner);
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("serve --demo prints its banner")
}

#[tokio::test]
async fn slotline_call_asks_a_question_then_cancels_the_booking_it_made() {
    let app = demo_app().await;
    let date = format!("preferred_date={}", next_monday());
    slotline(&booking_args(&app, &date), &app.db_path, None)
        .await
        .says(0, &["Booked: Haircut with "]);
    // A question and nothing to book: the line answers, the caller hangs up.
    let question = [
        "call",
        "--server",
        &app.base,
        "--answer",
        "intent=question",
        "--answer",
        "question_topic=opening hours",
        "+13125550100",
    ];
    slotline(&question, &app.db_path, None).await.says(
        3,
        &[
            "intent=question, preferred_date=none",
            "question_topic=opening hours",
            "Our hours are",
            "What would you like to book?",
            "(has nothing more to say and hangs up)",
        ],
    );
    let cancel = [
        "call",
        "--server",
        &app.base,
        "--answer",
        "intent=cancel",
        "--yes",
        "+13125550100",
    ];
    slotline(&cancel, &app.db_path, None).await.says(
        3,
        &[
            "customer_name=none",
            "Shall I cancel it?",
            "caller:   confirm=yes",
            "is cancelled. We'll text you to confirm.",
            "Not booked on this call",
            // The cancellation text it queued (sent or not yet: the machine may be busy).
            "\n  cancelled    ",
        ],
    );
    let list: Vec<serde_json::Value> = get_json(
        &app.client,
        &format!("{}/tenants/bella-salon/appointments", app.base),
        &demo_token(&app),
    )
    .await;
    assert_eq!(list[0]["status"], "cancelled", "{list:?}");
    app.shut_down().await;
}
