//! Outgoing webhooks: Standard Webhooks signatures ([`signature`]) for the events in the
//! outbox.

pub mod signature;

pub use signature::{WebhookSecret, verify};
