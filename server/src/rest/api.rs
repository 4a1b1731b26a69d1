//! The API table: every documented route once, with its handler and what it takes and
//! answers. The router and the OpenAPI document are both made from it, so neither can drift
//! from the other.

use axum::Router;
use obol::auth::Jwks;
use obol::payments::{Child, Customer, Payment, SavedMethod};
use obol::webhooks::DeliveryAttempt;
use obol::{
    Account, AccountId, ApiKeyId, Balance, CustomerId, EventId, HistoryEntry, Hold, Page,
    PaymentId, PaymentMethodId, Transaction, TransactionId, UserId,
};
use schemars::{Schema, SchemaGenerator};

use super::{AppState, List, auth, customers, ledger, ops, payments, webhooks};
use crate::services::{
    ApiKeyView, CreateApiKey, CreatePayment, CreateUser, EndpointView, IssuedTokens, LoginRequest,
    MerchantBalance, NewApiKey, NewEndpoint, UserView,
};

/// One documented operation.
#[derive(Debug)]
pub struct Operation {
    /// `get`, `post`, …
    pub method: &'static str,
    /// The path template (`/v1/payments/{id}`).
    pub path: &'static str,
    /// The group it is listed under.
    pub tag: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Whether it needs a bearer credential.
    pub auth: bool,
    /// The JSON body it takes.
    pub request: Option<Schema>,
    /// The status of success.
    pub status: u16,
    /// The JSON body of success.
    pub response: Option<Schema>,
    /// The schema of the path's one parameter (`{id}`), when it has one.
    pub path_param: Option<Schema>,
    /// The query parameters, as one object schema whose properties are the parameters.
    pub query: Option<Schema>,
}

macro_rules! api {
    ($(
        $method:ident $path:literal => $handler:path {
            tag: $tag:literal, summary: $summary:literal, auth: $auth:literal,
            $(path: $param:ty,)?
            body: [$($request:ty)?], ok: $status:literal [$($response:ty)?],
            query: [$($query:ty)?] $(,)?
        }
    )*) => {
        /// Every documented route: method, path template, and whether it verifies a bearer
        /// credential.
        pub const ROUTES: &[(&str, &str, bool)] = &[$((stringify!($method), $path, $auth)),*];

        /// Every documented route with its handler.
        pub fn routes() -> Router<AppState> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }

        /// Every documented operation, its schemas made by `generator`.
        pub fn operations(generator: &mut SchemaGenerator) -> Vec<Operation> {
            vec![$(
                Operation {
                    method: stringify!($method),
                    path: $path,
                    tag: $tag,
                    summary: $summary,
                    auth: $auth,
                    request: None$(.or(Some(generator.subschema_for::<$request>())))?,
                    status: $status,
                    response: None$(.or(Some(generator.subschema_for::<$response>())))?,
                    path_param: None$(.or(Some(generator.subschema_for::<$param>())))?,
                    query: None$(.or(Some(<$query as schemars::JsonSchema>::json_schema(generator))))?,
                },
            )*]
        }
    };
}

/// Whether a request to `path` with `method` reaches a route that verifies its bearer
/// credential (and so spends the credential's rate budget rather than its address's).
pub fn authenticates(method: &str, path: &str) -> bool {
    ROUTES.iter().any(|(m, template, auth)| {
        *auth && m.eq_ignore_ascii_case(method) && matches_template(template, path)
    })
}

