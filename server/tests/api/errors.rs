use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Harness, request};

#[tokio::test]
async fn malformed_requests_get_a_4xx_in_the_error_format() {
    let h = Harness::new().await;
    let token = h.token.clone();
    let cases: Vec<(&str, &str, &str, StatusCode, &str)> = vec![
        (
            "/v1/payments",
            "{",
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "/v1/payments",
            "[]",
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/v1/payments",
            r#"{"amount": 1.5, "asset": "USD"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/v1/payments",
            r#"{"amount": "12", "asset": "USD", "x": 1}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/v1/payments",
            r#"{"amount": "12"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/v1/payments",
            r#"{"amount": "12", "asset": "XXX"}"#,
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_asset",
        ),
        (
            "/v1/payments",
            r#"{"amount": "-5", "asset": "USD"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/v1/payments",
            "amount=5",
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "/v1/payments/pay_nope/confirm",
            "{}",
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_id",
        ),
        (
            "/v1/ledger/transactions",
            r#"{"entries": "no"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (path, body, content_type, status, code) in cases {
        let answer = h
            .call(request(
                Method::POST,
                path,
                Some(&token),
                None,
                Some(body),
                content_type,
            ))
            .await;
        assert_eq!(answer.status, status, "{path} {body}: {}", answer.body);
        assert_eq!(answer.code(), code, "{path} {body}: {}", answer.body);
        assert!(answer.body["error"]["message"].is_string());
    }
    let typed = h
        .call(request(
            Method::POST,
            "/v1/payments",
            Some(&token),
            None,
            Some(r#"{"amount": "12", "asset": "USD", "confirm": "yes"}"#),
            "application/json",
        ))
        .await;
    assert_eq!(typed.body["error"]["param"], "confirm", "{}", typed.body);

    let oversize = "x".repeat(200 * 1024);
    let big = h
        .call(request(
            Method::POST,
            "/v1/payments",
            Some(&token),
            None,
            Some(&format!(
                r#"{{"amount":"1","asset":"USD","metadata":{{"a":"{oversize}"}}}}"#
            )),
            "application/json",
        ))
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", big.body);
    assert_eq!(big.code(), "body_too_large");

    let unknown = h.get("/v1/nothing").await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let method = h
        .send(Method::DELETE, "/v1/payments", Some(&token), None, None)
        .await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(method.code(), "method_not_allowed");
    let missing = h.get("/v1/payments/pay_00000000000000000000000000").await;
    assert_eq!(missing.code(), "payment_not_found");

    let bad_key = h
        .call(request(
            Method::POST,
            "/v1/payments",
            Some(&token),
            Some("tab\tkey"),
            Some(r#"{"amount":"1","asset":"USD"}"#),
            "application/json",
        ))
        .await;
    assert_eq!(bad_key.code(), "invalid_idempotency_key");
    let long_key = "k".repeat(256);
    let too_long = h
        .call(request(
            Method::POST,
            "/v1/payments",
            Some(&token),
            Some(&long_key),
            Some(r#"{"amount":"1","asset":"USD"}"#),
            "application/json",
        ))
        .await;
    assert_eq!(too_long.code(), "invalid_idempotency_key");
    assert_eq!(
        h.payment_count().await,
        0,
        "no refused request wrote anything"
    );

    let fine = h
        .post("/v1/payments", None, json!({"amount": "1", "asset": "USD"}))
        .await;
    assert_eq!(fine.status, StatusCode::CREATED);
}
