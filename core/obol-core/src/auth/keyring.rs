//! Signing keys over time, and their encryption at rest.
//!
//! Rotation: a new key is published in the JWKS `publish_lead` before it starts signing, so
//! every verifier's cached JWKS knows it before its first token; the key it replaces stops
//! signing then and stays published until every token it signed has expired. Keys are stored
//! as PKCS#8 sealed with ChaCha20-Poly1305 under a key-encryption key from configuration, the
//! `kid` bound in as associated data.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::jwt::{Algorithm, Jwk, SigningKey};
use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// The key-encryption key: wiped on drop, Debug never shows it, and it is not `Clone` (one
/// copy, shared behind an `Arc` where two parts need it).
#[derive(zeroize::ZeroizeOnDrop)]
pub struct KeyEncryptionKey([u8; 32]);

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey(…)")
    }
}

impl KeyEncryptionKey {
    /// Reads 32 bytes of base64 (how configuration carries it).
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = BASE64.decode(text.trim()).map_err(|_| Error::Config {
            reason: "the key-encryption key is not base64".into(),
        })?;
        let bytes = zeroize::Zeroizing::new(bytes);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| Error::Config {
            reason: "the key-encryption key must be 32 bytes".into(),
        })?;
        Ok(KeyEncryptionKey(key))
    }

    /// A random key (tests and first runs; production reads it from the secret store).
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        KeyEncryptionKey(key)
    }

    /// The key as base64, for the app to keep in its secret store (the inverse of
    /// [`Self::from_base64`]).
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// A 32-byte key for one purpose, derived from this one (HMAC-SHA256 of `label`): the
    /// deployment's other secrets (the sandbox's token key, idempotency fingerprints of
    /// secrets) follow the key-encryption key without being it.
    pub fn derive(&self, label: &str) -> Result<zeroize::Zeroizing<[u8; 32]>> {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.0)
            .map_err(|_| Error::corrupt("HMAC refused the key-encryption key"))?;
        mac.update(label.as_bytes());
        Ok(zeroize::Zeroizing::new(mac.finalize().into_bytes().into()))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(self.0))
    }

    /// Seals a signing key: base64 of nonce ‖ ciphertext, the `kid` as associated data.
    pub fn seal(&self, key: &SigningKey) -> Result<String> {
        self.seal_bytes(key.kid(), &key.to_pkcs8_der()?)
    }

    /// Opens a sealed signing key; a wrong KEK or a tampered record is `corrupt`.
    pub fn open(&self, kid: &str, algorithm: Algorithm, sealed: &str) -> Result<SigningKey> {
        SigningKey::from_pkcs8_der(kid, algorithm, &self.open_bytes(kid, sealed)?)
    }

    /// Seals `secret`: base64 of nonce ‖ ciphertext, `context` as associated data.
    pub(crate) fn seal_bytes(&self, context: &str, secret: &[u8]) -> Result<String> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::corrupt("sealing a secret failed"))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(BASE64.encode(out))
    }

    /// Opens what [`Self::seal_bytes`] sealed for `context`; a wrong KEK or context, or a
    /// tampered text, is `corrupt`.
    pub(crate) fn open_bytes(
        &self,
        context: &str,
        sealed: &str,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let bytes = BASE64
            .decode(sealed)
            .map_err(|_| Error::corrupt("a sealed secret is not base64"))?;
        let Some((nonce, ciphertext)) = bytes.split_first_chunk::<12>() else {
            return Err(Error::corrupt("a sealed secret is too short"));
        };
        self.cipher()
            .decrypt(
                &Nonce::from(*nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map(zeroize::Zeroizing::new)
            .map_err(|_| Error::corrupt("a secret could not be opened (wrong key-encryption key?)"))
    }
}

/// A signing key's schedule, as stored beside its sealed private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id.
    pub kid: String,
    /// RS256 or EdDSA.
    pub algorithm: Algorithm,
    /// When created (and published).
    pub created_at: Timestamp,
    /// When it starts signing.
    pub activates_at: Timestamp,
    /// When it stopped signing (its successor activated), if it has.
    pub retired_at: Option<Timestamp>,
    /// The public key as published.
    pub public: Jwk,
    /// The private key, sealed.
    pub sealed: String,
}

/// Rotation timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Rotate this long after a key started signing (30 days).
    pub every: Duration,
    /// Publish a new key this long before it signs (verifiers refresh their JWKS meanwhile).
    pub publish_lead: Duration,
    /// The longest lifetime of a token a key signs (access tokens: 15 minutes).
    pub token_lifetime: Duration,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        RotationPolicy {
            every: Duration::from_secs(30 * 24 * 3600),
            publish_lead: Duration::from_secs(3600),
            token_lifetime: Duration::from_secs(15 * 60),
        }
    }
}

