//! What wraps every route: request ids (set, propagated, logged), tracing, a timeout, a body
//! limit, CORS, gzip, rate limiting and a panic guard, every refusal in the API's error
//! format. Requests are limited per address here, except those with a credential to a route
//! that verifies it: those are limited per principal once it is verified
//! ([`super::extract::Caller`]), and failed verifications count against the address, so
//! made-up credentials buy no extra budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use tokio::time::Instant;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use super::client_address::ClientAddress;
use super::error::ApiError;
use super::extract::bearer;

/// The request id header, set when the client sent none and echoed in the answer.
pub const REQUEST_ID: &str = "x-request-id";

/// Middleware settings.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest body in bytes.
    pub body_limit_bytes: usize,
    /// Longest a request may take.
    pub timeout: Duration,
    /// Origins CORS allows (`*` for any); none allows no cross-origin calls.
    pub cors_origins: Vec<String>,
    /// Requests per second per credential or address.
    pub rate_per_second: u32,
    /// Requests allowed at once above the rate.
    pub burst: u32,
    /// Proxies whose `X-Forwarded-For` names the client ([`super::client_address`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Wraps `routes` in every layer; `limiter` is the one the handlers' state holds.
pub fn wrap(routes: Router, limits: &HttpLimits, limiter: RateLimiter) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    routes
        .layer(DefaultBodyLimit::max(limits.body_limit_bytes))
        .layer(middleware::from_fn_with_state(
            limiter.clone(),
            check_idempotency_key,
        ))
        .layer(middleware::from_fn_with_state(limiter, rate_limit))
        // Outside the rate limit, so the limit counts the client the proxies name.
        .layer(middleware::from_fn_with_state(
            Arc::new(limits.trusted_proxies.clone()),
            super::client_address::resolve,
        ))
        .layer(middleware::from_fn_with_state(limits.timeout, timeout))
        .layer(CompressionLayer::new().gzip(true))
        .layer(cors(&limits.cors_origins))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(scope_request_id))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, NewRequestId))
}

tokio::task_local! {
    static CURRENT_REQUEST_ID: String;
}

/// The id of the request being handled, for calls it makes to other services.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// Makes the request's id readable by everything its handler calls.
async fn scope_request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match id {
        Some(id) => CURRENT_REQUEST_ID.scope(id, next.run(request)).await,
        None => next.run(request).await,
    }
}

/// Request ids: `req_` and 16 random hex digits.
#[derive(Debug, Clone, Copy)]
pub struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let value: u64 = rand::rng().random();
        HeaderValue::from_str(&format!("req_{value:016x}"))
            .ok()
            .map(RequestId::new)
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers([HeaderName::from_static(REQUEST_ID)]);
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(Any);
    }
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    layer.allow_origin(AllowOrigin::list(allowed))
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
    .into_response()
}

/// Counts every routed request by its route template, method and status.
pub async fn track(
    State(metrics): State<Arc<crate::metrics::Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    metrics.request(route, method, response.status().as_u16(), micros);
    response
}

async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long",
        )
        .with_retry_after(1)
        .into_response(),
    }
}

/// Token buckets per caller, in millionths of a request (integers: no floats here).
#[derive(Clone)]
pub struct RateLimiter {
    rate: u64,
    capacity: u64,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u64,
    at: Instant,
}

const ONE: u64 = 1_000_000;
/// Buckets kept before full ones are forgotten.
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    /// `rate` requests per second, bursts of `burst` above it.
    pub fn new(rate: u32, burst: u32) -> Self {
        RateLimiter {
            rate: u64::from(rate.max(1)),
            capacity: u64::from(burst.max(1)) * ONE,
            buckets: Arc::default(),
        }
    }

    /// Takes one request from `key`'s bucket, or says how many seconds until one is free.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > MAX_BUCKETS {
            let capacity = self.capacity;
            let rate = self.rate;
            buckets.retain(|_, b| refill(*b, now, rate, capacity) < capacity);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        let tokens = refill(*bucket, now, self.rate, self.capacity);
        if tokens >= ONE {
            *bucket = Bucket {
                tokens: tokens - ONE,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            let missing = ONE - tokens;
            Err(missing.div_ceil(self.rate * ONE).max(1))
        }
    }
}

fn refill(bucket: Bucket, now: Instant, rate: u64, capacity: u64) -> u64 {
    let elapsed = u64::try_from(now.duration_since(bucket.at).as_micros()).unwrap_or(u64::MAX);
    bucket
        .tokens
        .saturating_add(elapsed.saturating_mul(rate))
        .min(capacity)
}

/// The 429 answer.
pub fn limited(wait: u64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests; slow down",
    )
    .with_retry_after(wait)
}

/// The bucket of a request's client address (an IPv6 client by its /64, as sign-in limits
/// count it).
pub fn address_key(parts: &axum::http::request::Parts) -> String {
    match parts.extensions.get::<ClientAddress>() {
        Some(ClientAddress(Some(address))) => {
            format!("address:{}", obol::auth::source::address_group(*address))
        }
        _ => "address:unknown".to_owned(),
    }
}

/// Refuses a malformed `Idempotency-Key` on any route, as documented for every POST: a key
/// the route does not use must still be a key. A request the rate limit
/// let through for its credential to pay for (see [`rate_limit`]) is refused before that
/// credential is verified, so the refusal spends its address's budget instead: a junk bearer
/// with a bad key is limited like any other anonymous request.
async fn check_idempotency_key(
    State(limiter): State<RateLimiter>,
    request: Request,
    next: Next,
) -> Response {
    let Err(error) = super::extract::idempotency_key(request.headers()) else {
        return next.run(request).await;
    };
    let (parts, _) = request.into_parts();
    if verified_later(&parts)
        && let Err(wait) = limiter.take(&address_key(&parts), Instant::now())
    {
        return limited(wait).into_response();
    }
    error.into_response()
}

/// Whether the request carries a credential to a route that verifies it (and charges it).
fn verified_later(parts: &axum::http::request::Parts) -> bool {
    bearer(parts).is_some() && super::api::authenticates(parts.method.as_str(), parts.uri.path())
}

/// Limits requests per address, except those with a credential to a route that verifies it
/// (those spend the credential's budget once it is verified, or the address's if it fails):
/// an `Authorization` header on any other route (sign-in, webhooks, health, metrics, the
/// JWKS, an unknown path) buys nothing.
async fn rate_limit(State(limiter): State<RateLimiter>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if !verified_later(&parts)
        && let Err(wait) = limiter.take(&address_key(&parts), Instant::now())
    {
        return limited(wait).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_the_burst_then_the_rate() {
        let limiter = RateLimiter::new(2, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take("a", start).is_ok());
        }
        assert_eq!(limiter.take("a", start), Err(1));
        assert!(limiter.take("b", start).is_ok(), "buckets are per key");
        let later = start + Duration::from_millis(500);
        assert!(
            limiter.take("a", later).is_ok(),
            "half a second refills one at 2/s"
        );
        assert!(limiter.take("a", later).is_err());
    }
}
