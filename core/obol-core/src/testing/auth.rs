//! Auth conformance cases every Store must pass.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use super::test_ledger;
use crate::auth::{ApiKeyMode, Auth, Principal, Scope, authorize};
use crate::id::MerchantId;
use crate::store::Store;

pub async fn api_keys_authenticate_until_revoked_or_expired(store: Arc<dyn Store>) {
    let (ledger, clock) = test_ledger(store.clone(), 91).await;
    let auth = Auth::new(store.clone(), ledger.clock().clone(), ledger.ids().clone());
    let acme = MerchantId::derived("acme");
    let other = MerchantId::derived("other");
    let scopes = [Scope::PaymentsRead, Scope::PaymentsWrite].into();
    let (key, secret) = auth
        .issue_api_key(&acme, "checkout server", ApiKeyMode::Live, scopes, None)
        .await
        .unwrap();
    assert!(!format!("{key:?}").contains(secret.expose()));
    assert_ne!(key.hash, secret.expose());

    let principal = auth.authenticate_api_key(secret.expose()).await.unwrap();
    assert!(matches!(&principal, Principal::ApiKey { key: id, .. } if *id == key.id));
    assert!(authorize(&principal, Scope::PaymentsWrite, &acme).is_ok());
    assert_eq!(
        authorize(&principal, Scope::RefundsWrite, &acme)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert!(authorize(&principal, Scope::PaymentsRead, &other).is_err());

    // Another tenant cannot see or revoke it.
    assert!(auth.api_keys(&other).await.unwrap().is_empty());
    let err = auth.revoke_api_key(&other, &key.id).await.unwrap_err();
    assert_eq!(err.code(), "forbidden");
    let listed = auth.api_keys(&acme).await.unwrap();
    assert_eq!(listed, vec![key.clone()]);

    let revoked = auth.revoke_api_key(&acme, &key.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    let again = auth.revoke_api_key(&acme, &key.id).await.unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);
    let err = auth
        .authenticate_api_key(secret.expose())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unauthenticated");

    // Expiry, and every bad presentation gets the same error.
    let expires = ledger.now().plus(Duration::from_secs(3600));
    let (_, short) = auth
        .issue_api_key(
            &acme,
            "temp",
            ApiKeyMode::Test,
            [Scope::LedgerRead].into(),
            Some(expires),
        )
        .await
        .unwrap();
    assert!(auth.authenticate_api_key(short.expose()).await.is_ok());
    clock.advance(Duration::from_secs(3601));
    let unknown = crate::auth::ApiKeySecret::generate(ApiKeyMode::Live, &mut rand::rng());
    for presented in [
        short.expose(),
        unknown.secret.expose(),
        "obol_sk_live_nope",
        "",
    ] {
        let err = auth.authenticate_api_key(presented).await.unwrap_err();
        assert_eq!(err.code(), "unauthenticated");
    }
    // Refused issues write nothing.
    let none = auth
        .issue_api_key(&acme, "empty", ApiKeyMode::Live, Default::default(), None)
        .await;
    assert!(none.is_err());
    assert_eq!(auth.api_keys(&acme).await.unwrap().len(), 2);
}
