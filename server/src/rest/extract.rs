//! Extractors whose every refusal is an [`ApiError`]: JSON bodies (malformed, wrong types,
//! unknown fields, too large), query strings, the caller's credential and the idempotency
//! key.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use obol::auth::{Actor, Principal};
use obol::request_body::{BodyError, field_in};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use super::middleware::{address_key, limited};

/// A JSON body of type `T`, read by the engine's one rule ([`obol::request_body`]): always a
/// JSON object, nothing after it, and a data error names its field.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(unsupported_media_type());
        }
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        obol::request_body::json_object(&bytes)
            .map(Body)
            .map_err(|error| match error {
                BodyError::NotJson => {
                    ApiError::invalid("invalid_json", "the body is not valid JSON")
                }
                BodyError::NotAnObject => {
                    ApiError::invalid("invalid_request", "the body must be a JSON object")
                }
                BodyError::Invalid { detail, field } => {
                    let error = ApiError::invalid("invalid_request", detail);
                    match field {
                        Some(field) => error.with_param(&field),
                        None => error,
                    }
                }
            })
    }
}

/// A body as bytes, whatever its type (a provider's webhook, verified by its signature); too
/// large or unreadable is a JSON error like every other.
#[derive(Debug, Clone)]
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(RawBody)
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
                _ => ApiError::invalid("invalid_request", rejection.body_text()),
            })
    }
}

/// `Content-Type: application/json`, or a `+json` type.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body as JSON with Content-Type: application/json",
    )
}

fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "the body is larger than this server accepts",
    )
}

/// Query parameters of type `T`.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    let detail = rejection.body_text();
    let error = ApiError::invalid("invalid_request", detail.clone());
    let named = detail
        .strip_prefix("Failed to deserialize query string: ")
        .and_then(field_in);
    match named {
        Some(param) => error.with_param(&param),
        None => error,
    }
}

/// The authenticated caller: `Authorization: Bearer <access token or API key>`.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(known) = parts.extensions.get::<Caller>() {
            return Ok(known.clone());
        }
        let credential = bearer(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send Authorization: Bearer <access token or API key>",
            )
        })?;
        let now = tokio::time::Instant::now();
        let principal = match state.services.auth.authenticate(credential).await {
            Ok(principal) => principal,
            Err(error) => {
                // A failed credential spends the address's budget, not a budget of its own.
                if let Err(wait) = state.limiter.take(&address_key(parts), now) {
                    return Err(limited(wait));
                }
                return Err(error.into());
            }
        };
        let budget = match &principal.actor {
            Actor::User { user } => format!("user:{user}"),
            Actor::ApiKey { key } => format!("key:{key}"),
            // No credential turns into the host; one that did would share one budget.
            Actor::Host => "host".to_owned(),
        };
        if let Err(wait) = state.limiter.take(&budget, now) {
            return Err(limited(wait));
        }
        let caller = Caller(principal);
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The bearer credential of a request, if it has one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

/// The `Idempotency-Key` header: 1 to 255 printable ASCII characters, when present.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl IdempotencyKey {
    /// The key, if one was sent.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        idempotency_key(&parts.headers).map(|key| IdempotencyKey(key.map(str::to_owned)))
    }
}

/// The request's `Idempotency-Key`, if it sent one: 1 to 255 printable ASCII characters, or
/// an error. Checked on every request (middleware), whether its route uses the key or not.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok()
        .filter(|t| (1..=255).contains(&t.len()) && t.bytes().all(|b| (0x20..0x7f).contains(&b)));
    match text {
        Some(text) => Ok(Some(text)),
        None => Err(ApiError::invalid(
            "invalid_idempotency_key",
            "Idempotency-Key is 1 to 255 printable ASCII characters",
        )
        .with_param("Idempotency-Key")),
    }
}

/// The client's address, when the server knows it (tests without a socket do not): the
/// peer, or the client a trusted proxy names ([`super::client_address`]).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let client = parts
            .extensions
            .get::<super::client_address::ClientAddress>()
            .and_then(|client| client.0);
        Ok(Peer(client))
    }
}
