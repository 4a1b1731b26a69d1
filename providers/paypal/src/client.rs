//! PayPal's REST API over reqwest: an OAuth2 client-credentials token, cached and refreshed
//! before it expires (and once more if PayPal calls it invalid), `PayPal-Request-Id` on every
//! mutating call, and backoff on 429 and 5xx.
//!
//! What a failed call means (the provider seam's failure contract): PayPal's 4xx answers are
//! returned to the caller to read; a refused connection, a 429 after the last try and a
//! refused credential did not take effect (`provider_unavailable`); a timeout, a 5xx after the
//! last try and an answer that cannot be read leave the outcome unknown (`provider_timeout`).

use std::time::Duration;

use obol_core::error::Error;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::PROVIDER;
use crate::api::{ErrorBody, TokenAnswer};
use crate::config::PayPalConfig;

/// The longest `Retry-After` Obol honours before giving up on a try.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// A PayPal call that did not return what was asked for.
#[derive(Debug)]
pub(crate) enum Failure {
    /// PayPal answered with an error about the request.
    Answered {
        /// The HTTP status.
        status: u16,
        /// PayPal's error body.
        error: ErrorBody,
    },
    /// The call did not take effect.
    Unavailable(String),
    /// Nobody knows whether the call took effect.
    Unknown,
    /// Obol refused to send it (an id that cannot be PayPal's).
    Refused(String),
}

impl Failure {
    /// The engine's error for a failure that is not a decline.
    pub(crate) fn into_error(self) -> Error {
        match self {
            Failure::Answered { status, error } => Error::InvalidTransaction {
                reason: format!(
                    "paypal refused the call ({status}, {}{}): {}",
                    error.name,
                    error
                        .issue()
                        .map(|issue| format!(", {issue}"))
                        .unwrap_or_default(),
                    error
                        .description()
                        .or(error.message.as_deref())
                        .unwrap_or("no message")
                ),
            },
            Failure::Unavailable(reason) => Error::ProviderUnavailable {
                provider: PROVIDER.into(),
                reason,
            },
            Failure::Unknown => Error::ProviderTimeout {
                provider: PROVIDER.into(),
            },
            Failure::Refused(reason) => Error::InvalidRequest { reason },
        }
    }

    /// The issue of a 422 (`INSTRUMENT_DECLINED`), if that is what PayPal answered.
    pub(crate) fn unprocessable_issue(&self) -> Option<&str> {
        match self {
            Failure::Answered { status: 422, error } => error.issue(),
            _ => None,
        }
    }

    /// True for PayPal's 404.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Failure::Answered { status: 404, .. })
    }
}

/// A bearer token and when to fetch the next.
struct AccessToken {
    value: SecretString,
    refresh_at: Instant,
}

/// One call: method, path under the API base, JSON body, `PayPal-Request-Id`.
pub(crate) struct Call {
    pub method: Method,
    pub path: String,
    pub body: Option<Vec<u8>>,
    pub request_id: Option<String>,
    /// Whether 429 and 5xx answers are tried again (not for calls anyone can trigger, such as
    /// verifying a webhook delivery, which must not spend the account's rate limit).
    pub backoff: bool,
}

impl Call {
    /// A GET of `path`.
    pub(crate) fn get(path: String) -> Self {
        Call {
            method: Method::GET,
            path,
            body: None,
            request_id: None,
            backoff: true,
        }
    }

    /// A POST of `body` (as JSON, sent byte for byte) to `path`, under `request_id` when the
    /// call changes something at PayPal.
    pub(crate) fn post(
        path: String,
        body: &impl serde::Serialize,
        request_id: Option<String>,
    ) -> obol_core::error::Result<Self> {
        let body = serde_json::to_vec(body).map_err(|e| Error::InvalidRequest {
            reason: format!("a PayPal request body: {e}"),
        })?;
        Ok(Call {
            method: Method::POST,
            path,
            body: Some(body),
            request_id,
            backoff: true,
        })
    }

    /// The same call, never tried again.
    pub(crate) fn once(mut self) -> Self {
        self.backoff = false;
        self
    }
}

/// The HTTP side of the rail.
pub(crate) struct Client {
    http: reqwest::Client,
    token: Mutex<Option<AccessToken>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client(..)")
    }
}

/// Sorts a transport error: nothing sent, or an unknown outcome.
fn transport(error: &reqwest::Error) -> Failure {
    tracing::debug!(%error, "paypal call failed");
    if error.is_connect() {
        Failure::Unavailable("PayPal could not be reached".into())
    } else {
        Failure::Unknown
    }
}

