//! Reminder calls, scripted end to end against a fake TeXML Calls API on loopback: planned
//! with the booking and withdrawn with it; dialled inside the window with a signed token
//! and no customer data in the URLs; re-checked at dial and at answer (cancelled while
//! ringing); a person confirms (digit and speech), cancels (asked again), moves (the
//! reschedule turn), stops the calls; a machine in both AMD vocabularies gets the
//! voicemail; outside the window a call waits or is skipped; busy → one retry ≥2 h later;
//! 429/90103 waits; 10005 fails loudly; the cap and the pacing hold under 100 due calls; a
//! restart loses and doubles nothing. Times are business time on the manual clock, never
//! wall-clock speed.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};
use slotline::{db, flow::preview::local_instant};

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
        ..Options::default()
    };
    opts.calls.app_id = Some("test-texml-app".into());
    tune(&mut opts);
    let app = spawn_with(opts).await;
    app.create_tenant(&salon(reminder_calls, &["Ana"])).await;
    app
}

/// Books `phone` at local `at` (30 min) for provider `provider` through the same booking
/// transaction the phone line uses; returns the appointment id.
async fn book_at(app: &TestApp, phone: &str, at: &str, provider: usize) -> i64 {
    let start = local(at).as_second();
    let now = app.clock.now().as_second();
    let phone = phone.to_string();
    app.state
        .db
        .write(move |c| {
            let t = db::tenants::find(c, SLUG)?;
            let appt = db::appointments::NewAppointment {
                tenant_id: t.id,
                service_id: t.service_id(0),
                provider_id: t.provider_ids[provider],
                customer_name: "Jane Roe".into(),
                customer_phone: Some(phone.clone()),
                caller_number: Some(phone),
                start,
                end: start + 1800,
                blocked_until: start + 1800,
                call_sid: None,
                hold_until: None,
                texts: Vec::new(),
            };
            match db::appointments::book(c, &appt, None, now)? {
                db::appointments::BookOutcome::Booked(id) => Ok(id),
                other => panic!("not booked: {other:?}"),
            }
        })
        .await
        .unwrap()
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
async fn the_dial_request_carries_only_signed_tokens_a_status_callback_and_async_amd() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    // Before the due time, nothing is dialled.
    book_at(&app, JANE, "2026-11-24T15:00", 0).await;
    app.clock.set(local("2026-11-23T14:59"));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(fake.dials().is_empty());
    app.clock.set(local("2026-11-23T15:00"));
    let dial = fake.wait_for(1).await.remove(0);
    assert_eq!(dial.path, "/texml/Accounts/test-account/Calls");
    let b = &dial.body;
    assert_eq!(b["ApplicationSid"], "test-texml-app");
    assert_eq!(
        (b["To"].as_str(), b["From"].as_str()),
        (Some(JANE), Some(LINE))
    );
    assert_eq!(b["MachineDetection"], "DetectMessageEnd");
    assert_eq!(b["AsyncAmd"], true);
    assert_eq!(b["CallerId"], "Remind Salon");
    assert_eq!(
        b["StatusCallbackEvent"],
        "initiated ringing answered completed"
    );
    for field in ["Url", "StatusCallback", "AsyncAmdStatusCallback"] {
        let url = b[field].as_str().unwrap();
        assert!(
            url.starts_with("https://booking.example.com/texml/reminder"),
            "{url}"
        );
        assert!(url.contains("?s="), "{url}");
        for private in ["Jane", "3125550183", "Cut", "Ana"] {
            assert!(!url.contains(private), "{field} leaks {private}: {url}");
        }
    }
    // A tampered token is refused with 403, and so is an unsigned request.
    let url = path_of(b["Url"].as_str().unwrap());
    let tampered = url.replacen("?s=", "?s=9", 1);
    let resp = app.post_signed(&tampered, telnyx("v3:x", JANE, &[])).await;
    assert_eq!(resp.status(), 403);
    let resp = app
        .post_raw(
            &url,
            telnyx("v3:x", JANE, &[]).into_bytes(),
            None,
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(resp.status(), 403);
    let list = calls(&app).await;
    assert_eq!(list[0]["status"], "live");
    assert_eq!(list[0]["attempt"], 1);
}

#[tokio::test]
async fn a_person_who_presses_1_hears_the_business_first_and_confirms() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:confirm-digit").await;
    let doc = call.answer(&app).await;
    let spoken = texts(&doc, "Say");
    assert!(
        spoken[0].starts_with("Hello, this is Remind Salon"),
        "{doc}"
    );
    assert!(
        spoken[0].contains("tomorrow, Tuesday, November 24 at 3:00 PM"),
        "{doc}"
    );
    assert_eq!(
        attr(&doc, "Gather", "input").as_deref(),
        Some("dtmf speech")
    );
    assert!(spoken[1].contains("press 9"), "{doc}");
    let done = call.press(&app, &doc, "1", "").await;
    assert!(texts(&done, "Say")[0].contains("confirmed"), "{done}");
    assert!(done.contains("<Hangup/>"));
    // Telnyx retrying the callback gets the same answer and changes nothing.
    assert_eq!(call.press(&app, &doc, "1", "").await, done);
    fake.ended();
    call.status(&app, "completed").await;
    let list = calls_of(&app, id).await;
    assert_eq!(
        (list[0]["status"].as_str(), list[0]["outcome"].as_str()),
        (Some("done"), Some("confirmed"))
    );
    assert_eq!(list[0]["call_sid"], "v3:confirm-digit");
    let appt = appointment(&app, id).await;
    assert_eq!(appt["status"], "booked");
    assert_eq!(appt["reminder_calls"][0]["outcome"], "confirmed", "{appt}");
    assert_eq!(appt["reminder_calls"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_person_who_says_confirm_confirms_and_star_repeats_first() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:confirm-speech").await;
    let doc = call.answer(&app).await;
    let again = call.press(&app, &doc, "*", "").await;
    assert!(
        texts(&again, "Say")[0].starts_with("Hello, this is Remind Salon"),
        "{again}"
    );
    let done = call.press(&app, &again, "", "Yes, confirm").await;
    assert!(texts(&done, "Say")[0].contains("confirmed"), "{done}");
    assert_eq!(calls_of(&app, id).await[0]["outcome"], "confirmed");
}

#[tokio::test]
async fn a_person_who_presses_3_is_asked_again_before_anything_is_cancelled() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:cancel").await;
    let doc = call.answer(&app).await;
    let ask = call.press(&app, &doc, "3", "").await;
    assert!(
        texts(&ask, "Say")[0].contains("press 1 or say yes"),
        "{ask}"
    );
    assert_eq!(
        appointment(&app, id).await["status"],
        "booked",
        "nothing cancelled yet"
    );
    let done = call.press(&app, &ask, "", "yes please").await;
    assert!(texts(&done, "Say")[0].contains("cancelled"), "{done}");
    assert_eq!(appointment(&app, id).await["status"], "cancelled");
    assert_eq!(
        call.press(&app, &ask, "", "yes please").await,
        done,
        "a retried callback answers the same"
    );
    assert_eq!(calls_of(&app, id).await[0]["outcome"], "cancelled");
}

#[tokio::test]
async fn a_person_who_presses_2_lands_in_the_reschedule_turn_for_that_appointment() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:move").await;
    let doc = call.answer(&app).await;
    let turn = call.press(&app, &doc, "2", "").await;
    let greeting = texts(&turn, "Greeting").join(" ");
    assert!(
        greeting.contains("What day and time") || greeting.contains("I can move it to"),
        "{turn}"
    );
    assert!(greeting.contains("November 24"), "{turn}");
    // The move happens on the phone line's own gather (From is the line on this call).
    let action = gather_path(&attr(&turn, "AIGather", "action").unwrap());
    let result = json!({"intent": "reschedule", "customer_name": "Jane Roe", "service": "Cut", "preferred_date": "2026-11-25", "preferred_time": "11:00"});
    let envelope = json!({"status": "valid", "result": result});
    use base64::Engine;
    let body = telnyx(
        "v3:move",
        JANE,
        &[
            ("Status", "valid"),
            (
                "Base64Result",
                &base64::engine::general_purpose::STANDARD.encode(envelope.to_string()),
            ),
        ],
    );
    let moved = texml_ok(app.post_signed(&action, body).await).await;
    assert!(moved.contains("November 25"), "{moved}");
    let appt = appointment(&app, id).await;
    assert_eq!(
        appt["start_at"],
        local("2026-11-25T11:00").as_second(),
        "{appt}"
    );
    assert_eq!(calls_of(&app, id).await[0]["outcome"], "rescheduled");
}

