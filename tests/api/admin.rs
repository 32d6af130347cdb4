//! The operators' API: every bad input gets a clear error naming the field; nothing is
//! half-written.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn salon(slug: &str, number: &str) -> Value {
    let mut t = demo_tenant();
    t["slug"] = slug.into();
    t["phone_number"] = number.into();
    t
}

async fn post_tenant(app: &TestApp, body: &Value) -> (u16, Value) {
    let resp = app
        .admin(Method::POST, "/tenants")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn creating_a_tenant_answers_201_with_its_id() {
    let app = spawn_app().await;
    let (status, body) = post_tenant(&app, &salon("kims-garage", "+13125550150")).await;
    assert_eq!(status, 201);
    assert!(body["id"].is_i64());
    assert_eq!(body["slug"], "kims-garage");
    assert_eq!(
        body["hours"]["tue"],
        json!([["09:00", "12:00"], ["13:00", "19:00"]])
    );
    let by_id = app
        .admin(Method::GET, &format!("/tenants/{}", body["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.json::<Value>().await.unwrap()["slug"], "kims-garage");
    let list: Vec<Value> = app.admin_json(Method::GET, "/tenants").await;
    assert_eq!(list.len(), 2);
}

#[tokio::test]
async fn every_invalid_field_is_named_with_what_to_fix() {
    let app = spawn_app().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"phone_number": "312-555-0150"}),
            "phone_number",
            "E.164",
        ),
        (json!({"sms_from": "12345"}), "sms_from", "E.164"),
        (json!({"timezone": "America/Chicag"}), "timezone", "IANA"),
        (
            json!({"hours": {"mon": [["09:00", "25:00"]]}}),
            "hours.mon[0]",
            "HH:MM",
        ),
        (
            json!({"hours": {"mon": [["17:00", "09:00"]]}}),
            "hours.mon[0]",
            "cross midnight",
        ),
        (
            json!({"hours": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}}),
            "hours.mon[1]",
            "overlaps",
        ),
        (
            json!({"services": [{"name": "Haircut", "duration_minutes": 0}]}),
            "services[0].duration_minutes",
            "from 5",
        ),
        (
            json!({"providers": [{"name": "Anna", "services": ["Haircut", "Perm"]}]}),
            "providers[0].services[1]",
            "not one of",
        ),
        (json!({"slot_minutes": 0}), "slot_minutes", "whole number"),
        (
            json!({"closures": ["25/12/2026"]}),
            "closures[0]",
            "YYYY-MM-DD",
        ),
        (json!({"slug": "Bella Salon!"}), "slug", "a-z"),
        (json!({"greeting": ""}), "greeting", "empty"),
        (json!({"colour": "red"}), "colour", "unknown field"),
        (json!({"hold_seconds": 5}), "hold_seconds", "from 15 to 900"),
        (
            json!({"confirm_before_booking": "yes"}),
            "confirm_before_booking",
            "true or false",
        ),
    ];
    for (i, (patch, field, hint)) in cases.into_iter().enumerate() {
        let mut body = salon(&format!("t{i}x"), &format!("+1312555{:04}", 2000 + i));
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err) = post_tenant(&app, &body).await;
        assert_eq!(status, 422, "case {i}: {err}");
        assert_eq!(err["field"], field, "case {i}: {err}");
        assert!(
            err["error"].as_str().unwrap().contains(hint),
            "case {i}: {err}"
        );
    }
    let list: Vec<Value> = app.admin_json(Method::GET, "/tenants").await;
    assert_eq!(list.len(), 1, "nothing was written");
}

#[tokio::test]
async fn a_duplicate_slug_or_number_is_a_conflict() {
    let app = spawn_app().await;
    let (status, err) = post_tenant(&app, &salon("bella-salon", "+13125550150")).await;
    assert_eq!((status, err["field"].as_str()), (409, Some("slug")));
    let (status, err) = post_tenant(&app, &salon("other", "+1 312 555 0100")).await;
    assert_eq!((status, err["field"].as_str()), (409, Some("phone_number")));
}

#[tokio::test]
async fn malformed_json_is_a_400_that_says_so() {
    let app = spawn_app().await;
    let resp = app
        .admin(Method::POST, "/tenants")
        .body("{\"slug\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("JSON")
    );
}

#[tokio::test]
async fn patch_changes_only_what_it_names_and_a_bad_patch_changes_nothing() {
    let app = spawn_app().await;
    let resp = app
        .admin(Method::PATCH, "/tenants/bella-salon")
        .json(&json!({"greeting": "Hello!", "slot_minutes": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let t: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            t["greeting"].as_str(),
            t["slot_minutes"].as_u64(),
            t["name"].as_str()
        ),
        (Some("Hello!"), Some(30), Some("Bella Salon"))
    );

    let resp = app
        .admin(Method::PATCH, "/tenants/bella-salon")
        .json(&json!({"greeting": "Changed", "timezone": "Nowhere/Else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let t: Value = app.admin_json(Method::GET, "/tenants/bella-salon").await;
    assert_eq!(
        t["greeting"], "Hello!",
        "the valid half of a bad patch was not written"
    );
}

#[tokio::test]
async fn removing_a_service_that_has_appointments_is_refused() {
    let app = spawn_app().await;
    let (_, path) = app.start_call("v3:svc", "+13125550100").await;
    app.answer(&path, "v3:svc", &json!({"customer_name": "A", "service": "Colour", "preferred_date": "2026-11-24", "preferred_time": "09:00"})).await;
    let patch = json!({"services": [{"name": "Haircut", "duration_minutes": 45}], "providers": [{"name": "Anna", "services": ["Haircut"]}]});
    let resp = app
        .admin(Method::PATCH, "/tenants/bella-salon")
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    assert!(
        resp.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("appointments")
    );
    let t: Value = app.admin_json(Method::GET, "/tenants/bella-salon").await;
    assert_eq!(
        t["services"].as_array().unwrap().len(),
        3,
        "nothing was half-written"
    );
}

#[tokio::test]
async fn deleting_a_tenant_removes_it_and_its_number_answers_unknown() {
    let app = spawn_app().await;
    assert_eq!(
        app.admin(Method::DELETE, "/tenants/bella-salon")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        app.admin(Method::GET, "/tenants/bella-salon")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.admin(Method::DELETE, "/tenants/bella-salon")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let doc = app.voice("v3:d", "+13125550199", "+13125550100").await;
    assert!(doc.contains("not set up"));
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_401() {
    let app = spawn_app().await;
    let url = format!("{}/tenants", app.base);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth("nope")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn without_a_configured_token_the_admin_api_says_how_to_set_one() {
    let app = spawn_with(Options {
        admin_token: None,
        ..Options::default()
    })
    .await;
    let resp = app
        .client
        .get(format!("{}/tenants", app.base))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(
        resp.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("SLOTLINE_ADMIN_TOKEN")
    );
}
