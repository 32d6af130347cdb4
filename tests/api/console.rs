//! The operator console through HTTP as a browser would use it: sign-in with the admin
//! token (throttled like the API), the session cookie, cross-site refusals, the day view of
//! a booking made by a scripted call, moving and cancelling by the forms under the API's
//! rules, texts and their requeue, wording and documents with their checks, settings,
//! calls. The clock stands at Friday 2026-11-20 09:00 in Chicago.

use reqwest::{StatusCode, redirect};

use crate::{
    fake_telnyx::{FakeMessaging, Reply},
    helpers::*,
    sms::{book, spawn_with_api, status_is, wait_for},
};

/// A browser's view of the console: its cookie and the session's form token.
pub(crate) struct Console<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: String,
    token: String,
}

/// A client that does not follow redirects, so the tests see the 303s.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the first hidden `form_token` on a page.
fn form_token(html: &str) -> String {
    let at = html
        .find("name=\"form_token\" value=\"")
        .expect("a form with a form token");
    let rest = &html[at + "name=\"form_token\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// Posts the sign-in form with `token`.
async fn post_sign_in(app: &TestApp, client: &reqwest::Client, token: &str) -> reqwest::Response {
    client
        .post(format!("{}/console/sign-in", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &app.base)
        .body(form(&[("token", token)]))
        .send()
        .await
        .unwrap()
}

/// Signs in with the test admin token.
pub(crate) async fn sign_in(app: &TestApp) -> Console<'_> {
    let client = browser();
    let resp = post_sign_in(app, &client, ADMIN_TOKEN).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    let cookie = set.split(';').next().unwrap().to_string();
    let mut console = Console {
        app,
        client,
        cookie,
        token: String::new(),
    };
    let (status, home) = console.get("/console/").await;
    assert_eq!(status, StatusCode::OK, "{home}");
    console.token = form_token(&home);
    console
}

impl Console<'_> {
    /// GETs a console page: status and HTML.
    pub(crate) async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .client
            .get(format!("{}{path}", self.app.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    /// POSTs a form from the console's own page (same origin, with the form token).
    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all = vec![("form_token", self.token.as_str())];
        all.extend_from_slice(fields);
        self.client
            .post(format!("{}{path}", self.app.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.app.base)
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&all))
            .send()
            .await
            .unwrap()
    }

    /// POSTs and follows the 303 to the page it leads to.
    async fn post_and_follow(&self, path: &str, fields: &[(&str, &str)]) -> String {
        let resp = self.post(path, fields).await;
        assert_eq!(
            resp.status(),
            StatusCode::SEE_OTHER,
            "{}",
            resp.text().await.unwrap()
        );
        let to = resp.headers()["location"].to_str().unwrap().to_string();
        let (status, html) = self.get(&to).await;
        assert_eq!(status, StatusCode::OK);
        html
    }
}

/// The id of the only appointment of the demo tenant.
async fn only_appointment(app: &TestApp) -> i64 {
    let list: Vec<serde_json::Value> = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon/appointments")
        .await;
    assert_eq!(list.len(), 1, "{list:?}");
    list[0]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_console_page_without_a_session_leads_to_the_sign_in_form() {
    let app = spawn_app().await;
    let client = browser();

    let resp = client
        .get(format!("{}/console/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/console/sign-in");
    let forged = client
        .get(format!("{}/console/", app.base))
        .header("cookie", "slotline_session=v1.9999999999.abc.def")
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::SEE_OTHER,
        "a forged cookie is no session"
    );

    let page = client
        .get(format!("{}/console/sign-in", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<label for=\"token\">Admin token</label>"),
        "{page}"
    );
}

#[tokio::test]
async fn signing_in_sets_a_strict_signed_cookie_and_signing_out_clears_it() {
    let app = spawn_app().await;
    let client = browser();

    let resp = post_sign_in(&app, &client, ADMIN_TOKEN).await;

    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/console/");
    let set = resp.headers()["set-cookie"].to_str().unwrap();
    for part in [
        "slotline_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Max-Age=43200",
    ] {
        assert!(set.contains(part), "{set}");
    }
    let console = sign_in(&app).await;
    let out = console.post("/console/sign-out", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_in_place_and_throttled_together_with_the_api() {
    let app = spawn_app().await;
    let client = browser();

    let first = post_sign_in(&app, &client, "not-the-token").await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    assert!(first.headers().get("set-cookie").is_none());
    let page = first.text().await.unwrap();
    assert!(page.contains("That is not the admin token"), "{page}");
    assert!(page.contains("aria-invalid=\"true\""), "{page}");
    for _ in 1..5 {
        post_sign_in(&app, &client, "not-the-token").await;
    }

    let held = post_sign_in(&app, &client, ADMIN_TOKEN).await;
    assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(held.headers().contains_key("retry-after"));
    let api = app
        .admin(reqwest::Method::GET, "/tenants")
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "one throttle for both"
    );
}

#[tokio::test]
async fn the_tenants_list_shows_todays_bookings_and_calls_and_searches() {
    let app = spawn_app().await;
    let other = open_every_day("north-clinic", "+13125550177", "Europe/Berlin", &["Eva"]);
    let resp = app
        .admin(reqwest::Method::POST, "/tenants")
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    book(&app, "v3:today", "2026-11-20", "14:00").await;
    app.state.calls.flush().await;
    let console = sign_in(&app).await;

    let (_, all) = console.get("/console/").await;
    let (_, found) = console.get("/console/?q=clinic").await;

    let bella = &all[all.find("Bella Salon").unwrap()..];
    let row = &bella[..bella.find("</tr>").unwrap()];
    assert_eq!(
        row.matches("<td>1</td>").count(),
        2,
        "one booking and one call today: {row}"
    );
    assert!(all.contains("north-clinic") && all.contains("Europe/Berlin"));
    assert!(
        found.contains("north-clinic") && !found.contains("Bella Salon"),
        "{found}"
    );
    assert!(found.contains("1 of 2 tenants"));
}

#[tokio::test]
async fn a_cross_site_post_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    book(&app, "v3:xsite", "2026-11-23", "10:00").await;
    let id = only_appointment(&app).await;
    let console = sign_in(&app).await;
    let path = format!("/console/tenants/bella-salon/appointments/{id}/cancel");
    let body = form(&[
        ("form_token", console.token.as_str()),
        ("back_date", "2026-11-23"),
    ]);

    let from_elsewhere = console
        .client
        .post(format!("{}{path}", app.base))
        .header("cookie", &console.cookie)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let without_token = console
        .client
        .post(format!("{}{path}", app.base))
        .header("cookie", &console.cookie)
        .header("origin", &app.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("back_date", "2026-11-23")]))
        .send()
        .await
        .unwrap();
    let other_origin = console
        .client
        .post(format!("{}{path}", app.base))
        .header("cookie", &console.cookie)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(from_elsewhere.status(), StatusCode::FORBIDDEN);
    assert!(
        from_elsewhere
            .text()
            .await
            .unwrap()
            .contains("another site")
    );
    assert_eq!(other_origin.status(), StatusCode::FORBIDDEN);
    assert_eq!(without_token.status(), StatusCode::FORBIDDEN);
    let list: Vec<serde_json::Value> = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon/appointments")
        .await;
    assert_eq!(list[0]["status"], "booked", "nothing was cancelled");
}