#[tokio::test]
async fn a_person_who_presses_9_gets_no_more_calls_but_keeps_getting_texts() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:stop").await;
    let doc = call.answer(&app).await;
    let done = call.press(&app, &doc, "9", "").await;
    assert!(
        texts(&done, "Say")[0].contains("won't get these calls"),
        "{done}"
    );
    assert_eq!(calls_of(&app, id).await[0]["outcome"], "stopped");
    let later = book_at(&app, JANE, "2026-11-27T10:00", 0).await;
    assert!(
        calls_of(&app, later).await.is_empty(),
        "a stopped number is not planned again"
    );
    // The SMS opt-out list is another list: the number may still be texted.
    let stopped_sms = app
        .state
        .db
        .run(|c| db::messaging::is_opted_out(c, JANE, None))
        .await
        .unwrap();
    assert!(!stopped_sms);
}

#[tokio::test]
async fn no_answer_twice_ends_in_the_texts_after_one_re_prompt() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:mumble").await;
    let doc = call.answer(&app).await;
    // The document itself re-prompts once, then says "we'll text you" and hangs up.
    let gathers = doc.matches("<Gather").count();
    assert_eq!(gathers, 2, "{doc}");
    assert!(doc.trim_end().ends_with("<Hangup/>\n</Response>"), "{doc}");
    let again = call.press(&app, &doc, "5", "").await;
    assert!(again.contains("<Gather"), "one more try: {again}");
    let bye = call.press(&app, &again, "7", "").await;
    assert!(texts(&bye, "Say")[0].contains("text you"), "{bye}");
    assert!(!bye.contains("<Gather"));
    call.status(&app, "completed").await;
    assert_eq!(calls_of(&app, id).await[0]["outcome"], "no_input");
}

