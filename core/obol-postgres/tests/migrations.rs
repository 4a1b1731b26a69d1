//! Rolling updates: a database a newer release migrated further still opens with this
//! release (its migrations are additive), as the previous pods keep running meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[tokio::test]
async fn a_database_migrated_by_a_newer_release_still_opens() {
    let schema = common::fresh_schema();
    let store = common::store_in(&schema).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999, 'from a newer release', TRUE, '\\x00', 1)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.close().await;
    let reopened = common::store_in(&schema).await;
    obol_core::LedgerStore::ready(&reopened).await.unwrap();
}
