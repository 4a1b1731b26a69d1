//! Users: people who sign in for a merchant (their tenant). Emails are normalised (trimmed,
//! lower-cased) and unique within a tenant; the password is kept only as an argon2id hash.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::scope::Scope;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{MerchantId, UserId};
use crate::ledger::model::Metadata;

/// Profile fields a user edits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Display name.
    #[cfg_attr(feature = "schemars", schemars(length(max = 256)))]
    pub name: Option<String>,
    /// BCP 47 language tag, e.g. `en-GB`.
    #[cfg_attr(feature = "schemars", schemars(length(max = 35)))]
    pub locale: Option<String>,
    /// IANA time zone, e.g. `Europe/Paris`.
    #[cfg_attr(feature = "schemars", schemars(length(max = 64)))]
    pub time_zone: Option<String>,
    /// Account settings (notification choices and the like), string to string.
    pub settings: Metadata,
}

impl Profile {
    /// Checks lengths: name ≤ 256, locale ≤ 35, time zone ≤ 64 characters, at most 50
    /// settings with keys ≤ 40 and values ≤ 500 characters.
    pub fn validate(&self) -> Result<()> {
        let too_long = |value: &Option<String>, max: usize| {
            value.as_ref().is_some_and(|v| v.chars().count() > max)
        };
        if too_long(&self.name, 256) || too_long(&self.locale, 35) || too_long(&self.time_zone, 64)
        {
            return Err(Error::InvalidUser {
                reason: "a profile field is too long".into(),
            });
        }
        crate::ledger::validate::metadata(&self.settings)
    }
}

/// A stored user. Debug hides the password hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The id.
    pub id: UserId,
    /// The tenant.
    pub merchant: MerchantId,
    /// Normalised email, unique within the tenant.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Profile and settings.
    pub profile: Profile,
    /// What the user may do in the tenant.
    pub scopes: BTreeSet<Scope>,
    /// Disabled users cannot sign in, and their sessions end.
    pub disabled: bool,
    /// When created.
    pub created_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
    /// When the password last changed (sessions from before are ended).
    pub password_changed_at: Timestamp,
    /// Bumped by every write.
    pub version: i64,
    /// May sign in to live mode (users from before modes existed may).
    #[serde(default = "may_act_live")]
    pub live: bool,
}

fn may_act_live() -> bool {
    true
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("merchant", &self.merchant)
            .field("email", &self.email)
            .field("scopes", &self.scopes)
            .field("disabled", &self.disabled)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

/// What [`normalise_email`] takes (once trimmed), as a JSON Schema (ECMA 262) pattern: one
/// `@` with text before it, a domain with a dot inside it, no whitespace.
pub const EMAIL_PATTERN: &str = r"^[^@\s\u0085\uFEFF]+@[^@\s\u0085\uFEFF.][^@\s\u0085\uFEFF]*\.[^@\s\u0085\uFEFF]*[^@\s\u0085\uFEFF.]$";

/// Longest email, in characters.
pub const MAX_EMAIL_LEN: usize = 254;

/// Whitespace as the email rules see it (ECMA's `\s` and Unicode's White_Space, both).
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{FEFF}'
}

/// Normalises an email: trimmed, lower-cased, one `@` with text on both sides, a dot in the
/// domain, at most 254 characters, no spaces.
pub fn normalise_email(email: &str) -> Result<String> {
    let email = email.trim();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        }
        None => false,
    };
    if !valid || email.chars().count() > MAX_EMAIL_LEN || email.chars().any(is_space) {
        return Err(Error::InvalidUser {
            reason: "the email address is not valid".into(),
        });
    }
    Ok(email.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            normalise_email("  Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for bad in [
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a b@x.io",
            "a@b@c.io",
        ] {
            assert_eq!(
                normalise_email(bad).unwrap_err().code(),
                "invalid_user",
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_hides_the_hash() {
        let user = User {
            id: UserId::derived("u"),
            merchant: MerchantId::derived("m"),
            email: "a@b.io".into(),
            password_hash: "$argon2id$secret-hash".into(),
            profile: Profile::default(),
            scopes: BTreeSet::new(),
            disabled: false,
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
            password_changed_at: Timestamp::EPOCH,
            version: 1,
            live: false,
        };
        assert!(!format!("{user:?}").contains("argon2id"));
    }
}
