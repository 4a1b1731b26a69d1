//! A fresh schema on the local PostgreSQL server for each store a test opens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use obol_postgres::PostgresStore;

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

/// A store in its own new schema.
pub async fn store_in(schema: &str) -> PostgresStore {
    PostgresStore::open_in_schema(&database_url(), Some(schema))
        .await
        .unwrap()
}
