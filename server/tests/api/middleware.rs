use axum::http::{Method, StatusCode};

use crate::harness::{Harness, get_with_header, request, test_config};

#[tokio::test]
async fn health_readiness_and_request_ids() {
    let h = Harness::new().await;
    let health = h.send(Method::GET, "/healthz", None, None, None).await;
    assert_eq!(health.body["status"], "ok");
    let ready = h.send(Method::GET, "/readyz", None, None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    let id = health.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(id.starts_with("req_"), "{id}");

    let given = get_with_header("/healthz", "x-request-id", "client-chosen-1");
    let echoed = h.call(given).await;
    assert_eq!(echoed.headers["x-request-id"], "client-chosen-1");
}

#[tokio::test]
async fn metrics_count_requests_payments_and_ledger_batches() {
    let h = Harness::new().await;
    let body = serde_json::json!({"amount": "100", "asset": "USD", "confirm": true,
        "payment_method": crate::harness::card("4242424242424242")});
    h.post("/v1/payments", None, body).await;
    h.get("/v1/payments/pay_00000000000000000000000000").await;
    let text = h.send(Method::GET, "/metrics", None, None, None).await;
    let text = text.body.as_str().unwrap().to_owned();
    assert!(
        text.contains(
            "obol_http_requests_total{route=\"/v1/payments\",method=\"POST\",status=\"201\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("route=\"/v1/payments/{id}\",method=\"GET\",status=\"404\"} 1"));
    assert!(text.contains("obol_http_request_duration_seconds_bucket{route=\"/v1/payments\",method=\"POST\",le=\"+Inf\"} 1"));
    assert!(text.contains("obol_payment_operations_total{operation=\"create\",status=\"succeeded\",provider=\"sandbox\",outcome=\"ok\"} 1"));
    assert!(text.contains("obol_ledger_batch_size_bucket{le=\"+Inf\"}"));
    assert!(text.contains("# TYPE obol_ledger_commit_duration_seconds histogram"));
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let config = obol_server::config::Config {
        rate_limit_per_second: 1,
        rate_limit_burst: 3,
        ..test_config()
    };
    let h = Harness::with_config(config).await;
    // The signed-in user has a budget of its own: three at once, then 429.
    for _ in 0..3 {
        assert_eq!(h.get("/v1/payments").await.status, StatusCode::OK);
    }
    let limited = h.get("/v1/payments").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limited");
    assert_eq!(limited.headers["retry-after"], "1");

    // Made-up credentials do not get fresh budgets: they spend the address's, which the
    // harness's login already used once.
    let mut answers = Vec::new();
    for i in 0..4 {
        let credential = format!("made-up-{i}");
        answers.push(h.get_as("/v1/payments", &credential).await.status);
    }
    assert_eq!(
        answers,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let config = obol_server::config::Config {
        cors_origins: vec!["https://shop.example".to_owned()],
        ..test_config()
    };
    let h = Harness::with_config(config).await;
    let mut preflight = request(
        Method::OPTIONS,
        "/v1/payments",
        None,
        None,
        None,
        "application/json",
    );
    let headers = preflight.headers_mut();
    headers.insert("origin", "https://shop.example".parse().unwrap());
    headers.insert("access-control-request-method", "POST".parse().unwrap());
    let allowed = h.call(preflight).await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://shop.example"
    );

    let foreign = get_with_header("/healthz", "origin", "https://evil.example");
    let refused = h.call(foreign).await;
    assert!(refused.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn answers_are_gzipped_when_asked() {
    let h = Harness::new().await;
    for i in 0..30 {
        h.post(
            "/v1/payments",
            None,
            serde_json::json!({"amount": format!("{}", i + 1), "asset": "USD"}),
        )
        .await;
    }
    let mut asking = request(
        Method::GET,
        "/v1/payments?limit=30",
        Some(&h.token),
        None,
        None,
        "application/json",
    );
    asking
        .headers_mut()
        .insert("accept-encoding", "gzip".parse().unwrap());
    let response = tower::ServiceExt::oneshot(h.app.clone(), asking)
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
}
