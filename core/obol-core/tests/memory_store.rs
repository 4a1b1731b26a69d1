//! The in-memory Store runs the shared conformance suite and the model-based property test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use obol_core::{MemoryStore, Store};

async fn new_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

obol_core::store_conformance!(new_store);
