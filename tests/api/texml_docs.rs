//! Issue 5: operators edit what each line says — wording fields, documents under `texml/`
//! with hot reload (last good wins), the admin API and CLI for them — and nothing an
//! operator or a caller types can break the XML.

use std::{path::Path, time::Duration};

use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};
use slotline::{
    domain::TenantSpec,
    texml::{
        docs::{self, render::DocValues},
        escape::CdataJson,
        schema,
        templates::{GatherDoc, HistoryMessage, SayDoc},
        validate::validate,
    },
    wording::{self, Values},
};

use crate::helpers::*;

/// A haircut with Anna, named so the spoken line does not depend on tie-breaking.
fn haircut(date: &str, time: &str) -> Value {
    json!({"customer_name": "Maria Lopez", "service": "haircut", "preferred_date": date, "preferred_time": time, "callback_number": "+13125550199", "provider": "Anna"})
}

async fn patch(app: &TestApp, body: Value) -> (u16, Value) {
    let resp = app
        .admin(Method::PATCH, "/tenants/bella-salon")
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn fallback(app: &TestApp, tenant: &str) -> String {
    let resp = app
        .client
        .get(format!("{}/texml/doc/{tenant}/fallback", app.base))
        .send()
        .await
        .unwrap();
    texml_ok(resp).await
}

async fn put_doc(app: &TestApp, name: &str, body: &str) -> (u16, Value) {
    let resp = app
        .admin(Method::PUT, &format!("/tenants/bella-salon/texml/{name}"))
        .header("x-slotline-actor", "alice")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// Polls the fallback document until it contains `needle` (hot reload polls every 500 ms).
async fn fallback_eventually(app: &TestApp, needle: &str) -> String {
    let mut doc = String::new();
    for _ in 0..40 {
        doc = fallback(app, "bella-salon").await;
        if doc.contains(needle) {
            return doc;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the fallback never said {needle:?}; last:\n{doc}");
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const SAY_DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n  <Say voice=\"{voice}\">MARKER at {business}.</Say>\n  <Hangup/>\n</Response>\n";

#[tokio::test]
async fn an_unknown_placeholder_in_wording_gets_422_naming_it() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"greeting": "Hi from {buisness}"}),
            "greeting",
            "{buisness}",
        ),
        (
            json!({"greeting": "Hi {name}"}),
            "greeting",
            "{name} has no value",
        ),
        (
            json!({"confirmation": "Booked {when}"}),
            "confirmation",
            "{when}",
        ),
        (
            json!({"sms_reminder": "See you {date"}),
            "sms_reminder",
            "never closed",
        ),
        (json!({"goodbye": "Bye}"}), "goodbye", "without a matching"),
        (json!({"closed": "yes"}), "closed", "true or false"),
    ];
    for (body, field, says) in cases {
        let (status, err) = patch(&app, body.clone()).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(err["field"], field, "{body}");
        let msg = err["error"].as_str().unwrap();
        assert!(msg.contains(says), "{body}: {msg}");
    }
}

#[tokio::test]
async fn wording_defaults_to_null_and_patched_lines_are_spoken() {
    let app = spawn_app().await;
    let t: Value = app.admin_json(Method::GET, "/tenants/bella-salon").await;
    for f in [
        "reprompt",
        "confirmation",
        "transfer_line",
        "goodbye",
        "sms_confirmation",
        "sms_reminder",
    ] {
        assert_eq!(t[f], Value::Null, "{f}");
    }
    assert_eq!(t["closed"], false);
    let (status, t) = patch(
        &app,
        json!({
            "greeting": "Hello from {business} & co!",
            "confirmation": "All set, {name}: {service} with {provider} on {date} at {time}, {business}.",
            "goodbye": "Bye now.",
            "sms_confirmation": "{business}: {name} {service} {provider} {date} {time}",
        }),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["goodbye"], "Bye now.");

    let (doc, path) = app.start_call("v3:words", "+13125550100").await;
    assert_eq!(
        texts(&doc, "Greeting"),
        vec!["Hello from Bella Salon & co!"]
    );
    let doc = app
        .answer(&path, "v3:words", &haircut("2026-11-24", "15:00"))
        .await;
    assert_eq!(
        texts(&doc, "Say"),
        vec![
            "All set, Maria Lopez: haircut with Anna on Tuesday, November 24 at 3:00 PM, Bella Salon. Bye now."
        ]
    );
}

