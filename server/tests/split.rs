//! The split deployment as separate processes on 127.0.0.1: payments, ledger and auth
//! services (gRPC over mutual TLS, one shared store) and the REST gateway in front. A full
//! payment flow goes through the gateway and reaches every service; the engine's error codes
//! and idempotent replays survive the hop; request ids reach the services' logs; a client
//! without a certificate from the deployment's CA is refused, and only the gateway's
//! certificate may act for a caller; health and reflection answer.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use obol_server::grpc::codec::put_principal;
use obol_server::grpc::proto::payments_client::PaymentsClient;
use obol_server::grpc::proto::{Empty, ListPaymentsRequest};
use serde_json::{Value, json};
use support::obol;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// One process of the deployment, killed when dropped.
struct Process {
    child: Child,
    /// What its banner says it listens on (`127.0.0.1:port`).
    addr: String,
    /// Its health, readiness and metrics address, when it was given one.
    ops: Option<String>,
    /// Its plaintext gRPC health address, when it was given one.
    grpc_health: Option<String>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn certs(data: &Path) -> PathBuf {
    data.join("certs")
}

fn run(data: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut command = obol(data);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Starts `obol serve --role <role>` with `name`'s certificate and waits for its banner.
fn start(data: &Path, env: &[(&str, &str)], role: &str, name: &str) -> Process {
    let dir = certs(data);
    let log = std::fs::File::create(data.join(format!("{role}.log"))).unwrap();
    let mut command = obol(data);
    command
        .env("OBOL_LOG", "info,obol_server=debug")
        .env("OBOL_GRPC_ADDR", "127.0.0.1:0")
        .env("OBOL_HTTP_ADDR", "127.0.0.1:0")
        .env("OBOL_TLS_CERT", dir.join(format!("{name}.pem")))
        .env("OBOL_TLS_KEY", dir.join(format!("{name}-key.pem")))
        .env("OBOL_TLS_CA", dir.join("ca.pem"));
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .args(["serve", "--role", role])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next().unwrap().unwrap();
    let addr = match banner.strip_prefix("Obol is running: http://") {
        Some(rest) => rest.trim_end_matches('/').to_owned(),
        None => banner.rsplit_once(" on ").unwrap().1.to_owned(),
    };
    let given = |name: &str| env.iter().any(|(key, _)| *key == name);
    let mut next_line = || lines.next().unwrap().unwrap();
    let ops = given("OBOL_OPS_ADDR").then(|| {
        let line = next_line();
        let rest = line.split_once("http://").unwrap().1;
        rest.split_once('/').unwrap().0.to_owned()
    });
    let grpc_health = given("OBOL_GRPC_HEALTH_ADDR").then(|| {
        let line = next_line();
        let rest = line.split_once("gRPC health ").unwrap().1;
        rest.split_once(' ').unwrap().0.to_owned()
    });
    std::thread::spawn(move || lines.for_each(drop));
    Process {
        child,
        addr,
        ops,
        grpc_health,
    }
}

fn http(
    method: &str,
    url: &str,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.request(method.parse().unwrap(), url);
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn card(number: &str) -> Value {
    json!({"card": {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}})
}

/// A gRPC channel to `addr` trusting `ca`, presenting `identity` (if any).
/// A channel presenting the certificate `obol certs issue {name}` made in `certs`.
async fn channel_as(addr: &str, certs: &Path, name: &str) -> Channel {
    let cert = certs.join(format!("{name}.pem"));
    let key = certs.join(format!("{name}-key.pem"));
    grpc_channel(addr, &certs.join("ca.pem"), Some((&cert, &key)))
        .await
        .unwrap()
}

async fn grpc_channel(
    addr: &str,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(cert).unwrap(),
            std::fs::read(key).unwrap(),
        ));
    }
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}

async fn ready(channel: Channel) -> Result<(), tonic::Status> {
    PaymentsClient::new(channel).ready(Empty {}).await.map(drop)
}

/// The payments service reports SERVING on the standard health service, and reflection
/// lists it.
async fn health_and_reflection(channel: Channel) {
    use tonic::codegen::tokio_stream::{self, StreamExt};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "obol.v1.Payments".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);

    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter(vec![ask]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"obol.v1.Payments".to_owned()), "{names:?}");
}

