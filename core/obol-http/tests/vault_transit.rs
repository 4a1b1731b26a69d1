//! Sealing through a real Vault-compatible server (OpenBao's dev server): secrets round-trip
//! bound to their context, a tampered or misplaced text is refused, rotation and rewrap move
//! texts onto the new key version, the derivation key survives rotations, and a bad token,
//! a missing key or a stopped server is reported as such.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use obol_core::auth::{KeyEncryptionKey, KeySealer, LocalSealer, MigratingSealer};
use obol_http::testing::DevVault;
use obol_http::{VaultAuth, VaultTransit};

#[tokio::test]
async fn secrets_seal_open_rotate_and_rewrap_in_vault() {
    let vault = DevVault::start();
    let transit = VaultTransit::connect(vault.transit()).await.unwrap();

    let sealed = transit.seal("sig_1", b"private key bytes").await.unwrap();
    assert!(sealed.starts_with("vault:v1:"), "{sealed}");
    assert!(transit.recognises(&sealed));
    assert_eq!(
        transit.open("sig_1", &sealed).await.unwrap().as_slice(),
        b"private key bytes"
    );
    // Bound to its record: another context, a tampered text or a local text do not open.
    assert_eq!(
        transit.open("sig_2", &sealed).await.unwrap_err().code(),
        "corrupt"
    );
    let mut tampered = sealed.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        transit.open("sig_1", &tampered).await.unwrap_err().code(),
        "corrupt"
    );
    assert_eq!(
        transit
            .open("sig_1", "bm90IHZhdWx0")
            .await
            .unwrap_err()
            .code(),
        "corrupt"
    );
    assert_eq!(transit.rewrap("sig_1", &sealed).await.unwrap(), None);

    // A rotation: new seals use version 2, version 1 still opens, a rewrap moves it on (and
    // only for its own record).
    let root = transit.derivation_key().await.unwrap();
    transit.rotate().await.unwrap();
    let newer = transit.seal("sig_3", b"newer").await.unwrap();
    assert!(newer.starts_with("vault:v2:"), "{newer}");
    assert_eq!(
        transit.open("sig_1", &sealed).await.unwrap().as_slice(),
        b"private key bytes"
    );
    assert_eq!(
        transit.rewrap("sig_2", &sealed).await.unwrap_err().code(),
        "corrupt"
    );
    let moved = transit.rewrap("sig_1", &sealed).await.unwrap().unwrap();
    assert!(moved.starts_with("vault:v2:"), "{moved}");
    assert_eq!(
        transit.open("sig_1", &moved).await.unwrap().as_slice(),
        b"private key bytes"
    );
    assert_eq!(transit.rewrap("sig_3", &newer).await.unwrap(), None);
    // Derived secrets do not change with the key's versions, even once old ones are retired.
    vault.run(&[
        "write",
        "transit/keys/obol/config",
        "min_decryption_version=2",
        "min_encryption_version=2",
    ]);
    let again = transit.derivation_key().await.unwrap();
    assert_eq!(
        root.derive("label").unwrap().as_ref(),
        again.derive("label").unwrap().as_ref()
    );
    assert_ne!(
        root.derive("label").unwrap().as_ref(),
        KeyEncryptionKey::random().derive("label").unwrap().as_ref()
    );

    // Moving from the local key: its texts open, and a rewrap seals them in Vault.
    let local = Arc::new(LocalSealer::new(KeyEncryptionKey::random()));
    let before = local.seal("sig_4", b"old").await.unwrap();
    let migrating = MigratingSealer::new(Arc::new(transit.clone()), local);
    assert_eq!(
        migrating.open("sig_4", &before).await.unwrap().as_slice(),
        b"old"
    );
    let into_vault = migrating.rewrap("sig_4", &before).await.unwrap().unwrap();
    assert!(into_vault.starts_with("vault:v2:"));
    assert_eq!(
        transit.open("sig_4", &into_vault).await.unwrap().as_slice(),
        b"old"
    );
}

#[tokio::test]
async fn a_bad_token_a_missing_key_or_a_stopped_vault_is_reported() {
    let vault = DevVault::start();
    let mut wrong = vault.transit();
    wrong.auth = VaultAuth::Token("not-the-token".to_owned().into());
    assert_eq!(
        VaultTransit::connect(wrong).await.unwrap_err().code(),
        "config"
    );
    let mut missing = vault.transit();
    missing.key = "nobody".into();
    let error = VaultTransit::connect(missing).await.unwrap_err();
    assert_eq!(error.code(), "config");
    assert!(error.to_string().contains("nobody"), "{error}");
    let mut hostile = vault.transit();
    hostile.key = "../../sys/seal".into();
    assert_eq!(
        VaultTransit::connect(hostile).await.unwrap_err().code(),
        "config"
    );
    let mut plain = vault.transit();
    plain.address = "http://vault.example:8200".into();
    assert_eq!(
        VaultTransit::connect(plain).await.unwrap_err().code(),
        "config"
    );

    // A token whose policy stops at encrypting cannot open anything: refused, not corrupt.
    let mut policy = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(
        &mut policy,
        b"path \"transit/keys/obol\" { capabilities = [\"read\"] }\n\
          path \"transit/encrypt/obol\" { capabilities = [\"update\"] }\n",
    )
    .unwrap();
    vault.run(&[
        "policy",
        "write",
        "encrypt-only",
        policy.path().to_str().unwrap(),
    ]);
    let output = vault.bao(&["token", "create", "-policy=encrypt-only", "-field=token"]);
    assert!(output.status.success());
    let mut limited = vault.transit();
    limited.auth = VaultAuth::Token(
        String::from_utf8(output.stdout)
            .unwrap()
            .trim()
            .to_owned()
            .into(),
    );
    let limited = VaultTransit::connect(limited).await.unwrap();
    let sealed = limited.seal("k", b"s").await.unwrap();
    assert_eq!(
        limited.open("k", &sealed).await.unwrap_err().code(),
        "config"
    );

    // A stopped Vault is unavailable (retryable), not a broken secret.
    let transit = VaultTransit::connect(vault.transit()).await.unwrap();
    let sealed = transit.seal("k", b"s").await.unwrap();
    drop(vault);
    let error = transit.open("k", &sealed).await.unwrap_err();
    assert_eq!(error.code(), "unavailable", "{error}");
    assert!(error.is_retryable());
}

