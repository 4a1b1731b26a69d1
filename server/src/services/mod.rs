//! The seam between the REST gateway and the engine: one trait per service. `obol serve` runs
//! them in process ([`local`]); the split deployment reaches them over gRPC. Handlers are
//! written once against these traits. Every method takes the caller's [`Principal`] and the
//! implementation runs the engine's one authorization check before it touches anything.

pub mod local;
mod types;

pub use types::*;

use async_trait::async_trait;
use obol::auth::{Jwks, Principal, Profile};
use obol::payments::{
    Child, Customer, EventQuery, NewCustomer, Payment, PaymentQuery, PaymentRequest, SavedMethod,
    StoredEvent,
};
use obol::webhooks::DeliveryAttempt;
use obol::{
    Account, AccountId, ApiKeyId, AssetCode, Balance, CustomerId, EventId, HistoryEntry, Hold,
    LedgerCommand, NewAccount, Page, PaymentId, PaymentMethodId, Result, Timestamp, Transaction,
    TransactionId, UserId,
};

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
    ) -> Result<Option<Payment>>;
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
    /// Whether the store answers and is migrated.
    async fn ready(&self) -> Result<()>;
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
    /// Whether the store answers and is migrated.
    async fn ready(&self) -> Result<()>;
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