#[tokio::test]
async fn a_patched_reprompt_is_asked_after_a_refusal() {
    let app = spawn_app().await;
    patch(&app, json!({"reprompt": "Any other time at {business}?"})).await;
    let (_, path) = app.start_call("v3:reprompt", "+13125550100").await;
    let doc = app
        .answer(&path, "v3:reprompt", &json!({"service": "haircut"}))
        .await;
    let greeting = texts(&doc, "Greeting").join(" ");
    assert!(
        greeting.ends_with("Any other time at Bella Salon?"),
        "{greeting}"
    );
}

#[tokio::test]
async fn a_closed_tenant_hears_closed_xml_instead_of_the_aigather() {
    let app = spawn_app().await;
    let (status, t) = patch(&app, json!({"closed": true})).await;
    assert_eq!((status, &t["closed"]), (200, &json!(true)));
    let doc = app.voice("v3:closed", "+13125550199", "+13125550100").await;
    assert!(!doc.contains("<AIGather"), "{doc}");
    let say = texts(&doc, "Say").join(" ");
    assert!(
        say.contains("Bella Salon") && say.contains("closed"),
        "{say}"
    );

    patch(&app, json!({"closed": false})).await;
    let (doc, _) = app.start_call("v3:open", "+13125550100").await;
    assert!(doc.contains("<AIGather"));
}

#[tokio::test]
async fn the_fallback_document_is_served_without_the_database() {
    // The database is taken away by renaming a table in the SQLite file.
    let app = spawn_with(Options {
        sqlite: true,
        ..Options::default()
    })
    .await;
    // Take the tenants table away: the voice URL can only apologise now.
    let conn = rusqlite::Connection::open(&app.db_path).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF; ALTER TABLE tenants RENAME TO gone;")
        .unwrap();
    let doc = app.voice("v3:nodb", "+13125550199", "+13125550100").await;
    assert!(doc.contains("technical trouble"), "{doc}");

    let doc = fallback(&app, "bella-salon").await;
    assert!(
        texts(&doc, "Say")[0].contains("Please call Bella Salon again later"),
        "{doc}"
    );
    assert_eq!(
        attr(&doc, "Say", "voice").as_deref(),
        Some("Telnyx.NaturalHD.astra")
    );
    let posted = texml_ok(
        app.post_raw(
            "/texml/doc/bella-salon/fallback",
            b"CallSid=x".to_vec(),
            None,
            "application/x-www-form-urlencoded",
        )
        .await,
    )
    .await;
    assert_eq!(posted, doc, "GET and POST answer the same");
    let unknown = fallback(&app, "no-such-salon").await;
    assert!(
        texts(&unknown, "Say")[0].contains("Please call us again later."),
        "{unknown}"
    );
}

#[tokio::test]
async fn a_tenant_document_overrides_the_default_and_a_bad_edit_keeps_the_last_good_one() {
    let app = spawn_app().await;
    let file = app.texml_dir.join("bella-salon/fallback.xml");
    write(&file, &SAY_DOC.replace("MARKER", "First version"));
    let doc = fallback_eventually(&app, "First version at Bella Salon.").await;
    assert_valid(&doc);

    // A broken edit (unclosed <Say>) is refused; the first version keeps being served.
    write(&file, "<Response>\n  <Say>Broken edit\n</Response>\n");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        fallback(&app, "bella-salon")
            .await
            .contains("First version")
    );

    // Fixing it is picked up without a restart; deleting it brings the default back.
    write(&file, &SAY_DOC.replace("MARKER", "Second version"));
    fallback_eventually(&app, "Second version").await;
    std::fs::remove_file(&file).unwrap();
    fallback_eventually(&app, "by phone right now").await;

    // The defaults directory overrides the built-in copy for every tenant.
    write(
        &app.texml_dir.join("_default/fallback.xml"),
        &SAY_DOC.replace("MARKER", "Shared default"),
    );
    fallback_eventually(&app, "Shared default at Bella Salon.").await;
}

