//! Requests that Telnyx did not sign (or that were altered) get 403 and no TeXML.

use ed25519_dalek::SigningKey;
use serde_json::json;

use crate::helpers::*;

async fn assert_refused(resp: reqwest::Response) {
    assert_eq!(resp.status(), 403);
    let body = resp.text().await.unwrap();
    assert!(!body.contains("<Response"), "no TeXML on a refusal: {body}");
}

#[tokio::test]
async fn a_request_without_signature_headers_is_refused() {
    let app = spawn_app().await;
    let body = voice_body("v3:s", "+13125550199", "+13125550100").into_bytes();
    assert_refused(
        app.post_raw(
            "/texml/voice",
            body,
            None,
            "application/x-www-form-urlencoded",
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn a_request_signed_with_another_key_is_refused() {
    let app = spawn_app().await;
    let body = voice_body("v3:s", "+13125550199", "+13125550100").into_bytes();
    let (ts, sig) = app.sign_with(
        &SigningKey::from_bytes(&[7u8; 32]),
        app.clock.now().as_second(),
        &body,
    );
    assert_refused(
        app.post_raw(
            "/texml/voice",
            body,
            Some((&ts, &sig)),
            "application/x-www-form-urlencoded",
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn a_stale_or_future_timestamp_is_refused() {
    let app = spawn_app().await;
    let body = voice_body("v3:s", "+13125550199", "+13125550100").into_bytes();
    for skew in [-301, 301] {
        let (ts, sig) = app.sign_with(&fixture_key(), app.clock.now().as_second() + skew, &body);
        assert_refused(
            app.post_raw(
                "/texml/voice",
                body.clone(),
                Some((&ts, &sig)),
                "application/x-www-form-urlencoded",
            )
            .await,
        )
        .await;
    }
}

#[tokio::test]
async fn a_tampered_body_is_refused() {
    let app = spawn_app().await;
    let body = voice_body("v3:s", "+13125550199", "+13125550100").into_bytes();
    let (ts, sig) = app.sign(&body);
    let tampered = String::from_utf8(body)
        .unwrap()
        .replace("0100", "0101")
        .into_bytes();
    assert_refused(
        app.post_raw(
            "/texml/voice",
            tampered,
            Some((&ts, &sig)),
            "application/x-www-form-urlencoded",
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn a_validly_signed_request_is_answered() {
    let app = spawn_app().await;
    let resp = app
        .post_signed(
            "/texml/voice",
            voice_body("v3:s", "+13125550199", "+13125550100"),
        )
        .await;
    texml_ok(resp).await;
}

#[tokio::test]
async fn a_tampered_missing_or_borrowed_state_token_is_refused() {
    let app = spawn_app().await;
    let (_, path) = app.start_call("v3:tok", "+13125550100").await;
    let result = json!({"customer_name": "A", "service": "Haircut", "preferred_date": "2026-11-24", "preferred_time": "10:00"});
    // Another attempt number in the token.
    let tampered = path.replacen(".g.1.", ".g.2.", 1);
    assert_ne!(tampered, path);
    assert_refused(
        app.post_signed(&tampered, gather_body("v3:tok", &result))
            .await,
    )
    .await;
    // No token.
    assert_refused(
        app.post_signed("/texml/gather", gather_body("v3:tok", &result))
            .await,
    )
    .await;
    // The token of another call.
    assert_refused(
        app.post_signed(&path, gather_body("v3:other", &result))
            .await,
    )
    .await;
    assert!(app.appointments("bella-salon").await.is_empty());
}

#[tokio::test]
async fn an_expired_state_token_is_refused() {
    let app = spawn_app().await;
    let (_, path) = app.start_call("v3:old", "+13125550100").await;
    app.clock
        .set(app.clock.now() + jiff::SignedDuration::from_hours(2));
    let result = json!({"customer_name": "A", "service": "Haircut", "preferred_date": "2026-11-24", "preferred_time": "10:00"});
    assert_refused(app.post_signed(&path, gather_body("v3:old", &result)).await).await;
}

#[tokio::test]
async fn status_callbacks_are_signed_too() {
    let app = spawn_app().await;
    let body = fixture("status-callback-completed.form");
    assert_refused(
        app.post_raw(
            "/texml/status",
            body.clone(),
            None,
            "application/x-www-form-urlencoded",
        )
        .await,
    )
    .await;
    texml_ok(app.post_signed("/texml/status", body).await).await;
}
