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

#[tokio::test]
async fn ready_until_a_migration_is_missing() {
    use obol_core::LedgerStore;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ready.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    store.ready().await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let err = store.ready().await.unwrap_err();
    assert_eq!(err.code(), "unavailable");
    assert!(err.to_string().contains("migrations applied"), "{err}");
}