#[tokio::test]
async fn the_hand_off_is_the_tenants_transfer_xml_with_the_reason_first() {
    let app = spawn_app().await;
    let transfer = "<Response>\n  <Say voice=\"{voice}\">{transfer_line}</Say>\n  <Pause length=\"1\"/>\n  <Dial callerId=\"{phone_number}\"><Number>{transfer_number}</Number></Dial>\n</Response>";
    let (status, body) = put_doc(&app, "transfer", transfer).await;
    assert_eq!(status, 200, "{body}");
    patch(
        &app,
        json!({"transfer_line": "Hold on, {business} will pick up."}),
    )
    .await;
    let (_, mut path) = app.start_call("v3:handoff", "+13125550100").await;
    let mut doc = String::new();
    for _ in 0..3 {
        doc = app
            .answer(&path, "v3:handoff", &haircut("2026-11-22", "10:00"))
            .await;
        if let Some(action) = attr(&doc, "AIGather", "action") {
            path = gather_path(&action);
        }
    }
    assert!(doc.contains("<Pause length=\"1\"/>"), "{doc}");
    assert_eq!(texts(&doc, "Number"), vec!["+13125550111"]);
    let say = texts(&doc, "Say")[0].clone();
    assert!(say.ends_with("Hold on, Bella Salon will pick up."), "{say}");
    assert!(
        say.len() > "Hold on, Bella Salon will pick up.".len(),
        "the reason leads: {say}"
    );
}