#[tokio::test]
async fn an_appointment_cancelled_while_the_phone_rang_gets_a_short_apology_without_details() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:ringing").await;
    app.admin(
        Method::DELETE,
        &format!("/tenants/{SLUG}/appointments/{id}"),
    )
    .send()
    .await
    .unwrap();
    let doc = call.answer(&app).await;
    assert!(!doc.contains("<Gather"), "{doc}");
    assert!(doc.contains("<Hangup/>"));
    let said = texts(&doc, "Say").join(" ");
    assert!(said.contains("Sorry"), "{doc}");
    for detail in ["Cut", "Ana", "November", "Jane", "Remind Salon"] {
        assert!(!said.contains(detail), "the apology names {detail}: {doc}");
    }
    assert_eq!(calls_of(&app, id).await[0]["outcome"], "withdrawn");
}

/// A machine answers: after its greeting the live call is redirected to the voicemail.
async fn machine_gets_the_voicemail(answered_by_start: Option<&str>, answered_by_end: &str) {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:machine").await;
    call.answer(&app).await;
    if let Some(start) = answered_by_start {
        call.amd(&app, start).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            fake.updates().is_empty(),
            "nothing is said while the greeting plays"
        );
    }
    call.amd(&app, answered_by_end).await;
    let mut updates = Vec::new();
    for _ in 0..200 {
        updates = fake.updates();
        if !updates.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(updates.len(), 1, "{updates:?}");
    let (path, body) = &updates[0];
    assert_eq!(path, "/texml/Accounts/test-account/Calls/v3:machine");
    let redirect: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap();
    let url = &redirect.iter().find(|(k, _)| k == "Url").unwrap().1;
    let fetch = telnyx("v3:machine", JANE, &[("CallStatus", "in-progress")]);
    let doc = texml_ok(app.post_signed(&path_of(url), fetch).await).await;
    let said = texts(&doc, "Say").join(" ");
    assert!(said.starts_with("Hello, this is Remind Salon"), "{doc}");
    assert!(said.contains("about your appointment tomorrow"), "{doc}");
    assert!(said.contains(LINE), "the callback number: {doc}");
    for private in ["Jane", "Cut", "Ana"] {
        assert!(
            !said.contains(private),
            "the voicemail names {private}: {doc}"
        );
    }
    call.status(&app, "completed").await;
    assert_eq!(calls_of(&app, id).await[0]["outcome"], "voicemail");
    assert_eq!(
        appointment(&app, id).await["reminder_calls"][0]["outcome"],
        "voicemail"
    );
}

