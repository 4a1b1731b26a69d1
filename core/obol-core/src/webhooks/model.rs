//! Webhook endpoints, deliveries and their attempts, as stored.

use serde::{Deserialize, Serialize};

use super::signature::WebhookSecret;
use super::stored_secret::StoredSecret;
use crate::auth::KeySealer;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{EndpointId, EventId, MerchantId};
use crate::mode::Mode;

/// Where events are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// The id.
    pub id: EndpointId,
    /// The merchant whose payments' events it receives.
    pub merchant: MerchantId,
    /// The mode whose events it receives (test and live endpoints are separate).
    pub mode: Mode,
    /// The receiver's URL.
    pub url: String,
    /// The signing secret, sealed (shown to the receiver once, when the endpoint is made).
    pub secret: StoredSecret,
    /// Disabled endpoints get nothing (set when a receiver answers 410 Gone).
    pub enabled: bool,
    /// When added.
    pub created_at: Timestamp,
}

/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;

impl WebhookEndpoint {
    /// A new enabled endpoint with a random secret, sealed by `sealer`, and that secret (to
    /// show once). Its URL is checked: `http://` or `https://` with a host, at most
    /// [`MAX_URL_LEN`] characters, no whitespace or control characters.
    pub async fn new(
        id: EndpointId,
        merchant: MerchantId,
        mode: Mode,
        url: &str,
        now: Timestamp,
        sealer: &dyn KeySealer,
    ) -> Result<(Self, WebhookSecret)> {
        check_url(url)?;
        let secret = WebhookSecret::random(&mut rand::rng());
        let endpoint = WebhookEndpoint {
            secret: StoredSecret::seal(sealer, &id, &secret).await?,
            id,
            merchant,
            mode,
            url: url.to_owned(),
            enabled: true,
            created_at: now,
        };
        Ok((endpoint, secret))
    }
}

/// What [`check_url`] takes, as a JSON Schema (ECMA 262) pattern.
pub const URL_PATTERN: &str = r"^https?://[^\s\x00-\x1F\x7F-\x9F/?#:][^\s\x00-\x1F\x7F-\x9F/?#]*([/?#][^\s\x00-\x1F\x7F-\x9F]*)?$";

/// The check of a webhook URL (see [`WebhookEndpoint::new`]).
pub fn check_url(url: &str) -> Result<()> {
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .unwrap_or_default();
    let clean = url.chars().all(|c| !c.is_whitespace() && !c.is_control());
    if host.is_empty() || host.starts_with(':') || !clean || url.len() > MAX_URL_LEN {
        return Err(Error::InvalidRequest {
            reason: format!(
                "a webhook URL is http:// or https:// with a host, at most {MAX_URL_LEN} \
                 characters, without spaces"
            ),
        });
    }
    Ok(())
}

/// Deliveries still to be made, as the metrics show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryBacklog {
    /// Deliveries neither delivered nor failed yet.
    pub pending: u64,
    /// When the longest-waiting delivery that is due now became due.
    pub oldest_due: Option<Timestamp>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Every attempt failed, or the endpoint is gone.
    Failed,
}

impl DeliveryState {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The delivery's position (store-assigned).
    pub id: i64,
    /// The event (its id is the `webhook-id` of every attempt).
    pub event_id: EventId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// The endpoint's URL.
    pub url: String,
    /// The endpoint's secret, as stored.
    pub secret: StoredSecret,
    /// The payload: the event as JSON.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// One try at delivering, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct DeliveryAttempt {
    /// The delivery.
    pub delivery_id: i64,
    /// The event.
    pub event_id: EventId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// 1 for the first try.
    pub attempt: u32,
    /// When it was made.
    pub at: Timestamp,
    /// The HTTP status, if the receiver answered.
    pub status: Option<u16>,
    /// What went wrong, if it could not be sent.
    pub error: Option<String>,
}

/// What an attempt leads to, written with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The attempt.
    pub attempt: DeliveryAttempt,
    /// The delivery's new state.
    pub state: DeliveryState,
    /// When to try again (pending only).
    pub next_attempt_at: Option<Timestamp>,
    /// The receiver said 410 Gone: disable the endpoint.
    pub disable_endpoint: bool,
}
