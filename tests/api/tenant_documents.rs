//! A tenant's TeXML documents follow the tenant: a slug change moves `texml/<slug>/` with
//! it (and its version history stays), a deleted tenant's documents are archived under
//! `texml/_archive/`, and a new tenant never serves documents it did not write.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// A hand-off that dials a number of the business that had the slug before.
const OLD_TRANSFER: &str = "<Response>\n  <Say>Putting you through to the old team.</Say>\n  <Dial><Number>+13125550177</Number></Dial>\n</Response>";

async fn put_doc(app: &TestApp, tenant: &str, name: &str, body: &str) {
    let resp = app
        .admin(Method::PUT, &format!("/tenants/{tenant}/texml/{name}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// Where `tenant`'s document `name` comes from, as the admin API says.
async fn source(app: &TestApp, tenant: &str, name: &str) -> String {
    let resp = app
        .admin(Method::GET, &format!("/tenants/{tenant}/texml/{name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.headers()["x-slotline-source"]
        .to_str()
        .unwrap()
        .to_string()
}

/// Fails three booking turns on the demo line (Sunday is closed) and returns the hand-off.
async fn hand_off(app: &TestApp, sid: &str) -> String {
    let (_, mut path) = app.start_call(sid, "+13125550100").await;
    let mut doc = String::new();
    for _ in 0..3 {
        let asked = json!({"customer_name": "Maria Lopez", "service": "Haircut", "provider": "Anna",
                           "preferred_date": "2026-11-22", "preferred_time": "10:00"});
        doc = app.answer(&path, sid, &asked).await;
        if let Some(action) = attr(&doc, "AIGather", "action") {
            path = gather_path(&action);
        }
    }
    doc
}

async fn fallback(app: &TestApp, slug: &str) -> String {
    let resp = app
        .client
        .get(format!("{}/texml/doc/{slug}/fallback", app.base))
        .send()
        .await
        .unwrap();
    texml_ok(resp).await
}

#[tokio::test]
async fn a_new_tenant_with_a_deleted_tenants_slug_serves_the_default_documents() {
    let app = spawn_app().await;
    put_doc(&app, "bella-salon", "transfer", OLD_TRANSFER).await;
    assert_eq!(
        texts(&hand_off(&app, "v3:m1").await, "Number"),
        vec!["+13125550177"]
    );

    let resp = app
        .admin(Method::DELETE, "/tenants/bella-salon")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    app.create_tenant(&demo_tenant()).await;

    assert_eq!(source(&app, "bella-salon", "transfer").await, "default");
    let doc = hand_off(&app, "v3:m1b").await;
    assert_eq!(texts(&doc, "Number"), vec!["+13125550111"], "{doc}");
    let archived: Vec<_> = std::fs::read_dir(app.texml_dir.join("_archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(archived.len(), 1, "{archived:?}");
    let name = archived[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(name, "bella-salon-1-20261120T150000Z");
    assert_eq!(
        std::fs::read_to_string(archived[0].join("transfer.xml")).unwrap(),
        OLD_TRANSFER
    );
}

#[tokio::test]
async fn a_directory_left_by_hand_is_archived_not_served_when_its_slug_is_created() {
    let app = spawn_app().await;
    let left = app.texml_dir.join("studio-b");
    std::fs::create_dir_all(&left).unwrap();
    std::fs::write(left.join("transfer.xml"), OLD_TRANSFER).unwrap();

    app.create_tenant(&open_every_day(
        "studio-b",
        "+13125550140",
        "America/Chicago",
        &["Ana"],
    ))
    .await;

    assert_eq!(source(&app, "studio-b", "transfer").await, "default");
    assert!(!left.exists());
    assert!(
        app.texml_dir
            .join("_archive/studio-b-unowned-20261120T150000Z/transfer.xml")
            .is_file()
    );
    let resp = app
        .admin(Method::GET, "/tenants/studio-b/texml")
        .send()
        .await
        .unwrap();
    let list: Value = resp.json().await.unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|d| d["source"] == "default"),
        "{list}"
    );
}

#[tokio::test]
async fn a_slug_change_keeps_serving_the_custom_document_and_its_history() {
    let app = spawn_app().await;
    let custom = "<Response><Say>Bella is busy; please call back.</Say><Hangup/></Response>";
    put_doc(&app, "bella-salon", "fallback", custom).await;

    let resp = app
        .admin(Method::PATCH, "/tenants/bella-salon")
        .json(&json!({"slug": "bella-studio"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    assert!(
        fallback(&app, "bella-studio")
            .await
            .contains("Bella is busy")
    );
    assert_eq!(source(&app, "bella-studio", "fallback").await, "tenant");
    assert!(app.texml_dir.join("bella-studio/fallback.xml").is_file());
    assert!(!app.texml_dir.join("bella-salon").exists());
    put_doc(
        &app,
        "bella-studio",
        "fallback",
        "<Response><Hangup/></Response>",
    )
    .await;
    let versions: Vec<Value> = app
        .admin_json(Method::GET, "/tenants/bella-studio/texml/fallback/versions")
        .await;
    let by: Vec<&str> = versions
        .iter()
        .map(|v| v["saved_by"].as_str().unwrap())
        .collect();
    assert_eq!(
        by,
        ["admin", "admin"],
        "no hand edit is recorded for the move: {versions:#?}"
    );
    assert_eq!(versions[0]["body"], custom);
}

#[tokio::test]
async fn a_refused_slug_change_moves_no_documents() {
    let app = spawn_app().await;
    put_doc(
        &app,
        "bella-salon",
        "fallback",
        "<Response><Say>Ours.</Say></Response>",
    )
    .await;
    app.create_tenant(&open_every_day(
        "other",
        "+13125550140",
        "America/Chicago",
        &["Ana"],
    ))
    .await;

    let resp = app
        .admin(Method::PATCH, "/tenants/bella-salon")
        .json(&json!({"slug": "other"}))
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), 409);
    assert!(app.texml_dir.join("bella-salon/fallback.xml").is_file());
    assert_eq!(source(&app, "bella-salon", "fallback").await, "tenant");
}
