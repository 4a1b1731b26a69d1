//! The security suite: one test per finding of the review of `obol serve --dev` as an outside
//! user would try it (forged webhooks, raced sign-in limits, rate limits switched off by a
//! header, the ledger reaching the payment engine's accounts, scope escalation and ignored
//! modes, tokens across tenants, an overflowing verifier, lock-outs by strangers, leaking
//! secrets, a spoofed sign-in source over gRPC, dev mode exposed, and sloppy input). Each
//! drives the real router (in process) or the real binary, and failed before the change that
//! fixed its finding. The second part covers what a second review found: shared accounts
//! overflowed by one merchant, a webhook header that made the server hash a body thousands of
//! times, idempotency keys and resources shared between test and live mode, webhook
//! endpoints aimed at internal addresses, and a dev database named in a URL's query.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "api/harness.rs"]
#[allow(dead_code)]
mod harness;
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, StatusCode};
use harness::{Answer, Harness, PASSWORD, SANDBOX_SECRET, card, request, test_config};
use obol::auth::{KeyEncryptionKey, Mode, Principal, Scope};
use obol::payments::{
    CardInput, CreatePayment, MethodInput, ProviderEvent, ProviderEventKind, default_merchant,
};
use obol::webhooks::WebhookSecret;
use obol::{AccountId, MemoryStore, MerchantId};
use obol_server::engine::Engine;
use serde_json::json;

/// The sandbox's webhook secret before this change: a constant in the source.
const OLD_SANDBOX_SECRET: &str = "whsec_b2JvbC1zYW5kYm94LXdlYmhvb2stc2VjcmV0LTMyYiE=";

/// A webhook `event` for the sandbox, signed with `secret` at `timestamp` (Unix seconds).
fn sandbox_webhook(
    event: &ProviderEvent,
    secret: &str,
    timestamp: &str,
) -> axum::http::Request<axum::body::Body> {
    let body = serde_json::to_string(event).unwrap();
    let secret = WebhookSecret::parse(secret).unwrap();
    let signature = secret
        .sign(&event.id, timestamp.parse().unwrap_or(0), body.as_bytes())
        .unwrap();
    let mut call = request(
        Method::POST,
        "/webhooks/sandbox",
        None,
        None,
        Some(&body),
        "application/json",
    );
    for (name, value) in [
        ("webhook-id", event.id.as_str()),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature.as_str()),
    ] {
        call.headers_mut().insert(name, value.parse().unwrap());
    }
    call
}

fn now_seconds(h: &Harness) -> String {
    (h.engine.now().as_micros() / 1_000_000).to_string()
}

/// A paid card payment of `amount` USD as the default user.
async fn pay(h: &Harness, amount: &str) -> Answer {
    let paid = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": amount, "asset": "USD", "payment_method": card("4242424242424242"), "confirm": true}),
        )
        .await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
    paid
}

/// An API key of `merchant` with `scopes` in `mode`, issued by the host.
async fn api_key(h: &Harness, merchant: &MerchantId, scopes: &[Scope], mode: Mode) -> String {
    let (_, secret) = h
        .engine
        .auth()
        .issue_api_key(
            merchant,
            "security",
            mode,
            scopes.iter().copied().collect(),
            None,
        )
        .await
        .unwrap();
    secret.expose().to_owned()
}

// 1. Forged provider webhooks, and charge references that restart at 1.

#[tokio::test]
async fn provider_webhooks_need_the_deployments_own_secret() {
    let h = Harness::new().await;
    let paid = pay(&h, "1250").await;
    let event = ProviderEvent {
        id: "evt_forged_1".into(),
        reference: paid.str("provider_reference"),
        kind: ProviderEventKind::DisputeOpened {
            amount: 1250,
            reason: "fraudulent".into(),
        },
    };
    let forged = h
        .call(sandbox_webhook(
            &event,
            OLD_SANDBOX_SECRET,
            &now_seconds(&h),
        ))
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{}", forged.body);
    assert_eq!(forged.code(), "webhook_signature_invalid");
    let payment = h.get(&format!("/v1/payments/{}", paid.str("id"))).await;
    assert_eq!(payment.body["state"]["disputed"], "0");
    // The deployment's own secret is honoured.
    let genuine = h
        .call(sandbox_webhook(&event, SANDBOX_SECRET, &now_seconds(&h)))
        .await;
    assert_eq!(genuine.status, StatusCode::OK, "{}", genuine.body);
}

