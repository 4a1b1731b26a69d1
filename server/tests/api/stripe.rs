//! The server with `[providers.stripe]` against localstripe (behind its compatibility proxy):
//! card payments route to Stripe, are captured in part and refunded there, and Stripe's own
//! webhook (signed by localstripe, posted to `/webhooks/stripe`) settles a 3-D Secure payment
//! once.

use std::time::Duration;

use axum::http::StatusCode;
use obol::payments::Provider as _;
use obol::testing::providers::RailHarness;
use obol_server::config::StripeSettings;
use obol_stripe::testing::{StripeRail, TEST_SECRET_KEY, TEST_WEBHOOK_SECRET};
use serde_json::json;

use crate::harness::{Harness, card, test_config};

async fn stripe_server(rail: &StripeRail) -> Harness {
    let mut config = test_config();
    config.providers.stripe = Some(StripeSettings {
        secret_key: TEST_SECRET_KEY.into(),
        webhook_secret: TEST_WEBHOOK_SECRET.into(),
        return_url: "https://shop.example/paid".into(),
        api_base: Some(rail.localstripe.base.clone()),
        multicapture: false,
        currencies: None,
    });
    Harness::with_config(config).await
}

#[tokio::test]
async fn a_stripe_payment_is_captured_in_part_refunded_and_settled_by_webhook() {
    let rail = StripeRail::start().await;
    let h = stripe_server(&rail).await;
    // Stripe posts to the server's socket.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = h.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    rail.localstripe
        .register_webhook(&format!("http://127.0.0.1:{port}/webhooks/stripe"))
        .await;

    let held = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "1000", "asset": "USD", "capture_method": "manual",
                   "payment_method": card("4242424242424242"), "confirm": true}),
        )
        .await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);
    assert_eq!(held.body["provider"], "stripe", "{}", held.body);
    assert_eq!(held.body["state"]["status"], "requires_capture");
    let id = held.str("id");
    let reference = held.str("provider_reference");
    assert!(reference.starts_with("pi_"), "{reference}");

    let captured = h
        .post(
            &format!("/v1/payments/{id}/capture"),
            Some("cap-1"),
            json!({"amount": "600"}),
        )
        .await;
    assert_eq!(captured.status, StatusCode::OK, "{}", captured.body);
    assert_eq!(captured.body["state"]["status"], "succeeded");
    assert_eq!(captured.body["state"]["captured"], "600");
    for (key, amount) in [("rf-1", "200"), ("rf-2", "100")] {
        let refunded = h
            .post(
                &format!("/v1/payments/{id}/refunds"),
                Some(key),
                json!({"amount": amount}),
            )
            .await;
        assert_eq!(refunded.status, StatusCode::CREATED, "{}", refunded.body);
    }
    let view = rail.view(&reference).await;
    assert_eq!(
        (view.captured, view.refunded),
        (600, 300),
        "Stripe agrees with Obol"
    );

    // A card the customer's browser gave to Stripe.js: the PaymentMethod id is adopted.
    let browser: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/payment_methods", rail.localstripe.base))
        .bearer_auth(TEST_SECRET_KEY)
        .form(&[
            ("type", "card"),
            ("card[number]", "5555555555554444"),
            ("card[exp_month]", "11"),
            ("card[exp_year]", "2031"),
            ("card[cvc]", "321"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let adopted = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "450", "asset": "USD", "confirm": true, "payment_method":
                {"token": {"provider": "stripe", "token": browser["id"], "kind": "card"}}}),
        )
        .await;
    assert_eq!(adopted.status, StatusCode::CREATED, "{}", adopted.body);
    assert_eq!(
        adopted.body["state"]["status"], "succeeded",
        "{}",
        adopted.body
    );
    assert_eq!(
        adopted.body["method"]["card"]["last4"], "4444",
        "{}",
        adopted.body
    );
    let forged = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "450", "asset": "USD", "confirm": true, "payment_method":
                {"token": {"provider": "stripe", "token": "pm_nosuchmethod", "kind": "card"}}}),
        )
        .await;
    assert_eq!(forged.code(), "invalid_payment_method", "{}", forged.body);

    // 3-D Secure: the customer passes the challenge; Stripe's webhook settles the payment.
    let waiting = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "700", "asset": "USD",
                   "payment_method": card("4000002500003155"), "confirm": true}),
        )
        .await;
    assert_eq!(
        waiting.body["state"]["status"], "requires_action",
        "{}",
        waiting.body
    );
    let challenge = waiting.str("next_action_url");
    rail.complete_customer_action(&challenge).await;
    let id = waiting.str("id");
    let mut status = String::new();
    for _ in 0..100 {
        status = h.get(&format!("/v1/payments/{id}")).await.body["state"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "succeeded", "the webhook settled the payment");
    let events = h.get(&format!("/v1/payments/{id}/events")).await;
    let succeeded = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "payment.succeeded")
        .count();
    assert_eq!(succeeded, 1, "applied once: {}", events.body);
    assert_eq!(rail.stripe.name(), "stripe");
}

#[tokio::test]
async fn forged_or_foreign_stripe_webhooks_are_refused() {
    let rail = StripeRail::start().await;
    let h = stripe_server(&rail).await;
    let event = json!({"id": "evt_1", "object": "event", "type": "charge.dispute.created",
        "livemode": false, "data": {"object": {"amount": 100, "reason": "fraudulent",
        "status": "needs_response", "payment_intent": "pi_nope"}}});
    let now = h.engine.now();
    let (headers, body) = obol_stripe::testing::signed_event(&event, now);
    let body = String::from_utf8(body).unwrap();
    let post = |signature: Option<String>| {
        let mut call = crate::harness::request(
            axum::http::Method::POST,
            "/webhooks/stripe",
            None,
            None,
            Some(&body),
            "application/json",
        );
        if let Some(value) = signature {
            call.headers_mut()
                .insert("stripe-signature", value.parse().unwrap());
        }
        call
    };
    // Genuine, about a charge Obol never made: acknowledged, nothing changes.
    let genuine = h.call(post(Some(headers[0].1.clone()))).await;
    assert_eq!(genuine.status, StatusCode::OK, "{}", genuine.body);
    for forged in [
        None,
        Some("t=1,v1=00".to_owned()),
        Some(headers[0].1.replace("v1=", "v1=0")),
        Some(format!("{},{}", headers[0].1, "t=2")),
        Some("x".repeat(5000)),
    ] {
        let refused = h.call(post(forged.clone())).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{forged:?}: {}",
            refused.body
        );
        assert_eq!(refused.code(), "webhook_signature_invalid");
    }
}
