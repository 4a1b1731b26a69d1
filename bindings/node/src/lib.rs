//! Obol for Node.js through napi-rs: an `Obol` class over the shared [`obol::Engine`].
//!
//! Thin on purpose, like the UniFFI crate: async methods return Promises (run on napi-rs's
//! Tokio runtime), amounts and ids are strings (JavaScript numbers lose precision past
//! 2^53), and a failure rejects with an `Error` whose `code` is the engine's stable code
//! (`insufficient_funds`, `idempotency_conflict`, …).

// Built as a test (clippy's --all-targets), napi-rs leaves out the registration that uses
// the exports, so they look unused there.
#![cfg_attr(test, allow(dead_code))]

mod auth;
mod convert;
mod customers;
mod events;
mod ledger;
mod object;
mod payments;
mod tenant;
