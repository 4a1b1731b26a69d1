//! The key-encryption key in Vault, as an operator uses it, against a real Vault-compatible
//! server (OpenBao's dev server): a deployment on a local key moves its signing keys into
//! Vault Transit (`obol keys rewrap`), rotates the Transit key (`obol keys rotate-kek`) and
//! moves them onto the new version, and the server signs users in with keys only Vault opens;
//! a deployment on Vault alone needs no local key; a wrong token stops the start clearly.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;

use obol_http::testing::DevVault;
use serde_json::json;
use support::{DevServer, http, obol};

/// Runs `obol args` with `env`; its standard output, or the failure with its standard error.
fn run(data: &Path, env: &[(&str, &str)], args: &[&str]) -> Result<String, String> {
    let mut command = obol(data);
    command.env("OBOL_NEW_USER_PASSWORD", "a long enough password");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.args(args).output().unwrap();
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Signs the dev user of `server` in; the status.
fn sign_in(server: &DevServer) -> u16 {
    let (status, answer) = http(
        "POST",
        &format!("{}/v1/auth/login", server.base),
        None,
        Some(json!({"email": server.email, "password": server.password})),
    );
    assert!(
        status != 200 || answer["access_token"].is_string(),
        "{answer}"
    );
    status
}

#[test]
fn signing_keys_move_into_vault_and_follow_its_rotations() {
    let vault = DevVault::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let kek = run(data, &[], &["keys", "kek"]).unwrap().trim().to_owned();
    let local = [("OBOL_KEY_ENCRYPTION_KEY", kek.as_str())];
    assert!(
        run(data, &local, &["keys", "rotate"])
            .unwrap()
            .starts_with("created signing key sig_")
    );
    // The local key cannot rotate in place.
    let refused = run(data, &local, &["keys", "rotate-kek"]).unwrap_err();
    assert!(refused.contains("cannot rotate in place"), "{refused}");
    // A webhook endpoint's secret, sealed by the local key.
    let server = DevServer::start(data, &local);
    let (status, tokens) = http(
        "POST",
        &format!("{}/v1/auth/login", server.base),
        None,
        Some(json!({"email": server.email, "password": server.password})),
    );
    assert_eq!(status, 200, "{tokens}");
    let (status, endpoint) = http(
        "POST",
        &format!("{}/v1/webhook_endpoints", server.base),
        tokens["access_token"].as_str(),
        Some(json!({"url": "https://hooks.example.com/obol"})),
    );
    assert_eq!(status, 201, "{endpoint}");
    assert!(endpoint["secret"].as_str().unwrap().starts_with("whsec_"));
    server.stop();

    let with_vault = [
        ("OBOL_KEY_ENCRYPTION_KEY", kek.as_str()),
        ("OBOL_VAULT_ADDR", vault.address.as_str()),
        ("OBOL_VAULT_TOKEN", vault.token.as_str()),
        ("OBOL_VAULT_TRANSIT_KEY", "obol"),
    ];
    let rewrap = |env: &[(&str, &str)]| run(data, env, &["keys", "rewrap"]).unwrap();
    let moved = "sealed again: 1 signing keys, 1 webhook secrets";
    assert_eq!(rewrap(&with_vault).trim(), moved);
    assert_eq!(
        rewrap(&with_vault).trim(),
        "sealed again: 0 signing keys, 0 webhook secrets"
    );

    // Vault opens the key the server signs with.
    let server = DevServer::start(data, &with_vault);
    assert_eq!(sign_in(&server), 200);
    server.stop();
    // Without Vault, the local key alone no longer opens it.
    let server = DevServer::start(data, &local);
    assert_ne!(sign_in(&server), 200);
    server.stop();

    // A new version of the Transit key; a rewrap moves the signing key onto it, after which
    // the old version may be retired in Vault.
    assert!(
        run(data, &with_vault, &["keys", "rotate-kek"])
            .unwrap()
            .contains("rotated the key-encryption key")
    );
    assert_eq!(rewrap(&with_vault).trim(), moved);
    vault.run(&[
        "write",
        "transit/keys/obol/config",
        "min_decryption_version=2",
    ]);
    let server = DevServer::start(data, &with_vault);
    assert_eq!(sign_in(&server), 200);
    server.stop();

    // A wrong token stops the start and says why.
    let mut wrong = with_vault;
    wrong[2] = ("OBOL_VAULT_TOKEN", "not-the-token");
    let refused = run(data, &wrong, &["migrate"]).unwrap_err();
    assert!(refused.contains("Vault"), "{refused}");
    assert!(!refused.contains("not-the-token"), "{refused}");
}

#[test]
fn a_deployment_on_vault_alone_needs_no_local_key() {
    let vault = DevVault::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let env = [
        ("OBOL_VAULT_ADDR", vault.address.as_str()),
        ("OBOL_VAULT_TOKEN", vault.token.as_str()),
        ("OBOL_VAULT_TRANSIT_KEY", "obol"),
    ];
    assert!(
        run(data, &env, &["migrate"])
            .unwrap()
            .contains("migrations applied")
    );
    assert!(
        run(data, &env, &["keys", "rotate"])
            .unwrap()
            .starts_with("created signing key sig_")
    );
    // A user's idempotency fingerprint and the sandbox's tokens are derived from Vault.
    assert!(
        run(data, &env, &["users", "create", "--email", "ops@acme.test"])
            .unwrap()
            .contains("ops@acme.test")
    );
    // Half a Vault configuration is refused before anything starts.
    let refused = run(data, &env[..2], &["migrate"]).unwrap_err();
    assert!(refused.contains("OBOL_VAULT_TRANSIT_KEY"), "{refused}");
    let refused = run(data, &[env[2]], &["migrate"]).unwrap_err();
    assert!(refused.contains("OBOL_VAULT_ADDR"), "{refused}");
}
