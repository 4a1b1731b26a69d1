//! Access tokens: compact JWS (RS256 by default, EdDSA supported) with `typ: at+jwt`
//! (RFC 9068), and a verifier that follows RFC 8725: the algorithm must be on the allowlist and
//! equal to the algorithm bound to the key the `kid` names (so no `none`, no HS256-with-an-RSA-
//! public-key), `kid` only selects among keys we already trust (`jku`, `x5u`, `jwk`, `x5c` and
//! `crit` headers are refused), and `iss`, `aud`, `typ`, `exp` and `nbf` are checked with a
//! small leeway. Every refusal is the same `unauthenticated` error; the reason is logged at
//! debug level only.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// The `typ` of an access token (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// A signing algorithm on the allowlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    RS256,
    /// Ed25519.
    EdDSA,
}

/// The private half. AWS-LC signs RSA in constant time and wipes the key when it is freed;
/// ed25519-dalek wipes its key on drop.
enum Secret {
    Rsa(RsaKeyPair),
    Ed(ed25519_dalek::SigningKey),
}

/// A private signing key with its `kid`. Debug shows only the `kid` and algorithm.
pub struct SigningKey {
    kid: String,
    secret: Secret,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({} {:?})", self.kid, self.algorithm())
    }
}

/// A public key that verifies tokens, with the algorithm bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    /// The key id.
    pub kid: String,
    /// The only algorithm this key verifies.
    pub algorithm: Algorithm,
    material: Public,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Public {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ed(ed25519_dalek::VerifyingKey),
}

/// RSA moduli Obol accepts: 2048 to 8192 bits, as the verification parameters require.
const RSA_MODULUS_BYTES: std::ops::RangeInclusive<usize> = 256..=1024;

/// A JSON Web Key (public part only), as published in the JWKS document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Jwk {
    /// `RSA` or `OKP`.
    pub kty: String,
    /// The key id.
    pub kid: String,
    /// `RS256` or `EdDSA`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// RSA modulus (base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    /// RSA exponent (base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
    /// OKP curve (`Ed25519`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    /// OKP public key (base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
}

/// The JWKS document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl SigningKey {
    /// A new 2048-bit RSA key for RS256.
    pub fn generate_rs256(kid: &str) -> Result<Self> {
        let private = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| Error::corrupt("RSA key generation failed"))?;
        Ok(SigningKey {
            kid: kid.to_owned(),
            secret: Secret::Rsa(private),
        })
    }

    /// A new Ed25519 key for EdDSA.
    pub fn generate_eddsa(kid: &str) -> Self {
        SigningKey {
            kid: kid.to_owned(),
            secret: Secret::Ed(ed25519_dalek::SigningKey::generate(
                &mut rand_core_06::OsRng,
            )),
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm the key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.secret {
            Secret::Rsa(..) => Algorithm::RS256,
            Secret::Ed(_) => Algorithm::EdDSA,
        }
    }

    /// The private key as PKCS#8 DER, for storage (encrypted by the caller); wiped on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        let encoding = |e: &dyn fmt::Display| Error::corrupt(format!("key encoding: {e}"));
        Ok(Zeroizing::new(match &self.secret {
            Secret::Rsa(key) => AsDer::<Pkcs8V1Der>::as_der(key)
                .map_err(|e| encoding(&e))?
                .as_ref()
                .to_vec(),
            Secret::Ed(key) => key
                .to_pkcs8_der()
                .map_err(|e| encoding(&e))?
                .as_bytes()
                .to_vec(),
        }))
    }

    /// Reads a key stored with [`SigningKey::to_pkcs8_der`].
    pub fn from_pkcs8_der(kid: &str, algorithm: Algorithm, der: &[u8]) -> Result<Self> {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        let bad = |e: &dyn fmt::Display| Error::corrupt(format!("stored signing key: {e}"));
        Ok(match algorithm {
            Algorithm::RS256 => {
                let key = RsaKeyPair::from_pkcs8(der).map_err(|e| bad(&e))?;
                if !RSA_MODULUS_BYTES.contains(&key.public_modulus_len()) {
                    return Err(bad(&"the RSA modulus is not 2048 to 8192 bits"));
                }
                SigningKey {
                    kid: kid.to_owned(),
                    secret: Secret::Rsa(key),
                }
            }
            Algorithm::EdDSA => SigningKey {
                kid: kid.to_owned(),
                secret: Secret::Ed(
                    ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(|e| bad(&e))?,
                ),
            },
        })
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            kid: self.kid.clone(),
            algorithm: self.algorithm(),
            material: match &self.secret {
                Secret::Rsa(key) => {
                    let PublicKeyComponents { n, e } = key.public_key().into();
                    Public::Rsa { n, e }
                }
                Secret::Ed(key) => Public::Ed(key.verifying_key()),
            },
        }
    }

    /// Signs claims as a compact JWS access token.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String> {
        let header = serde_json::json!({
            "alg": match self.algorithm() { Algorithm::RS256 => "RS256", Algorithm::EdDSA => "EdDSA" },
            "typ": ACCESS_TOKEN_TYPE,
            "kid": self.kid,
        });
        let header = serde_json::to_vec(&header).map_err(Error::corrupt)?;
        let claims = serde_json::to_vec(claims).map_err(Error::corrupt)?;
        let signing_input = format!("{}.{}", B64.encode(header), B64.encode(claims));
        let signature = self.sign_raw(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", B64.encode(signature)))
    }

    /// The signature of `input` under this key.
    fn sign_raw(&self, input: &[u8]) -> Result<Vec<u8>> {
        use ed25519_dalek::Signer as _;
        Ok(match &self.secret {
            Secret::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                // AWS-LC draws no randomness for PKCS#1 v1.5; the argument is ring's shape.
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    input,
                    &mut signature,
                )
                .map_err(|_| Error::corrupt("RSA signing failed"))?;
                signature
            }
            Secret::Ed(key) => key.sign(input).to_bytes().to_vec(),
        })
    }
}

