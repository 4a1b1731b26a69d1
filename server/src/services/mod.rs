//! The seam between the REST gateway and the engine: one trait per service. `obol serve` runs
//! them in process ([`local`]); the split deployment reaches them over gRPC. Handlers are
//! written once against these traits. Every method takes the caller's [`Principal`] and the
//! implementation runs the engine's one authorization check before it touches anything.

pub mod local;

use std::collections::BTreeSet;

use async_trait::async_trait;
use obol::auth::{ApiKey, ApiKeyMode, Jwks, Principal, Profile, Scope, User};
use obol::payments::{
    CaptureMethod, Child, Customer, EventQuery, MethodToken, NewCustomer, Payment, PaymentQuery,
    PaymentRequest, SavedMethod, StoredEvent,
};
use obol::webhooks::{DeliveryAttempt, WebhookEndpoint};
use obol::{
    Account, AccountId, ApiKeyId, AssetCode, Balance, CustomerId, EndpointId, EventId,
    HistoryEntry, Hold, LedgerCommand, MerchantId, Metadata, NewAccount, Page, PaymentId,
    PaymentMethodId, Result, Timestamp, Transaction, TransactionId, UserId,
};
use serde::{Deserialize, Serialize};

/// Payments, refunds, customers, webhook endpoints and events.
#[async_trait]
pub trait PaymentsService: Send + Sync {
    /// Creates a payment, optionally attaching a method and confirming it, in one call; with
    /// a key, a retry resumes where the first attempt stopped and answers the same.
    async fn create_payment(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreatePayment,
    ) -> Result<Payment>;
    /// Attaches a method (when given) and confirms.
    async fn confirm_payment(
        &self,
        who: &Principal,
        key: Option<&str>,
        id: &PaymentId,
        method: Option<MethodInput>,
    ) -> Result<Payment>;
    /// Runs a mutating request, at most once per idempotency key.
    async fn execute(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: PaymentRequest,
    ) -> Result<Payment>;
    /// One payment.
    async fn payment(&self, who: &Principal, id: &PaymentId) -> Result<Payment>;
    /// The caller's payments (the query's merchant is the caller's).
    async fn list(&self, who: &Principal, query: PaymentQuery) -> Result<Vec<Payment>>;
    /// A payment's refunds and disputes.
    async fn children(&self, who: &Principal, id: &PaymentId) -> Result<Vec<Child>>;
    /// The caller's events (the query's merchant is the caller's).
    async fn events(&self, who: &Principal, query: EventQuery) -> Result<Vec<StoredEvent>>;
    /// Creates a customer of the caller's merchant.
    async fn create_customer(
        &self,
        who: &Principal,
        key: Option<&str>,
        new: NewCustomer,
    ) -> Result<Customer>;
    /// One customer.
    async fn customer(&self, who: &Principal, id: &CustomerId) -> Result<Customer>;
    /// Saves a method for a customer (a card is tokenized first; its data goes no further).
    async fn save_method(
        &self,
        who: &Principal,
        key: Option<&str>,
        customer: &CustomerId,
        method: MethodInput,
    ) -> Result<SavedMethod>;
    /// A customer's usable saved methods.
    async fn saved_methods(
        &self,
        who: &Principal,
        customer: &CustomerId,
    ) -> Result<Vec<SavedMethod>>;
    /// Detaches a saved method.
    async fn detach_method(&self, who: &Principal, id: &PaymentMethodId) -> Result<SavedMethod>;
    /// The caller's balance in each asset it has been paid in.
    async fn balances(&self, who: &Principal, assets: &[AssetCode])
    -> Result<Vec<MerchantBalance>>;
    /// Adds a webhook endpoint; the answer carries the signing secret, shown this once.
    async fn add_endpoint(
        &self,
        who: &Principal,
        key: Option<&str>,
        url: &str,
    ) -> Result<NewEndpoint>;
    /// The caller's webhook endpoints (secrets hidden).
    async fn endpoints(&self, who: &Principal) -> Result<Vec<EndpointView>>;
    /// Delivery attempts of one of the caller's events.
    async fn delivery_attempts(
        &self,
        who: &Principal,
        event: &EventId,
    ) -> Result<Vec<DeliveryAttempt>>;
    /// A webhook a provider sent (authenticated by its signature, not a principal).
    async fn provider_webhook(
        &self,
        provider: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Payment>;
    /// Whether the store answers.
    async fn ready(&self) -> Result<()>;
}

/// Ledger accounts, transactions, holds, balances and history.
#[async_trait]
pub trait LedgerService: Send + Sync {
    /// Opens an account owned by the caller's merchant.
    async fn create_account(
        &self,
        who: &Principal,
        key: Option<&str>,
        new: NewAccount,
    ) -> Result<Account>;
    /// An account with its balance.
    async fn account(&self, who: &Principal, id: &AccountId) -> Result<(Account, Balance)>;
    /// Closes an account.
    async fn close_account(&self, who: &Principal, id: &AccountId) -> Result<Account>;
    /// A balance as of a time.
    async fn balance_at(&self, who: &Principal, id: &AccountId, at: Timestamp) -> Result<Balance>;
    /// Applies a command (transfer, hold, post, void, reverse) on the caller's accounts.
    async fn submit(&self, who: &Principal, command: LedgerCommand) -> Result<Transaction>;
    /// A transaction touching one of the caller's accounts.
    async fn transaction(&self, who: &Principal, id: &TransactionId) -> Result<Transaction>;
    /// A hold on the caller's accounts.
    async fn hold(&self, who: &Principal, id: &TransactionId) -> Result<Hold>;
    /// An account's posted entries, oldest first, a page at a time.
    async fn history(
        &self,
        who: &Principal,
        id: &AccountId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<HistoryEntry>>;
}

/// Sign-in, tokens, users and API keys.
#[async_trait]
pub trait AuthService: Send + Sync {
    /// The principal a bearer credential (an access token or an API key) stands for.
    async fn authenticate(&self, credential: &str) -> Result<Principal>;
    /// Signs in: a session and its tokens.
    async fn login(&self, request: LoginRequest, source: Option<&str>) -> Result<IssuedTokens>;
    /// Exchanges a refresh token for new tokens.
    async fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens>;
    /// Ends a session family.
    async fn logout(&self, refresh_token: &str) -> Result<()>;
    /// The published signing keys.
    async fn jwks(&self) -> Result<Jwks>;
    /// Creates a user in the caller's tenant.
    async fn create_user(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreateUser,
    ) -> Result<UserView>;
    /// A user of the caller's tenant (a user may always read itself).
    async fn user(&self, who: &Principal, id: &UserId) -> Result<UserView>;
    /// Replaces a user's profile (a user may always edit its own).
    async fn update_profile(
        &self,
        who: &Principal,
        id: &UserId,
        profile: Profile,
    ) -> Result<UserView>;
    /// Issues an API key; the answer carries the key, shown this once.
    async fn issue_api_key(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreateApiKey,
    ) -> Result<NewApiKey>;
    /// The tenant's API keys (no secrets).
    async fn api_keys(&self, who: &Principal) -> Result<Vec<ApiKeyView>>;
    /// Revokes one of the tenant's API keys.
    async fn revoke_api_key(&self, who: &Principal, id: &ApiKeyId) -> Result<ApiKeyView>;
}

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

/// The three services a gateway talks to.
#[derive(Clone)]
pub struct Services {
    /// Payments.
    pub payments: std::sync::Arc<dyn PaymentsService>,
    /// Ledger.
    pub ledger: std::sync::Arc<dyn LedgerService>,
    /// Auth.
    pub auth: std::sync::Arc<dyn AuthService>,
}