#[tokio::test]
async fn charge_references_stay_unique_across_restarts() {
    let store = Arc::new(MemoryStore::new());
    let config = test_config();
    let kek = KeyEncryptionKey::random().to_base64();
    let mut references = Vec::new();
    for _ in 0..2 {
        // Each start is a new process: a new sandbox, the same database and key.
        let kek = KeyEncryptionKey::from_base64(&kek).unwrap();
        let engine = Engine::on_store(store.clone(), &config, kek).await.unwrap();
        let shop = engine.tenant(Principal::host(
            default_merchant(),
            Scope::ALL.into(),
            Mode::Test,
        ));
        let mut request = CreatePayment::new(500, obol::AssetCode::new("USD").unwrap());
        request.payment_method = Some(MethodInput::Card(CardInput {
            number: "4242424242424242".into(),
            exp_month: 12,
            exp_year: 2099,
            cvc: "123".into(),
        }));
        request.confirm = true;
        let paid = shop.create_payment(None, request).await.unwrap();
        references.push(paid.provider_reference.unwrap());
        drop(shop);
        engine.shutdown().await;
    }
    assert_ne!(references[0], references[1], "{references:?}");
}

// 2. The sign-in limit raced, and hashing on the async workers.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_get_exactly_the_budget() {
    let h = Harness::new().await;
    let guesses = (0..60).map(|_| {
        h.post_as(
            "/v1/auth/login",
            None,
            json!({"email": "owner@acme.test", "password": "not the password"}),
        )
    });
    let answers = futures::future::join_all(guesses).await;
    let count = |code: &str| answers.iter().filter(|a| a.code() == code).count();
    assert_eq!(
        count("unauthenticated"),
        10,
        "the limit is 10 per 15 minutes"
    );
    assert_eq!(count("too_many_attempts"), 50);
}

