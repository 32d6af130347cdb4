//! Reminder calls, scripted end to end against a fake TeXML Calls API on loopback: planned
//! with the booking and withdrawn with it; dialled inside the window with a signed token
//! and no customer data in the URLs; re-checked at dial and at answer (cancelled while
//! ringing); a person confirms (digit and speech), cancels (asked again), moves (the
//! reschedule turn), stops the calls; a machine in both AMD vocabularies gets the
//! voicemail; outside the window a call waits or is skipped; busy → one retry ≥2 h later;
//! 429/90103 waits; 10005 fails loudly; the cap and the pacing hold under 100 due calls; a
//! restart loses and doubles nothing. Times are business time on the manual clock; no
//! test asserts speed (the pacing is checked as a lower bound on the spread of the dials).

use std::time::Duration;

use jiff::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};
use slotline::{db, flow::preview::local_instant};

mod dialer;
mod hears;

use crate::{
    fake_calls::{Dial, FakeCalls},
    helpers::*,
};

const LINE: &str = "+13125550140";
const JANE: &str = "+13125550183";
const SLUG: &str = "remind-salon";
const TZ: &str = "America/Chicago";

fn salon(reminder_calls: Value, providers: &[&str]) -> Value {
    let mut t = open_every_day(SLUG, LINE, TZ, providers);
    t["name"] = "Remind Salon".into();
    t["reminder_calls"] = reminder_calls;
    t
}

fn local(at: &str) -> Timestamp {
    local_instant(at, TZ).unwrap()
}

/// An app dialling through `fake` (or in dry run without one), with the salon created.
async fn app_with(
    fake: Option<&FakeCalls>,
    reminder_calls: Value,
    tune: impl FnOnce(&mut Options),
) -> TestApp {
    let mut opts = Options {
        messaging_api: fake.map(|f| f.base.clone()),
        // Not a test of the deadline: a loaded machine must not turn an answer into the
        // apology.
        request_deadline: Duration::from_secs(6),
        ..Options::default()
    };
    opts.calls.app_id = Some("test-texml-app".into());
    tune(&mut opts);
    let app = spawn_with(opts).await;
    app.create_tenant(&salon(reminder_calls, &["Ana"])).await;
    app
}

/// Jane Roe's 30 minutes at local `at` with provider `provider`, from and for `phone`, as
/// the booking transaction the phone line uses takes it.
async fn new_appointment(
    app: &TestApp,
    phone: &str,
    at: &str,
    provider: usize,
) -> db::appointments::NewAppointment {
    let start = local(at).as_second();
    let t = app.state.store.tenants().find(SLUG.into()).await.unwrap();
    db::appointments::NewAppointment {
        tenant_id: t.id,
        service_id: t.service_id(0),
        provider_id: t.provider_ids[provider],
        customer_name: "Jane Roe".into(),
        customer_phone: Some(phone.to_string()),
        caller_number: Some(phone.to_string()),
        start,
        end: start + 1800,
        blocked_until: start + 1800,
        call_sid: None,
        hold_until: None,
        cap: None,
        texts: Vec::new(),
    }
}

/// Books `phone` at local `at` (30 min) for provider `provider` through the same booking
/// transaction the phone line uses; returns the appointment id.
async fn book_at(app: &TestApp, phone: &str, at: &str, provider: usize) -> i64 {
    let now = app.clock.now().as_second();
    let appt = new_appointment(app, phone, at, provider).await;
    match app
        .state
        .store
        .appointments()
        .book(appt, None, now)
        .await
        .unwrap()
    {
        db::appointments::BookOutcome::Booked(id) => id,
        other => panic!("not booked: {other:?}"),
    }
}

async fn calls(app: &TestApp) -> Vec<Value> {
    app.admin_json(Method::GET, &format!("/tenants/{SLUG}/calls?limit=1000"))
        .await
}

/// The outbound calls of appointment `id`, oldest attempt first.
async fn calls_of(app: &TestApp, id: i64) -> Vec<Value> {
    let mut list: Vec<Value> = calls(app)
        .await
        .into_iter()
        .filter(|c| c["direction"] == "outbound" && c["appointment_id"] == id)
        .collect();
    list.reverse();
    list
}

