//! The `obol` binary as a user runs it: admin commands on a fresh data directory, `serve
//! --dev` printing where to go and the credentials to sign in with, a payment through the
//! API, and a graceful stop on SIGTERM; bad configuration refused with a clear message.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::process::Command;

use serde_json::json;
use support::{DevServer, http, obol};

/// The dev server's gRPC health service answers a client holding the dev `gateway`
/// certificate.
fn dev_grpc_answers(data: &std::path::Path, addr: &str) {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let certs = data.join("certs");
    let read = |file: &str| std::fs::read(certs.join(file)).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .identity(Identity::from_pem(
            read("gateway.pem"),
            read("gateway-key.pem"),
        ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let channel = Endpoint::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: "obol.v1.Ledger".into(),
            })
            .await
            .unwrap();
        assert_eq!(answer.into_inner().status, 1, "SERVING");
    });
}

#[test]
fn admin_commands_then_serve_pay_and_stop_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let kek = obol(dir.path()).args(["keys", "kek"]).output().unwrap();
    assert!(kek.status.success());
    let kek = String::from_utf8(kek.stdout).unwrap().trim().to_owned();
    assert_eq!(kek.len(), 44, "base64 of 32 bytes");

    // Certificates need no key-encryption key: only the data directory.
    let init = obol(dir.path()).args(["certs", "init"]).output().unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let issue = obol(dir.path())
        .args(["certs", "issue", "payments", "--dns", "payments.obol.svc"])
        .output()
        .unwrap();
    assert!(
        issue.status.success(),
        "{}",
        String::from_utf8_lossy(&issue.stderr)
    );
    for file in ["ca.pem", "ca-key.pem", "payments.pem", "payments-key.pem"] {
        assert!(dir.path().join("certs").join(file).exists(), "{file}");
    }

    let with_kek = |args: &[&str]| {
        let output = obol(dir.path())
            .env("OBOL_KEY_ENCRYPTION_KEY", &kek)
            .env("OBOL_NEW_USER_PASSWORD", "a long enough password")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{args:?}: {stderr}");
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(with_kek(&["migrate"]).contains("migrations applied"));
    assert!(with_kek(&["keys", "rotate"]).starts_with("created signing key sig_"));
    assert!(with_kek(&["users", "create", "--email", "ops@acme.test"]).contains("ops@acme.test"));
    let key = with_kek(&[
        "api-keys",
        "create",
        "--name",
        "ci",
        "--scopes",
        "payments:read,payments:write",
    ]);
    let key = key.trim().to_owned();
    assert!(key.starts_with("obol_sk_test_"), "{key}");

    let server = DevServer::start(dir.path(), &[("OBOL_KEY_ENCRYPTION_KEY", &kek)]);
    let (base, email, password) = (&server.base, &server.email, &server.password);
    dev_grpc_answers(
        dir.path(),
        server.grpc.as_deref().expect("dev mode serves gRPC"),
    );

    let (status, tokens) = http(
        "POST",
        &format!("{base}/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": password})),
    );
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let card = json!({"card": {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}});
    let (status, paid) = http(
        "POST",
        &format!("{base}/v1/payments"),
        Some(access),
        Some(json!({"amount": "2000", "asset": "USD", "payment_method": card, "confirm": true})),
    );
    assert_eq!(status, 201, "{paid}");
    assert_eq!(paid["state"]["status"], "succeeded");
    let (status, listed) = http("GET", &format!("{base}/v1/payments"), Some(&key), None);
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed["data"][0]["id"], paid["id"],
        "the API key made by the admin command works"
    );

    server.stop();

    // Everything is still there after the stop.
    let again = obol(dir.path())
        .env("OBOL_KEY_ENCRYPTION_KEY", &kek)
        .args(["migrate"])
        .output()
        .unwrap();
    assert!(again.status.success());
}

#[test]
fn bad_configuration_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let refuse = |command: &mut Command, expected: &str| {
        let output = command.output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{expected:?} not in {stderr}");
    };
    refuse(
        obol(dir.path()).args(["serve"]),
        "OBOL_KEY_ENCRYPTION_KEY is required",
    );
    refuse(
        obol(dir.path())
            .env(
                "OBOL_DATABASE_URL",
                "postgres://postgres:secret@127.0.0.1:1/none",
            )
            .args(["serve", "--dev"]),
        "cannot open the database at postgres://postgres:***@127.0.0.1:1/none",
    );
    refuse(
        obol(dir.path())
            .env("OBOL_DATABASE_MAX_CONNECTIONS", "8")
            .args(["serve", "--dev"]),
        "OBOL_DATABASE_MAX_CONNECTIONS is for a PostgreSQL OBOL_DATABASE_URL",
    );
    refuse(
        obol(dir.path())
            .env(
                "OBOL_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            )
            .env("OBOL_DATABASE_MAX_CONNECTIONS", "2")
            .args(["serve", "--dev"]),
        "OBOL_DATABASE_MAX_CONNECTIONS is 4 to 1000",
    );
    let config = dir.path().join("obol.toml");
    std::fs::write(&config, "dev = true\nhttp_port = 1\n").unwrap();
    refuse(
        obol(dir.path()).args(["--config", config.to_str().unwrap(), "serve"]),
        "http_port",
    );
    refuse(
        obol(dir.path())
            .env("OBOL_HTTP_ADDR", "nowhere")
            .args(["serve", "--dev"]),
        "bad configuration",
    );
    refuse(
        obol(dir.path()).args(["serve", "--dev", "--role", "payments"]),
        "OBOL_TLS_CERT",
    );
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    refuse(
        obol(dir.path())
            .env("OBOL_TLS_CERT", &junk)
            .env("OBOL_TLS_KEY", &junk)
            .env("OBOL_TLS_CA", &junk)
            .env("OBOL_GRPC_ADDR", "127.0.0.1:0")
            .args(["serve", "--dev", "--role", "ledger"]),
        "not usable",
    );
    let help = obol(dir.path())
        .args(["api-keys", "create", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--scopes"));
}
