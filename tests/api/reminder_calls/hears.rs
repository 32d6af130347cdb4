//! What the person hears on a reminder call, scripted: confirming (digit and speech, *
//! repeats), cancelling (asked again), moving (the reschedule turn), stopping the calls,
//! one re-prompt then "we'll text you", the apology when the appointment was cancelled
//! while the phone rang, the voicemail after a machine's greeting in both AMD
//! vocabularies, and the checker and healthcare rules on the documents.

use super::*;

#[tokio::test]
async fn a_finished_reminder_call_sends_call_completed_with_its_outcome_to_the_tenants_webhook() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let receiver = crate::webhook_receiver::Receiver::start().await;
    app.post_created(
        &format!("/tenants/{SLUG}/webhooks"),
        &json!({"url": receiver.url(), "events": ["call.completed"]}),
    )
    .await;
    let (id, call) = dialled_jane(&app, &fake, "v3:confirm-hook").await;
    let doc = call.answer(&app).await;
    call.press(&app, &doc, "1", "").await;
    fake.ended();
    call.status(&app, "completed").await;
    let got = receiver.wait_for(1).await;
    let v = got[0].json();
    assert_eq!(v["type"], "call.completed");
    assert_eq!(v["data"]["outcome"], "confirmed", "{v}");
    assert_eq!(v["data"]["call"]["direction"], "outbound");
    assert_eq!(v["data"]["call"]["purpose"], "reminder");
    assert_eq!(v["data"]["call"]["call_sid"], "v3:confirm-hook");
    assert_eq!(v["data"]["appointment"]["id"], id);
    // A repeated final callback announces nothing more.
    call.status(&app, "completed").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.got().len(), 1);
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
async fn the_tenants_own_words_after_a_confirmation_are_spoken_with_the_time_filled_in() {
    let fake = FakeCalls::start(vec![]).await;
    let words = json!({"confirmed": "Lovely, {business} will see you {date} at {time}."});
    let app = app_with(Some(&fake), words, |_| {}).await;
    let (_, call) = dialled_jane(&app, &fake, "v3:own-words").await;
    let doc = call.answer(&app).await;
    let done = call.press(&app, &doc, "1", "").await;
    assert_eq!(
        texts(&done, "Say")[0],
        "Lovely, Remind Salon will see you Tuesday, November 24 at 3:00 PM.",
        "{done}"
    );
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
        .store
        .messaging()
        .is_opted_out(JANE.into(), None)
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
async fn a_reminder_document_without_the_business_first_or_the_stop_option_is_refused() {
    let app = app_with(None, ON(), |_| {}).await;
    let put = |doc: String| {
        app.admin(Method::PUT, &format!("/tenants/{SLUG}/texml/reminder_call"))
            .body(doc)
            .send()
    };
    let good = include_str!("../../../texml/_default/reminder_call.xml");
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
    let long = include_str!("../../../texml/_default/reminder_call.xml").replace(
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

#[tokio::test]
async fn a_machine_result_on_the_answer_fetch_itself_gets_the_voicemail_at_once() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), ON(), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:sync-amd").await;
    let body = telnyx(&call.sid, JANE, &[("AnsweredBy", "machine_end_silence")]);
    let doc = texml_ok(app.post_signed(&call.url, body).await).await;
    assert!(!doc.contains("<Gather"), "{doc}");
    assert!(
        texts(&doc, "Say")[0].contains("about your appointment tomorrow"),
        "{doc}"
    );
    assert_eq!(calls_of(&app, id).await[0]["outcome"], "voicemail");
}

#[tokio::test]
async fn without_voicemail_a_machine_is_hung_up_on_and_a_fax_too() {
    let fake = FakeCalls::start(vec![]).await;
    let app = app_with(Some(&fake), json!({"voicemail": false}), |_| {}).await;
    let (id, call) = dialled_jane(&app, &fake, "v3:no-vm").await;
    call.answer(&app).await;
    call.amd(&app, "machine_end_beep").await;
    let mut updates = Vec::new();
    for _ in 0..200 {
        updates = fake.updates();
        if !updates.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        updates,
        [(
            "/texml/Accounts/test-account/Calls/v3:no-vm".to_string(),
            "Status=completed".to_string()
        )]
    );
    assert_eq!(calls_of(&app, id).await[0]["outcome"], "machine");
    // A person answering is left alone: no update.
    let other = book_at(&app, "+13125550187", "2026-11-24T16:00", 0).await;
    app.clock.set(local("2026-11-23T16:00"));
    let dials = fake.wait_for(2).await;
    let person = Ringing::of(&dials[1].body, "v3:person");
    person.amd(&app, "human").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.updates().len(), 1);
    assert!(calls_of(&app, other).await[0]["outcome"].is_null());
}

#[tokio::test]
async fn the_reminder_documents_preview_with_sample_values() {
    let app = app_with(None, ON(), |_| {}).await;
    for (name, heard) in [
        (
            "reminder_call",
            "Hello, this is Remind Salon with a reminder about your cut with Ana tomorrow",
        ),
        (
            "reminder_voicemail",
            "Hello, this is Remind Salon calling about your appointment tomorrow",
        ),
    ] {
        let resp = app
            .admin(
                Method::POST,
                &format!("/tenants/{SLUG}/texml/{name}/preview"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{name}");
        let doc = resp.text().await.unwrap();
        assert!(texts(&doc, "Say")[0].starts_with(heard), "{doc}");
    }
}