#[tokio::test]
async fn the_day_view_shows_a_phone_booking_in_its_providers_column_with_free_time() {
    let app = spawn_app().await;
    book(&app, "v3:day", "2026-11-23", "10:00").await;
    let console = sign_in(&app).await;

    let (status, html) = console
        .get("/console/tenants/bella-salon?date=2026-11-23")
        .await;

    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Times are in America/Chicago."),
        "the zone is named"
    );
    assert!(html.contains("Monday 23 November 2026"));
    let anna = &html[html.find("<h3>Anna</h3>").unwrap()..html.find("<h3>Marco</h3>").unwrap()];
    assert!(
        anna.contains("<strong>09:00–10:00</strong> <span class=\"badge\">free</span>"),
        "{anna}"
    );
    assert!(
        anna.contains("<strong>10:00–10:45</strong> <span class=\"badge\">booked</span>"),
        "{anna}"
    );
    assert!(anna.contains("Haircut · Maria Lopez"));
    assert!(anna.contains("+1********99"), "the number is masked");
    assert!(!html.contains("3125550199"));
    assert!(
        anna.contains("<strong>10:45–17:00</strong> <span class=\"badge\">free</span>"),
        "{anna}"
    );
    let week = console
        .get("/console/tenants/bella-salon?date=2026-11-23&view=week")
        .await
        .1;
    assert!(week.contains("Sunday 29 November 2026 — closed"), "{week}");
    let (bad, page) = console.get("/console/tenants/bella-salon?date=23/11").await;
    assert_eq!(bad, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("is not a date; use YYYY-MM-DD"));
}

