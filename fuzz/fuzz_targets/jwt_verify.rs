//! The access-token verifier on arbitrary text. Holds: no panic, and no token is accepted
//! that an independent reference check refuses (compact JWS, allowed `alg` bound to the
//! `kid`'s key, `typ`, no key-naming headers, a signature the key's public half verifies by
//! another code path, `iss`, `aud`, `exp`, `nbf`).
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use libfuzzer_sys::fuzz_target;
use obol_core::auth::jwt::{Algorithm, Expectations, Jwk, SigningKey, VerifyingKey, verify};
use obol_core::clock::Timestamp;
use serde_json::{Map, Value};

const NOW: i64 = 1_800_000_000;
const LEEWAY: i64 = 30;

struct Keys {
    verifying: Vec<VerifyingKey>,
    published: Vec<Jwk>,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let rsa = SigningKey::from_pkcs8_der(
        "fuzz-rsa",
        Algorithm::RS256,
        include_bytes!("../fixtures/rs256.pk8"),
    )
    .expect("the RSA fixture loads");
    let ed = SigningKey::from_pkcs8_der(
        "fuzz-ed",
        Algorithm::EdDSA,
        include_bytes!("../fixtures/eddsa.pk8"),
    )
    .expect("the Ed25519 fixture loads");
    let verifying = vec![rsa.verifying_key(), ed.verifying_key()];
    let published = verifying.iter().map(VerifyingKey::to_jwk).collect();
    Keys { verifying, published }
});

fn expect() -> Expectations {
    Expectations {
        issuer: "https://obol.example".into(),
        audience: "obol-api".into(),
        leeway_seconds: LEEWAY,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let now = Timestamp::from_micros(NOW * 1_000_000);
    if verify(token, &KEYS.verifying, &expect(), now).is_ok() {
        assert!(reference_accepts(token), "accepted a token the reference refuses: {token}");
    }
});

fn object(part: &str) -> Option<Map<String, Value>> {
    serde_json::from_slice(&B64.decode(part).ok()?).ok()
}

fn reference_accepts(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts.as_slice() else {
        return false;
    };
    let (Some(header), Some(claims), Ok(signature)) =
        (object(header_b64), object(claims_b64), B64.decode(signature_b64))
    else {
        return false;
    };
    if ["jku", "x5u", "jwk", "x5c", "crit"].iter().any(|k| header.contains_key(*k))
        || header.get("typ") != Some(&Value::from("at+jwt"))
    {
        return false;
    }
    let (Some(alg), Some(kid)) = (header.get("alg"), header.get("kid")) else {
        return false;
    };
    let Some(jwk) = KEYS.published.iter().find(|k| Some(k.kid.as_str()) == kid.as_str()) else {
        return false;
    };
    if Some(jwk.alg.as_str()) != alg.as_str() {
        return false;
    }
    let input = format!("{header_b64}.{claims_b64}");
    let signed = match jwk.alg.as_str() {
        "RS256" => {
            let n = B64.decode(jwk.n.as_deref().unwrap_or_default()).unwrap_or_default();
            let e = B64.decode(jwk.e.as_deref().unwrap_or_default()).unwrap_or_default();
            let der = rsa_public_key_der(&n, &e);
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
                .verify(input.as_bytes(), &signature)
                .is_ok()
        }
        "EdDSA" => {
            let x: [u8; 32] = B64
                .decode(jwk.x.as_deref().unwrap_or_default())
                .ok()
                .and_then(|x| x.try_into().ok())
                .unwrap_or_default();
            let (Ok(key), Ok(signature)) = (
                ed25519_dalek::VerifyingKey::from_bytes(&x),
                ed25519_dalek::Signature::from_slice(&signature),
            ) else {
                return false;
            };
            key.verify_strict(input.as_bytes(), &signature).is_ok()
        }
        _ => false,
    };
    let audience = match claims.get("aud") {
        Some(Value::String(aud)) => aud == "obol-api",
        Some(Value::Array(auds)) => auds.iter().any(|a| a == "obol-api"),
        _ => false,
    };
    let exp_ok = claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|exp| NOW <= exp.saturating_add(LEEWAY));
    let nbf_ok = claims
        .get("nbf")
        .and_then(Value::as_i64)
        .is_none_or(|nbf| NOW.saturating_add(LEEWAY) >= nbf);
    signed
        && claims.get("iss") == Some(&Value::from("https://obol.example"))
        && audience
        && exp_ok
        && nbf_ok
}

/// An RSAPublicKey (RFC 8017) in DER: SEQUENCE { INTEGER n, INTEGER e }.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let mut value = bytes.to_vec();
        if value.first().is_some_and(|b| b & 0x80 != 0) {
            value.insert(0, 0);
        }
        tlv(0x02, &value)
    }
    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = value.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(value);
        out
    }
    tlv(0x30, &[integer(n), integer(e)].concat())
}
