//! The REST API, route by route: successes, each error class, authentication and scopes,
//! idempotent replays and pagination. One binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod harness;

mod auth;
mod errors;
mod fuzz;
mod ledger;
mod middleware;
mod openapi;
mod payments;
mod paypal;
mod stripe;
mod webhooks;