#[tokio::test]
async fn a_machine_reported_as_machine_end_beep_gets_the_voicemail_after_its_greeting() {
    machine_gets_the_voicemail(Some("machine_start"), "machine_end_beep").await;
}

#[tokio::test]
async fn a_machine_reported_as_plain_machine_gets_the_voicemail_too() {
    machine_gets_the_voicemail(None, "machine").await;
}

#[tokio::test]
async fn busy_is_retried_once_at_least_two_hours_later_and_then_no_more() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:busy1").await;
    fake.ended();
    call.status(&app, "busy").await;
    let list = calls_of(&app, id).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["outcome"], "busy");
    assert_eq!(
        (list[1]["attempt"].as_i64(), list[1]["status"].as_str()),
        (Some(2), Some("queued"))
    );
    assert_eq!(list[1]["time"], local("2026-11-23T17:00").to_string());
    // A duplicate final status plans nothing more.
    call.status(&app, "busy").await;
    assert_eq!(calls_of(&app, id).await.len(), 2);
    app.clock.set(local("2026-11-23T16:59"));
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(fake.dials().len(), 1, "not before two hours");
    app.clock.set(local("2026-11-23T17:00"));
    let dials = fake.wait_for(2).await;
    let second = Ringing::of(&dials[1].body, "v3:busy2");
    fake.ended();
    second.status(&app, "no-answer").await;
    let list = calls_of(&app, id).await;
    assert_eq!(list.len(), 2, "no third attempt: {list:?}");
    assert_eq!(list[1]["outcome"], "no_answer");
    let appt = appointment(&app, id).await;
    let outcomes: Vec<&str> = appt["reminder_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["busy", "no_answer"]);
}

#[tokio::test]
async fn outside_the_window_a_call_waits_for_the_next_one_or_is_skipped_if_that_is_too_late() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    // Due Mon 10:00 and Mon 09:15; the dialer only "wakes" at Mon 20:30, after the window.
    let waits = book_at(&app, JANE, "2026-11-24T10:00", 0).await;
    let late = book_at(&app, "+13125550184", "2026-11-24T09:15", 0).await;
    app.clock.set(local("2026-11-23T20:30"));
    until(&app, "both decided", |l| {
        l.iter()
            .any(|c| c["appointment_id"] == late && c["status"] == "skipped")
            && l.iter().any(|c| {
                c["appointment_id"] == waits && c["time"] == local("2026-11-24T09:00").to_string()
            })
    })
    .await;
    assert!(fake.dials().is_empty(), "nothing dialled at night");
    let skipped = &calls_of(&app, late).await[0];
    assert!(
        skipped["reason"].as_str().unwrap().contains("too close"),
        "{skipped}"
    );
    app.clock.set(local("2026-11-24T09:00"));
    let dials = fake.wait_for(1).await;
    assert_eq!(dials[0].body["To"], JANE);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.dials().len(), 1);
}

