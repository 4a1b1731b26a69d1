//! Obol's JWTs against PyJWT (with `cryptography`), a standard JOSE implementation: PyJWT
//! verifies what Obol signs with RS256 (AWS-LC) and EdDSA, Obol verifies what PyJWT signs,
//! and an RSA key `cryptography` made loads into Obol and publishes the same JWK.
//! Needs `python3 -m pip install "pyjwt[crypto]"` (CI installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use obol_core::auth::jwt::{Algorithm, Expectations, Jwks, SigningKey, VerifyingKey, verify};
use obol_core::clock::Timestamp;
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://obol.example";
const AUDIENCE: &str = "obol-api";

fn pyjwt(request: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pyjwt_check.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "PyJWT refused (is `pyjwt[crypto]` installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn expect() -> Expectations {
    Expectations {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        leeway_seconds: 0,
    }
}

#[test]
fn pyjwt_and_obol_verify_each_others_tokens() {
    let rsa = SigningKey::generate_rs256("obol-rsa").unwrap();
    let ed = SigningKey::generate_eddsa("obol-ed");
    // PyJWT checks `exp` against the real clock, so these expire far in the future.
    let exp = 4_000_000_000i64;
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "usr_obol", "exp": exp});
    let jwks = Jwks {
        keys: vec![rsa.verifying_key().to_jwk(), ed.verifying_key().to_jwk()],
    };
    let answer = pyjwt(&json!({
        "jwks": jwks,
        "tokens": [rsa.sign(&claims).unwrap(), ed.sign(&claims).unwrap()],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": exp,
    }));
    assert_eq!(
        answer["verified"],
        json!([claims, claims]),
        "PyJWT verified Obol's tokens"
    );

    // Obol verifies PyJWT's tokens through the JWKS PyJWT published.
    let theirs: Jwks = serde_json::from_value(answer["jwks"].clone()).unwrap();
    let keys: Vec<VerifyingKey> = theirs
        .keys
        .iter()
        .map(|jwk| VerifyingKey::from_jwk(jwk).unwrap())
        .collect();
    let now = Timestamp::from_micros(NOW * 1_000_000);
    for token in answer["tokens"].as_array().unwrap() {
        let verified = verify(token.as_str().unwrap(), &keys, &expect(), now).unwrap();
        assert_eq!(verified["sub"], "usr_py");
    }

    // A key `cryptography` made loads from PKCS#8, publishes the JWK PyJWT published, and
    // signs tokens that key verifies.
    let der = base64::engine::general_purpose::STANDARD
        .decode(answer["rsa_pkcs8"].as_str().unwrap())
        .unwrap();
    let loaded = SigningKey::from_pkcs8_der("py-rsa", Algorithm::RS256, &der).unwrap();
    let published = theirs.keys.iter().find(|k| k.kid == "py-rsa").unwrap();
    assert_eq!(loaded.verifying_key().to_jwk().n, published.n);
    assert_eq!(loaded.verifying_key().to_jwk().e, published.e);
    let ours = loaded.sign(&claims).unwrap();
    assert!(verify(&ours, &keys, &expect(), now).is_ok());
}
