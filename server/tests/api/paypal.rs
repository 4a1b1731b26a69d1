//! The server with `[providers.paypal]` against the stateful fake of PayPal's API: a PayPal
//! checkout waits for the payer's approval, is authorized, captured in parts and refunded at
//! PayPal; a dispute PayPal delivers to `/webhooks/paypal` (verified by PayPal's own call)
//! holds the money once; forged deliveries are refused.

use axum::http::StatusCode;
use obol_paypal::testing::{PayPalRail, approve, fake};
use obol_server::config::PayPalSettings;
use serde_json::json;

use crate::harness::{Harness, test_config};

async fn paypal_server(rail: &PayPalRail) -> Harness {
    let mut config = test_config();
    config.providers.paypal = Some(PayPalSettings {
        client_id: fake::CLIENT_ID.into(),
        client_secret: fake::CLIENT_SECRET.into(),
        webhook_id: fake::WEBHOOK_ID.into(),
        return_url: "https://shop.example/paypal/return".into(),
        live: false,
        api_base: Some(rail.fake.base_url()),
        currencies: None,
    });
    Harness::with_config(config).await
}

fn checkout() -> serde_json::Value {
    json!({"token": {"provider": "paypal", "token": "checkout", "kind": "wallet"}})
}

fn webhook(headers: &[(String, String)], body: &[u8]) -> axum::http::Request<axum::body::Body> {
    let body = String::from_utf8(body.to_vec()).unwrap();
    let mut call = crate::harness::request(
        axum::http::Method::POST,
        "/webhooks/paypal",
        None,
        None,
        Some(&body),
        "application/json",
    );
    for (name, value) in headers {
        call.headers_mut().append(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    call
}

#[tokio::test]
async fn a_paypal_checkout_is_approved_captured_in_parts_refunded_and_disputed() {
    let rail = PayPalRail::start().await;
    let h = paypal_server(&rail).await;
    let waiting = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "1000", "asset": "USD", "capture_method": "manual",
                   "payment_method": checkout(), "confirm": true}),
        )
        .await;
    assert_eq!(waiting.status, StatusCode::CREATED, "{}", waiting.body);
    assert_eq!(waiting.body["provider"], "paypal", "{}", waiting.body);
    assert_eq!(waiting.body["state"]["status"], "requires_action");
    let id = waiting.str("id");
    let order = waiting.str("provider_reference");
    let link = waiting.str("next_action_url");
    assert!(link.starts_with(&rail.fake.base_url()), "{link}");

    // The payer comes back to the shop with the payment's id and PayPal's order token.
    let back = approve(&link).await;
    assert!(
        back.starts_with("https://shop.example/paypal/return?obol_payment=")
            && back.contains(&format!("obol_payment={id}"))
            && back.contains(&format!("token={order}")),
        "{back}"
    );
    let held = h
        .post(
            &format!("/v1/payments/{id}/complete_action"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.body);
    assert_eq!(held.body["state"]["status"], "requires_capture");

    for (key, amount, last) in [("cap-1", "300", false), ("cap-2", "500", true)] {
        let captured = h
            .post(
                &format!("/v1/payments/{id}/capture"),
                Some(key),
                json!({"amount": amount, "final_capture": last}),
            )
            .await;
        assert_eq!(captured.status, StatusCode::OK, "{}", captured.body);
    }
    for (key, amount) in [("rf-1", "400"), ("rf-2", "100")] {
        let refunded = h
            .post(
                &format!("/v1/payments/{id}/refunds"),
                Some(key),
                json!({"amount": amount}),
            )
            .await;
        assert_eq!(refunded.status, StatusCode::CREATED, "{}", refunded.body);
    }
    let paid = h.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(paid.body["state"]["status"], "succeeded", "{}", paid.body);
    assert_eq!(paid.body["state"]["captured"], "800");
    assert_eq!(paid.body["state"]["refunded"], "500");
    assert_eq!(rail.fake.totals(&order), (800, 500), "PayPal agrees");

    // PayPal delivers a dispute, twice: the money is held once.
    let capture = rail.fake.first_capture(&order).unwrap();
    let event = rail.fake.dispute_created("WH-77A", &capture, 200);
    let (headers, body) = rail.fake.signed_delivery(&event, h.engine.now());
    for _ in 0..2 {
        let delivered = h.call(webhook(&headers, &body)).await;
        assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.body);
    }
    let children = h.get(&format!("/v1/payments/{id}/refunds")).await;
    let disputes = children.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["object"] == "dispute")
        .count();
    assert_eq!(disputes, 1, "{}", children.body);
}

#[tokio::test]
async fn a_declined_payer_and_forged_paypal_webhooks() {
    let rail = PayPalRail::start().await;
    let h = paypal_server(&rail).await;
    rail.fake.set_payer(obol_paypal::testing::Payer::Declines);
    let waiting = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "250", "asset": "USD", "payment_method": checkout(), "confirm": true}),
        )
        .await;
    assert_eq!(
        waiting.body["state"]["status"], "requires_action",
        "{}",
        waiting.body
    );
    approve(&waiting.str("next_action_url")).await;
    let declined = h
        .post(
            &format!("/v1/payments/{}/complete_action", waiting.str("id")),
            None,
            json!({}),
        )
        .await;
    assert_eq!(declined.status, StatusCode::OK, "{}", declined.body);
    assert_eq!(declined.body["state"]["status"], "requires_payment_method");
    assert_eq!(declined.body["last_decline"], "instrument_declined");

    // A PayPal token for another kind of method, or any other token text, is refused.
    for bad in [
        json!({"token": {"provider": "paypal", "token": "checkout", "kind": "card"}}),
        json!({"token": {"provider": "paypal", "token": "EC-123", "kind": "wallet"}}),
    ] {
        let refused = h
            .post(
                "/v1/payments",
                None,
                json!({"amount": "250", "asset": "USD", "payment_method": bad, "confirm": true}),
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.body
        );
        assert_eq!(refused.code(), "invalid_payment_method");
    }

    // Deliveries PayPal did not sign are refused and change nothing.
    let event = json!({"id": "WH-1", "event_type": "CUSTOMER.DISPUTE.CREATED", "resource": {}});
    let (headers, body) = rail.fake.signed_delivery(&event, h.engine.now());
    let mut forged = headers.clone();
    forged[2].1 = "Zm9yZ2Vk".into();
    for (headers, body) in [
        (forged, body.clone()),
        (headers[1..].to_vec(), body.clone()),
        (headers.clone(), b"{\"id\": \"WH-2\"}".to_vec()),
        (headers.clone(), vec![b'x'; 3000]),
    ] {
        let refused = h.call(webhook(&headers, &body)).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
        assert_eq!(refused.code(), "webhook_signature_invalid");
    }
}