#[test]
fn password_hashing_leaves_the_async_workers_free() {
    // One async worker: if argon2id ran on it, nothing else could answer until a sign-in's
    // hash was done. Off the worker, a health check answers while sign-ins are hashing.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let h = Arc::new(Harness::new().await);
        let finished = Arc::new(AtomicUsize::new(0));
        let logins: Vec<_> = (0..4)
            .map(|_| {
                let (h, finished) = (h.clone(), finished.clone());
                tokio::spawn(async move {
                    h.post_as(
                        "/v1/auth/login",
                        None,
                        json!({"email": "owner@acme.test", "password": PASSWORD}),
                    )
                    .await;
                    finished.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        // Let every sign-in reach its hashing before asking for health.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        let health = h
            .call(request(
                Method::GET,
                "/healthz",
                None,
                None,
                None,
                "application/json",
            ))
            .await;
        assert_eq!(health.status, StatusCode::OK);
        assert!(
            finished.load(Ordering::SeqCst) < 4,
            "the health check waited for every sign-in's hashing"
        );
        for login in logins {
            login.await.unwrap();
        }
    });
}

// 3. Any Authorization header switched the rate limit off.

#[tokio::test]
async fn an_authorization_header_buys_no_rate_budget() {
    let config = obol_server::config::Config {
        rate_limit_per_second: 1,
        rate_limit_burst: 2,
        ..test_config()
    };
    let h = Harness::with_config(config).await;
    // Each route on its own address, so one route's spending cannot limit the next.
    for (n, (method, path, key)) in [
        (Method::POST, "/v1/auth/login", None),
        (Method::POST, "/v1/auth/refresh", None),
        (Method::POST, "/v1/auth/logout", None),
        (Method::GET, "/readyz", None),
        (Method::GET, "/metrics", None),
        (Method::GET, "/.well-known/jwks.json", None),
        (Method::POST, "/webhooks/sandbox", None),
        (Method::GET, "/nowhere", None),
        // A route that verifies the credential: a made-up one fails and the address pays.
        (Method::GET, "/v1/payments", None),
        // Refused for its idempotency key before the credential is even looked at.
        (Method::POST, "/v1/payments", Some("k".repeat(256))),
        (Method::POST, "/v1/payments", Some(String::new())),
    ]
    .into_iter()
    .enumerate()
    {
        let mut limited = 0;
        for _ in 0..4 {
            let mut call = request(
                method.clone(),
                path,
                Some("made-up credential"),
                None,
                Some("{}"),
                "application/json",
            );
            if let Some(key) = &key {
                call.headers_mut().insert(
                    "idempotency-key",
                    HeaderValue::from_bytes(key.as_bytes()).unwrap(),
                );
            }
            call.extensions_mut().insert(ConnectInfo(SocketAddr::from((
                [10, 0, 0, u8::try_from(n).unwrap()],
                4000,
            ))));
            let answer = h.call(call).await;
            if answer.status == StatusCode::TOO_MANY_REQUESTS {
                limited += 1;
            }
        }
        assert!(limited > 0, "{method} {path} was never limited");
    }
}

// 4. The ledger API reached the payment engine's own accounts.

#[tokio::test]
async fn the_ledger_api_cannot_touch_the_payment_engines_accounts() {
    let h = Harness::new().await;
    pay(&h, "1250").await;
    let balances = h.get("/v1/balances?assets=USD").await;
    let takings = balances.body["data"][0]["account"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = balances.body["data"][0]["balance"].clone();
    let mine = h
        .post(
            "/v1/ledger/accounts",
            None,
            json!({"asset": "USD", "normal_balance": "debit"}),
        )
        .await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.body);
    let forged = h
        .post(
            "/v1/ledger/transactions",
            None,
            json!({"entries": [
                {"account": mine.str("id"), "direction": "debit", "amount": "1000000", "asset": "USD"},
                {"account": takings, "direction": "credit", "amount": "1000000", "asset": "USD"},
            ]}),
        )
        .await;
    assert_eq!(forged.code(), "account_not_found", "{}", forged.body);
    let close = h
        .post(
            &format!("/v1/ledger/accounts/{takings}/close"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(close.code(), "account_not_found", "{}", close.body);
    let after = h.get("/v1/balances?assets=USD").await;
    assert_eq!(after.body["data"][0]["balance"], before);

    // Squatting the engine's ids: the reserved range is refused, and the old public formula
    // names nothing the engine uses any more.
    let reserved = h
        .post(
            "/v1/ledger/accounts",
            None,
            json!({"id": takings, "asset": "USD", "normal_balance": "credit"}),
        )
        .await;
    assert_eq!(reserved.code(), "invalid_account", "{}", reserved.body);
    let old_formula = AccountId::derived("obol:payments:provider_clearing:EUR");
    let squat = h
        .post(
            "/v1/ledger/accounts",
            None,
            json!({"id": old_formula, "asset": "EUR", "normal_balance": "credit",
                   "flags": {"debits_must_not_exceed_credits": true}}),
        )
        .await;
    assert_eq!(squat.status, StatusCode::CREATED, "{}", squat.body);
    let eur = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "900", "asset": "EUR", "payment_method": card("4242424242424242"), "confirm": true}),
        )
        .await;
    assert_eq!(eur.status, StatusCode::CREATED, "{}", eur.body);
    assert_eq!(eur.body["state"]["status"], "succeeded");
}

// 5. users:admin granted scopes it lacked; the key mode was enforced nowhere.

#[tokio::test]
async fn admins_grant_only_what_they_hold_and_modes_are_enforced() {
    let h = Harness::new().await;
    let admin = api_key(
        &h,
        &default_merchant(),
        &[Scope::UsersAdmin, Scope::PaymentsRead],
        Mode::Test,
    )
    .await;
    let more = h
        .post_as(
            "/v1/api_keys",
            Some(&admin),
            json!({"name": "more", "scopes": ["payments:read", "ledger:write"]}),
        )
        .await;
    assert_eq!(more.code(), "forbidden", "{}", more.body);
    let everything = h
        .post_as(
            "/v1/users",
            Some(&admin),
            json!({"email": "root@acme.test", "password": PASSWORD,
                   "scopes": ["users:admin", "payments:write", "refunds:write"]}),
        )
        .await;
    assert_eq!(everything.code(), "forbidden", "{}", everything.body);
    let live = h
        .post_as(
            "/v1/api_keys",
            Some(&admin),
            json!({"name": "live", "mode": "live", "scopes": ["payments:read"]}),
        )
        .await;
    assert_eq!(live.code(), "forbidden", "{}", live.body);
    let fair = h
        .post_as(
            "/v1/api_keys",
            Some(&admin),
            json!({"name": "reader", "scopes": ["payments:read"]}),
        )
        .await;
    assert_eq!(fair.status, StatusCode::CREATED, "{}", fair.body);

    // A live key sees no test payment and reaches no sandbox.
    let paid = pay(&h, "700").await;
    let live_key = api_key(&h, &default_merchant(), &Scope::ALL, Mode::Live).await;
    let unseen = h
        .get_as(&format!("/v1/payments/{}", paid.str("id")), &live_key)
        .await;
    assert_eq!(unseen.code(), "payment_not_found");
    let by_card = h
        .post_as(
            "/v1/payments",
            Some(&live_key),
            json!({"amount": "100", "asset": "USD", "payment_method": card("4242424242424242"), "confirm": true}),
        )
        .await;
    assert_eq!(by_card.code(), "invalid_payment_method", "{}", by_card.body);
    let listed = h.get_as("/v1/payments", &live_key).await;
    assert_eq!(listed.body["data"], json!([]));
}

// 6. Provider tokens were not tied to a tenant.

#[tokio::test]
async fn provider_tokens_belong_to_their_tenant() {
    let h = Harness::new().await;
    let paid = pay(&h, "600").await;
    let token = paid.body["method"].clone();
    let other = MerchantId::derived("security:other");
    let theirs = api_key(&h, &other, &Scope::ALL, Mode::Test).await;
    for method in [
        token.clone(),
        json!({"provider": "sandbox", "token": "tok_sandbox_succeeds_2", "kind": "card", "card": null}),
    ] {
        let stolen = h
            .post_as(
                "/v1/payments",
                Some(&theirs),
                json!({"amount": "600", "asset": "USD", "payment_method": {"token": method}, "confirm": true}),
            )
            .await;
        assert_eq!(stolen.code(), "invalid_payment_method", "{}", stolen.body);
    }
    // Its own merchant pays with it again.
    let again = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "50", "asset": "USD", "payment_method": {"token": token}, "confirm": true}),
        )
        .await;
    assert_eq!(again.body["state"]["status"], "succeeded", "{}", again.body);
}

