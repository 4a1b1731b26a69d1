//! Users and API keys as callers ask for and see them: requests, and answers without
//! password hashes or key hashes (a new key's secret is shown once).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::api_key::ApiKey;
use super::scope::Scope;
use super::user::{Profile, User};
use crate::clock::Timestamp;
use crate::id::{ApiKeyId, MerchantId, UserId};
use crate::mode::Mode;

/// A new user in the caller's tenant. Debug shows no password; it is wiped on drop.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Email: unique in the tenant, kept lower-cased.
    #[cfg_attr(
        feature = "schemars",
        schemars(length(max = 254), regex(pattern = super::user::EMAIL_PATTERN))
    )]
    pub email: String,
    /// Initial password: 8 to 128 characters, not a common one.
    #[cfg_attr(
        feature = "schemars",
        schemars(with = "String", length(min = 8, max = 128))
    )]
    pub password: super::Password,
    /// Profile and settings.
    #[serde(default)]
    pub profile: Profile,
    /// What the user may do (at most what the caller may; repeats count once).
    #[cfg_attr(feature = "schemars", schemars(with = "Vec<Scope>"))]
    pub scopes: BTreeSet<Scope>,
    /// May sign in to live mode (only a live-mode caller may grant it).
    #[serde(default)]
    pub live: bool,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("email", &self.email)
            .field("scopes", &self.scopes)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

/// A user as shown: no password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct UserView {
    /// The id.
    pub id: UserId,
    /// The tenant.
    pub merchant: MerchantId,
    /// Email.
    pub email: String,
    /// Profile and settings.
    pub profile: Profile,
    /// What the user may do.
    pub scopes: BTreeSet<Scope>,
    /// Disabled users cannot sign in.
    pub disabled: bool,
    /// May sign in to live mode.
    pub live: bool,
    /// When created.
    pub created_at: Timestamp,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView {
            id: user.id,
            merchant: user.merchant,
            email: user.email,
            profile: user.profile,
            scopes: user.scopes,
            disabled: user.disabled,
            live: user.live,
            created_at: user.created_at,
        }
    }
}

/// A new API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A label: 1 to 100 characters, not all blank.
    #[cfg_attr(
        feature = "schemars",
        schemars(length(min = 1, max = 100), regex(pattern = r"[^\s\u0085]"))
    )]
    pub name: String,
    /// Live or test (test by default; only a live-mode caller makes live keys).
    #[serde(default)]
    pub mode: Mode,
    /// What it may do: at least one scope, at most what the caller may (repeats count once).
    #[cfg_attr(feature = "schemars", schemars(with = "Vec<Scope>", length(min = 1)))]
    pub scopes: BTreeSet<Scope>,
    /// When it stops working.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// An API key as shown: everything but its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ApiKeyView {
    /// The id.
    pub id: ApiKeyId,
    /// A label.
    pub name: String,
    /// Live or test.
    pub mode: Mode,
    /// The last four characters.
    pub last4: String,
    /// What it may do.
    pub scopes: BTreeSet<Scope>,
    /// When issued.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Option<Timestamp>,
    /// When revoked.
    pub revoked_at: Option<Timestamp>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        ApiKeyView {
            id: key.id,
            name: key.name,
            mode: key.mode,
            last4: key.last4,
            scopes: key.scopes,
            created_at: key.created_at,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A new API key with its secret. Debug shows no secret; the secret is wiped on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct NewApiKey {
    /// The key's record.
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// `obol_sk_…`: send as `Authorization: Bearer …`. Shown once: absent when an
    /// idempotent retry replays the creation (the secret is never stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<String>"))]
    pub secret: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("key", &self.key.id)
            .finish_non_exhaustive()
    }
}
