//! Obol's Stripe rail, on `async-stripe`. This crate depends on `obol-core`'s provider traits
//! only; the `obol` facade switches it on with the `stripe` feature and the server with
//! `[providers.stripe]`.
//!
//! - [`Stripe`]: PaymentIntents (automatic and manual capture, partial and multi-captures,
//!   3-D Secure redirects), refunds, saved cards on Stripe Customers, status sync by the
//!   attempt key kept in metadata, and Stripe's webhooks.
//! - [`StripeConfig`]: keys, API base, return URL, token key.
//! - [`webhook_signature`]: `Stripe-Signature` verification (HMAC-SHA256 over
//!   `{timestamp}.{body}`, a tolerance window, several `v1` entries for secret rotation).
//! - [`events`]: Stripe events as the engine's provider events (settlements, disputes).

mod config;
pub mod events;
mod failure;
mod intent;
mod provider;
#[cfg(feature = "testing")]
pub mod testing;
mod tokens;
pub mod webhook_signature;

pub use config::{DEFAULT_CURRENCIES, DEFAULT_TIMEOUT, STRIPE_API_BASE, StripeConfig, mode_of_key};
pub use provider::{ATTEMPT_METADATA, CUSTOMER_METADATA, Stripe};
pub use tokens::StripeToken;

/// The provider's name in Obol.
pub const PROVIDER: &str = "stripe";
