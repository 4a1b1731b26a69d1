//! The SQLite Store runs the shared conformance suite and the model-based property test, on a
//! fresh database file each time (WAL and synchronous=FULL, as in production).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use obol_core::Store;
use obol_sqlite::SqliteStore;

async fn new_store() -> Arc<dyn Store> {
    let dir = tempfile::tempdir().unwrap().keep();
    let url = format!("sqlite://{}", dir.join("ledger.db").display());
    Arc::new(SqliteStore::open(&url).await.unwrap())
}

obol_core::ledger_store_conformance!(new_store);