#[tokio::test]
async fn a_429_with_90103_makes_every_dial_wait_and_then_dials_the_same_call_once() {
    let fake = FakeCalls::start(vec![Dial::RateLimited, Dial::RateLimited]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, _) = dialled_jane(&app, &fake, "v3:limited").await;
    let dials = fake.wait_for(3).await;
    assert!(dials.iter().all(|d| d.body["To"] == JANE));
    let list = until(&app, "the call goes live", |l| {
        l.iter().any(|c| c["status"] == "live")
    })
    .await;
    let mine: Vec<&Value> = list.iter().filter(|c| c["appointment_id"] == id).collect();
    assert_eq!(mine.len(), 1, "still one attempt: {mine:?}");
    assert_eq!(mine[0]["attempt"], 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.dials().len(), 3, "accepted once, dialled no more");
}

#[tokio::test]
async fn error_10005_fails_the_call_loudly_naming_both_fixes() {
    let fake = FakeCalls::start(vec![Dial::NotFound]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, _) = dialled_jane(&app, &fake, "v3:nf").await;
    let list = until(&app, "failed", |l| {
        l.iter().any(|c| c["status"] == "failed")
    })
    .await;
    let call = list.iter().find(|c| c["appointment_id"] == id).unwrap();
    let reason = call["reason"].as_str().unwrap();
    assert!(
        reason.contains("10005")
            && reason.contains("TELNYX_ACCOUNT_SID")
            && reason.contains("whoami"),
        "{reason}"
    );
    assert!(reason.contains("TELNYX_CALLS_ENDPOINT=app"), "{reason}");
}

#[tokio::test]
async fn the_deprecated_app_scoped_endpoint_is_a_setting() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |o| {
        o.calls.endpoint = slotline::reminder_calls::Endpoint::App;
        o.calls.account_sid = None;
    })
    .await;
    let (_, _) = dialled_jane(&app, &fake, "v3:app").await;
    let dial = &fake.dials()[0];
    assert_eq!(dial.path, "/texml/calls/test-texml-app");
    assert!(dial.body.get("ApplicationSid").is_none(), "{}", dial.body);
}

#[tokio::test]
async fn without_an_api_key_calls_are_recorded_as_dry_run() {
    let app = app_with(None, ON(), |_| {}).await;
    let id = book_at(&app, JANE, "2026-11-24T15:00", 0).await;
    app.clock.set(local("2026-11-23T15:00"));
    let list = until(&app, "dry run", |l| {
        l.iter().any(|c| c["status"] == "dry_run")
    })
    .await;
    let call = list.iter().find(|c| c["appointment_id"] == id).unwrap();
    assert!(
        call["reason"].as_str().unwrap().contains("TELNYX_API_KEY"),
        "{call}"
    );
    let stats: Value = app
        .admin_json(Method::GET, &format!("/tenants/{SLUG}/stats?period=all"))
        .await;
    assert_eq!(stats["reminder_calls"]["dialled"], 1, "{stats}");
    assert_eq!(stats["reminder_calls"]["outcomes"]["dry_run"], 1, "{stats}");
}

