use axum::http::{Method, StatusCode};
use obol::payments::{ProviderEvent, ProviderEventKind};
use obol::webhooks::WebhookSecret;
use serde_json::json;

use crate::harness::{Harness, SANDBOX_SECRET, card, request};

#[tokio::test]
async fn endpoints_show_their_secret_once() {
    let h = Harness::new().await;
    let created = h
        .post(
            "/v1/webhook_endpoints",
            Some("wh-1"),
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.str("secret").starts_with("whsec_"));
    let replay = h
        .post(
            "/v1/webhook_endpoints",
            Some("wh-1"),
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(replay.body["id"], created.body["id"]);
    let listed = h.get("/v1/webhook_endpoints").await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert!(listed.body["data"][0].get("secret").is_none());
    let bad = h
        .post("/v1/webhook_endpoints", None, json!({"url": "ftp://x"}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // A payment's event is delivered (and fails: nothing listens) on the next pass.
    h.post("/v1/payments", None, json!({"amount": "5", "asset": "USD"}))
        .await;
    let event = h.get("/v1/events").await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.engine.webhooks.run_due(10).await.unwrap();
    let attempts = h.get(&format!("/v1/events/{event}/attempts")).await;
    assert_eq!(
        attempts.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        attempts.body
    );
    assert!(attempts.body["data"][0]["error"].is_string());
}

#[tokio::test]
async fn provider_webhooks_are_verified_and_applied_once() {
    let h = Harness::new().await;
    let paid = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "800", "asset": "USD", "payment_method": card("4242424242424242"), "confirm": true}),
        )
        .await;
    let event = ProviderEvent {
        id: "evt_sandbox_1".into(),
        reference: paid.str("provider_reference"),
        kind: ProviderEventKind::DisputeOpened {
            amount: 800,
            reason: "fraudulent".into(),
        },
    };
    let body = serde_json::to_string(&event).unwrap();
    let secret = WebhookSecret::parse(SANDBOX_SECRET).unwrap();
    let headers = secret
        .headers(&event.id, h.engine.now(), body.as_bytes())
        .unwrap();
    let signed = || {
        let mut call = request(
            Method::POST,
            "/webhooks/sandbox",
            None,
            None,
            Some(&body),
            "application/json",
        );
        for (name, value) in &headers {
            call.headers_mut().insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        call
    };
    let first = h.call(signed()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let second = h.call(signed()).await;
    assert_eq!(second.status, StatusCode::OK);
    let id = paid.str("id");
    let payment = h.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(
        payment.body["state"]["disputed"], "800",
        "applied once: {}",
        payment.body
    );

    let forged = h
        .call(request(
            Method::POST,
            "/webhooks/sandbox",
            None,
            None,
            Some(&body),
            "application/json",
        ))
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(forged.code(), "webhook_signature_invalid");
    let unknown = h
        .call(request(
            Method::POST,
            "/webhooks/nobody",
            None,
            None,
            Some("{}"),
            "application/json",
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    assert_eq!(unknown.code(), "provider_not_found");
}
