//! What crosses the service seam besides the engine's own types: requests as clients
//! send them and answers as they are shown (no secrets, no hashes).

use std::collections::BTreeSet;

use obol::auth::{ApiKey, ApiKeyMode, Profile, Scope, User};
use obol::payments::{CaptureMethod, MethodToken};
use obol::webhooks::WebhookEndpoint;
use obol::{
    AccountId, ApiKeyId, AssetCode, Balance, CustomerId, EndpointId, MerchantId, Metadata,
    PaymentMethodId, Timestamp, UserId,
};
use serde::{Deserialize, Serialize};

/// A payment as a client asks for it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// Minor units, as a string.
    #[serde(with = "obol::money::amount_serde")]
    #[schemars(with = "String")]
    pub amount: i128,
    /// The asset (`USD`).
    pub asset: AssetCode,
    /// `automatic` (default) or `manual`.
    #[serde(default)]
    pub capture_method: Option<CaptureMethod>,
    /// The paying customer.
    #[serde(default)]
    pub customer: Option<CustomerId>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Metadata,
    /// A method to attach at once.
    #[serde(default)]
    pub payment_method: Option<MethodInput>,
    /// Confirm at once (needs a method).
    #[serde(default)]
    pub confirm: bool,
}

/// A payment method as a client gives it.
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum MethodInput {
    /// Card details, tokenized with the provider at once and never kept.
    Card(CardInput),
    /// A provider token obtained earlier.
    Token(MethodToken),
    /// One of the customer's saved methods.
    Saved(PaymentMethodId),
}

impl MethodInput {
    /// What an idempotency key's request hash covers: card numbers never, only what a
    /// receipt shows.
    pub fn fingerprint(&self) -> String {
        match self {
            MethodInput::Card(card) => format!(
                "card:{}:{:02}/{}",
                card.number.chars().rev().take(4).collect::<String>(),
                card.exp_month,
                card.exp_year
            ),
            MethodInput::Token(token) => format!("token:{}:{}", token.provider, token.token),
            MethodInput::Saved(id) => format!("saved:{id}"),
        }
    }
}

impl std::fmt::Debug for MethodInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

/// Card details as typed. Debug shows none of them.
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    /// The card number.
    pub number: String,
    /// Expiry month, 1–12.
    pub exp_month: u8,
    /// Expiry year, four digits.
    pub exp_year: u16,
    /// The security code.
    pub cvc: String,
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardInput(..)")
    }
}

/// A merchant's balance in one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MerchantBalance {
    /// The asset.
    pub asset: AssetCode,
    /// The merchant's ledger account for it.
    pub account: AccountId,
    /// Posted and pending amounts.
    pub balance: Balance,
}

/// A webhook endpoint as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EndpointView {
    /// The id.
    pub id: EndpointId,
    /// The receiver's URL.
    pub url: String,
    /// Whether it receives events.
    pub enabled: bool,
    /// When added.
    pub created_at: Timestamp,
}

impl From<&WebhookEndpoint> for EndpointView {
    fn from(endpoint: &WebhookEndpoint) -> Self {
        EndpointView {
            id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            enabled: endpoint.enabled,
            created_at: endpoint.created_at,
        }
    }
}

/// A new webhook endpoint with its signing secret (shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NewEndpoint {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_…`: verify deliveries with it.
    pub secret: String,
}

/// A sign-in request.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The tenant; the default merchant when absent.
    #[serde(default)]
    pub merchant: Option<MerchantId>,
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// Tokens handed to a client after a login or refresh.
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IssuedTokens {
    /// The JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The refresh token (rotated by every refresh).
    pub refresh_token: String,
    /// The signed-in user.
    pub user: UserId,
    /// The user's tenant.
    pub merchant: MerchantId,
}

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A new user in the caller's tenant.
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Email.
    pub email: String,
    /// Initial password.
    pub password: String,
    /// Profile and settings.
    #[serde(default)]
    pub profile: Profile,
    /// What the user may do.
    pub scopes: BTreeSet<Scope>,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("email", &self.email)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// A user as shown: no password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
            created_at: user.created_at,
        }
    }
}

/// A new API key.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A label.
    pub name: String,
    /// Live or test (test by default).
    #[serde(default = "test_mode")]
    pub mode: ApiKeyMode,
    /// What it may do.
    pub scopes: BTreeSet<Scope>,
    /// When it stops working.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

fn test_mode() -> ApiKeyMode {
    ApiKeyMode::Test
}

/// An API key as shown: everything but its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApiKeyView {
    /// The id.
    pub id: ApiKeyId,
    /// A label.
    pub name: String,
    /// Live or test.
    pub mode: ApiKeyMode,
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

/// A new API key with its secret (shown once).
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NewApiKey {
    /// The key's record.
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// `obol_sk_…`: send as `Authorization: Bearer …`. Absent when an idempotent retry
    /// replays the creation: the secret is shown once and never stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("key", &self.key.id)
            .finish_non_exhaustive()
    }
}
