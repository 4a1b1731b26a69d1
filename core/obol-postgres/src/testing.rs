//! Test support: each store a test opens lives in a fresh schema of the test server
//! (`OBOL_TEST_POSTGRES_URL`, else the local one). `.ci/run` drops the schemas a run left.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::PostgresStore;

/// The server the tests use: `OBOL_TEST_POSTGRES_URL`, else the local one.
pub fn database_url() -> String {
    std::env::var("OBOL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A schema name no other test run uses.
pub fn fresh_schema() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!(
        "obol_test_{}_{}_{}",
        std::process::id(),
        n,
        nanos % 1_000_000_000
    )
}

/// A store in `schema` (created if missing).
pub async fn store_in(schema: &str) -> PostgresStore {
    PostgresStore::open_in_schema(&database_url(), Some(schema))
        .await
        .unwrap()
}

/// A store in a schema of its own.
pub async fn fresh_store() -> PostgresStore {
    store_in(&fresh_schema()).await
}