impl VerifyingKey {
    /// The key as a JWK.
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = Jwk {
            kty: String::new(),
            kid: self.kid.clone(),
            alg: String::new(),
            use_: "sig".into(),
            n: None,
            e: None,
            crv: None,
            x: None,
        };
        match &self.material {
            Public::Rsa { n, e } => {
                jwk.kty = "RSA".into();
                jwk.alg = "RS256".into();
                jwk.n = Some(B64.encode(n));
                jwk.e = Some(B64.encode(e));
            }
            Public::Ed(key) => {
                jwk.kty = "OKP".into();
                jwk.alg = "EdDSA".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(B64.encode(key.as_bytes()));
            }
        }
        jwk
    }

    /// Reads a JWK (for offline verifiers caching the JWKS); refuses anything off the
    /// allowlist.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self> {
        let bad = || Error::Config {
            reason: format!("unusable JWK {}", jwk.kid),
        };
        let field = |v: &Option<String>| -> Result<Vec<u8>> {
            B64.decode(v.as_deref().ok_or_else(bad)?).map_err(|_| bad())
        };
        let (algorithm, material) = match (jwk.kty.as_str(), jwk.alg.as_str()) {
            ("RSA", "RS256") => {
                let n = without_leading_zeros(field(&jwk.n)?);
                let e = without_leading_zeros(field(&jwk.e)?);
                if !usable_rsa_key(&n, &e) {
                    return Err(bad());
                }
                (Algorithm::RS256, Public::Rsa { n, e })
            }
            ("OKP", "EdDSA") if jwk.crv.as_deref() == Some("Ed25519") => {
                let bytes: [u8; 32] = field(&jwk.x)?.try_into().map_err(|_| bad())?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| bad())?;
                (Algorithm::EdDSA, Public::Ed(key))
            }
            _ => return Err(bad()),
        };
        Ok(VerifyingKey {
            kid: jwk.kid.clone(),
            algorithm,
            material,
        })
    }

    fn verifies(&self, input: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Public::Rsa { n, e } => PublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, input, signature)
                .is_ok(),
            Public::Ed(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(input, &sig).is_ok()),
        }
    }
}

/// True for an RSA public key AWS-LC verifies with: an odd modulus of 2048 to 8192 bits and
/// an odd exponent above 1 of at most 33 bits, which AWS-LC also parses. Checked when the key
/// is read, so an unusable key never shadows a good one with the same `kid`.
fn usable_rsa_key(n: &[u8], e: &[u8]) -> bool {
    let bits = |bytes: &[u8]| {
        bytes.first().map_or(0, |top| {
            bytes.len() * 8 - usize::try_from(top.leading_zeros()).unwrap_or(8)
        })
    };
    let odd = |bytes: &[u8]| bytes.last().is_some_and(|last| last & 1 == 1);
    (2048..=8192).contains(&bits(n))
        && odd(n)
        && (2..=33).contains(&bits(e))
        && odd(e)
        && PublicKeyComponents { n, e }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .is_ok()
}

/// A big-endian integer's bytes without leading zeros (JWKs may carry them; AWS-LC refuses them).
fn without_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// What a verifier requires of a token besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// The `iss` it must carry.
    pub issuer: String,
    /// An `aud` it must carry.
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_seconds: i64,
}

