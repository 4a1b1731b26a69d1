//! Thousands of malformed requests (broken JSON, wrong types, unknown fields, bad amounts,
//! junk headers) to every writing route: never a 5xx, never a write.

use axum::http::{Method, StatusCode};
use obol::payments::default_merchant;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crate::harness::{Harness, card, request};

/// What the store holds, to compare before and after.
async fn footprint(h: &Harness) -> (usize, usize, String) {
    let store = h.engine.store();
    let events = store.events_after(0, 100_000).await.unwrap().len();
    let totals = format!("{:?}", store.asset_totals().await.unwrap());
    let endpoints = store.endpoints(&default_merchant()).await.unwrap().len();
    (h.payment_count().await + endpoints, events, totals)
}

/// A value of another type than a field expects.
fn wrong_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..9) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(1.5),
        3 => json!([1, "2", null]),
        4 => json!({"nested": {"deeper": [{}]}}),
        5 => json!("9".repeat(60)),
        6 => json!("-0.5"),
        7 => json!("\u{202e}\u{0000}\u{fffd}"),
        _ => json!(i64::MIN),
    }
}

/// A JSON value's type.
fn kind(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// One way of breaking a valid body, every one of them refused by the API.
fn break_body(valid: &Value, rng: &mut StdRng) -> String {
    let text = valid.to_string();
    match rng.random_range(0..6) {
        // Cut short: never valid JSON.
        0 => text[..rng.random_range(0..text.len() - 1)].to_owned(),
        // A field the resource does not have.
        1 => {
            let mut body = valid.clone();
            body[format!("unknown_{}", rng.random_range(0..100))] = wrong_value(rng);
            body.to_string()
        }
        // A required field of the wrong type.
        2 | 3 => {
            let mut body = valid.clone();
            let fields: Vec<String> = body.as_object().unwrap().keys().cloned().collect();
            let field = &fields[rng.random_range(0..fields.len())];
            body[field] = loop {
                let value = wrong_value(rng);
                if !value.is_null() && kind(&value) != kind(&body[field]) {
                    break value;
                }
            };
            body.to_string()
        }
        // Not an object at all.
        4 => wrong_value(rng).to_string(),
        // Random bytes.
        _ => (0..rng.random_range(1..64))
            .map(|_| char::from(rng.random_range(0u8..128)))
            .collect(),
    }
}

#[tokio::test]
async fn thousands_of_malformed_requests_get_4xx_and_write_nothing() {
    let h = Harness::new().await;
    // Real resources, so that ids in paths exist.
    let paid = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "500", "asset": "USD", "payment_method": card("4242424242424242"), "confirm": true, "capture_method": "manual"}),
        )
        .await;
    let pay = paid.str("id");
    let account = h
        .post(
            "/v1/ledger/accounts",
            None,
            json!({"asset": "USD", "normal_balance": "debit"}),
        )
        .await
        .str("id");
    let entries = json!([
        {"account": account, "direction": "debit", "amount": "5", "asset": "USD"},
        {"account": account, "direction": "credit", "amount": "5", "asset": "USD"},
    ]);
    let routes: Vec<(String, Value)> = vec![
        (
            "/v1/payments".into(),
            json!({"amount": "100", "asset": "USD", "capture_method": "manual", "confirm": false}),
        ),
        (
            format!("/v1/payments/{pay}/capture"),
            json!({"amount": "10", "final_capture": false}),
        ),
        (
            format!("/v1/payments/{pay}/refunds"),
            json!({"amount": "10", "reason": "x"}),
        ),
        (
            format!("/v1/payments/{pay}/cancel"),
            json!({"reason": "duplicate"}),
        ),
        (
            format!("/v1/payments/{pay}/confirm"),
            json!({"payment_method": card("4242424242424242")}),
        ),
        (
            "/v1/customers".into(),
            json!({"email": "a@b.co", "name": "A", "metadata": {}}),
        ),
        (
            "/v1/ledger/accounts".into(),
            json!({"asset": "USD", "normal_balance": "credit", "limit": "0"}),
        ),
        (
            "/v1/ledger/transactions".into(),
            json!({"entries": entries, "metadata": {}}),
        ),
        (
            "/v1/ledger/holds".into(),
            json!({"entries": entries, "metadata": {}}),
        ),
        (
            "/v1/api_keys".into(),
            json!({"name": "k", "scopes": ["payments:read"], "mode": "test"}),
        ),
        (
            "/v1/webhook_endpoints".into(),
            json!({"url": "https://example.com/h"}),
        ),
        (
            "/v1/users".into(),
            json!({"email": "z@acme.test", "password": "a long enough password", "scopes": []}),
        ),
    ];
    let before = footprint(&h).await;
    let mut rng = StdRng::seed_from_u64(2026);
    let mut statuses = std::collections::BTreeMap::new();
    for round in 0..3000 {
        let (path, valid) = &routes[round % routes.len()];
        let body = break_body(valid, &mut rng);
        let token = h.token.clone();
        let (credential, key, content_type) = match rng.random_range(0..10) {
            0 => (
                Some("Bearer-less junk".to_owned()),
                None,
                "application/json",
            ),
            1 => (
                Some(token),
                Some("\u{7f}bad".to_owned()),
                "application/json",
            ),
            2 => (Some(token), None, "text/plain"),
            3 => (Some(token), Some("k".repeat(300)), "application/json"),
            _ => (
                Some(token),
                Some(format!("fuzz-{round}")),
                "application/json",
            ),
        };
        let mut call = request(
            Method::POST,
            path,
            credential.as_deref(),
            None,
            Some(&body),
            content_type,
        );
        if let Some(key) = key
            && let Ok(value) = axum::http::HeaderValue::from_bytes(key.as_bytes())
        {
            call.headers_mut().insert("idempotency-key", value);
        }
        let answer = h.call(call).await;
        assert!(
            answer.status.is_client_error(),
            "{path} {body:?} answered {}: {}",
            answer.status,
            answer.body
        );
        assert!(answer.body["error"]["code"].is_string(), "{}", answer.body);
        *statuses.entry(answer.status.as_u16()).or_insert(0) += 1;
    }
    assert_eq!(
        footprint(&h).await,
        before,
        "no malformed request wrote anything"
    );
    assert!(statuses.len() >= 3, "{statuses:?}");
    assert!(statuses.contains_key(&StatusCode::BAD_REQUEST.as_u16()));
}