#[tokio::test]
async fn a_hundred_due_calls_keep_to_the_cap_and_the_pacing() {
    let fake = FakeCalls::start(vec![]).await;
    let providers: Vec<String> = (0..10).map(|i| format!("P{i}")).collect();
    let names: Vec<&str> = providers.iter().map(String::as_str).collect();
    let mut opts = Options {
        messaging_api: Some(fake.base.clone()),
        ..Options::default()
    };
    opts.calls.app_id = Some("test-texml-app".into());
    opts.calls.max_concurrent = 3;
    opts.calls.per_second = 25.0;
    let app = spawn_with(opts).await;
    app.create_tenant(&salon(ON(), &names)).await;
    for i in 0..100 {
        let at = local("2026-11-24T10:00") + jiff::SignedDuration::from_mins(30 * (i / 10) as i64);
        let at = at
            .to_zoned(jiff::tz::TimeZone::get(TZ).unwrap())
            .strftime("%Y-%m-%dT%H:%M")
            .to_string();
        book_at(&app, &format!("+1312555{:04}", 2000 + i), &at, i % 10).await;
    }
    app.clock.set(local("2026-11-23T15:00"));
    let mut ended = 0;
    while ended < 100 {
        // Let the dialer fill the cap before one call ends.
        let dials = fake.wait_for((ended + 3).min(100)).await;
        // End the oldest call not yet ended, as Telnyx would report it.
        let call = Ringing::of(&dials[ended].body, &format!("v3:bulk-{ended}"));
        fake.ended();
        call.status(&app, "completed").await;
        ended += 1;
    }
    let dials = fake.dials();
    assert_eq!(dials.len(), 100, "each call dialled once");
    let mut to: Vec<&str> = dials
        .iter()
        .map(|d| d.body["To"].as_str().unwrap())
        .collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 100, "no number called twice");
    let most = dials.iter().map(|d| d.live_at_dial).max().unwrap();
    assert_eq!(most, 3, "the cap is reached and never passed");
    // 25 dials a second, no bursts: 100 dials span at least 99 gaps of 40 ms.
    let span = dials[99].at - dials[0].at;
    assert!(span >= Duration::from_millis(99 * 40 * 9 / 10), "{span:?}");
}