// 7. The webhook verifier overflowed on an extreme timestamp.

#[tokio::test]
async fn extreme_webhook_timestamps_are_refused_without_a_panic() {
    let h = Harness::new().await;
    let event = ProviderEvent {
        id: "evt_extreme".into(),
        reference: "ch_sandbox_x".into(),
        kind: ProviderEventKind::DisputeWon,
    };
    for timestamp in ["-9223372036854775808", "9223372036854775807"] {
        let answer = h
            .call(sandbox_webhook(&event, SANDBOX_SECRET, timestamp))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
        assert_eq!(answer.code(), "webhook_signature_invalid");
    }
}

// 8. The failed-login table grew without bound, and anyone could lock a user out.

fn login_from(source: &str, email: &str, password: &str) -> axum::http::Request<axum::body::Body> {
    login_via(&format!("{source}:40000"), None, email, password)
}

#[tokio::test]
async fn a_stranger_cannot_lock_a_user_out() {
    let h = Harness::new().await;
    for _ in 0..10 {
        let guess = h
            .call(login_from(
                "203.0.113.9",
                "owner@acme.test",
                "wrong wrong wrong",
            ))
            .await;
        assert_eq!(guess.code(), "unauthenticated");
    }
    let stopped = h
        .call(login_from("203.0.113.9", "owner@acme.test", PASSWORD))
        .await;
    assert_eq!(stopped.code(), "too_many_attempts");
    let owner = h
        .call(login_from("198.51.100.7", "owner@acme.test", PASSWORD))
        .await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
    // A huge "email" costs an attempt like any other, and is kept as a fixed-size hash.
    let huge = "x".repeat(60_000);
    let answer = h
        .call(login_from("192.0.2.1", &huge, "whatever-whatever"))
        .await;
    assert!(answer.status.is_client_error(), "{}", answer.status);
}

// 9. Secrets could leak: Debug of the configuration and sign-ins, a webhook secret replayed.