#[tokio::test]
async fn an_appointment_whose_reminder_went_out_is_marked_reminded() {
    let app = spawn_app().await;
    book(&app, "v3:remind", "2026-11-21", "11:00").await;
    // The reminder is due 24 h before: Friday 11:00 in Chicago.
    app.clock.set("2026-11-20T17:30:00Z".parse().unwrap());
    wait_for(&app, "the reminder", |l| {
        status_is(l, "reminder", "dry_run")
    })
    .await;
    let console = sign_in(&app).await;

    let (_, html) = console
        .get("/console/tenants/bella-salon?date=2026-11-21")
        .await;

    let anna = &html[html.find("<h3>Anna</h3>").unwrap()..html.find("<h3>Marco</h3>").unwrap()];
    assert!(
        anna.contains("<strong>11:00–11:45</strong> <span class=\"badge\">reminded</span>"),
        "{anna}"
    );
}

#[tokio::test]
async fn moving_by_the_form_follows_the_api_rules_with_field_errors_in_place_and_the_texts_follow()
{
    let app = spawn_app().await;
    book(&app, "v3:move", "2026-11-23", "10:00").await;
    let id = only_appointment(&app).await;
    let console = sign_in(&app).await;
    let path = format!("/console/tenants/bella-salon/appointments/{id}/move");

    let bad_time = console
        .post(
            &path,
            &[
                ("date", "2026-11-24"),
                ("time", "25:00"),
                ("provider", "Anna"),
                ("back_date", "2026-11-23"),
            ],
        )
        .await;
    assert_eq!(bad_time.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad_time.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "id=\"time-{id}-error\">&#34;25:00&#34; is not a time; use 24-hour HH:MM"
        )),
        "{page}"
    );
    assert!(page.contains("value=\"25:00\""), "what was typed stays");
    let closed = console
        .post(
            &path,
            &[
                ("date", "2026-11-29"),
                ("time", "10:00"),
                ("provider", "Anna"),
                ("back_date", "2026-11-23"),
            ],
        )
        .await;
    let api = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/tenants/bella-salon/appointments/{id}"),
        )
        .json(&serde_json::json!({"date": "2026-11-29", "time": "10:00"}))
        .send()
        .await
        .unwrap();
    let api_status = api.status().as_u16();
    let api_error: serde_json::Value = api.json().await.unwrap();
    assert_eq!(
        closed.status().as_u16(),
        api_status,
        "the same refusal as the API"
    );
    let closed_page = closed.text().await.unwrap();
    let api_message = api_error["error"].as_str().unwrap();
    assert!(
        closed_page.contains(&api_message.replace('\'', "&#39;").replace('"', "&#34;")),
        "{api_message} in {closed_page}"
    );

    let moved = console
        .post_and_follow(
            &path,
            &[
                ("date", "2026-11-24"),
                ("time", "14:00"),
                ("provider", "Marco"),
                ("back_date", "2026-11-23"),
                ("notify", "yes"),
            ],
        )
        .await;

    assert!(moved.contains("The appointment was moved"));
    assert!(
        moved.contains("name=\"notify\" value=\"yes\" checked"),
        "texting the customer is the default"
    );
    let marco = &moved[moved.find("<h3>Marco</h3>").unwrap()..];
    assert!(
        marco.contains("<strong>14:00–14:45</strong> <span class=\"badge\">booked</span>"),
        "{marco}"
    );
    let texts = console.get("/console/tenants/bella-salon/texts").await.1;
    assert!(
        texts.contains("appointment moved"),
        "the old reminder is withdrawn: {texts}"
    );
    assert!(
        texts.contains("Mon 23 Nov 2026, 14:00"),
        "the new reminder is due 24 h before: {texts}"
    );
    let list: Vec<serde_json::Value> = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon/messages")
        .await;
    assert!(
        list.iter().any(|m| m["kind"] == "moved"),
        "the customer is texted the new time: {list:?}"
    );
}

