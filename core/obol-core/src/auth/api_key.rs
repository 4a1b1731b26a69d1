//! API keys: `obol_sk_live_` or `obol_sk_test_`, 32 random base62 characters (≈190 bits from
//! the OS-seeded CSPRNG), and a 6-character CRC32 checksum, so a key is recognisable (secret
//! scanners, logs) and a typo is refused before any look-up. The key is shown once; the engine
//! keeps its SHA-256 (a fast hash is right for a high-entropy secret), its prefix and last 4.

use std::fmt;

use rand::{Rng, RngExt};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::mode::Mode;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LEN: usize = 32;
const CHECK_LEN: usize = 6;

/// What every API key starts with, whatever its mode.
pub const SECRET_PREFIX: &str = "obol_sk_";

/// The key prefix of a mode: `obol_sk_live_` or `obol_sk_test_`.
pub fn key_prefix(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "obol_sk_live_",
        Mode::Test => "obol_sk_test_",
    }
}

/// The full key: wiped on drop, and Debug shows only its prefix and last 4.
pub struct ApiKeySecret(SecretString);

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeySecret({}…{})", self.prefix(), self.last4())
    }
}

/// What the engine stores of a new key.
#[derive(Debug)]
pub struct IssuedApiKey {
    /// The key, to hand to its owner once.
    pub secret: ApiKeySecret,
    /// Hex SHA-256 of the key: the look-up value.
    pub hash: String,
    /// `obol_sk_live_` or `obol_sk_test_`.
    pub prefix: &'static str,
    /// The last four characters, for listings.
    pub last4: String,
}

fn checksum(body: &str) -> String {
    let mut value = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Hex SHA-256 of a key's text.
pub fn key_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl ApiKeySecret {
    /// A new random key.
    pub fn generate(mode: Mode, rng: &mut impl Rng) -> IssuedApiKey {
        let body: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
            (0..BODY_LEN)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect(),
        );
        let secret = ApiKeySecret(SecretString::from(format!(
            "{}{}{}",
            key_prefix(mode),
            body.as_str(),
            checksum(&body)
        )));
        IssuedApiKey {
            hash: secret.hash(),
            prefix: key_prefix(mode),
            last4: secret.last4(),
            secret,
        }
    }

    /// Reads a presented key, checking its shape and checksum; any defect is
    /// `unauthenticated`, like an unknown key.
    pub fn parse(text: &str) -> Result<(Mode, ApiKeySecret)> {
        let (mode, rest) = [Mode::Live, Mode::Test]
            .into_iter()
            .find_map(|mode| text.strip_prefix(key_prefix(mode)).map(|rest| (mode, rest)))
            .ok_or(Error::Unauthenticated)?;
        if rest.len() != BODY_LEN + CHECK_LEN || !rest.bytes().all(|b| ALPHABET.contains(&b)) {
            return Err(Error::Unauthenticated);
        }
        let (body, check) = rest.split_at(BODY_LEN);
        if checksum(body) != check {
            return Err(Error::Unauthenticated);
        }
        Ok((mode, ApiKeySecret(SecretString::from(text))))
    }

    /// The key's text, to show its owner once.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Hex SHA-256 of the key.
    pub fn hash(&self) -> String {
        key_hash(self.expose())
    }

    fn prefix(&self) -> &str {
        let text = self.expose();
        text.get(..text.len().min(key_prefix(Mode::Live).len()))
            .unwrap_or_default()
    }

    fn last4(&self) -> String {
        let text = self.expose();
        text.get(text.len().saturating_sub(4)..)
            .unwrap_or_default()
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_refuse_typos() {
        let issued = ApiKeySecret::generate(Mode::Live, &mut rand::rng());
        let text = issued.secret.expose().to_owned();
        assert!(text.starts_with("obol_sk_live_"));
        assert_eq!(text.len(), 13 + 32 + 6);
        let (mode, parsed) = ApiKeySecret::parse(&text).unwrap();
        assert_eq!(mode, Mode::Live);
        assert_eq!(parsed.hash(), issued.hash);
        assert_eq!(issued.last4, text[text.len() - 4..]);
        // One character changed: the checksum catches it.
        let mut typo = text.clone().into_bytes();
        let i = 20;
        typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(
            ApiKeySecret::parse(&typo).unwrap_err().code(),
            "unauthenticated"
        );
        for bad in ["", "obol_sk_live_", "sk_live_abc", &text[..text.len() - 1]] {
            assert!(ApiKeySecret::parse(bad).is_err(), "{bad}");
        }
        let test = ApiKeySecret::generate(Mode::Test, &mut rand::rng());
        assert_eq!(
            ApiKeySecret::parse(test.secret.expose()).unwrap().0,
            Mode::Test
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let issued = ApiKeySecret::generate(Mode::Test, &mut rand::rng());
        let text = issued.secret.expose();
        let shown = format!("{:?} {issued:?}", issued.secret);
        assert!(!shown.contains(&text[13..40]), "{shown}");
        assert!(shown.contains("obol_sk_test_"));
    }
}

/// A stored API key: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The id.
    pub id: crate::id::ApiKeyId,
    /// The tenant it acts for.
    pub merchant: crate::id::MerchantId,
    /// A label chosen by its owner.
    pub name: String,
    /// Live or test.
    pub mode: Mode,
    /// The last four characters, for listings (`obol_sk_live_…abcd`).
    pub last4: String,
    /// Hex SHA-256 of the key.
    pub hash: String,
    /// What it may do.
    pub scopes: std::collections::BTreeSet<super::scope::Scope>,
    /// When issued.
    pub created_at: crate::clock::Timestamp,
    /// After this it no longer authenticates.
    pub expires_at: Option<crate::clock::Timestamp>,
    /// Set when revoked.
    pub revoked_at: Option<crate::clock::Timestamp>,
}

impl ApiKey {
    /// True when it may authenticate at `now`.
    pub fn is_usable(&self, now: crate::clock::Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}