#[tokio::test]
async fn secrets_stay_out_of_debug_output_and_replays() {
    let kek = KeyEncryptionKey::random().to_base64();
    let config = obol_server::config::Config::from_sources(
        None,
        [
            ("OBOL_KEY_ENCRYPTION_KEY".to_owned(), kek.clone()),
            (
                "OBOL_DATABASE_URL".to_owned(),
                "postgres://obol:s3cr3t-pw@db.example/obol".to_owned(),
            ),
        ],
    )
    .unwrap();
    let shown = format!("{config:?}");
    assert!(
        !shown.contains(&kek) && !shown.contains("s3cr3t-pw"),
        "{shown}"
    );
    let login: obol_server::services::LoginRequest =
        serde_json::from_value(json!({"email": "a@b.io", "password": "hunter2-hunter2"})).unwrap();
    assert!(!format!("{login:?}").contains("hunter2"));

    let h = Harness::new().await;
    let body = json!({"url": "https://example.com/hooks"});
    let first = h
        .post("/v1/webhook_endpoints", Some("hook-once"), body.clone())
        .await;
    assert!(first.str("secret").starts_with("whsec_"), "{}", first.body);
    let replay = h
        .post("/v1/webhook_endpoints", Some("hook-once"), body)
        .await;
    assert_eq!(replay.str("id"), first.str("id"));
    assert_eq!(replay.body.get("secret"), None, "{}", replay.body);
}

// 10. gRPC Login took the source from any peer with a certificate.

#[test]
fn only_a_trusted_peer_names_a_sign_in_source() {
    use obol_server::grpc::proto::LoginRequest;
    use obol_server::grpc::proto::auth_client::AuthClient;
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

    let dir = tempfile::tempdir().unwrap();
    let server = support::DevServer::start(dir.path(), &[]);
    let grpc = server.grpc.clone().expect("dev mode serves gRPC");
    // Another holder of a certificate from the dev CA, not a trusted name.
    let issued = support::obol(dir.path())
        .args(["certs", "issue", "intruder"])
        .output()
        .unwrap();
    assert!(issued.status.success());
    let certs = dir.path().join("certs");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = |name: &str| {
            let read = |file: String| std::fs::read(certs.join(file)).unwrap();
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read("ca.pem".into())))
                .identity(Identity::from_pem(
                    read(format!("{name}.pem")),
                    read(format!("{name}-key.pem")),
                ));
            let endpoint = Endpoint::from_shared(format!("https://{grpc}"))
                .unwrap()
                .tls_config(tls)
                .unwrap();
            async move { AuthClient::new(endpoint.connect().await.unwrap()) }
        };
        let login = |password: &str, source: String| LoginRequest {
            request: Some(obol_server::grpc::proto::Value {
                json: serde_json::to_vec(&json!({"email": server.email, "password": password}))
                    .unwrap(),
            }),
            source: Some(source),
        };
        let mut intruder = client("intruder").await;
        // Ten guesses, each claiming a new address: they all count against the intruder's.
        for n in 0..10 {
            let refused = intruder
                .login(login("wrong wrong wrong", format!("10.0.0.{n}")))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        }
        let stopped = intruder
            .login(login(&server.password, "10.0.0.99".into()))
            .await
            .unwrap_err();
        assert_eq!(stopped.code(), tonic::Code::ResourceExhausted, "{stopped}");
        // The gateway is trusted to name where its callers come from.
        let mut gateway = client("gateway").await;
        gateway
            .login(login(&server.password, "198.51.100.20".into()))
            .await
            .unwrap();
    });
    server.stop();
}

// 11. Dev mode was accepted on a public address or an external database.

#[test]
fn dev_mode_stays_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value, named) in [
        ("OBOL_HTTP_ADDR", "0.0.0.0:0", "OBOL_HTTP_ADDR"),
        (
            "OBOL_DATABASE_URL",
            "postgres://obol:s3cr3t-pw@db.example.com/obol",
            "OBOL_DATABASE_URL",
        ),
    ] {
        let output = support::obol(dir.path())
            .env(name, value)
            .args(["serve", "--dev"])
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{stderr}");
        assert!(!stderr.contains("s3cr3t-pw"), "{stderr}");
        assert!(
            !dir.path().join("dev-credentials.json").exists(),
            "no all-scope user is made"
        );
    }
}