/// `/v1/payments/{id}` matches `/v1/payments/pay_1`: each `{…}` is one non-empty segment.
fn matches_template(template: &str, path: &str) -> bool {
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

api! {
    post "/v1/payments" => payments::create {
        tag: "payments", summary: "Create a payment; with `payment_method` and `confirm`, pay in one call.", auth: true,
        body: [CreatePayment], ok: 201 [Payment], query: [],
    }
    get "/v1/payments" => payments::list {
        tag: "payments", summary: "The caller's payments, newest first.", auth: true,
        body: [], ok: 200 [List<Payment>],
        query: [payments::ListParams],
    }
    get "/v1/payments/{id}" => payments::get {
        tag: "payments", summary: "A payment.", auth: true, path: PaymentId, body: [], ok: 200 [Payment], query: [],
    }
    post "/v1/payments/{id}/confirm" => payments::confirm {
        tag: "payments", summary: "Attach a method (optional) and confirm.", auth: true, path: PaymentId,
        body: [payments::Confirm], ok: 200 [Payment], query: [],
    }
    post "/v1/payments/{id}/capture" => payments::capture {
        tag: "payments", summary: "Capture authorized funds, in full or in part.", auth: true, path: PaymentId,
        body: [payments::Capture], ok: 200 [Payment], query: [],
    }
    post "/v1/payments/{id}/cancel" => payments::cancel {
        tag: "payments", summary: "Cancel a payment.", auth: true, path: PaymentId,
        body: [payments::Cancel], ok: 200 [Payment], query: [],
    }
    post "/v1/payments/{id}/complete_action" => payments::complete_action {
        tag: "payments", summary: "Continue after the customer's action (3-D Secure).", auth: true, path: PaymentId,
        body: [], ok: 200 [Payment], query: [],
    }
    post "/v1/payments/{id}/refunds" => payments::refund {
        tag: "payments", summary: "Refund captured funds (everything refundable when no amount).", auth: true, path: PaymentId,
        body: [obol::payments::CreateRefund], ok: 201 [Payment], query: [],
    }
    get "/v1/payments/{id}/refunds" => payments::children {
        tag: "payments", summary: "A payment's refunds and disputes.", auth: true, path: PaymentId,
        body: [], ok: 200 [List<Child>], query: [],
    }
    get "/v1/payments/{id}/events" => payments::payment_events {
        tag: "events", summary: "A payment's events.", auth: true, path: PaymentId,
        body: [], ok: 200 [List<payments::EventView>], query: [],
    }
    get "/v1/events" => payments::events {
        tag: "events", summary: "The caller's events, oldest first, after a position.", auth: true,
        body: [], ok: 200 [List<payments::EventView>],
        query: [payments::EventParams],
    }
    get "/v1/events/{id}/attempts" => webhooks::attempts {
        tag: "webhooks", summary: "Delivery attempts of an event to the caller's endpoints.", auth: true, path: EventId,
        body: [], ok: 200 [List<DeliveryAttempt>], query: [],
    }
    post "/v1/customers" => customers::create {
        tag: "customers", summary: "Create a customer.", auth: true,
        body: [customers::CreateCustomer], ok: 201 [Customer], query: [],
    }
    get "/v1/customers/{id}" => customers::get {
        tag: "customers", summary: "A customer.", auth: true, path: CustomerId, body: [], ok: 200 [Customer], query: [],
    }
    post "/v1/customers/{id}/payment_methods" => customers::save_method {
        tag: "customers", summary: "Save a payment method (a card is tokenized at once).", auth: true, path: CustomerId,
        body: [customers::SaveMethod], ok: 201 [SavedMethod], query: [],
    }
    get "/v1/customers/{id}/payment_methods" => customers::methods {
        tag: "customers", summary: "A customer's saved methods.", auth: true, path: CustomerId,
        body: [], ok: 200 [List<SavedMethod>], query: [],
    }
    post "/v1/payment_methods/{id}/detach" => customers::detach {
        tag: "customers", summary: "Detach a saved method.", auth: true, path: PaymentMethodId,
        body: [], ok: 200 [SavedMethod], query: [],
    }
    get "/v1/balances" => ops::balances {
        tag: "ledger", summary: "The caller's balances as a merchant, per asset.", auth: true,
        body: [], ok: 200 [List<MerchantBalance>],
        query: [ops::BalanceParams],
    }
    post "/v1/ledger/accounts" => ledger::create_account {
        tag: "ledger", summary: "Open a ledger account.", auth: true,
        body: [ledger::CreateAccount], ok: 201 [Account], query: [],
    }
    get "/v1/ledger/accounts/{id}" => ledger::account {
        tag: "ledger", summary: "An account and its balance.", auth: true, path: AccountId,
        body: [], ok: 200 [ledger::AccountView], query: [],
    }
    post "/v1/ledger/accounts/{id}/close" => ledger::close_account {
        tag: "ledger", summary: "Close an account.", auth: true, path: AccountId, body: [], ok: 200 [Account], query: [],
    }
    get "/v1/ledger/accounts/{id}/balance" => ledger::balance {
        tag: "ledger", summary: "An account's balance, now or at a time.", auth: true, path: AccountId,
        body: [], ok: 200 [Balance], query: [ledger::BalanceParams],
    }
    get "/v1/ledger/accounts/{id}/history" => ledger::history {
        tag: "ledger", summary: "An account's posted entries, oldest first.", auth: true, path: AccountId,
        body: [], ok: 200 [Page<HistoryEntry>],
        query: [ledger::HistoryParams],
    }
    post "/v1/ledger/transactions" => ledger::create_transaction {
        tag: "ledger", summary: "Post a transaction (entries balancing per asset).", auth: true,
        body: [obol::CreateTransaction], ok: 201 [Transaction], query: [],
    }
    get "/v1/ledger/transactions/{id}" => ledger::transaction {
        tag: "ledger", summary: "A transaction.", auth: true, path: TransactionId, body: [], ok: 200 [Transaction], query: [],
    }
    post "/v1/ledger/transactions/{id}/reverse" => ledger::reverse {
        tag: "ledger", summary: "Reverse a posted transaction.", auth: true, path: TransactionId,
        body: [ledger::ReverseBody], ok: 201 [Transaction], query: [],
    }
    post "/v1/ledger/holds" => ledger::create_hold {
        tag: "ledger", summary: "Place a hold (two-phase).", auth: true,
        body: [ledger::CreateHold], ok: 201 [Transaction], query: [],
    }
    get "/v1/ledger/holds/{id}" => ledger::hold {
        tag: "ledger", summary: "A hold and what has been posted of it.", auth: true, path: TransactionId,
        body: [], ok: 200 [Hold], query: [],
    }
    post "/v1/ledger/holds/{id}/post" => ledger::post_hold {
        tag: "ledger", summary: "Post all or part of a hold.", auth: true, path: TransactionId,
        body: [ledger::PostBody], ok: 201 [Transaction], query: [],
    }
    post "/v1/ledger/holds/{id}/void" => ledger::void_hold {
        tag: "ledger", summary: "Release what a hold still holds.", auth: true, path: TransactionId,
        body: [ledger::VoidBody], ok: 201 [Transaction], query: [],
    }
    post "/v1/auth/login" => auth::login {
        tag: "auth", summary: "Sign in with email and password.", auth: false,
        body: [LoginRequest], ok: 200 [IssuedTokens], query: [],
    }
    post "/v1/auth/refresh" => auth::refresh {
        tag: "auth", summary: "Exchange a refresh token for new tokens.", auth: false,
        body: [auth::RefreshBody], ok: 200 [IssuedTokens], query: [],
    }
    post "/v1/auth/logout" => auth::logout {
        tag: "auth", summary: "End the session of a refresh token.", auth: false,
        body: [auth::RefreshBody], ok: 204 [], query: [],
    }
    post "/v1/users" => auth::create_user {
        tag: "users", summary: "Create a user in the caller's tenant.", auth: true,
        body: [CreateUser], ok: 201 [UserView], query: [],
    }
    get "/v1/users/me" => auth::me {
        tag: "users", summary: "The signed-in user.", auth: true, body: [], ok: 200 [UserView], query: [],
    }
    get "/v1/users/{id}" => auth::user {
        tag: "users", summary: "A user.", auth: true, path: UserId, body: [], ok: 200 [UserView], query: [],
    }
    post "/v1/users/{id}/profile" => auth::update_profile {
        tag: "users", summary: "Replace a user's profile.", auth: true, path: UserId,
        body: [obol::auth::Profile], ok: 200 [UserView], query: [],
    }
    post "/v1/api_keys" => auth::create_api_key {
        tag: "api keys", summary: "Issue an API key (its secret is in this answer only).", auth: true,
        body: [CreateApiKey], ok: 201 [NewApiKey], query: [],
    }
    get "/v1/api_keys" => auth::api_keys {
        tag: "api keys", summary: "The tenant's API keys.", auth: true,
        body: [], ok: 200 [List<ApiKeyView>], query: [],
    }
    post "/v1/api_keys/{id}/revoke" => auth::revoke_api_key {
        tag: "api keys", summary: "Revoke an API key.", auth: true, path: ApiKeyId, body: [], ok: 200 [ApiKeyView], query: [],
    }
    post "/v1/webhook_endpoints" => webhooks::create {
        tag: "webhooks", summary: "Add an endpoint (its signing secret is in this answer only).", auth: true,
        body: [webhooks::CreateEndpoint], ok: 201 [NewEndpoint], query: [],
    }
    get "/v1/webhook_endpoints" => webhooks::list {
        tag: "webhooks", summary: "The caller's endpoints.", auth: true,
        body: [], ok: 200 [List<EndpointView>], query: [],
    }
    get "/.well-known/jwks.json" => auth::jwks {
        tag: "auth", summary: "The published token signing keys.", auth: false, body: [], ok: 200 [Jwks], query: [],
    }
    post "/webhooks/{provider}" => webhooks::provider {
        tag: "webhooks", summary: "A provider's webhook, verified by its signature.", auth: false, path: webhooks::ProviderName,
        body: [], ok: 200 [webhooks::Received], query: [],
    }
    get "/healthz" => ops::healthz {
        tag: "operations", summary: "The process answers.", auth: false, body: [], ok: 200 [ops::Health], query: [],
    }
    get "/readyz" => ops::readyz {
        tag: "operations", summary: "The database answers and its migrations ran.", auth: false,
        body: [], ok: 200 [ops::Health], query: [],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_that_verify_credentials_are_known_by_path() {
        assert!(authenticates("POST", "/v1/payments"));
        assert!(authenticates("get", "/v1/payments/pay_1"));
        assert!(!authenticates("GET", "/v1/payments//"));
        assert!(!authenticates("POST", "/v1/auth/login"));
        assert!(!authenticates("GET", "/.well-known/jwks.json"));
        assert!(!authenticates("POST", "/webhooks/sandbox"));
        assert!(!authenticates("GET", "/metrics"));
        assert!(!authenticates("GET", "/v1/payments/pay_1/nope"));
        assert!(!authenticates("DELETE", "/v1/payments"));
    }
}