/// The plaintext health listener: overall SERVING, and no other service behind it.
async fn plain_health_only(channel: Channel) {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);
    let refused = ready(channel).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unimplemented, "{refused:?}");
}

/// Lists payments acting for a made-up API key of the default merchant.
async fn list_as_someone(channel: Channel) -> Result<(), tonic::Status> {
    let who = obol::auth::Principal {
        actor: obol::auth::Actor::ApiKey {
            key: obol::ApiKeyId::derived("split test"),
        },
        merchant: obol::payments::default_merchant(),
        scopes: obol::auth::Scope::ALL.into_iter().collect(),
        mode: obol::Mode::Test,
    };
    let mut request = tonic::Request::new(ListPaymentsRequest {
        limit: 1,
        ..ListPaymentsRequest::default()
    });
    put_principal(request.metadata_mut(), &who).unwrap();
    PaymentsClient::new(channel)
        .list_payments(request)
        .await
        .map(drop)
}

#[test]
fn split_deployment_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let kek = run(data, &[], &["keys", "kek"]).trim().to_owned();
    let env = [
        ("OBOL_KEY_ENCRYPTION_KEY", kek.as_str()),
        ("OBOL_NEW_USER_PASSWORD", "a long enough password"),
    ];
    run(data, &[], &["certs", "init"]);
    for name in ["gateway", "payments", "ledger", "auth"] {
        run(data, &[], &["certs", "issue", name]);
    }
    // One store for the three services; migrated once before they start, as a deploy's
    // migration job does.
    run(data, &env, &["migrate"]);
    run(data, &env, &["users", "create", "--email", "ops@acme.test"]);

    // Each service also serves health, readiness and metrics over HTTP, and gRPC health
    // without TLS (for the kubelet's probes), when given the addresses.
    let probed: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .chain([
            ("OBOL_OPS_ADDR", "127.0.0.1:0"),
            ("OBOL_GRPC_HEALTH_ADDR", "127.0.0.1:0"),
        ])
        .collect();
    let payments = start(data, &probed, "payments", "payments");
    let ledger = start(data, &probed, "ledger", "ledger");
    let auth = start(data, &env, "auth", "auth");
    let urls = [
        ("OBOL_PAYMENTS_URL", format!("https://{}", payments.addr)),
        ("OBOL_LEDGER_URL", format!("https://{}", ledger.addr)),
        ("OBOL_AUTH_URL", format!("https://{}", auth.addr)),
    ];
    let gateway_env: Vec<(&str, &str)> = urls.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gateway = start(data, &gateway_env, "gateway", "gateway");
    let base = format!("http://{}", gateway.addr);

    // Ready once every service answers through the gateway.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = http("GET", &format!("{base}/readyz"), "", None, &[]);
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Auth service: sign in, who am I, an API key.
    let (status, tokens) = http(
        "POST",
        &format!("{base}/v1/auth/login"),
        "",
        Some(json!({"email": "ops@acme.test", "password": "a long enough password"})),
        &[],
    );
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, me) = http("GET", &format!("{base}/v1/users/me"), &token, None, &[]);
    assert_eq!((status, me["email"].as_str()), (200, Some("ops@acme.test")));
    let (status, wrong) = http(
        "POST",
        &format!("{base}/v1/auth/login"),
        "",
        Some(json!({"email": "ops@acme.test", "password": "not the password at all"})),
        &[],
    );
    assert_eq!(
        (status, &wrong["error"]["code"]),
        (401, &json!("unauthenticated"))
    );

    // Payments service: pay with manual capture, capture part, refund part.
    let create = json!({
        "amount": "2000", "asset": "USD", "capture_method": "manual",
        "payment_method": card("4242424242424242"), "confirm": true,
    });
    let key = [
        ("idempotency-key", "split-order-1"),
        ("x-request-id", "req_split_flow_1"),
    ];
    let (status, paid) = http(
        "POST",
        &format!("{base}/v1/payments"),
        &token,
        Some(create.clone()),
        &key,
    );
    assert_eq!(status, 201, "{paid}");
    assert_eq!(paid["state"]["status"], "requires_capture");
    let id = paid["id"].as_str().unwrap().to_owned();
    let (_, replay) = http(
        "POST",
        &format!("{base}/v1/payments"),
        &token,
        Some(create),
        &key,
    );
    assert_eq!(
        replay["id"], paid["id"],
        "an idempotent replay answers the same"
    );
    let (status, captured) = http(
        "POST",
        &format!("{base}/v1/payments/{id}/capture"),
        &token,
        Some(json!({"amount": "1500"})),
        &[("idempotency-key", "split-capture-1")],
    );
    assert_eq!(status, 200, "{captured}");
    assert_eq!(captured["state"]["status"], "succeeded");
    let (status, refunded) = http(
        "POST",
        &format!("{base}/v1/payments/{id}/refunds"),
        &token,
        Some(json!({"amount": "500"})),
        &[("idempotency-key", "split-refund-1")],
    );
    assert_eq!(status, 201, "{refunded}");
    assert_eq!(refunded["state"]["refunded"], "500");
    let (status, events) = http(
        "GET",
        &format!("{base}/v1/payments/{id}/events"),
        &token,
        None,
        &[],
    );
    assert_eq!(status, 200);
    assert!(events["data"].as_array().unwrap().len() >= 3, "{events}");

    // A decline is recorded on the payment; engine errors keep their codes across the hop.
    let (status, declined) = http(
        "POST",
        &format!("{base}/v1/payments"),
        &token,
        Some(
            json!({"amount": "100", "asset": "USD", "payment_method": card("4000000000000002"), "confirm": true}),
        ),
        &[],
    );
    assert_eq!(status, 201, "{declined}");
    assert_eq!(declined["state"]["status"], "requires_payment_method");
    assert_eq!(declined["last_decline"], "generic_decline");
    let (status, missing) = http(
        "GET",
        &format!("{base}/v1/payments/pay_01JZZZZZZZZZZZZZZZZZZZZZZZ"),
        &token,
        None,
        &[],
    );
    assert_eq!(
        (status, &missing["error"]["code"]),
        (404, &json!("payment_not_found"))
    );

    // Ledger service: the merchant's balance as the payments service reports it equals the
    // account as the ledger service reads it.
    let (status, balances) = http(
        "GET",
        &format!("{base}/v1/balances?assets=USD"),
        &token,
        None,
        &[],
    );
    assert_eq!(status, 200, "{balances}");
    let merchant = &balances["data"][0];
    assert_eq!(merchant["balance"]["credits_posted"], "1500", "{balances}");
    let account = merchant["account"].as_str().unwrap();
    let (status, view) = http(
        "GET",
        &format!("{base}/v1/ledger/accounts/{account}"),
        &token,
        None,
        &[],
    );
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["balance"], merchant["balance"]);

    // Ledger service: accounts, a transfer, a refused overdraft, an idempotency conflict.
    let open = |normal: &str, flags: Value| {
        let (status, account) = http(
            "POST",
            &format!("{base}/v1/ledger/accounts"),
            &token,
            Some(json!({"asset": "USD", "normal_balance": normal, "flags": flags})),
            &[],
        );
        assert_eq!(status, 201, "{account}");
        account["id"].as_str().unwrap().to_owned()
    };
    let funding = open("debit", json!({}));
    let wallet = open(
        "credit",
        json!({"debits_must_not_exceed_credits": true, "credits_must_not_exceed_debits": false}),
    );
    let transfer = |from: &str, to: &str, amount: &str, key: &str| {
        http(
            "POST",
            &format!("{base}/v1/ledger/transactions"),
            &token,
            Some(json!({"entries": [
                {"account": from, "direction": "debit", "amount": amount, "asset": "USD"},
                {"account": to, "direction": "credit", "amount": amount, "asset": "USD"},
            ]})),
            &[("idempotency-key", key)],
        )
    };
    let (status, funded) = transfer(&funding, &wallet, "1000", "split-fund-1");
    assert_eq!(status, 201, "{funded}");
    let (status, overdraft) = transfer(&wallet, &funding, "5000", "split-overdraft-1");
    assert_eq!(
        (status, &overdraft["error"]["code"]),
        (422, &json!("insufficient_funds"))
    );
    let (status, conflict) = transfer(&funding, &wallet, "999", "split-fund-1");
    assert_eq!(
        (status, &conflict["error"]["code"]),
        (409, &json!("idempotency_conflict"))
    );
    let (_, history) = http(
        "GET",
        &format!("{base}/v1/ledger/accounts/{wallet}/history"),
        &token,
        None,
        &[],
    );
    assert_eq!(
        history["items"].as_array().map(Vec::len),
        Some(1),
        "{history}"
    );

    // The services' own HTTP listeners: health, readiness and metrics, and nothing else.
    for service in [&payments, &ledger] {
        let ops = format!("http://{}", service.ops.as_deref().unwrap());
        assert_eq!(http("GET", &format!("{ops}/healthz"), "", None, &[]).0, 200);
        assert_eq!(http("GET", &format!("{ops}/readyz"), "", None, &[]).0, 200);
        let (status, _) = http("GET", &format!("{ops}/v1/payments"), &token, None, &[]);
        assert_eq!(status, 404, "no REST API on a service's ops listener");
        let (status, metrics) = http("GET", &format!("{ops}/metrics"), "", None, &[]);
        assert_eq!(status, 200);
        let metrics = metrics.as_str().unwrap().to_owned();
        // Every payment so far balanced the ledger: the imbalance is 0 for USD.
        assert!(
            metrics.contains("obol_ledger_imbalance{asset=\"USD\",balance=\"posted\"} 0\n"),
            "{metrics}"
        );
        assert!(metrics.contains("obol_ledger_imbalance_checked_timestamp_seconds "));
    }
    let (_, metrics) = http(
        "GET",
        &format!("http://{}/metrics", payments.ops.as_deref().unwrap()),
        "",
        None,
        &[],
    );
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("obol_webhook_deliveries_pending "),
        "{metrics}"
    );
    assert!(metrics.contains("obol_webhook_delivery_attempts_total{result=\"failed\"} "));

    // The request id reached the payments service's log.
    let log = std::fs::read_to_string(data.join("payments.log")).unwrap();
    assert!(log.contains("req_split_flow_1"), "payments log:\n{log}");

    // Only holders of a certificate from the CA get in.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir_certs = certs(data);
    let ca = dir_certs.join("ca.pem");
    runtime.block_on(async {
        // Plaintext gRPC health answers SERVING overall and for the service, and serves
        // nothing else.
        for service in [&payments, &ledger] {
            let plain = Endpoint::from_shared(format!(
                "http://{}",
                service.grpc_health.as_deref().unwrap()
            ))
            .unwrap()
            .connect()
            .await
            .unwrap();
            plain_health_only(plain).await;
        }

        let trusted = channel_as(&payments.addr, &dir_certs, "gateway").await;
        ready(trusted.clone()).await.unwrap();
        health_and_reflection(trusted.clone()).await;
        list_as_someone(trusted).await.unwrap();

        // Another service's certificate gets in, but may not act for a caller.
        let peer = channel_as(&payments.addr, &dir_certs, "ledger").await;
        ready(peer.clone()).await.unwrap();
        let refused = list_as_someone(peer).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");

        let refused = match grpc_channel(&payments.addr, &ca, None).await {
            Err(_) => true,
            Ok(channel) => ready(channel).await.is_err(),
        };
        assert!(refused, "a client without a certificate is refused");

        // A certificate from another CA is refused too.
        let stranger = tempfile::tempdir().unwrap();
        run(stranger.path(), &[], &["certs", "init"]);
        run(stranger.path(), &[], &["certs", "issue", "gateway"]);
        let other = certs(stranger.path());
        let refused = match grpc_channel(
            &payments.addr,
            &ca,
            Some((&other.join("gateway.pem"), &other.join("gateway-key.pem"))),
        )
        .await
        {
            Err(_) => true,
            Ok(channel) => ready(channel).await.is_err(),
        };
        assert!(refused, "a certificate from another CA is refused");
    });

    drop(gateway);
    drop((payments, ledger, auth));
}
