//! Obol's HTTP client edge. obol-core defines what it needs from HTTP as traits (for example
//! [`obol_core::webhooks::WebhookTransport`]); this crate implements them over `reqwest` with
//! rustls, so the engine itself never depends on an HTTP stack.

mod resolver;
#[cfg(feature = "testing")]
pub mod testing;
mod vault_transit;

pub use vault_transit::{TransitConfig, VaultAuth, VaultTransit};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use obol_core::webhooks::{TargetPolicy, WebhookTransport};
use obol_core::{Error, Result};

use resolver::CheckedResolver;

/// Sends webhook deliveries over HTTP(S), with a per-request timeout, no redirects (a
/// receiver answers where it was registered), no proxy from the environment, and only to the
/// addresses its [`TargetPolicy`] allows (public ones by default), checked after name
/// resolution.
#[derive(Debug, Clone)]
pub struct HttpWebhookTransport {
    client: reqwest::Client,
    policy: TargetPolicy,
}

impl HttpWebhookTransport {
    /// A transport to public addresses only, whose requests give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self> {
        Self::with_policy(timeout, TargetPolicy::PublicOnly)
    }

    /// A transport to the addresses `policy` allows.
    pub fn with_policy(timeout: Duration, policy: TargetPolicy) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver::new(policy)))
            .user_agent(concat!("obol-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config {
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(HttpWebhookTransport { client, policy })
    }

    /// Refuses a URL whose host is an address literal the policy does not allow (literals
    /// are not resolved, so the resolver never sees them).
    fn check_literal(&self, url: &reqwest::Url) -> Result<()> {
        // The URL parser has already normalised `0x7f.1` and the like to dotted form.
        let host = url.host_str().unwrap_or_default();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<std::net::IpAddr>() {
            Ok(address) if !self.policy.allows(address) => Err(refused()),
            _ => Ok(()),
        }
    }
}

/// The refusal of an address the policy does not allow: permanent, so the delivery is not
/// retried.
fn refused() -> Error {
    Error::Forbidden {
        reason: "webhook POST refused: the receiver is not at a public address".into(),
    }
}

#[async_trait]
impl WebhookTransport for HttpWebhookTransport {
    async fn post(&self, url: &str, headers: &[(String, String)], body: &[u8]) -> Result<u16> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| Error::unavailable("webhook POST failed: the URL does not parse"))?;
        self.check_literal(&parsed)?;
        let mut request = self.client.post(parsed).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) if resolver::was_refused(&error) => Err(refused()),
            Err(error) => Err(Error::unavailable(format!(
                "webhook POST failed: {}",
                error.without_url()
            ))),
        }
    }
}