/// Waits until `check` holds for the call list (the dialer runs every 20 ms).
async fn until(app: &TestApp, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..500 {
        let list = calls(app).await;
        if check(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: {:#?}", calls(app).await);
}

async fn appointment(app: &TestApp, id: i64) -> Value {
    app.appointments(SLUG)
        .await
        .into_iter()
        .find(|a| a["id"] == id)
        .unwrap_or(Value::Null)
}

/// The path and query of an absolute URL slotline gave Telnyx.
fn path_of(url: &str) -> String {
    url.strip_prefix("https://booking.example.com")
        .unwrap_or_else(|| panic!("{url} is not under SLOTLINE_PUBLIC_URL"))
        .to_string()
}

/// Telnyx's request on a reminder call's URL.
fn telnyx(call_sid: &str, to: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("AccountSid", "test-account"),
        ("CallSid", call_sid),
        ("From", LINE),
        ("To", to),
        ("Direction", "outbound-api"),
    ];
    pairs.extend_from_slice(extra);
    form(&pairs)
}

/// A dialled reminder call, as the test plays Telnyx for it.
struct Ringing {
    sid: String,
    to: String,
    url: String,
    status: String,
    amd: String,
}

impl Ringing {
    fn of(dial: &Value, sid: &str) -> Self {
        Self {
            sid: sid.into(),
            to: dial["To"].as_str().unwrap().into(),
            url: path_of(dial["Url"].as_str().unwrap()),
            status: path_of(dial["StatusCallback"].as_str().unwrap()),
            amd: path_of(dial["AsyncAmdStatusCallback"].as_str().unwrap()),
        }
    }

    /// The callee answers: the document Telnyx fetches from `Url`.
    async fn answer(&self, app: &TestApp) -> String {
        texml_ok(
            app.post_signed(&self.url, telnyx(&self.sid, &self.to, &[]))
                .await,
        )
        .await
    }

    /// Presses `digits` (or says `speech`) at the `<Gather>` whose action is in `doc`.
    async fn press(&self, app: &TestApp, doc: &str, digits: &str, speech: &str) -> String {
        let action = path_of(&attr(doc, "Gather", "action").expect("a <Gather> with an action"));
        let mut extra = Vec::new();
        if !digits.is_empty() {
            extra.push(("Digits", digits));
        }
        if !speech.is_empty() {
            extra.push(("SpeechResult", speech));
            extra.push(("Confidence", "0.91"));
        }
        texml_ok(
            app.post_signed(&action, telnyx(&self.sid, &self.to, &extra))
                .await,
        )
        .await
    }

    async fn status(&self, app: &TestApp, status: &str) {
        let body = telnyx(
            &self.sid,
            &self.to,
            &[("CallStatus", status), ("CallDuration", "21")],
        );
        let resp = app.post_signed(&self.status, body).await;
        assert_eq!(resp.status(), 200);
    }

    async fn amd(&self, app: &TestApp, answered_by: &str) {
        let body = telnyx(
            &self.sid,
            &self.to,
            &[
                ("AnsweredBy", answered_by),
                ("MachineDetectionDuration", "2500"),
            ],
        );
        let resp = app.post_signed(&self.amd, body).await;
        assert_eq!(resp.status(), 200);
    }
}

/// Books Jane for Tuesday 15:00, moves the clock to Monday 15:00 (the call is due) and
/// waits for the dial; the call as Telnyx would now ring it.
async fn dialled_jane(app: &TestApp, fake: &FakeCalls, sid: &str) -> (i64, Ringing) {
    let id = book_at(app, JANE, "2026-11-24T15:00", 0).await;
    app.clock.set(local("2026-11-23T15:00"));
    let n = fake.dials().len();
    let dials = fake.wait_for(n + 1).await;
    (id, Ringing::of(&dials[n].body, sid))
}

const ON: fn() -> Value = || json!({"hours_before": [24]});

#[tokio::test]
async fn a_booking_plans_its_call_in_the_same_transaction_and_a_cancellation_withdraws_it() {
    let app = app_with(None, ON(), |_| {}).await;
    let id = book_at(&app, JANE, "2026-11-24T15:00", 0).await;
    let planned = calls_of(&app, id).await;
    assert_eq!(planned.len(), 1, "{planned:?}");
    assert_eq!(planned[0]["status"], "queued");
    assert_eq!(planned[0]["time"], local("2026-11-23T15:00").to_string());
    let resp = app
        .admin(
            Method::DELETE,
            &format!("/tenants/{SLUG}/appointments/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(calls_of(&app, id).await[0]["status"], "cancelled");
    app.clock.set(local("2026-11-23T15:00"));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        calls_of(&app, id).await[0]["status"],
        "cancelled",
        "a withdrawn call is never dialled"
    );
}

#[tokio::test]
async fn a_tenant_without_reminder_calls_gets_none_and_bad_settings_say_what_to_fix() {
    let app = app_with(None, Value::Null, |_| {}).await;
    let id = book_at(&app, JANE, "2026-11-24T15:00", 0).await;
    assert!(calls_of(&app, id).await.is_empty());
    let mut bad = salon(json!({"window": ["21:00", "23:00"]}), &["Ana"]);
    bad["slug"] = "other".into();
    bad["phone_number"] = "+13125550141".into();
    let resp = app
        .admin(Method::POST, "/tenants")
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["field"], "reminder_calls.window", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("08:00-21:00"),
        "{body}"
    );
}

#[tokio::test]
async fn moving_an_appointment_replans_its_call_for_the_new_time() {
    let app = app_with(None, ON(), |_| {}).await;
    let id = book_at(&app, JANE, "2026-11-24T15:00", 0).await;
    let resp = app
        .admin(Method::PATCH, &format!("/tenants/{SLUG}/appointments/{id}"))
        .json(&json!({"date": "2026-11-25", "time": "11:00"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let list = calls_of(&app, id).await;
    let queued: Vec<&Value> = list.iter().filter(|c| c["status"] == "queued").collect();
    assert_eq!(queued.len(), 1, "{list:?}");
    assert_eq!(queued[0]["time"], local("2026-11-24T11:00").to_string());
    assert!(list.iter().any(|c| c["status"] == "cancelled"));
}

#[tokio::test]
async fn a_held_slot_plans_its_call_only_when_the_caller_confirms() {
    let app = app_with(None, ON(), |_| {}).await;
    let now = app.clock.now().as_second();
    let store = &app.state.store;
    let appt = db::appointments::NewAppointment {
        call_sid: Some("v3:held".into()),
        hold_until: Some(now + 120),
        ..new_appointment(&app, JANE, "2026-11-24T15:00", 0).await
    };
    let held = store.appointments().book(appt, None, now).await.unwrap();
    let db::appointments::BookOutcome::Booked(id) = held else {
        panic!("{held:?}");
    };
    assert!(
        calls_of(&app, id).await.is_empty(),
        "no call for a slot on hold"
    );
    store
        .appointments()
        .confirm_hold(
            db::calls::Answer::bare("v3:held", "c2", "<Response/>"),
            Vec::new(),
            now,
        )
        .await
        .unwrap();
    let planned = calls_of(&app, id).await;
    assert_eq!(planned.len(), 1, "{planned:?}");
    assert_eq!(planned[0]["status"], "queued");
}
