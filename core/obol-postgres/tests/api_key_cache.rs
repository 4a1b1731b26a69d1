//! API keys kept in memory stop working everywhere as soon as they change: two stores on one
//! schema (two processes) each keep a key they looked up; a revocation through one is seen by
//! the other without waiting out anything, and so is a change made by hand in SQL (an update,
//! a delete, a truncated table).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use obol_core::auth::{ApiKey, Scope};
use obol_core::payments::default_merchant;
use obol_core::{ApiKeyId, AuthStore, Mode, Timestamp};
use obol_postgres::PostgresStore;

fn key(name: &str) -> ApiKey {
    ApiKey {
        id: ApiKeyId::derived(name),
        merchant: default_merchant(),
        name: name.into(),
        mode: Mode::Test,
        last4: "wxyz".into(),
        hash: format!("{name:a>64}"),
        scopes: BTreeSet::from([Scope::PaymentsRead]),
        created_at: Timestamp::from_micros(1),
        expires_at: None,
        revoked_at: None,
    }
}

/// Looks `hash` up until `store` keeps it (its listener connects in the background).
async fn kept(store: &PostgresStore, hash: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.api_key_kept(hash) {
        assert!(Instant::now() < deadline, "the key was never kept");
        assert!(store.api_key_by_hash(hash).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `store` until `seen` holds of what it answers for `hash`; how long that took.
async fn until(
    store: &PostgresStore,
    hash: &str,
    seen: impl Fn(&Option<ApiKey>) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        if seen(&store.api_key_by_hash(hash).await.unwrap()) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the change was never seen"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_a_kept_key_is_seen_by_every_process() {
    let schema = common::fresh_schema();
    let (a, b) = (
        common::store_in(&schema).await,
        common::store_in(&schema).await,
    );
    let first = key("first");
    a.insert_api_key(&first).await.unwrap();
    kept(&a, &first.hash).await;
    kept(&b, &first.hash).await;

    // Revoked through one process: that one sees it at once, the other when told.
    let at = Timestamp::from_micros(2);
    a.revoke_api_key(&first.merchant, &first.id, at)
        .await
        .unwrap();
    let found = a.api_key_by_hash(&first.hash).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(at));
    let waited = until(&b, &first.hash, |k| {
        k.as_ref().is_some_and(|k| k.revoked_at.is_some())
    })
    .await;
    assert!(waited < Duration::from_secs(2), "{waited:?}");

    // Changed by hand, in SQL: both forget it.
    let second = key("second");
    a.insert_api_key(&second).await.unwrap();
    kept(&b, &second.hash).await;
    sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(second.id.to_string())
        .execute(a.pool())
        .await
        .unwrap();
    until(&b, &second.hash, Option::is_none).await;
    until(&a, &second.hash, Option::is_none).await;

    assert!(!b.api_key_kept(&second.hash));

    // A truncated table: every kept key is forgotten.
    let third = key("third");
    a.insert_api_key(&third).await.unwrap();
    kept(&b, &third.hash).await;
    sqlx::query("TRUNCATE api_keys")
        .execute(a.pool())
        .await
        .unwrap();
    until(&b, &third.hash, Option::is_none).await;
    // A key nobody has is never kept.
    let unknown = "f".repeat(64);
    assert!(b.api_key_by_hash(&unknown).await.unwrap().is_none());
    assert!(!b.api_key_kept(&unknown));
}