// 12. Bad input: arrays for objects, unbounded keys; the OpenAPI document says what is
// enforced.

#[tokio::test]
async fn bodies_are_objects_keys_are_bounded_and_the_contract_says_so() {
    let h = Harness::new().await;
    for body in ["[null, null]", "[]", "null", "\"customer\"", "42"] {
        let answer = h
            .call(request(
                Method::POST,
                "/v1/customers",
                Some(&h.token),
                None,
                Some(body),
                "application/json",
            ))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.body
        );
    }
    let long_key = "k".repeat(256);
    let refused = h.post("/v1/customers", Some(&long_key), json!({})).await;
    assert_eq!(refused.code(), "invalid_idempotency_key");
    let fine = h
        .post("/v1/customers", Some(&"k".repeat(255)), json!({}))
        .await;
    assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.body);

    let doc = obol_server::rest::openapi::document();
    let key = doc["components"]["parameters"]["IdempotencyKey"]["schema"].clone();
    assert_eq!(key["maxLength"], 255, "{doc}");
    let payment_id = &doc["components"]["schemas"]["PaymentId"];
    assert!(payment_id["pattern"].as_str().unwrap().starts_with("^pay_"));
    let endpoint = &doc["components"]["schemas"]["CreateEndpoint"]["properties"]["url"];
    assert_eq!(endpoint["format"], "uri", "{endpoint}");
}

// Second review.
// A. One merchant could overflow the accounts every merchant's payments share.

#[tokio::test]
async fn no_payment_can_overflow_the_shared_accounts() {
    let h = Harness::new().await;
    let max = obol::payments::largest_amount(&h.engine.ledger().asset("USD").unwrap());
    let near_max = (i128::MAX - 10_000_000).to_string();
    for amount in [near_max.as_str(), "170141183460469231731687303715884105727"] {
        let refused = h
            .post(
                "/v1/payments",
                None,
                json!({"amount": amount, "asset": "USD", "payment_method": card("4242424242424242"), "confirm": true}),
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.body
        );
        assert_eq!(refused.code(), "amount_too_large");
    }
    let largest = pay(&h, &max.to_string()).await;
    assert_eq!(
        largest.body["state"]["status"], "succeeded",
        "{}",
        largest.body
    );
    // Everyone else still pays.
    let next = pay(&h, "9000000").await;
    assert_eq!(next.body["state"]["status"], "succeeded", "{}", next.body);
}

// B. A webhook-signature header listing thousands of signatures cost a MAC of the body each.