#[tokio::test]
async fn a_restart_with_calls_due_loses_and_doubles_nothing() {
    let fake = FakeCalls::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("restart.db");
    let app = app_with(Some(&fake), ON(), |o| o.db_path = Some(db_path.clone())).await;
    let a = book_at(&app, JANE, "2026-11-24T15:00", 0).await;
    let b = book_at(&app, "+13125550185", "2026-11-24T16:00", 0).await;
    let c = book_at(&app, "+13125550186", "2026-11-24T11:00", 0).await;
    // A dialer that died mid-request left `c` dialling with its request started, and `b`
    // claimed before its request.
    app.state
        .db
        .write(move |conn| {
            conn.execute(
                "UPDATE reminder_calls SET status = 'dialing', lease_until_ms = 0, request_started = 1, dialed_at = 1 WHERE appointment_id = ?1",
                [c],
            )?;
            conn.execute(
                "UPDATE reminder_calls SET status = 'dialing', lease_until_ms = 0 WHERE appointment_id = ?1",
                [b],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    app.shut_down().await;
    let mut opts = Options {
        messaging_api: Some(fake.base.clone()),
        db_path: Some(db_path.clone()),
        demo: false,
        now: local("2026-11-23T17:00"),
        ..Options::default()
    };
    opts.calls.app_id = Some("test-texml-app".into());
    opts.calls.max_concurrent = 10;
    let app = spawn_with(opts).await;
    until(&app, "a and b dialled", |l| {
        l.iter().filter(|c| c["status"] == "live").count() == 2
    })
    .await;
    let dials = fake.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut to: Vec<String> = fake
        .dials()
        .iter()
        .map(|d| d.body["To"].as_str().unwrap().to_string())
        .collect();
    to.sort();
    assert_eq!(dials.len(), 2);
    assert_eq!(
        to,
        [JANE, "+13125550185"],
        "a and b dialled once each; c maybe reached Telnyx, so never again"
    );
    let c_call = &calls_of(&app, c).await[0];
    assert_eq!(c_call["status"], "unknown", "{c_call}");
    assert_eq!(calls_of(&app, a).await.len(), 1);
}

#[tokio::test]
async fn the_calls_list_shows_inbound_and_outbound_newest_first_in_pages() {
    let app = app_with(None, ON(), |_| {}).await;
    let id = book_at(&app, JANE, "2026-11-24T15:00", 0).await;
    app.clock.set(local("2026-11-23T15:00"));
    until(&app, "dry run", |l| {
        l.iter().any(|c| c["status"] == "dry_run")
    })
    .await;
    app.clock.set(local("2026-11-23T16:00"));
    app.voice("v3:inbound-1", JANE, LINE).await;
    app.state.calls.flush().await;
    let first: reqwest::Response = app
        .admin(Method::GET, &format!("/tenants/{SLUG}/calls?limit=1"))
        .send()
        .await
        .unwrap();
    let link = first
        .headers()
        .get("link")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let page: Vec<Value> = first.json().await.unwrap();
    assert_eq!(page[0]["direction"], "inbound", "{page:?}");
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_string();
    let rest: Vec<Value> = app.admin_json(Method::GET, &next).await;
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(
        (
            rest[0]["direction"].as_str(),
            rest[0]["appointment_id"].as_i64()
        ),
        (Some("outbound"), Some(id))
    );
}

#[tokio::test]
#[ignore = "needs Prism serving the Telnyx OpenAPI subset (PRISM_URL); run by .ci/run"]
async fn prism_accepts_our_dial_request_and_refuses_one_without_to() {
    let base = std::env::var("PRISM_URL").expect("PRISM_URL is set by .ci/run");
    // The request slotline really sends, captured by the fake.
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (_, _) = dialled_jane(&app, &fake, "v3:prism").await;
    let ours = fake.dials()[0].body.clone();
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(format!("{base}/texml/Accounts/test-account/Calls"))
            .bearer_auth("prism-test-key")
            .json(&body)
            .send()
    };
    let resp = post(ours.clone()).await.unwrap();
    let status = resp.status();
    assert_eq!(
        status,
        200,
        "Prism refused our dial request: {}",
        resp.text().await.unwrap()
    );
    let mut without_to = ours;
    without_to.as_object_mut().unwrap().remove("To");
    let resp = post(without_to).await.unwrap();
    assert_eq!(
        resp.status(),
        422,
        "the check can fail: a dial without To is refused"
    );
}

#[tokio::test]
async fn a_reminder_document_without_the_business_first_or_the_stop_option_is_refused() {
    let app = app_with(None, ON(), |_| {}).await;
    let put = |doc: String| {
        app.admin(Method::PUT, &format!("/tenants/{SLUG}/texml/reminder_call"))
            .body(doc)
            .send()
    };
    let good = include_str!("../../texml/_default/reminder_call.xml");
    let nameless = good.replace(
        "Hello, this is {business} with a reminder",
        "Hello, a reminder",
    );
    let resp = put(nameless).await.unwrap();
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body.to_string().contains("name the business at its start"),
        "{body}"
    );
    let no_stop = good
        .replace(" To stop these calls, press 9.", "")
        .replace(", or 9 to stop these calls", "");
    let resp = put(no_stop).await.unwrap();
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert!(body.to_string().contains("stop-calls option"), "{body}");
    let own = good.replace("with a reminder about", "reminding you of");
    assert_eq!(put(own).await.unwrap().status(), 200);
}

#[tokio::test]
async fn under_the_healthcare_profile_a_reminder_that_speaks_a_minute_is_replaced_by_the_short_one()
{
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), json!({"profile": "healthcare"}), |_| {}).await;
    let long = include_str!("../../texml/_default/reminder_call.xml").replace(
        "with a reminder about",
        &format!(
            "with a reminder{} about",
            " that we are very glad to give you".repeat(25)
        ),
    );
    let resp = app
        .admin(Method::PUT, &format!("/tenants/{SLUG}/texml/reminder_call"))
        .body(long)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the document itself is valid");
    let served = app
        .admin(Method::GET, &format!("/tenants/{SLUG}/texml/reminder_call"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.headers()["x-slotline-source"], "tenant");
    assert!(served.text().await.unwrap().contains("very glad"));
    let (_, call) = dialled_jane(&app, &fake, "v3:health").await;
    let doc = call.answer(&app).await;
    assert!(!doc.contains("very glad"), "{doc}");
    assert!(
        texts(&doc, "Say")[0].starts_with("Hello, this is Remind Salon with a reminder about"),
        "{doc}"
    );
}
