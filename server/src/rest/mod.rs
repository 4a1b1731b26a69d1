//! The REST API: versioned under `/v1`, JSON, Stripe-like resources, amounts as strings,
//! errors as `{"error": {"code", "message", "param"}}`. Handlers only translate HTTP to calls
//! on the [`Services`] and back.

pub mod auth;
pub mod customers;
pub mod error;
pub mod extract;
pub mod ledger;
pub mod middleware;
pub mod ops;
pub mod payments;
pub mod ui;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use obol::auth::Principal;
use obol::{IdGen, TransactionId};
use serde::Serialize;

use crate::services::Services;
use error::ApiError;
use extract::IdempotencyKey;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The services (in process or over gRPC).
    pub services: Services,
    /// Ids the gateway makes (for resources created without one).
    pub ids: Arc<dyn IdGen>,
    /// Request and payment counters.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    /// A new id from the gateway's generator.
    pub fn new_id<T>(&self, generate: impl FnOnce(&dyn IdGen) -> T) -> T {
        generate(self.ids.as_ref())
    }

    /// The id of a new resource: derived from the caller's idempotency key, so a retry names
    /// the same resource, or new.
    pub fn id_for<T>(
        &self,
        who: &Principal,
        operation: &str,
        key: &IdempotencyKey,
        derive: impl FnOnce(&str) -> T,
        generate: impl FnOnce(&dyn IdGen) -> T,
    ) -> T {
        match key.get() {
            Some(key) => derive(&format!("{}:{operation}:{key}", who.merchant())),
            None => generate(self.ids.as_ref()),
        }
    }

    /// A ledger write's id: the one given, else derived from the key, else new.
    pub fn transaction_id(
        &self,
        who: &Principal,
        operation: &str,
        key: &IdempotencyKey,
        given: Option<TransactionId>,
    ) -> TransactionId {
        given.unwrap_or_else(|| {
            self.id_for(
                who,
                operation,
                key,
                TransactionId::derived,
                TransactionId::generate,
            )
        })
    }
}

/// Largest page.
pub const MAX_PAGE: u32 = 100;
/// Page size when none is asked for.
const DEFAULT_PAGE: u32 = 20;

/// A page size from a `limit` parameter.
pub fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(
            ApiError::invalid("invalid_request", format!("limit is 1 to {MAX_PAGE}"))
                .with_param("limit"),
        ),
    }
}

/// Reads an id from a path or query, naming it on failure.
pub fn parse_id<T>(text: &str, parse: impl FnOnce(&str) -> obol::Result<T>) -> Result<T, ApiError> {
    parse(text).map_err(|e| ApiError::from(e).with_param("id"))
}

/// A list answer.
#[derive(Debug, Serialize)]
pub struct List<T> {
    /// The items.
    pub data: Vec<T>,
    /// Whether another page follows.
    pub has_more: bool,
    /// Pass as the cursor to read the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    /// Everything in one answer.
    pub fn all(data: Vec<T>) -> Self {
        List {
            data,
            has_more: false,
            next_cursor: None,
        }
    }

    /// A page from `limit + 1` items read: the extra one only says that more follow.
    pub fn page(mut data: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let has_more = data.len() > limit;
        data.truncate(limit);
        let next_cursor = data.last().filter(|_| has_more).map(cursor);
        List {
            data,
            has_more,
            next_cursor,
        }
    }
}

/// Every route, without middleware.
pub fn routes(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/payments", post(payments::create).get(payments::list))
        .route("/payments/{id}", get(payments::get))
        .route("/payments/{id}/confirm", post(payments::confirm))
        .route("/payments/{id}/capture", post(payments::capture))
        .route("/payments/{id}/cancel", post(payments::cancel))
        .route(
            "/payments/{id}/complete_action",
            post(payments::complete_action),
        )
        .route(
            "/payments/{id}/refunds",
            post(payments::refund).get(payments::children),
        )
        .route("/payments/{id}/events", get(payments::payment_events))
        .route("/events", get(payments::events))
        .route("/events/{id}/attempts", get(webhooks::attempts))
        .route("/customers", post(customers::create))
        .route("/customers/{id}", get(customers::get))
        .route(
            "/customers/{id}/payment_methods",
            post(customers::save_method).get(customers::methods),
        )
        .route("/payment_methods/{id}/detach", post(customers::detach))
        .route("/balances", get(ops::balances))
        .route("/ledger/accounts", post(ledger::create_account))
        .route("/ledger/accounts/{id}", get(ledger::account))
        .route("/ledger/accounts/{id}/close", post(ledger::close_account))
        .route("/ledger/accounts/{id}/balance", get(ledger::balance))
        .route("/ledger/accounts/{id}/history", get(ledger::history))
        .route("/ledger/transactions", post(ledger::create_transaction))
        .route("/ledger/transactions/{id}", get(ledger::transaction))
        .route("/ledger/transactions/{id}/reverse", post(ledger::reverse))
        .route("/ledger/holds", post(ledger::create_hold))
        .route("/ledger/holds/{id}", get(ledger::hold))
        .route("/ledger/holds/{id}/post", post(ledger::post_hold))
        .route("/ledger/holds/{id}/void", post(ledger::void_hold))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/users", post(auth::create_user))
        .route("/users/me", get(auth::me))
        .route("/users/{id}", get(auth::user))
        .route("/users/{id}/profile", post(auth::update_profile))
        .route("/api_keys", post(auth::create_api_key).get(auth::api_keys))
        .route("/api_keys/{id}/revoke", post(auth::revoke_api_key))
        .route(
            "/webhook_endpoints",
            post(webhooks::create).get(webhooks::list),
        );
    Router::new()
        .nest("/v1", v1)
        .route("/.well-known/jwks.json", get(auth::jwks))
        .route("/webhooks/{provider}", post(webhooks::provider))
        .route("/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            middleware::track,
        ))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .with_state(state)
}