/// The pause before try `attempt` (1-based): doubling from `first`, or PayPal's
/// `Retry-After` when that is longer (capped).
fn pause(
    first: Duration,
    attempt: u32,
    retry_after: Option<&reqwest::header::HeaderValue>,
) -> Duration {
    let doubled = first.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let asked = retry_after
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(|seconds| Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    asked.map_or(doubled, |asked| asked.max(doubled))
}

impl Client {
    /// A client with the configured timeout.
    pub(crate) fn new(config: &PayPalConfig) -> obol_core::error::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config {
                reason: format!("providers.paypal: HTTP client: {e}"),
            })?;
        Ok(Client {
            http,
            token: Mutex::new(None),
        })
    }

    /// The cached token, fetched first when there is none or it is near its expiry.
    async fn bearer(&self, config: &PayPalConfig) -> Result<SecretString, Failure> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let answer = self
            .http
            .post(format!("{}v1/oauth2/token", config.api_base))
            .basic_auth(&config.client_id, Some(config.client_secret()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body("grant_type=client_credentials")
            .send()
            .await
            // A token call moves no money: whatever went wrong, nothing took effect.
            .map_err(|error| Failure::Unavailable(format!("PayPal's token endpoint: {error}")))?;
        let status = answer.status();
        if !status.is_success() {
            tracing::error!(%status, "PayPal refused the client credentials");
            return Err(Failure::Unavailable(format!(
                "PayPal refused the client credentials ({status})"
            )));
        }
        let token: TokenAnswer = answer
            .json()
            .await
            .map_err(|_| Failure::Unavailable("PayPal's token answer was unreadable".into()))?;
        // Refreshed a minute before expiry, or half-way through a short-lived token; a lifetime
        // beyond a day is taken as a day.
        let lifetime = Duration::from_secs(token.expires_in.min(86_400));
        let early = Duration::from_secs(60).min(lifetime / 2);
        let fresh = AccessToken {
            value: SecretString::from(token.access_token),
            refresh_at: Instant::now() + lifetime - early,
        };
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// Sends `call`, retrying 429 and 5xx answers with backoff under the same request id, and
    /// once with a new token when PayPal calls the token invalid; reads a 2xx answer as `T`
    /// (an empty 204 as `null`).
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        config: &PayPalConfig,
        call: &Call,
    ) -> Result<T, Failure> {
        let mut attempt = 0;
        let mut renewed = false;
        // Once a try may have run at PayPal (a 5xx), no later failure proves it did not.
        let mut may_have_run = false;
        let settled = |failure: Failure, may_have_run: bool| match failure {
            Failure::Unavailable(_) if may_have_run => Failure::Unknown,
            other => other,
        };
        loop {
            let bearer = self
                .bearer(config)
                .await
                .map_err(|f| settled(f, may_have_run))?;
            let mut request = self
                .http
                .request(
                    call.method.clone(),
                    format!("{}{}", config.api_base, call.path),
                )
                .bearer_auth(bearer.expose_secret())
                .header("Accept", "application/json")
                .header("Prefer", "return=representation");
            if let Some(id) = &call.request_id {
                request = request.header("PayPal-Request-Id", id);
            }
            if let Some(body) = &call.body {
                request = request
                    .header("Content-Type", "application/json")
                    .body(body.clone());
            }
            let answer = request
                .send()
                .await
                .map_err(|e| settled(transport(&e), may_have_run))?;
            let status = answer.status();
            if status.is_success() {
                let bytes = answer.bytes().await.map_err(|e| transport(&e))?;
                let text: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
                return serde_json::from_slice(text).map_err(|error| {
                    tracing::warn!(%error, path = %call.path, "paypal answer unreadable");
                    Failure::Unknown
                });
            }
            if status == StatusCode::UNAUTHORIZED && !renewed {
                // Revoked or expired early: one more try with a fresh token.
                renewed = true;
                self.forget_token().await;
                continue;
            }
            may_have_run |= status.is_server_error();
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if retryable && call.backoff && attempt < config.backoff.retries {
                attempt += 1;
                let wait = pause(
                    config.backoff.first,
                    attempt,
                    answer.headers().get("retry-after"),
                );
                tracing::info!(%status, attempt, ?wait, path = %call.path, "paypal asked to back off");
                tokio::time::sleep(wait).await;
                continue;
            }
            let error: ErrorBody = answer.json().await.unwrap_or_default();
            tracing::debug!(%status, name = %error.name, issue = ?error.issue(), debug_id = ?error.debug_id, "paypal answered an error");
            return Err(settled(
                match status {
                    StatusCode::TOO_MANY_REQUESTS => {
                        Failure::Unavailable("PayPal is rate limiting".into())
                    }
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        Failure::Unavailable(format!("PayPal refused the credentials ({status})"))
                    }
                    // A 5xx may have run; the same request id settles it later.
                    status if status.is_server_error() => Failure::Unknown,
                    status => Failure::Answered {
                        status: status.as_u16(),
                        error,
                    },
                },
                may_have_run,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_and_honour_retry_after_up_to_a_cap() {
        let first = Duration::from_millis(100);
        assert_eq!(pause(first, 1, None), Duration::from_millis(100));
        assert_eq!(pause(first, 3, None), Duration::from_millis(400));
        let two = reqwest::header::HeaderValue::from_static("2");
        assert_eq!(pause(first, 1, Some(&two)), Duration::from_secs(2));
        let huge = reqwest::header::HeaderValue::from_static("999999");
        assert_eq!(pause(first, 1, Some(&huge)), MAX_RETRY_AFTER);
        let junk = reqwest::header::HeaderValue::from_static("-1");
        assert_eq!(pause(first, 1, Some(&junk)), first);
        assert!(pause(first, u32::MAX, None) >= first, "no overflow");
    }
}
