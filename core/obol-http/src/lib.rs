//! Obol's HTTP client edge. obol-core defines what it needs from HTTP as traits (for example
//! [`obol_core::webhooks::WebhookTransport`]); this crate implements them over `reqwest` with
//! rustls, so the engine itself never depends on an HTTP stack.

use std::time::Duration;

use async_trait::async_trait;
use obol_core::webhooks::WebhookTransport;
use obol_core::{Error, Result};

/// Sends webhook deliveries over HTTP(S), with a per-request timeout and no redirects (a
/// receiver answers where it was registered).
#[derive(Debug, Clone)]
pub struct HttpWebhookTransport {
    client: reqwest::Client,
}

impl HttpWebhookTransport {
    /// A transport whose requests give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("obol-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config {
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(HttpWebhookTransport { client })
    }
}

#[async_trait]
impl WebhookTransport for HttpWebhookTransport {
    async fn post(&self, url: &str, headers: &[(String, String)], body: &[u8]) -> Result<u16> {
        let mut request = self.client.post(url).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) => Err(Error::unavailable(format!(
                "webhook POST failed: {}",
                error.without_url()
            ))),
        }
    }
}
