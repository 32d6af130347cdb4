//! Removing a provider or service with `PATCH /tenants/{id}`: it is retired (kept for the
//! appointments that name it, no longer offered) unless it has appointments to come, which
//! the 409 names. The demo tenant (Anna and Marco; Haircut, Colour, Blow-dry) at Friday
//! 2026-11-20 09:00 in Chicago.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Books `service` with `provider` on `date` at `time` through a call; the appointment id.
async fn book(
    app: &TestApp,
    sid: &str,
    service: &str,
    provider: &str,
    date: &str,
    time: &str,
) -> i64 {
    let (_, path) = app.start_call(sid, "+13125550100").await;
    let doc = app
        .answer(
            &path,
            sid,
            &json!({"customer_name": "Maria Lopez", "service": service, "provider": provider,
                    "preferred_date": date, "preferred_time": time, "callback_number": "+13125550199"}),
        )
        .await;
    assert!(doc.contains("is booked for"), "{doc}");
    let list = app.appointments("bella-salon").await;
    list.iter()
        .filter(|a| a["provider"] == provider && a["service"] == service)
        .map(|a| a["id"].as_i64().unwrap())
        .max()
        .unwrap()
}

async fn patch(app: &TestApp, body: &Value) -> (u16, Value) {
    let resp = app
        .admin(Method::PATCH, "/tenants/bella-salon")
        .json(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// The demo tenant's staff without Marco.
fn only_anna() -> Value {
    json!({"providers": [{"name": "Anna", "services": ["Haircut", "Colour", "Blow-dry"]}]})
}

/// The `enum` of `field` in the AIGather schema a new call gets.
async fn offered(app: &TestApp, sid: &str, field: &str) -> Value {
    let doc = app.voice(sid, "+13125550199", "+13125550100").await;
    let params: Value = serde_json::from_str(&texts(&doc, "Parameters")[0]).unwrap();
    params["properties"][field]["enum"].clone()
}

#[tokio::test]
async fn a_stylist_with_only_a_cancelled_past_appointment_can_be_removed_and_is_no_longer_offered()
{
    let app = spawn_app().await;
    let id = book(&app, "v3:r1", "Haircut", "Marco", "2026-11-23", "10:00").await;
    let resp = app
        .admin(
            Method::DELETE,
            &format!("/tenants/bella-salon/appointments/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.clock.set("2026-11-24T15:00:00Z".parse().unwrap());

    let (status, tenant) = patch(&app, &only_anna()).await;

    assert_eq!(status, 200, "{tenant}");
    assert_eq!(
        tenant["providers"],
        json!([{"name": "Anna", "services": ["Haircut", "Colour", "Blow-dry"]}])
    );
    assert_eq!(offered(&app, "v3:r1b", "provider").await, json!(["Anna"]));
    let avail: Value = app
        .admin_json(
            Method::GET,
            "/tenants/bella-salon/availability?service=Haircut&date=2026-11-25",
        )
        .await;
    let times = avail["times"].as_array().unwrap();
    assert!(!times.is_empty(), "{avail}");
    assert!(
        times.iter().all(|t| t["providers"] == json!(["Anna"])),
        "{avail}"
    );
    let history = app.appointments("bella-salon").await;
    assert_eq!(
        (
            history[0]["provider"].as_str(),
            history[0]["status"].as_str()
        ),
        (Some("Marco"), Some("cancelled")),
        "the old appointment still names him"
    );
}

#[tokio::test]
async fn a_caller_asking_for_a_retired_stylist_hears_who_is_still_here() {
    let app = spawn_app().await;
    let (status, _) = patch(&app, &only_anna()).await;
    assert_eq!(status, 200);

    let (_, path) = app.start_call("v3:r2", "+13125550100").await;
    let asked = json!({"customer_name": "Tom", "service": "Haircut", "provider": "Marco",
                       "preferred_date": "2026-11-23", "preferred_time": "14:00"});
    let doc = app.answer(&path, "v3:r2", &asked).await;

    assert_eq!(
        texts(&doc, "Greeting")[0],
        "Sorry, Marco doesn't work here. You can ask for Anna, or anyone. What other day or time would suit you?"
    );
    assert!(app.appointments("bella-salon").await.is_empty());
}

#[tokio::test]
async fn a_stylist_with_a_future_booking_cannot_be_removed_and_the_409_names_it() {
    let app = spawn_app().await;
    let id = book(&app, "v3:r3", "Haircut", "Marco", "2026-11-23", "10:00").await;

    let (status, err) = patch(&app, &only_anna()).await;

    assert_eq!(
        (status, err["field"].as_str()),
        (409, Some("providers")),
        "{err}"
    );
    let message = err["error"].as_str().unwrap();
    assert!(message.contains("\"Marco\""), "{message}");
    assert!(
        message.contains(&format!("#{id} at 2026-11-23T10:00:00-06:00")),
        "{message}"
    );
    assert!(message.contains("cancel or move them"), "{message}");
    assert_eq!(
        offered(&app, "v3:r3b", "provider").await,
        json!(["Anna", "Marco"])
    );
}

#[tokio::test]
async fn a_retired_stylist_listed_again_comes_back() {
    let app = spawn_app().await;
    assert_eq!(patch(&app, &only_anna()).await.0, 200);

    let (status, tenant) = patch(
        &app,
        &json!({"providers": [
            {"name": "Anna", "services": ["Haircut", "Colour", "Blow-dry"]},
            {"name": "Marco", "services": ["Haircut"]}]}),
    )
    .await;

    assert_eq!(status, 200, "{tenant}");
    assert_eq!(
        offered(&app, "v3:r4", "provider").await,
        json!(["Anna", "Marco"])
    );
    book(&app, "v3:r4b", "Haircut", "Marco", "2026-11-23", "10:00").await;
}

#[tokio::test]
async fn renaming_a_service_with_past_appointments_retires_the_old_name_and_offers_the_new() {
    let app = spawn_app().await;
    let id = book(&app, "v3:r5", "Blow-dry", "Anna", "2026-11-23", "10:00").await;
    app.clock.set("2026-11-23T18:00:00Z".parse().unwrap());
    let services = json!([
        {"name": "Haircut", "duration_minutes": 45},
        {"name": "Colour", "duration_minutes": 90},
        {"name": "Blowout", "duration_minutes": 30}]);
    let providers = json!([
        {"name": "Anna", "services": ["Haircut", "Colour", "Blowout"]},
        {"name": "Marco", "services": ["Haircut", "Blowout"]}]);

    let (status, tenant) =
        patch(&app, &json!({"services": services, "providers": providers})).await;

    assert_eq!(status, 200, "{tenant}");
    assert_eq!(
        offered(&app, "v3:r5b", "service").await,
        json!(["Haircut", "Colour", "Blowout", "none"])
    );
    let history = app.appointments("bella-salon").await;
    let old = history.iter().find(|a| a["id"] == id).unwrap();
    assert_eq!(
        (old["service"].as_str(), old["status"].as_str()),
        (Some("Blow-dry"), Some("booked"))
    );
}

#[tokio::test]
async fn a_stylist_holding_a_slot_for_a_caller_who_is_confirming_cannot_be_removed() {
    let app = spawn_app().await;
    assert_eq!(
        patch(&app, &json!({"confirm_before_booking": true}))
            .await
            .0,
        200
    );
    let (_, path) = app.start_call("v3:r6", "+13125550100").await;
    let asked = json!({"customer_name": "Tom", "service": "Haircut", "provider": "Marco",
                       "preferred_date": "2026-11-23", "preferred_time": "10:00"});
    app.answer(&path, "v3:r6", &asked).await;
    let held = app.appointments("bella-salon").await;
    assert_eq!(held[0]["status"], "held", "{held:#?}");

    let (status, err) = patch(&app, &only_anna()).await;

    assert_eq!(status, 409, "{err}");
    let id = held[0]["id"].as_i64().unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains(&format!("#{id} at 2026-11-23T10:00:00-06:00")),
        "{err}"
    );
}
