use axum::http::{Method, StatusCode};
use obol::auth::Scope;
use obol::payments::default_merchant;
use serde_json::json;

use crate::harness::Harness;

#[tokio::test]
async fn login_refresh_rotate_and_logout() {
    let h = Harness::new().await;
    let wrong = h
        .post_as(
            "/v1/auth/login",
            None,
            json!({"email": "owner@acme.test", "password": "not the password"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.code(), "unauthenticated");

    let tokens = h.login_answer(None, "owner@acme.test").await;
    assert_eq!(tokens.body["token_type"], "Bearer");
    assert_eq!(tokens.body["expires_in"], 900);
    let refresh = tokens.str("refresh_token");
    let renewed = h
        .post_as("/v1/auth/refresh", None, json!({"refresh_token": refresh}))
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    let me = h.get_as("/v1/users/me", &renewed.str("access_token")).await;
    assert_eq!(me.body["email"], "owner@acme.test");
    assert!(me.body.get("password_hash").is_none());

    // The rotated-away token is reuse: the whole family ends.
    let reused = h
        .post_as("/v1/auth/refresh", None, json!({"refresh_token": refresh}))
        .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    let after_reuse = h
        .post_as(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": renewed.str("refresh_token")}),
        )
        .await;
    assert_eq!(after_reuse.status, StatusCode::UNAUTHORIZED);

    let fresh = h.login_answer(None, "owner@acme.test").await;
    let out = h
        .post_as(
            "/v1/auth/logout",
            None,
            json!({"refresh_token": fresh.str("refresh_token")}),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let ended = h.get_as("/v1/users/me", &fresh.str("access_token")).await;
    assert_eq!(
        ended.status,
        StatusCode::UNAUTHORIZED,
        "the session ended with the logout"
    );

    let jwks = h
        .send(Method::GET, "/.well-known/jwks.json", None, None, None)
        .await;
    assert_eq!(jwks.status, StatusCode::OK);
    assert_eq!(jwks.body["keys"][0]["alg"], "RS256");
}

#[tokio::test]
async fn credentials_and_scopes_are_checked_on_every_route() {
    let h = Harness::new().await;
    let none = h.send(Method::GET, "/v1/payments", None, None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.code(), "unauthenticated");
    let junk = h.get_as("/v1/payments", "junk").await;
    assert_eq!(junk.status, StatusCode::UNAUTHORIZED);
    let fake_key = h.get_as("/v1/payments", "obol_sk_test_notarealkey").await;
    assert_eq!(fake_key.status, StatusCode::UNAUTHORIZED);

    // A reader may read payments and nothing else.
    h.user(
        &default_merchant(),
        "reader@acme.test",
        [Scope::PaymentsRead].into(),
    )
    .await;
    let reader = h.login(None, "reader@acme.test").await;
    let read = h.get_as("/v1/payments", &reader).await;
    assert_eq!(read.status, StatusCode::OK);
    let checks = [
        (
            Method::POST,
            "/v1/payments",
            json!({"amount": "1", "asset": "USD"}),
        ),
        (Method::POST, "/v1/customers", json!({})),
        (
            Method::POST,
            "/v1/ledger/accounts",
            json!({"asset": "USD", "normal_balance": "debit"}),
        ),
        (Method::GET, "/v1/balances", serde_json::Value::Null),
        (
            Method::POST,
            "/v1/api_keys",
            json!({"name": "k", "scopes": ["payments:read"]}),
        ),
        (Method::GET, "/v1/api_keys", serde_json::Value::Null),
        (
            Method::POST,
            "/v1/webhook_endpoints",
            json!({"url": "https://example.com/hook"}),
        ),
        (
            Method::POST,
            "/v1/users",
            json!({"email": "n@acme.test", "password": "a long enough password", "scopes": []}),
        ),
    ];
    for (method, path, body) in checks {
        let body = (!body.is_null()).then_some(body);
        let answer = h
            .send(method.clone(), path, Some(&reader), None, body)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            answer.body
        );
        assert_eq!(answer.code(), "forbidden");
    }
    assert_eq!(h.payment_count().await, 0);
}

#[tokio::test]
async fn api_keys_are_shown_once_work_and_stop_when_revoked() {
    let h = Harness::new().await;
    let body = json!({"name": "checkout", "scopes": ["payments:read", "payments:write"]});
    let issued = h.post("/v1/api_keys", Some("key-1"), body.clone()).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let secret = issued.str("secret");
    assert!(secret.starts_with("obol_sk_test_"));
    assert!(
        issued.body.get("hash").is_none(),
        "the key's hash stays inside"
    );
    assert_eq!(issued.body["last4"], secret[secret.len() - 4..]);

    // A replay names the same key but never shows the secret again.
    let replay = h.post("/v1/api_keys", Some("key-1"), body).await;
    assert_eq!(replay.body["id"], issued.body["id"]);
    assert!(replay.body.get("secret").is_none());

    let paid = h
        .post_as(
            "/v1/payments",
            Some(&secret),
            json!({"amount": "5", "asset": "USD"}),
        )
        .await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
    let ledger = h.get_as("/v1/balances", &secret).await;
    assert_eq!(
        ledger.status,
        StatusCode::FORBIDDEN,
        "the key has no ledger scope"
    );
    let me = h.get_as("/v1/users/me", &secret).await;
    assert_eq!(me.code(), "not_a_user");

    let listed = h.get("/v1/api_keys").await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert!(!listed.body.to_string().contains(&secret));

    let id = issued.str("id");
    let revoked = h
        .post(&format!("/v1/api_keys/{id}/revoke"), None, json!({}))
        .await;
    assert!(revoked.body["revoked_at"].is_number(), "{}", revoked.body);
    let after = h.get_as("/v1/payments", &secret).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    let empty = h
        .post("/v1/api_keys", None, json!({"name": "x", "scopes": []}))
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let bad_scope = h
        .post(
            "/v1/api_keys",
            None,
            json!({"name": "x", "scopes": ["root"]}),
        )
        .await;
    assert_eq!(bad_scope.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_scope.body["error"]["param"], "scopes[0]");
}

#[tokio::test]
async fn users_and_profiles() {
    let h = Harness::new().await;
    let created = h
        .post(
            "/v1/users",
            Some("u-1"),
            json!({"email": "Clerk@Acme.test", "password": "a long enough password", "scopes": ["payments:read"], "profile": {"name": "Clerk", "settings": {}}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["email"], "clerk@acme.test");
    let replay = h
        .post(
            "/v1/users",
            Some("u-1"),
            json!({"email": "Clerk@Acme.test", "password": "a long enough password", "scopes": ["payments:read"], "profile": {"name": "Clerk", "settings": {}}}),
        )
        .await;
    assert_eq!(replay.body["id"], created.body["id"]);
    let taken = h
        .post(
            "/v1/users",
            None,
            json!({"email": "clerk@acme.test", "password": "a long enough password", "scopes": []}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.code(), "email_taken");
    let weak = h
        .post(
            "/v1/users",
            None,
            json!({"email": "w@acme.test", "password": "password", "scopes": []}),
        )
        .await;
    assert_eq!(weak.code(), "weak_password");

    let id = created.str("id");
    let clerk = h
        .post_as(
            "/v1/auth/login",
            None,
            json!({"email": "clerk@acme.test", "password": "a long enough password"}),
        )
        .await
        .str("access_token");
    let own = h
        .post_as(
            &format!("/v1/users/{id}/profile"),
            Some(&clerk),
            json!({"name": "Clerk Kent", "locale": "en-GB", "settings": {"theme": "dark"}}),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.body["profile"]["locale"], "en-GB");
    let owner_id = h.get("/v1/users/me").await.str("id");
    let others = h.get_as(&format!("/v1/users/{owner_id}"), &clerk).await;
    assert_eq!(
        others.status,
        StatusCode::FORBIDDEN,
        "a user without users:admin reads only itself"
    );
    assert_eq!(
        h.get(&format!("/v1/users/{id}")).await.body["profile"]["name"],
        "Clerk Kent"
    );
}
