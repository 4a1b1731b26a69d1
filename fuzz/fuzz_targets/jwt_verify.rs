//! The access-token verifier and the JWK reader. The first byte chooses what the rest is:
//! - bit 2 set: a JWK document, read by `VerifyingKey::from_jwk` (a key it accepts must
//!   verify without panicking);
//! - bit 3 set: a whole token, as text;
//! - otherwise a header and claims (JSON, split at the first zero byte) that the harness
//!   signs with the fixture key bit 0 picks, flipping one signature byte when bit 1 is set, so
//!   the checks after the signature see arbitrary headers and claims.
//!
//! Holds: no panic, and the verifier accepts a token exactly when a reference re-statement of
//! the rules accepts it (compact JWS, `alg` on the allowlist and bound to the `kid`'s key,
//! `typ`, no key-naming headers, a signature the public key verifies, `iss`, `aud`, integer
//! `exp` and `nbf` within the leeway).
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use libfuzzer_sys::fuzz_target;
use obol_core::auth::jwt::{Algorithm, Expectations, Jwk, SigningKey, VerifyingKey, verify};
use obol_core::clock::Timestamp;
use serde_json::{Map, Value};

const NOW: i64 = 1_800_000_000;
const LEEWAY: i64 = 30;
const RSA_PKCS8: &[u8] = include_bytes!("../fixtures/rs256.pk8");
const ED_PKCS8: &[u8] = include_bytes!("../fixtures/eddsa.pk8");

struct Keys {
    verifying: Vec<VerifyingKey>,
    published: Vec<Jwk>,
    rsa: RsaKeyPair,
    ed: ed25519_dalek::SigningKey,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let obol_rsa = SigningKey::from_pkcs8_der("fuzz-rsa", Algorithm::RS256, RSA_PKCS8)
        .expect("the RSA fixture loads");
    let obol_ed = SigningKey::from_pkcs8_der("fuzz-ed", Algorithm::EdDSA, ED_PKCS8)
        .expect("the Ed25519 fixture loads");
    let verifying = vec![obol_rsa.verifying_key(), obol_ed.verifying_key()];
    let published = verifying.iter().map(VerifyingKey::to_jwk).collect();
    Keys {
        verifying,
        published,
        rsa: RsaKeyPair::from_pkcs8(RSA_PKCS8).expect("the RSA fixture parses"),
        ed: ed25519_dalek::SigningKey::from_pkcs8_der(ED_PKCS8).expect("the Ed25519 fixture"),
    }
});

fn expect() -> Expectations {
    Expectations {
        issuer: "https://obol.example".into(),
        audience: "obol-api".into(),
        leeway_seconds: LEEWAY,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    if flags & 4 != 0 {
        read_jwk(rest);
        return;
    }
    let token = if flags & 8 != 0 {
        match std::str::from_utf8(rest) {
            Ok(text) => text.to_owned(),
            Err(_) => return,
        }
    } else {
        signed(flags, rest)
    };
    let now = Timestamp::from_micros(NOW * 1_000_000);
    let accepted = verify(&token, &KEYS.verifying, &expect(), now).is_ok();
    assert_eq!(accepted, reference_accepts(&token), "verifier and reference differ: {token}");
});

/// A token over the fuzzer's header and claims, signed with a fixture key.
fn signed(flags: u8, rest: &[u8]) -> String {
    let (header, claims) = match rest.iter().position(|b| *b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &b"{}"[..]),
    };
    let input = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let mut signature = if flags & 1 == 0 {
        let mut out = vec![0; KEYS.rsa.public_modulus_len()];
        KEYS.rsa
            .sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), input.as_bytes(), &mut out)
            .expect("RSA signs");
        out
    } else {
        KEYS.ed.sign(input.as_bytes()).to_bytes().to_vec()
    };
    if flags & 2 != 0 {
        let at = usize::from(flags >> 4) % signature.len();
        signature[at] ^= 1;
    }
    format!("{input}.{}", B64.encode(signature))
}

/// A JWK the reader accepts verifies tokens without panicking.
fn read_jwk(rest: &[u8]) {
    let Ok(jwk) = serde_json::from_slice::<Jwk>(rest) else {
        return;
    };
    if let Ok(key) = VerifyingKey::from_jwk(&jwk) {
        let token = signed(0, b"{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"x\"}\0{}");
        let now = Timestamp::from_micros(NOW * 1_000_000);
        let _ = verify(&token, &[key], &expect(), now);
    }
}

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
    let (Some(Value::String(alg)), Some(Value::String(kid))) = (header.get("alg"), header.get("kid"))
    else {
        return false;
    };
    let Some(jwk) = KEYS.published.iter().find(|k| k.kid == *kid) else {
        return false;
    };
    if jwk.alg != *alg {
        return false;
    }
    let input = format!("{header_b64}.{claims_b64}");
    let signed = match alg.as_str() {
        "RS256" => {
            let n = B64.decode(jwk.n.as_deref().unwrap_or_default()).unwrap_or_default();
            let e = B64.decode(jwk.e.as_deref().unwrap_or_default()).unwrap_or_default();
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_public_key_der(&n, &e))
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
    let nbf_ok = match claims.get("nbf") {
        None => true,
        Some(nbf) => nbf.as_i64().is_some_and(|nbf| NOW.saturating_add(LEEWAY) >= nbf),
    };
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
