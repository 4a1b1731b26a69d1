//! Obol's PayPal rail, over PayPal's REST API with reqwest and serde. This crate depends on
//! `obol-core`'s provider traits only; the `obol` facade switches it on with the `paypal`
//! feature and the server with `[providers.paypal]`.
//!
//! - [`PayPal`]: Orders v2 with intent `CAPTURE` or `AUTHORIZE` (the payer's approval link is
//!   the payment's `requires_action`), captures of an authorization in parts, voids, refunds
//!   in parts, status sync by replaying a call under its `PayPal-Request-Id`, and webhooks
//!   verified by PayPal's verify-webhook-signature call.
//! - [`PayPalConfig`]: the REST app's credentials, the webhook id, API base, return URL,
//!   timeout, backoff and currencies.
//! - An OAuth2 client-credentials token is cached and refreshed before it expires; 429 and 5xx
//!   answers are retried with backoff under the same request id.

mod api;
mod client;
mod config;
mod events;
mod order;
mod provider;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{
    Backoff, DEFAULT_CURRENCIES, DEFAULT_TIMEOUT, PAYPAL_LIVE_API, PAYPAL_SANDBOX_API,
    PayPalConfig, WEBHOOK_TOLERANCE,
};
pub use provider::{CHECKOUT, PayPal};

/// The provider's name in Obol.
pub const PROVIDER: &str = "paypal";