#[tokio::test]
async fn cancelling_by_the_form_frees_the_time() {
    let app = spawn_app().await;
    book(&app, "v3:cancel", "2026-11-23", "10:00").await;
    let id = only_appointment(&app).await;
    let console = sign_in(&app).await;

    let page = console
        .post_and_follow(
            &format!("/console/tenants/bella-salon/appointments/{id}/cancel"),
            &[("back_date", "2026-11-23")],
        )
        .await;

    assert!(page.contains("was cancelled"));
    let anna = &page[page.find("<h3>Anna</h3>").unwrap()..page.find("<h3>Marco</h3>").unwrap()];
    assert!(
        anna.contains("<span class=\"badge\">cancelled</span>"),
        "{anna}"
    );
    assert!(
        anna.contains("<strong>09:00–17:00</strong> <span class=\"badge\">free</span>"),
        "{anna}"
    );
}

#[tokio::test]
async fn a_failed_text_shows_telnyxs_error_and_can_be_requeued() {
    let api = FakeMessaging::start(vec![Reply::BadRecipient]).await;
    let app = spawn_with_api(&api).await;
    book(&app, "v3:requeue", "2026-11-23", "10:00").await;
    wait_for(&app, "the failure", |l| {
        status_is(l, "confirmation", "failed")
    })
    .await;
    let console = sign_in(&app).await;
    let (_, texts) = console.get("/console/tenants/bella-salon/texts").await;
    assert!(
        texts.contains("<td class=\"status-failed\">failed</td>"),
        "{texts}"
    );
    let at = texts.find("/requeue\"").expect("a requeue form");
    let action = &texts[texts[..at].rfind("action=\"").unwrap() + 8..at + 8];

    let page = console.post_and_follow(action, &[]).await;

    assert!(page.contains("queued again"));
    wait_for(&app, "the resend", |l| status_is(l, "confirmation", "sent")).await;
    let again = console.post(action, &[]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("only failed texts can be requeued")
    );
    let api = app
        .admin(
            reqwest::Method::POST,
            &action.replace(
                "/console/tenants/bella-salon/texts",
                "/tenants/bella-salon/messages",
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.status(),
        StatusCode::CONFLICT,
        "the API refuses it the same way"
    );
}

#[tokio::test]
async fn a_greeting_with_an_unknown_placeholder_is_refused_in_place_and_a_good_one_is_heard() {
    let app = spawn_app().await;
    let console = sign_in(&app).await;

    let bad = console
        .post(
            "/console/tenants/bella-salon/wording",
            &[("greeting", "Hello {nmae}, this is {business}.")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.unwrap();
    let error = &page[page
        .find("id=\"w-greeting-error\"")
        .expect("the error under the greeting")..];
    assert!(error[..300].contains("nmae"), "{}", &error[..300]);
    assert!(
        page.contains("Hello {nmae}, this is {business}."),
        "what was typed stays"
    );
    let tenant: serde_json::Value = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon")
        .await;
    assert_eq!(
        tenant["greeting"],
        "Thanks for calling Bella Salon. What can I book for you?"
    );

    let saved = console
        .post_and_follow(
            "/console/tenants/bella-salon/wording",
            &[("greeting", "Welcome to {business}! Who shall we book?")],
        )
        .await;

    assert!(
        saved.contains("Welcome to Bella Salon! Who shall we book? (then the AI listens)"),
        "{saved}"
    );
    let doc = app.voice("v3:hears", "+13125550199", "+13125550100").await;
    assert!(
        doc.contains("Welcome to Bella Salon! Who shall we book?"),
        "{doc}"
    );
}

#[tokio::test]
async fn every_change_to_the_wording_is_kept_with_its_author_and_an_older_one_can_be_restored() {
    let app = spawn_app().await;
    // An author label that cannot be recorded is refused, and nothing changes.
    let refused = app
        .admin(reqwest::Method::PATCH, "/tenants/bella-salon")
        .header("x-slotline-actor", "x".repeat(65))
        .json(&serde_json::json!({"goodbye": "Never saved."}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.json::<serde_json::Value>().await.unwrap()["field"],
        "X-Slotline-Actor"
    );
    let patched = app
        .admin(reqwest::Method::PATCH, "/tenants/bella-salon")
        .header("x-slotline-actor", "ana")
        .json(&serde_json::json!({"goodbye": "Bye from {business}!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let console = sign_in(&app).await;
    console
        .post_and_follow(
            "/console/tenants/bella-salon/wording",
            &[("greeting", "Welcome to {business}!")],
        )
        .await;

    let (_, page) = console.get("/console/tenants/bella-salon/wording").await;

    let history = &page[page.find("id=\"history-h\"").expect("a history")..];
    let history = &history[..history.find("</ol>").unwrap()];
    let entries: Vec<&str> = history.split("<li>").skip(1).collect();
    assert_eq!(entries.len(), 3, "{history}");
    assert!(
        entries[0].contains("by console") && entries[0].contains("in use now"),
        "{}",
        entries[0]
    );
    assert!(entries[1].contains("by admin (ana)"), "{}", entries[1]);
    assert!(
        entries[1].contains("differs in: greeting, goodbye"),
        "{}",
        entries[1]
    );
    assert!(entries[2].contains("by as it was before"), "{}", entries[2]);
    let ana: String = entries[1]
        .split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();

    let restored = console
        .post_and_follow(
            "/console/tenants/bella-salon/wording/restore",
            &[("version", &ana)],
        )
        .await;

    assert!(
        restored.contains("Restored as the newest version."),
        "{restored}"
    );
    let tenant: serde_json::Value = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon")
        .await;
    assert_eq!(tenant["goodbye"], "Bye from {business}!");
    assert_eq!(
        tenant["greeting"],
        "Thanks for calling Bella Salon. What can I book for you?"
    );
    assert!(
        restored.contains(&format!("by console (restored version {ana})")),
        "{restored}"
    );
    // A version that is not this tenant's is refused and changes nothing.
    let missing = console
        .post(
            "/console/tenants/bella-salon/wording/restore",
            &[("version", "9999")],
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_document_is_saved_only_when_valid_and_an_older_version_can_be_restored() {
    let app = spawn_app().await;
    let console = sign_in(&app).await;
    let path = "/console/tenants/bella-salon/documents/fallback";
    let first = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n  <Say voice=\"{voice}\">First words from {business}.</Say>\n  <Hangup/>\n</Response>\n";
    let second = first.replace("First words", "Second words");

    let broken = console
        .post(
            path,
            &[("body", "<Response>\n  <Say>unclosed\n</Response>\n")],
        )
        .await;
    assert_eq!(broken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = broken.text().await.unwrap();
    assert!(page.contains("Not saved:"), "{page}");
    assert!(page.contains("Line 3, column"), "{page}");
    assert!(
        !app.texml_dir.join("bella-salon/fallback.xml").exists(),
        "nothing written"
    );

    let after_first = console.post_and_follow(path, &[("body", first)]).await;
    assert!(
        after_first.contains("First words from Bella Salon."),
        "the preview: {after_first}"
    );
    let after_second = console.post_and_follow(path, &[("body", &second)]).await;
    assert!(after_second.contains("Second words from Bella Salon."));
    assert!(after_second.contains("by console"), "{after_second}");
    let at = after_second
        .find("Restore version")
        .expect("an older version to restore");
    let version = after_second[at + "Restore version ".len()..]
        .split('<')
        .next()
        .unwrap()
        .to_string();

    let restored = console
        .post_and_follow(&format!("{path}/restore"), &[("version", &version)])
        .await;

    assert!(
        restored.contains(&format!("Version {version} is restored")),
        "{restored}"
    );
    assert!(restored.contains(&format!("by console (restored version {version})")));
    let served = app
        .admin(reqwest::Method::GET, "/tenants/bella-salon/texml/fallback")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, first);
}

#[tokio::test]
async fn settings_refuse_bad_input_field_by_field_and_save_good_input() {
    let app = spawn_app().await;
    let console = sign_in(&app).await;

    let bad_rules = console
        .post(
            "/console/tenants/bella-salon/settings/rules",
            &[
                ("slot_minutes", "ten"),
                ("min_notice_minutes", "60"),
                ("horizon_days", "30"),
                ("buffer_minutes", "0"),
                ("reminder_hours", "24"),
                ("max_attempts", "2"),
                ("hold_seconds", "120"),
                ("max_future_bookings_per_caller", "3"),
            ],
        )
        .await;
    let bad_services = console
        .post(
            "/console/tenants/bella-salon/settings/services",
            &[("services", "Haircut | 45\nColour")],
        )
        .await;
    let bad_hours = console
        .post(
            "/console/tenants/bella-salon/settings/hours",
            &[("hours.mon", "09:00-25:00")],
        )
        .await;

    assert_eq!(bad_rules.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad_rules.text().await.unwrap();
    assert!(page.contains("id=\"s-slot_minutes-error\""), "{page}");
    assert!(page.contains("value=\"ten\""));
    let services = bad_services.text().await.unwrap();
    assert!(
        services.contains("line 2 (&#34;Colour&#34;) should be Name | minutes | price"),
        "{services}"
    );
    assert_eq!(bad_hours.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_hours
            .text()
            .await
            .unwrap()
            .contains("id=\"s-hours-mon-error\"")
    );
    let tenant: serde_json::Value = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon")
        .await;
    assert_eq!(tenant["slot_minutes"], 15, "nothing was saved");

    console
        .post_and_follow(
            "/console/tenants/bella-salon/settings/closures",
            &[("closures", "2026-12-25\n2026-12-26")],
        )
        .await;
    let tenant: serde_json::Value = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon")
        .await;
    assert_eq!(
        tenant["closures"],
        serde_json::json!(["2026-12-25", "2026-12-26"])
    );
    let line = console
        .post_and_follow(
            "/console/tenants/bella-salon/settings/line",
            &[
                ("persona", "salon"),
                ("address", "1 Main St"),
                ("recognize_callers", "yes"),
                ("faq", "Parking? | Yes, behind the salon."),
            ],
        )
        .await;
    assert!(line.contains("Saved"));
    let tenant: serde_json::Value = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon")
        .await;
    assert_eq!(tenant["persona"], "salon");
    assert_eq!(tenant["faq"][0]["answer"], "Yes, behind the salon.");
}

#[tokio::test]
async fn the_console_is_served_on_the_admin_listener_only_when_there_is_one() {
    let app = spawn_with(Options {
        admin_listen: true,
        ..Options::default()
    })
    .await;
    let client = browser();

    let public = client
        .get(format!("{}/console/sign-in", app.base))
        .send()
        .await
        .unwrap();
    let admin = client
        .get(format!(
            "{}/console/sign-in",
            app.admin_base.as_ref().unwrap()
        ))
        .send()
        .await
        .unwrap();

    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.status(), StatusCode::OK);
    assert!(
        admin.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

/// The value of the read-only input that shows a URL or secret once.
fn shown_once(html: &str) -> String {
    let at = html
        .find("id=\"shown-secret\" readonly value=\"")
        .expect("a value shown once");
    let rest = &html[at + "id=\"shown-secret\" readonly value=\"".len()..];
    rest[..rest.find('"').unwrap()].replace("&#38;", "&")
}

/// GETs a feed by the URL slotline gave (its public URL replaced by the test server's).
async fn fetch_feed(app: &TestApp, url: &str) -> (StatusCode, String) {
    let path = url.replacen("https://booking.example.com", "", 1);
    let resp = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn a_feed_made_in_the_console_shows_its_url_once_and_follows_a_move() {
    let app = spawn_app().await;
    book(&app, "v3:feed", "2026-11-23", "10:00").await;
    let id = only_appointment(&app).await;
    let console = sign_in(&app).await;

    let refused = console
        .post(
            "/console/tenants/bella-salon/feeds",
            &[("scope", "provider"), ("provider", ""), ("detail", "full")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("id=\"feed-provider-error\">a provider feed needs"),
        "{page}"
    );
    let made = console
        .post(
            "/console/tenants/bella-salon/feeds",
            &[
                ("scope", "tenant"),
                ("provider", "Anna"),
                ("detail", "full"),
            ],
        )
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let page = made.text().await.unwrap();
    assert!(page.contains("it is shown only this once"));
    let url = shown_once(&page);
    let (_, before) = fetch_feed(&app, &url).await;
    assert!(before.contains("DTSTART:20261123T160000Z"), "{before}");
    let listed = console.get("/console/tenants/bella-salon/calendar").await.1;
    assert!(!listed.contains(&url), "the URL is not shown again");

    console
        .post_and_follow(
            &format!("/console/tenants/bella-salon/appointments/{id}/move"),
            &[
                ("date", "2026-11-24"),
                ("time", "14:00"),
                ("provider", "Marco"),
                ("back_date", "2026-11-23"),
            ],
        )
        .await;

    let (_, after) = fetch_feed(&app, &url).await;
    assert!(
        after.contains("DTSTART:20261124T200000Z"),
        "the feed follows the move: {after}"
    );
    let feed_id: String = url
        .split("/ics/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let rotated = console
        .post(
            &format!("/console/tenants/bella-salon/feeds/{feed_id}/rotate"),
            &[],
        )
        .await
        .text()
        .await
        .unwrap();
    let new_url = shown_once(&rotated);
    assert_ne!(new_url, url);
    assert_eq!(
        fetch_feed(&app, &url).await.0,
        StatusCode::NOT_FOUND,
        "the old URL is dead"
    );
    console
        .post_and_follow(
            &format!("/console/tenants/bella-salon/feeds/{feed_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(fetch_feed(&app, &new_url).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_webhook_endpoint_is_refused_field_by_field_and_its_secret_shown_once() {
    let app = spawn_app().await;
    let console = sign_in(&app).await;

    let no_events = console
        .post(
            "/console/tenants/bella-salon/webhooks",
            &[("url", "http://127.0.0.1:9/hook")],
        )
        .await;
    let bad_url = console
        .post(
            "/console/tenants/bella-salon/webhooks",
            &[
                ("url", "ftp://hooks.example.com/x"),
                ("event.appointment.booked", "yes"),
            ],
        )
        .await;
    let made = console
        .post(
            "/console/tenants/bella-salon/webhooks",
            &[
                ("url", "http://127.0.0.1:9/hook"),
                ("event.appointment.booked", "yes"),
            ],
        )
        .await;

    assert_eq!(no_events.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        no_events
            .text()
            .await
            .unwrap()
            .contains("id=\"hook-events-error\">the list is empty")
    );
    assert_eq!(bad_url.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad_url.text().await.unwrap();
    assert!(page.contains("id=\"hook-url-error\""), "{page}");
    assert!(
        page.contains("value=\"ftp://hooks.example.com/x\""),
        "what was typed stays"
    );
    assert_eq!(made.status(), StatusCode::CREATED);
    let secret = shown_once(&made.text().await.unwrap());
    assert!(secret.starts_with("whsec_"), "{secret}");
    let listed = console.get("/console/tenants/bella-salon/calendar").await.1;
    assert!(listed.contains("http://127.0.0.1:9/hook") && !listed.contains(&secret));
    let endpoints: Vec<serde_json::Value> = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon/webhooks")
        .await;
    let w = endpoints[0]["id"].as_i64().unwrap();
    let (status, log) = console
        .get(&format!("/console/tenants/bella-salon/webhooks/{w}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        log.contains("Deliveries to <code>http://127.0.0.1:9/hook</code>"),
        "{log}"
    );
}

#[tokio::test]
async fn reminder_calls_set_in_the_console_are_checked_and_listed_on_the_calls_page() {
    let mut opts = Options::default();
    opts.calls.app_id = Some("test-texml-app".into());
    let app = spawn_with(opts).await;
    let console = sign_in(&app).await;
    let path = "/console/tenants/bella-salon/settings/reminder_calls";
    let with = |hours: &'static str, window: &'static str| {
        vec![
            ("reminder_calls.on", "yes"),
            ("reminder_calls.hours_before", hours),
            ("reminder_calls.window", window),
            ("reminder_calls.profile", "standard"),
        ]
    };

    let too_early = console.post(path, &with("200", "09:00-20:00")).await;
    let backwards = console.post(path, &with("24", "20:00-09:00")).await;

    assert_eq!(too_early.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = too_early.text().await.unwrap();
    assert!(
        page.contains("id=\"s-reminder_calls-hours_before-error\""),
        "{page}"
    );
    assert!(page.contains("value=\"200\""), "what was typed stays");
    assert_eq!(backwards.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        backwards
            .text()
            .await
            .unwrap()
            .contains("id=\"s-reminder_calls-window-error\"")
    );
    let tenant: serde_json::Value = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon")
        .await;
    assert!(
        tenant["reminder_calls"].is_null(),
        "nothing was saved: {}",
        tenant["reminder_calls"]
    );

    console
        .post_and_follow(path, &with("24", "09:00-20:00"))
        .await;
    let tenant: serde_json::Value = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon")
        .await;
    assert_eq!(
        tenant["reminder_calls"]["hours_before"],
        serde_json::json!([24])
    );
    book(&app, "v3:remind-call", "2026-11-21", "11:00").await;
    app.clock.set("2026-11-20T17:30:00Z".parse().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let calls: Vec<serde_json::Value> = app
            .admin_json(reqwest::Method::GET, "/tenants/bella-salon/calls")
            .await;
        if calls
            .iter()
            .any(|c| c["direction"] == "outbound" && c["status"] == "dry_run")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reminder call: {calls:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let (_, calls) = console.get("/console/tenants/bella-salon/calls").await;
    let reminders = &calls[calls.find("<h2>Reminder calls</h2>").unwrap()..];
    assert!(reminders.contains("<td>dry_run</td>"), "{reminders}");
    assert!(
        reminders.contains("+1********99"),
        "the number is masked: {reminders}"
    );
    assert!(!calls.contains("3125550199"));
}

#[tokio::test]
async fn the_health_page_says_in_words_whether_the_server_is_ready_and_shows_the_funnel() {
    let app = spawn_app().await;
    book(&app, "v3:funnel", "2026-11-23", "10:00").await;
    app.state.calls.flush().await;
    let console = sign_in(&app).await;
    let detail: serde_json::Value = app.admin_json(reqwest::Method::GET, "/ready").await;

    let (status, page) = console.get("/console/health").await;

    assert_eq!(status, StatusCode::OK);
    if detail["ready"] == true {
        assert!(
            page.contains("Yes: it can take calls and send texts now."),
            "{page}"
        );
    } else {
        let first = detail["problems"][0].as_str().unwrap();
        assert!(page.contains("No, because:"), "{page}");
        assert!(
            page.contains(&first.replace('\'', "&#39;").replace('"', "&#34;")),
            "{first} in {page}"
        );
    }
    assert!(
        page.contains("<th scope=\"row\">Database writer</th><td>answers in"),
        "{page}"
    );
    assert!(
        page.contains("<th scope=\"row\">Telnyx signature key</th><td>set"),
        "{page}"
    );
    let row = &page[page.find(">Bella Salon</a>").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    let cells: Vec<&str> = row
        .split("<td>")
        .skip(1)
        .map(|c| c.split([' ', '<']).next().unwrap())
        .collect();
    let funnel: serde_json::Value = app
        .admin_json::<serde_json::Value>(
            reqwest::Method::GET,
            "/tenants/bella-salon/stats?period=7d",
        )
        .await["funnel"]
        .clone();
    assert_eq!(cells[0], funnel["calls"].to_string(), "{row}");
    assert_eq!(cells[3], funnel["booked"].to_string(), "{row}");
    assert_eq!(cells[0], "1", "the booking call is counted: {row}");
}