/// (Re)writes the JWT role `obol`, whose tokens live `ttl`.
fn role(vault: &DevVault, ttl: &str) {
    vault.run(&[
        "write",
        "auth/jwt/role/obol",
        "role_type=jwt",
        "user_claim=sub",
        "bound_audiences=vault",
        "token_policies=obol-transit",
        &format!("token_ttl={ttl}"),
        &format!("token_max_ttl={ttl}"),
    ]);
}

/// A PEM public key for an Ed25519 JWK (SubjectPublicKeyInfo: a fixed prefix, then the key).
fn ed25519_pem(jwk: &obol_core::auth::jwt::Jwk) -> String {
    use base64::Engine as _;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk.x.as_deref().unwrap())
        .unwrap();
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend(x);
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
}

#[tokio::test]
async fn a_jwt_login_signs_in_and_again_when_its_token_ends_or_is_revoked() {
    let vault = DevVault::start();
    // Vault trusts JWTs of one issuer, as it trusts a cluster's ServiceAccount tokens.
    let issuer = obol_core::auth::jwt::SigningKey::generate_eddsa("cluster");
    let mut policy = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(
        &mut policy,
        b"path \"transit/keys/obol\" { capabilities = [\"read\"] }\n\
          path \"transit/encrypt/obol\" { capabilities = [\"update\"] }\n\
          path \"transit/decrypt/obol\" { capabilities = [\"update\"] }\n",
    )
    .unwrap();
    vault.run(&[
        "policy",
        "write",
        "obol-transit",
        policy.path().to_str().unwrap(),
    ]);
    vault.run(&["auth", "enable", "jwt"]);
    let pem = ed25519_pem(&issuer.verifying_key().to_jwk());
    vault.run(&[
        "write",
        "auth/jwt/config",
        &format!("jwt_validation_pubkeys={pem}"),
    ]);
    role(&vault, "2s");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwt = issuer
        .sign(&serde_json::json!({
            "sub": "system:serviceaccount:obol:obol", "aud": "vault",
            "iat": now, "exp": now + 600,
        }))
        .unwrap();
    let jwt_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(jwt_file.path(), format!("{jwt}\n")).unwrap();
    let login = |role: &str, file: &std::path::Path| {
        let mut config = vault.transit();
        config.auth = VaultAuth::Jwt {
            mount: "jwt".into(),
            role: role.into(),
            jwt_file: file.to_path_buf(),
        };
        config
    };

    let transit = VaultTransit::connect(login("obol", jwt_file.path()))
        .await
        .unwrap();
    let sealed = transit.seal("c", b"secret").await.unwrap();
    // The login's token ends after 2 s: the next call signs in again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        transit.open("c", &sealed).await.unwrap().as_slice(),
        b"secret"
    );
    // Its tokens revoked early, it signs in again at the first refusal.
    role(&vault, "60s");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    transit.seal("c", b"again").await.unwrap();
    vault.run(&["lease", "revoke", "-force", "-prefix", "auth/jwt/login"]);
    assert_eq!(
        transit.open("c", &sealed).await.unwrap().as_slice(),
        b"secret"
    );

    // A role Vault does not have, a JWT it does not trust, or no JWT file: refused as
    // configuration when connecting.
    let error = VaultTransit::connect(login("nobody", jwt_file.path()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "config", "{error}");
    let forged = tempfile::NamedTempFile::new().unwrap();
    let stranger = obol_core::auth::jwt::SigningKey::generate_eddsa("stranger");
    let forged_jwt = stranger
        .sign(&serde_json::json!({"sub": "x", "aud": "vault", "exp": now + 600}))
        .unwrap();
    std::fs::write(forged.path(), forged_jwt).unwrap();
    let error = VaultTransit::connect(login("obol", forged.path()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "config", "{error}");
    assert!(!error.to_string().contains("eyJ"), "{error}");
    let dir = tempfile::tempdir().unwrap();
    for missing in [dir.path().to_path_buf(), dir.path().join("none")] {
        let error = VaultTransit::connect(login("obol", &missing))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "config", "{error}");
    }
}