#[tokio::test]
async fn a_long_signature_list_is_refused_and_big_bodies_answer_json() {
    let h = Harness::new().await;
    let paid = pay(&h, "1250").await;
    let event = ProviderEvent {
        id: "evt_many_signatures".into(),
        reference: paid.str("provider_reference"),
        kind: ProviderEventKind::DisputeOpened {
            amount: 1250,
            reason: "fraudulent".into(),
        },
    };
    let mut call = sandbox_webhook(&event, SANDBOX_SECRET, &now_seconds(&h));
    let genuine = call.headers()["webhook-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let many = vec!["v1,AAAA"; 40_000].join(" ") + " " + &genuine;
    call.headers_mut()
        .insert("webhook-signature", many.parse().unwrap());
    let refused = h.call(call).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert_eq!(refused.code(), "webhook_signature_invalid");
    let payment = h.get(&format!("/v1/payments/{}", paid.str("id"))).await;
    assert_eq!(payment.body["state"]["disputed"], "0");

    let huge = "x".repeat(2 * 1024 * 1024);
    let too_big = h
        .call(request(
            Method::POST,
            "/webhooks/sandbox",
            None,
            None,
            Some(&huge),
            "application/json",
        ))
        .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_big.code(), "body_too_large");
    let long_name = format!("/webhooks/{}", "p".repeat(5_000));
    let unknown = h
        .call(request(
            Method::POST,
            &long_name,
            None,
            None,
            Some("{}"),
            "application/json",
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body.to_string().len() < 1_000, "{}", unknown.body);
}

// C. Idempotency keys, customers, ledger books, webhook endpoints and API keys were shared
// between test and live mode.

#[tokio::test]
async fn test_mode_reaches_nothing_of_live_mode() {
    let h = Harness::new().await;
    let merchant = default_merchant();
    let test_key = api_key(&h, &merchant, &Scope::ALL, Mode::Test).await;
    let live_key = api_key(&h, &merchant, &Scope::ALL, Mode::Live).await;
    let order = json!({"amount": "1250", "asset": "USD"});
    let in_test = h
        .send(
            Method::POST,
            "/v1/payments",
            Some(&test_key),
            Some("order-1001"),
            Some(order.clone()),
        )
        .await;
    assert_eq!(in_test.status, StatusCode::CREATED, "{}", in_test.body);
    let in_live = h
        .send(
            Method::POST,
            "/v1/payments",
            Some(&live_key),
            Some("order-1001"),
            Some(order),
        )
        .await;
    assert_eq!(in_live.status, StatusCode::CREATED, "{}", in_live.body);
    assert_ne!(in_live.str("id"), in_test.str("id"));
    assert_eq!(in_live.body["mode"], "live", "{}", in_live.body);

    // A live key the test-mode admin cannot see is one it cannot revoke.
    let keys = h.get_as("/v1/api_keys", &test_key).await;
    let live_id = h.get_as("/v1/api_keys", &live_key).await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["mode"] == "live")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        keys.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|key| key["mode"] == "test"),
        "{}",
        keys.body
    );
    let revoke = h
        .post_as(
            &format!("/v1/api_keys/{live_id}/revoke"),
            Some(&test_key),
            json!({}),
        )
        .await;
    assert_eq!(revoke.code(), "api_key_not_found", "{}", revoke.body);
    assert_eq!(
        h.get_as("/v1/payments", &live_key).await.status,
        StatusCode::OK
    );

    // Customers and ledger accounts made in live mode are unknown in test mode.
    let customer = h.post_as("/v1/customers", Some(&live_key), json!({})).await;
    let unseen = h
        .get_as(&format!("/v1/customers/{}", customer.str("id")), &test_key)
        .await;
    assert_eq!(unseen.code(), "customer_not_found");
    let books = h
        .post_as(
            "/v1/ledger/accounts",
            Some(&live_key),
            json!({"asset": "USD", "normal_balance": "debit"}),
        )
        .await;
    assert_eq!(
        books.body["owner"],
        format!("{merchant}:live"),
        "{}",
        books.body
    );
    let mine = h
        .post_as(
            "/v1/ledger/accounts",
            Some(&test_key),
            json!({"asset": "USD", "normal_balance": "credit"}),
        )
        .await;
    let forged = h
        .post_as(
            "/v1/ledger/transactions",
            Some(&test_key),
            json!({"entries": [
                {"account": books.str("id"), "direction": "debit", "amount": "1000000", "asset": "USD"},
                {"account": mine.str("id"), "direction": "credit", "amount": "1000000", "asset": "USD"},
            ]}),
        )
        .await;
    assert_eq!(forged.code(), "account_not_found", "{}", forged.body);

    // Webhook endpoints belong to a mode.
    let hook = h
        .post_as(
            "/v1/webhook_endpoints",
            Some(&live_key),
            json!({"url": "https://example.com/live"}),
        )
        .await;
    assert_eq!(hook.body["mode"], "live", "{}", hook.body);
    let test_hooks = h.get_as("/v1/webhook_endpoints", &test_key).await;
    assert_eq!(test_hooks.body["data"], json!([]));
}

// D. Webhook endpoints could aim the server at its own network (cloud metadata, loopback
// admin ports) and read the status back from the delivery attempts.

