//! Sessions: a sign-in starts a family of sessions; each refresh replaces the refresh token
//! (rotation) with a new session of the family. A refresh token is opaque (`obol_rt_` + 256
//! random bits), shown once and stored as its SHA-256. Presenting a token that was already
//! rotated away means it leaked: the whole family is revoked.

use std::fmt;

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize as _;

use super::api_key::key_hash;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{MerchantId, SessionId, UserId};
use crate::mode::Mode;

const PREFIX: &str = "obol_rt_";

/// A refresh token: wiped on drop, and Debug never shows it.
pub struct RefreshToken(SecretString);

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(…)")
    }
}

impl RefreshToken {
    /// A new token from 32 random bytes.
    pub fn generate(rng: &mut impl Rng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let body = zeroize::Zeroizing::new(hex::encode(bytes));
        let token = RefreshToken(SecretString::from(format!("{PREFIX}{}", body.as_str())));
        bytes.zeroize();
        token
    }

    /// Reads a presented token (shape only); any defect is `unauthenticated`.
    pub fn parse(text: &str) -> Result<Self> {
        let body = text.strip_prefix(PREFIX).ok_or(Error::Unauthenticated)?;
        if body.len() != 64 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Unauthenticated);
        }
        Ok(RefreshToken(SecretString::from(text)))
    }

    /// The token, to hand to the client once.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Hex SHA-256: what is stored.
    pub fn hash(&self) -> String {
        key_hash(self.0.expose_secret())
    }
}

/// One link of a session family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The id (the `sid` claim of access tokens).
    pub id: SessionId,
    /// The first session of the family (the sign-in).
    pub family: SessionId,
    /// The user.
    pub user: UserId,
    /// The user's tenant.
    pub merchant: MerchantId,
    /// SHA-256 of this link's refresh token.
    pub refresh_hash: String,
    /// When the user signed in (the family's start).
    pub signed_in_at: Timestamp,
    /// When this link was made.
    pub created_at: Timestamp,
    /// The family ends here (sign-in + 7 days); refreshing does not extend it.
    pub expires_at: Timestamp,
    /// Set when a refresh replaced this link.
    pub rotated_at: Option<Timestamp>,
    /// Set when the family was ended (logout, reuse, disable, password change).
    pub revoked_at: Option<Timestamp>,
    /// The mode the user signed in to (sessions from before modes existed were test).
    #[serde(default)]
    pub mode: Mode,
}

impl Session {
    /// True when this link may still be used at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.rotated_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_hide() {
        let token = RefreshToken::generate(&mut rand::rng());
        assert!(token.expose().starts_with("obol_rt_"));
        assert_eq!(
            RefreshToken::parse(token.expose()).unwrap().expose(),
            token.expose()
        );
        assert_eq!(format!("{token:?}"), "RefreshToken(…)");
        assert_ne!(token.hash(), token.expose());
        for bad in ["", "obol_rt_", "obol_rt_zz", &token.expose()[1..]] {
            assert_eq!(
                RefreshToken::parse(bad).unwrap_err().code(),
                "unauthenticated"
            );
        }
    }
}
