//! The PostgreSQL Store runs the shared conformance suite and the model-based property test
//! against the local server, each store in a fresh schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use obol_core::Store;

async fn new_store() -> Arc<dyn Store> {
    Arc::new(common::store_in(&common::fresh_schema()).await)
}

obol_core::ledger_store_conformance!(new_store);