#[tokio::test]
async fn webhooks_reach_public_addresses_only_outside_dev_mode() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inward = format!("http://{}/admin", listener.local_addr().unwrap());
    let config = obol_server::config::Config {
        dev: false,
        ..test_config()
    };
    assert_eq!(
        config.webhook_targets(),
        obol::webhooks::TargetPolicy::PublicOnly
    );
    let h = Harness::with_config(config).await;
    for url in [inward.as_str(), "http://169.254.169.254/latest/meta-data/"] {
        let created = h
            .post("/v1/webhook_endpoints", None, json!({"url": url}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    h.post("/v1/payments", None, json!({"amount": "5", "asset": "USD"}))
        .await;
    let event = h.get("/v1/events").await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.engine.webhooks.run_due(10).await.unwrap();
    let attempts = h.get(&format!("/v1/events/{event}/attempts")).await;
    let attempts = attempts.body["data"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 2);
    for attempt in &attempts {
        assert_eq!(attempt["status"], serde_json::Value::Null, "{attempt}");
        let error = attempt["error"].as_str().unwrap();
        assert!(error.contains("not at a public address"), "{error}");
    }
    // Nothing connected to the inward receiver.
    let accepted =
        tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "the server connected inward");
    // Dev mode, or the setting, lets a deployment deliver to its own network.
    let dev = obol_server::config::Config {
        webhook_private_targets: true,
        dev: false,
        ..test_config()
    };
    assert_eq!(dev.webhook_targets(), obol::webhooks::TargetPolicy::Any);
}

const OWNER: &str = "owner@acme.test";

// E. Sign-in limits counted the raw peer: behind an ingress everyone shared its address, and
// every address of one IPv6 block was a fresh source.

/// A sign-in from `peer` (`address:port`), with an `X-Forwarded-For` when given.
fn login_via(
    peer: &str,
    forwarded: Option<&str>,
    email: &str,
    password: &str,
) -> axum::http::Request<axum::body::Body> {
    let body = json!({"email": email, "password": password}).to_string();
    let mut call = request(
        Method::POST,
        "/v1/auth/login",
        None,
        None,
        Some(&body),
        "application/json",
    );
    let addr: SocketAddr = peer.parse().unwrap();
    call.extensions_mut().insert(ConnectInfo(addr));
    if let Some(forwarded) = forwarded {
        call.headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
    }
    call
}

#[tokio::test]
async fn limits_count_the_client_a_trusted_proxy_names_and_ipv6_by_block() {
    let config = obol_server::config::Config {
        trusted_proxies: vec!["10.0.0.0/8".into()],
        ..test_config()
    };
    let h = Harness::with_config(config).await;
    let ingress = "10.0.0.2:40000";
    // Ten wrong guesses from one client behind the ingress spend that client's budget only.
    for _ in 0..10 {
        let guess = h
            .call(login_via(
                ingress,
                Some("203.0.113.9"),
                OWNER,
                "wrong wrong wrong",
            ))
            .await;
        assert_eq!(guess.code(), "unauthenticated");
    }
    let stopped = h
        .call(login_via(ingress, Some("203.0.113.9"), OWNER, PASSWORD))
        .await;
    assert_eq!(stopped.code(), "too_many_attempts");
    let neighbour = h
        .call(login_via(ingress, Some("198.51.100.7"), OWNER, PASSWORD))
        .await;
    assert_eq!(neighbour.status, StatusCode::OK, "{}", neighbour.body);
    // A client outside the trusted proxies cannot name another address to escape its limit.
    let stranger = "192.0.2.50:40000";
    for _ in 0..10 {
        h.call(login_via(stranger, None, OWNER, "wrong wrong wrong"))
            .await;
    }
    let spoofed = h
        .call(login_via(stranger, Some("198.51.100.99"), OWNER, PASSWORD))
        .await;
    assert_eq!(spoofed.code(), "too_many_attempts");
    // Every address of one IPv6 /64 counts as one source.
    for n in 0..10 {
        let peer = format!("[2001:db8:5:6::{n:x}]:40000");
        h.call(login_via(&peer, None, OWNER, "wrong wrong wrong"))
            .await;
    }
    let same_block = h
        .call(login_via(
            "[2001:db8:5:6:ffff::1]:40000",
            None,
            OWNER,
            PASSWORD,
        ))
        .await;
    assert_eq!(same_block.code(), "too_many_attempts");
    let other_block = h
        .call(login_via("[2001:db8:5:7::1]:40000", None, OWNER, PASSWORD))
        .await;
    assert_eq!(other_block.status, StatusCode::OK, "{}", other_block.body);
    // A proxy list that does not parse is refused at start, naming the setting.
    let bad = obol_server::config::Config::from_sources(
        Some("dev = true\ntrusted_proxies = [\"ingress.local\"]"),
        Vec::<(String, String)>::new(),
    );
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("OBOL_TRUSTED_PROXIES")
    );
}