/// An offline verifier: trusted keys from a cached JWKS and the expectations, no calls.
#[derive(Debug, Clone)]
pub struct AccessTokenVerifier {
    keys: Vec<VerifyingKey>,
    expect: Expectations,
}

impl AccessTokenVerifier {
    /// Trusts the keys of a JWKS document (keys off the allowlist are skipped).
    pub fn from_jwks(jwks: &Jwks, expect: Expectations) -> Result<Self> {
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| VerifyingKey::from_jwk(jwk).ok())
            .collect();
        Ok(AccessTokenVerifier { keys, expect })
    }

    /// Verifies a token's signature and claims at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<serde_json::Map<String, Value>> {
        verify(token, &self.keys, &self.expect, now)
    }
}

/// Who an access token speaks for, read from its verified claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user (`sub`).
    pub user: String,
    /// The user's tenant (`mer`).
    pub merchant: String,
    /// What the token allows (`scope`, space-separated).
    pub scopes: Vec<String>,
    /// Test or live (`mode`; tokens signed before modes existed are test).
    pub mode: crate::mode::Mode,
}

/// Checks an access token offline against a JWKS document (JSON) at `now`: signature,
/// expiry, issuer and audience. It cannot see a logout; [`crate::auth::Auth`] checks that.
pub fn verify_offline(
    jwks: &str,
    token: &str,
    expect: Expectations,
    now: Timestamp,
) -> Result<AccessClaims> {
    let jwks: Jwks = serde_json::from_str(jwks).map_err(|e| Error::InvalidRequest {
        reason: format!("the JWKS document is not valid: {e}"),
    })?;
    let claims = AccessTokenVerifier::from_jwks(&jwks, expect)?.verify(token, now)?;
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(Error::Unauthenticated)
    };
    Ok(AccessClaims {
        user: text("sub")?,
        merchant: text("mer")?,
        scopes: text("scope")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        mode: match claims.get("mode") {
            None => crate::mode::Mode::Test,
            Some(mode) => crate::mode::Mode::parse(mode.as_str().unwrap_or_default())
                .map_err(|_| Error::Unauthenticated)?,
        },
    })
}

fn refuse(reason: &str) -> Error {
    tracing::debug!(reason, "access token refused");
    Error::Unauthenticated
}

