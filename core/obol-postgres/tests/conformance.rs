//! The PostgreSQL Store runs the shared conformance suite and the model-based property test
//! against the local server, each store in a fresh schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use obol_core::Store;

async fn new_store() -> Arc<dyn Store> {
    Arc::new(common::store_in(&common::fresh_schema()).await)
}

obol_core::store_conformance!(new_store);

#[tokio::test]
async fn ready_until_a_migration_is_missing() {
    use obol_core::LedgerStore;
    let store = common::store_in(&common::fresh_schema()).await;
    store.ready().await.unwrap();
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let err = store.ready().await.unwrap_err();
    assert_eq!(err.code(), "unavailable");
    assert!(err.to_string().contains("migrations applied"), "{err}");
}

mod sandbox_rail {
    obol_core::rail_conformance!(
        super::new_store,
        obol_core::testing::providers::SandboxRail::ephemeral
    );
}