/// The key that signs at `now`: the newest active, unretired one.
pub fn signing_record(keys: &[KeyRecord], now: Timestamp) -> Option<&KeyRecord> {
    keys.iter()
        .filter(|k| k.activates_at <= now && k.retired_at.is_none_or(|at| now < at))
        .max_by_key(|k| k.activates_at)
}

/// The keys to publish at `now`: upcoming, signing, and retired ones whose tokens may still
/// be alive.
pub fn published<'a>(
    keys: &'a [KeyRecord],
    now: Timestamp,
    policy: &RotationPolicy,
) -> Vec<&'a KeyRecord> {
    keys.iter()
        .filter(|k| {
            k.retired_at
                .is_none_or(|at| now < at.plus(policy.token_lifetime))
        })
        .collect()
}

/// True when a new key should be created now: none signs or is upcoming, or the signing one is
/// due for rotation and no successor is published yet.
pub fn rotation_due(keys: &[KeyRecord], now: Timestamp, policy: &RotationPolicy) -> bool {
    let upcoming = keys
        .iter()
        .any(|k| k.activates_at > now && k.retired_at.is_none());
    if upcoming {
        return false;
    }
    match signing_record(keys, now) {
        None => true,
        Some(current) => now >= current.activates_at.plus(policy.every),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kid: &str, activates: i64, retired: Option<i64>) -> KeyRecord {
        KeyRecord {
            kid: kid.into(),
            algorithm: Algorithm::EdDSA,
            created_at: Timestamp::from_micros(activates),
            activates_at: Timestamp::from_micros(activates),
            retired_at: retired.map(Timestamp::from_micros),
            public: SigningKey::generate_eddsa(kid).verifying_key().to_jwk(),
            sealed: String::new(),
        }
    }

    /// RSASSA-PKCS1-v1_5 is deterministic: a key sealed by the release that signed with the
    /// `rsa` crate opens, publishes the same JWK and signs byte for byte what it signed then.
    #[test]
    fn a_key_sealed_by_the_rsa_crate_signs_as_it_did() {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/rs256_key_sealed_by_the_rsa_crate.json"
        ))
        .unwrap();
        let record: KeyRecord = serde_json::from_value(fixture["record"].clone()).unwrap();
        let kek = KeyEncryptionKey::from_base64(fixture["kek"].as_str().unwrap()).unwrap();
        let key = kek
            .open(&record.kid, record.algorithm, &record.sealed)
            .unwrap();
        assert_eq!(key.verifying_key().to_jwk(), record.public);
        let claims = serde_json::json!({"iss": "https://obol.example", "aud": "obol-api",
            "sub": "usr_1", "exp": 4_000_000_000i64});
        assert_eq!(
            key.sign(&claims).unwrap(),
            fixture["token"].as_str().unwrap()
        );
        // Sealed again (as a rotation does) it opens to the same key.
        let resealed = kek.seal(&key).unwrap();
        let reopened = kek.open(&record.kid, record.algorithm, &resealed).unwrap();
        assert_eq!(reopened.verifying_key(), key.verifying_key());
    }

    #[test]
    fn sealing_round_trips_and_binds_the_kid_and_the_kek() {
        let kek = KeyEncryptionKey::random();
        let key = SigningKey::generate_eddsa("k1");
        let sealed = kek.seal(&key).unwrap();
        let opened = kek.open("k1", Algorithm::EdDSA, &sealed).unwrap();
        assert_eq!(opened.verifying_key(), key.verifying_key());
        assert_eq!(
            kek.open("k2", Algorithm::EdDSA, &sealed)
                .unwrap_err()
                .code(),
            "corrupt"
        );
        assert!(
            KeyEncryptionKey::random()
                .open("k1", Algorithm::EdDSA, &sealed)
                .is_err()
        );
        assert!(!sealed.contains(&BASE64.encode(&*key.to_pkcs8_der().unwrap())));
        assert_eq!(format!("{kek:?}"), "KeyEncryptionKey(…)");
        assert!(KeyEncryptionKey::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn schedule_picks_signer_and_publication() {
        let policy = RotationPolicy {
            every: Duration::from_micros(1000),
            publish_lead: Duration::from_micros(100),
            token_lifetime: Duration::from_micros(50),
        };
        assert!(rotation_due(&[], Timestamp::from_micros(0), &policy));
        let keys = vec![record("a", 0, Some(1100)), record("b", 1100, None)];
        let at = Timestamp::from_micros;
        assert_eq!(signing_record(&keys, at(500)).unwrap().kid, "a");
        assert_eq!(signing_record(&keys, at(1100)).unwrap().kid, "b");
        // b is published before it signs; a stays published for a token lifetime after.
        assert_eq!(published(&keys, at(1000), &policy).len(), 2);
        assert_eq!(published(&keys, at(1149), &policy).len(), 2);
        assert_eq!(published(&keys, at(1150), &policy).len(), 1);
        assert!(!rotation_due(&keys, at(1500), &policy));
        assert!(rotation_due(&keys, at(2100), &policy));
    }
}