/// Verifies a compact JWS access token against trusted keys and returns its claims as JSON.
pub fn verify(
    token: &str,
    keys: &[VerifyingKey],
    expect: &Expectations,
    now: Timestamp,
) -> Result<serde_json::Map<String, Value>> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse("not a compact JWS"));
    };
    let decode = |part: &str| B64.decode(part).map_err(|_| refuse("bad base64url"));
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&decode(header_b64)?).map_err(|_| refuse("bad header"))?;
    for forbidden in ["jku", "x5u", "jwk", "x5c", "crit"] {
        if header.contains_key(forbidden) {
            return Err(refuse("header names key material"));
        }
    }
    let algorithm = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("EdDSA") => Algorithm::EdDSA,
        _ => return Err(refuse("algorithm not allowed")),
    };
    if header.get("typ").and_then(Value::as_str) != Some(ACCESS_TOKEN_TYPE) {
        return Err(refuse("not an access token"));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| refuse("no kid"))?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| refuse("unknown kid"))?;
    if key.algorithm != algorithm {
        return Err(refuse("algorithm does not match the key"));
    }
    let signing_input = format!("{header_b64}.{claims_b64}");
    if !key.verifies(signing_input.as_bytes(), &decode(signature_b64)?) {
        return Err(refuse("bad signature"));
    }
    let claims: serde_json::Map<String, Value> =
        serde_json::from_slice(&decode(claims_b64)?).map_err(|_| refuse("bad claims"))?;
    if claims.get("iss").and_then(Value::as_str) != Some(expect.issuer.as_str()) {
        return Err(refuse("wrong issuer"));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => *aud == expect.audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&expect.audience)),
        _ => false,
    };
    if !audience_ok {
        return Err(refuse("wrong audience"));
    }
    let seconds = now.as_micros().div_euclid(1_000_000);
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| refuse("no exp"))?;
    if seconds > exp.saturating_add(expect.leeway_seconds) {
        return Err(refuse("expired"));
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf
            .as_i64()
            .ok_or_else(|| refuse("nbf is not a number of seconds"))?;
        if seconds.saturating_add(expect.leeway_seconds) < nbf {
            return Err(refuse("not yet valid"));
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, KeyInit, Mac};
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn expect() -> Expectations {
        Expectations {
            issuer: "https://obol.example".into(),
            audience: "obol-api".into(),
            leeway_seconds: 30,
        }
    }

    fn claims(exp: i64) -> Value {
        json!({"iss": "https://obol.example", "aud": "obol-api", "sub": "usr_1",
               "iat": NOW, "nbf": NOW, "exp": exp})
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_micros(seconds * 1_000_000)
    }

    fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            B64.encode(serde_json::to_vec(header).unwrap()),
            B64.encode(serde_json::to_vec(claims).unwrap()),
            B64.encode(signature)
        )
    }

    #[test]
    fn both_algorithms_sign_and_verify_and_round_trip_through_jwks_and_pkcs8() {
        let rsa = SigningKey::generate_rs256("rsa-1").unwrap();
        let ed = SigningKey::generate_eddsa("ed-1");
        let jwks = Jwks {
            keys: vec![rsa.verifying_key().to_jwk(), ed.verifying_key().to_jwk()],
        };
        let text = serde_json::to_string(&jwks).unwrap();
        assert!(!text.contains("\"d\""), "no private parts in the JWKS");
        let trusted: Vec<VerifyingKey> = serde_json::from_str::<Jwks>(&text)
            .unwrap()
            .keys
            .iter()
            .map(|k| VerifyingKey::from_jwk(k).unwrap())
            .collect();
        for key in [&rsa, &ed] {
            let token = key.sign(&claims(NOW + 900)).unwrap();
            let verified = verify(&token, &trusted, &expect(), at(NOW)).unwrap();
            assert_eq!(verified["sub"], "usr_1");
            let restored = SigningKey::from_pkcs8_der(
                key.kid(),
                key.algorithm(),
                &key.to_pkcs8_der().unwrap(),
            )
            .unwrap();
            let again = restored.sign(&claims(NOW + 900)).unwrap();
            assert!(verify(&again, &trusted, &expect(), at(NOW)).is_ok());
        }
        assert!(!format!("{rsa:?} {ed:?}").contains("Private"));
    }

    #[test]
    fn hostile_rsa_jwks_are_refused_and_leading_zeros_are_harmless() {
        let rsa = SigningKey::generate_rs256("rsa-1").unwrap();
        let good = rsa.verifying_key().to_jwk();
        let n = B64.decode(good.n.as_deref().unwrap()).unwrap();
        let with = |n: &[u8], e: &[u8]| Jwk {
            n: Some(B64.encode(n)),
            e: Some(B64.encode(e)),
            ..good.clone()
        };
        let padded: Vec<u8> = [&[0u8, 0][..], &n].concat();
        let key = VerifyingKey::from_jwk(&with(&padded, &[1, 0, 1])).unwrap();
        assert_eq!(key, rsa.verifying_key(), "leading zeros name the same key");
        let token = rsa.sign(&claims(NOW + 900)).unwrap();
        assert!(verify(&token, &[key], &expect(), at(NOW)).is_ok());

        let hostile: Vec<(&str, Jwk)> = vec![
            ("1024-bit modulus", with(&n[..128], &[1, 0, 1])),
            ("empty modulus", with(&[], &[1, 0, 1])),
            ("zero modulus", with(&[0; 256], &[1, 0, 1])),
            ("16384-bit modulus", with(&[0xff; 2048], &[1, 0, 1])),
            ("exponent 1", with(&n, &[1])),
            ("34-bit exponent", with(&n, &[2, 0, 0, 0, 1])),
            (
                "even modulus",
                with(&[&n[..255], &[0u8][..]].concat(), &[1, 0, 1]),
            ),
            (
                "2041-bit modulus",
                with(&[&[1u8][..], &n[1..]].concat(), &[1, 0, 1]),
            ),
            ("even exponent", with(&n, &[1, 0, 0])),
            ("empty exponent", with(&n, &[])),
            ("huge exponent", with(&n, &[0xff; 64])),
            (
                "no modulus",
                Jwk {
                    n: None,
                    ..good.clone()
                },
            ),
            (
                "not base64url",
                Jwk {
                    n: Some("*&^".into()),
                    ..good.clone()
                },
            ),
            (
                "RSA key claiming EdDSA",
                Jwk {
                    alg: "EdDSA".into(),
                    ..good.clone()
                },
            ),
            (
                "HS256",
                Jwk {
                    alg: "HS256".into(),
                    ..good.clone()
                },
            ),
        ];
        for (name, jwk) in hostile {
            assert!(VerifyingKey::from_jwk(&jwk).is_err(), "{name}");
        }
        // A wrong-length signature is a refusal, not a panic.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        for signature in [vec![], vec![0u8; 255], vec![0xff; 257], vec![0xff; 256]] {
            parts[2] = B64.encode(signature);
            let forged = parts.join(".");
            assert!(verify(&forged, &[rsa.verifying_key()], &expect(), at(NOW)).is_err());
        }
    }

    #[test]
    fn the_rfc_8725_negative_suite_is_refused() {
        let rsa = SigningKey::generate_rs256("rsa-1").unwrap();
        let ed = SigningKey::generate_eddsa("ed-1");
        let trusted = vec![rsa.verifying_key(), ed.verifying_key()];
        let good = claims(NOW + 900);
        let signed = |header: Value, claims: &Value| {
            let input = format!(
                "{}.{}",
                B64.encode(serde_json::to_vec(&header).unwrap()),
                B64.encode(serde_json::to_vec(claims).unwrap())
            );
            let signature = ed.sign_raw(input.as_bytes()).unwrap();
            format!("{input}.{}", B64.encode(signature))
        };
        // HS256 keyed with the RSA public key (the classic confusion attack).
        let public_pem = match &rsa.verifying_key().material {
            Public::Rsa { n, e } => {
                use aws_lc_rs::encoding::PublicKeyX509Der;
                let der: PublicKeyX509Der = PublicKeyComponents { n, e }.as_der().unwrap();
                let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
                format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
            }
            Public::Ed(_) => unreachable!(),
        };
        let hs_header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "rsa-1"});
        let hs_input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&hs_header).unwrap()),
            B64.encode(serde_json::to_vec(&good).unwrap())
        );
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(public_pem.as_bytes()).unwrap();
        mac.update(hs_input.as_bytes());
        let hs = format!("{hs_input}.{}", B64.encode(mac.finalize().into_bytes()));

        let cases: Vec<(&str, String)> = vec![
            ("alg none", forge(&json!({"alg": "none", "typ": "at+jwt", "kid": "ed-1"}), &good, b"")),
            ("HS256 with the RSA public key", hs),
            ("unknown kid", signed(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "ed-2"}), &good)),
            ("injected kid", signed(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "../../dev/null"}), &good)),
            ("alg not the key's", forge(&json!({"alg": "RS256", "typ": "at+jwt", "kid": "ed-1"}), &good, &ed.sign_raw(b"x").unwrap())),
            ("jku header", signed(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "ed-1", "jku": "https://evil.example/jwks"}), &good)),
            ("x5u header", signed(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "ed-1", "x5u": "https://evil.example/cert"}), &good)),
            ("wrong typ", signed(json!({"alg": "EdDSA", "typ": "JWT", "kid": "ed-1"}), &good)),
            ("wrong iss", signed(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "ed-1"}), &json!({"iss": "https://evil.example", "aud": "obol-api", "exp": NOW + 900}))),
            ("wrong aud", signed(json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "ed-1"}), &json!({"iss": "https://obol.example", "aud": "other", "exp": NOW + 900}))),
            ("expired beyond leeway", ed.sign(&claims(NOW - 31)).unwrap()),
            ("not yet valid", ed.sign(&json!({"iss": "https://obol.example", "aud": "obol-api", "nbf": NOW + 31, "exp": NOW + 900})).unwrap()),
            ("no exp", ed.sign(&json!({"iss": "https://obol.example", "aud": "obol-api"})).unwrap()),
            ("nbf not a number", ed.sign(&json!({"iss": "https://obol.example", "aud": "obol-api", "nbf": "now", "exp": NOW + 900})).unwrap()),
            ("nbf a float", ed.sign(&json!({"iss": "https://obol.example", "aud": "obol-api", "nbf": 1.5, "exp": NOW + 900})).unwrap()),
            ("refresh token as access token", "obol_rt_0123".into()),
            ("tampered claims", {
                let token = ed.sign(&good).unwrap();
                let mut parts: Vec<&str> = token.split('.').collect();
                let evil = B64.encode(serde_json::to_vec(&claims(NOW + 99_999)).unwrap());
                parts[1] = &evil;
                parts.join(".")
            }),
        ];
        for (name, token) in cases {
            let err = verify(&token, &trusted, &expect(), at(NOW)).unwrap_err();
            assert_eq!(err.code(), "unauthenticated", "{name}");
        }
        // Within the leeway is fine.
        let edge = ed.sign(&claims(NOW - 29)).unwrap();
        assert!(verify(&edge, &trusted, &expect(), at(NOW)).is_ok());
    }
}
