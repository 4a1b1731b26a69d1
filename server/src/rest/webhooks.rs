//! Webhook endpoints (`/v1/webhook_endpoints`), delivery attempts of an event, and webhooks
//! providers send us (`/webhooks/{provider}`, authenticated by their signature).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use obol::EventId;
use obol::webhooks::DeliveryAttempt;
use serde::{Deserialize, Serialize};

use super::error::ApiResult;
use super::extract::{Body, Caller, IdempotencyKey, RawBody};
use super::{AppState, List, parse_id};
use crate::services::{EndpointView, NewEndpoint};

/// A new endpoint.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where events are sent: `http://` or `https://` and a host, at most 2048 characters.
    #[schemars(url, length(max = 2048), regex(pattern = obol::webhooks::URL_PATTERN))]
    pub url: String,
}

/// Adds an endpoint (201); the signing secret is in this answer only.
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Body(body): Body<CreateEndpoint>,
) -> ApiResult<(StatusCode, Json<NewEndpoint>)> {
    let endpoint = state
        .services
        .payments
        .add_endpoint(&who, key.get(), &body.url)
        .await?;
    Ok((StatusCode::CREATED, Json(endpoint)))
}

/// The caller's endpoints.
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<List<EndpointView>>> {
    Ok(Json(List::all(
        state.services.payments.endpoints(&who).await?,
    )))
}

/// Delivery attempts of one event to the caller's endpoints.
pub async fn attempts(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<List<DeliveryAttempt>>> {
    let id = parse_id(&id, EventId::parse)?;
    let attempts = state.services.payments.delivery_attempts(&who, &id).await?;
    Ok(Json(List::all(attempts)))
}

/// What a provider is told after its webhook was applied.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Received {
    /// Always true.
    pub received: bool,
}

/// A provider's name in a webhook path (`sandbox`, `stripe`, …).
pub struct ProviderName;

impl schemars::JsonSchema for ProviderName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ProviderName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z][a-z0-9_-]{0,31}$",
            "examples": ["sandbox"],
        })
    }
}

/// A provider's webhook: verified with the provider's own signature scheme, applied once.
pub async fn provider(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Received>> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    state
        .services
        .payments
        .provider_webhook(&provider, &headers, &body)
        .await?;
    Ok(Json(Received { received: true }))
}