#[tokio::test]
async fn the_admin_api_lists_reads_replaces_and_records_documents() {
    let app = spawn_app().await;
    let list: Vec<Value> = app
        .admin_json(Method::GET, "/tenants/bella-salon/texml")
        .await;
    let sources: Vec<(&str, &str)> = list
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["source"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sources,
        [
            ("closed", "default"),
            ("fallback", "default"),
            ("transfer", "default"),
            ("reminder_call", "default"),
            ("reminder_voicemail", "default")
        ]
    );

    let first = SAY_DOC.replace("MARKER", "Saved once");
    let (status, body) = put_doc(&app, "fallback", &first).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["saved_by"], "admin (alice)");
    // Served at once, from the tenant's directory, written whole.
    assert!(
        fallback(&app, "bella-salon")
            .await
            .contains("Saved once at Bella Salon.")
    );
    let file = app.texml_dir.join("bella-salon/fallback.xml");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), first);
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temp files left: {leftovers:?}");

    let resp = app
        .admin(Method::GET, "/tenants/bella-salon/texml/fallback")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-slotline-source"], "tenant");
    assert_eq!(resp.text().await.unwrap(), first);

    // A hand edit on disk, then a second save: the history keeps all three, in order.
    write(&file, &SAY_DOC.replace("MARKER", "Hand edit"));
    let second = SAY_DOC.replace("MARKER", "Saved twice");
    let resp = app
        .admin(Method::PUT, "/tenants/bella-salon/texml/fallback")
        .body(second.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let versions: Vec<Value> = app
        .admin_json(Method::GET, "/tenants/bella-salon/texml/fallback/versions")
        .await;
    let who: Vec<&str> = versions
        .iter()
        .map(|v| v["saved_by"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["admin (alice)", "file", "admin"]);
    assert_eq!(versions[2]["body"], second.as_str());
    assert!(versions[0]["saved_at"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn an_invalid_document_gets_422_with_line_and_column_and_nothing_is_written() {
    let app = spawn_app().await;
    let bad = "<Response>\n  <Say>Hi</Say>\n  <Dial><Number>{business}</Number></Dial>\n  <Bogus/>\n</Response>";
    let (status, body) = put_doc(&app, "fallback", bad).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["field"],
        app.texml_dir
            .join("bella-salon/fallback.xml")
            .display()
            .to_string()
    );
    assert_eq!(
        (body["line"].as_u64(), body["column"].as_u64()),
        (Some(3), Some(17)),
        "{body}"
    );
    let lines: Vec<u64> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{body}");
    assert!(
        body["problems"][1]["message"]
            .as_str()
            .unwrap()
            .contains("Bogus"),
        "{body}"
    );
    assert!(!app.texml_dir.join("bella-salon/fallback.xml").exists());

    let cdata = "<Response><AIGather action=\"https://x.example.com/a\"><Parameters><![CDATA[{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\",\"description\":\"{business}\"}}}]]></Parameters></AIGather></Response>";
    let (status, body) = put_doc(&app, "closed", cdata).await;
    assert_eq!(status, 422);
    assert!(
        body["error"].as_str().unwrap().contains("inside CDATA"),
        "{body}"
    );
    assert_eq!(body["line"], 1);
}

#[tokio::test]
async fn document_names_cannot_leave_the_documents_directory() {
    let app = spawn_app().await;
    for (name, status) in [
        ("..%2F..%2Fescape", 422),
        ("Fallback", 422),
        ("fallback.xml", 422),
        ("fall%20back", 422),
        ("nope", 404),
    ] {
        let resp = app
            .admin(Method::PUT, &format!("/tenants/bella-salon/texml/{name}"))
            .body(SAY_DOC)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{name}");
    }
    let outside: Vec<_> = std::fs::read_dir(app.texml_dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("escape"))
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
    let resp = app
        .admin(Method::PUT, "/tenants/bella-salon/texml/fallback")
        .header("x-slotline-actor", "")
        .body(SAY_DOC)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let unauthorised = app
        .client
        .put(format!("{}/tenants/bella-salon/texml/fallback", app.base))
        .body(SAY_DOC)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), 401);
}

#[tokio::test]
async fn preview_renders_the_document_or_a_draft_with_sample_values() {
    let app = spawn_app().await;
    let preview = |body: &'static str| {
        app.admin(Method::POST, "/tenants/bella-salon/texml/closed/preview")
            .body(body)
            .send()
    };
    let resp = preview("").await.unwrap();
    assert_eq!(resp.status(), 200);
    let doc = resp.text().await.unwrap();
    assert_valid(&doc);
    assert!(
        texts(&doc, "Say")[0].starts_with("Thanks for calling Bella Salon."),
        "{doc}"
    );

    let draft = "<Response><Say>{name} booked {service} with {provider} on {date} at {time}</Say></Response>";
    let doc = preview(draft).await.unwrap().text().await.unwrap();
    assert_eq!(
        texts(&doc, "Say"),
        vec!["Jane Doe booked haircut with Anna on Tuesday, November 24 at 3:00 PM"]
    );
    assert_eq!(preview("<Response><Say>").await.unwrap().status(), 422);
}

#[tokio::test]
async fn a_service_named_a_cdata_end_cannot_break_the_parameters() {
    let app = spawn_app().await;
    let mut tenant = demo_tenant();
    tenant["slug"] = "cdata".into();
    tenant["phone_number"] = "+13125550178".into();
    tenant["services"] = json!([{"name": "a]]>b", "duration_minutes": 30}]);
    tenant["providers"] = json!([{"name": "]]>", "services": ["a]]>b"]}]);
    let resp = app
        .admin(Method::POST, "/tenants")
        .json(&tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let (doc, _) = app.start_call("v3:cdata", "+13125550178").await;
    let params: Value = serde_json::from_str(&texts(&doc, "Parameters")[0]).unwrap();
    assert_eq!(
        params["properties"]["service"]["enum"],
        json!(["a]]>b", "none"])
    );
    assert_eq!(params["properties"]["provider"]["enum"], json!(["]]>"]));
    assert_eq!(
        doc.matches("]]>").count(),
        1,
        "only the section's own end: {doc}"
    );
}

// ---- Nothing breaks the XML ----

fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\]>&<\"'{}a-z ]{1,60}",
        "\\PC{1,40}",
        Just("a]]>b".to_string()),
        Just("שלום עולם 💇‍♀️ مرحبا \u{202e}rtl".to_string()),
        any::<String>().prop_map(|s| format!("{s}{}", "é]]>\u{1}&<x".repeat(1_500))),
    ]
}

