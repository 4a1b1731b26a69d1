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

obol_core::store_conformance!(new_store);

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

#[tokio::test]
async fn sign_in_attempts_leave_the_table_once_out_of_the_window() {
    use obol_core::store::{AttemptLimit, LoginReservation};
    use obol_core::{AuthStore, Timestamp};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("limits.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let window = 15 * 60 * 1_000_000;
    let start = Timestamp::from_micros(1_800_000_000_000_000);
    for n in 0..500i64 {
        let limits = [AttemptLimit {
            key: format!("{n:064x}"),
            allowed: 10,
        }];
        let at = Timestamp::from_micros(start.as_micros() + n);
        let since = Timestamp::from_micros(at.as_micros() - window);
        let reserved = store
            .reserve_login_attempt(&format!("attempt-{n}"), &limits, since, at)
            .await
            .unwrap();
        assert_eq!(reserved, LoginReservation::Reserved);
    }
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM login_attempts")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(count().await, 500);
    // One attempt after the window: everything older is gone, whatever its key.
    let later = Timestamp::from_micros(start.as_micros() + window + 1_000);
    let limits = [AttemptLimit {
        key: "f".repeat(64),
        allowed: 10,
    }];
    let since = Timestamp::from_micros(later.as_micros() - window);
    store
        .reserve_login_attempt("attempt-late", &limits, since, later)
        .await
        .unwrap();
    assert_eq!(count().await, 1);
}

mod sandbox_rail {
    obol_core::rail_conformance!(
        super::new_store,
        obol_core::testing::providers::SandboxRail::ephemeral
    );
}
