//! Obol's Stripe rail. This crate depends on `obol-core`'s provider traits only; the `obol`
//! facade switches it on with the `stripe` feature and the server with `[providers.stripe]`.
//!
//! - [`webhook_signature`]: `Stripe-Signature` verification (HMAC-SHA256 over
//!   `{timestamp}.{body}`, a tolerance window, several `v1` entries for secret rotation).
//! - [`events`]: Stripe events as the engine's provider events (settlements, disputes).

pub mod events;
pub mod webhook_signature;