fn must_validate(what: &str, doc: &str) -> Result<(), TestCaseError> {
    match validate(doc) {
        Ok(()) => Ok(()),
        Err(problems) => Err(TestCaseError::fail(format!(
            "{what}: {}\n{}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            &doc[..doc.len().min(2_000)]
        ))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_template_and_default_document_stays_valid_for_any_text(
        business in nasty(), voice in nasty(), service in nasty(), provider in nasty(),
        line in nasty(), caller in nasty(), offer in nasty(),
    ) {
        // Wording may not hold stray braces (they are for placeholders); voices no control characters.
        let no_braces = |s: &str| format!("x{}", s.replace(['{', '}'], ""));
        let json = json!({
            "slug": "t", "name": format!("B{business}"), "phone_number": "+13125550100",
            "timezone": "America/Chicago", "voice": format!("V{}", voice.replace(char::is_control, "")),
            "transfer_number": "+13125550111",
            "transfer_line": no_braces(&line), "goodbye": no_braces(&line),
            "hours": {"mon": [["09:00", "17:00"]]},
            "services": [{"name": format!("S{service}"), "duration_minutes": 30}],
            "providers": [{"name": format!("P{provider}"), "services": [format!("S{service}")]}],
        });
        let spec = TenantSpec::from_json(&json);
        prop_assume!(spec.is_ok());
        let spec = spec.unwrap();

        // Askama templates through their structs, with the real schema builder.
        let params: CdataJson = schema::booking_parameters(&spec, "2026-11-24".parse().unwrap(), std::slice::from_ref(&offer));
        let history = [HistoryMessage { role: "user", content: caller.clone() }];
        let greeting = wording::fill(&spec.greeting, &Values::business(&spec.name));
        // A persona's instructions carry operator text into an attribute.
        let assistant = slotline::domain::line::Assistant {
            model: Some("openai/gpt-4o".into()),
            instructions: Some(format!("Be kind. {caller}")),
        };
        let gather = GatherDoc {
            action: "https://booking.example.com/texml/gather?s=t",
            greeting: &greeting, voice: &spec.voice, assistant: Some(&assistant), parameters: &params, history: &history,
            fallback: "Sorry, I couldn't finish your booking.", transfer: Some("+13125550111"), caller_id: "+13125550100",
        };
        must_validate("gather.xml", &askama::Template::render(&gather).unwrap())?;
        let said = wording::fill(wording::CONFIRMATION.default, &Values {
            name: Some(&caller), service: Some(&spec.services[0].name), provider: Some(&offer),
            date: Some(&line), time: Some(&caller), business: Some(&spec.name),
        });
        for transfer in [None, Some("+13125550111")] {
            let say = SayDoc { voice: Some(&spec.voice), message: &said, transfer, caller_id: "+13125550100" };
            must_validate("say.xml", &askama::Template::render(&say).unwrap())?;
        }

        // Every default document, with the tenant's values and with caller text everywhere.
        // `{action}` is a URL slotline builds (the reminder's signed token), like the numbers.
        let own = DocValues::for_tenant(&spec)
            .with("action", "https://booking.example.com/texml/reminder/answer?s=t");
        let everywhere = docs::render::PLACEHOLDERS
            .iter()
            .fold(own.clone(), |v, k| match *k {
                "voice" | "phone_number" | "transfer_number" | "action" => v,
                // In transfer.xml the flow puts a fixed reason before the transfer line.
                "transfer_line" => v.with("transfer_line", &format!("Sorry. {caller}")),
                k => v.with(k, &caller),
            });
        for name in docs::NAMES {
            let text = docs::built_in(name).unwrap();
            for values in [&own, &everywhere] {
                let out = docs::render::render(text, values).unwrap();
                must_validate(name, &out)?;
            }
        }
    }
}
