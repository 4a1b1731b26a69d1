//! The REST API: versioned under `/v1`, JSON, Stripe-like resources, amounts as strings,
//! errors as `{"error": {"code", "message", "param"}}`. Handlers only translate HTTP to calls
//! on the [`Services`] and back.

pub mod api;
pub mod auth;
pub mod client_address;
pub mod customers;
pub mod error;
pub mod extract;
pub mod ledger;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod payments;
pub mod ui;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use obol::auth::Principal;
use obol::tenant::keys::{self, Operation};
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
    /// Request budgets per principal and per address.
    pub limiter: middleware::RateLimiter,
}

impl AppState {
    /// The id of a new resource the request did not name: the engine's rule
    /// ([`keys::named_by_key`]), so a retry with the same key names the same resource.
    pub fn id_for<T>(
        &self,
        who: &Principal,
        operation: Operation,
        key: &IdempotencyKey,
        derive: impl FnOnce(&str) -> T,
        generate: impl FnOnce(&dyn IdGen) -> T,
    ) -> T {
        keys::named_by_key(who, operation, key.get(), derive, || {
            generate(self.ids.as_ref())
        })
    }

    /// A ledger write's id: the one given, else the one its key names, else new.
    pub fn transaction_id(
        &self,
        who: &Principal,
        operation: Operation,
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
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "ListOf{T}")]
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
    api::routes()
        .route("/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::serve))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            middleware::track,
        ))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .with_state(state)
}

/// A gRPC role's HTTP routes: health, readiness and metrics, nothing else.
pub fn ops_routes(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .with_state(state)
}
