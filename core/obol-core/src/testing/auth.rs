//! Auth conformance cases every Store must pass.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use super::test_ledger;
use crate::auth::{
    AccessTokenVerifier, Actor, Algorithm, Auth, AuthConfig, KeyEncryptionKey, KeySealer,
    LocalSealer, LoginLimits, MigratingSealer, Mode, NewUser, Password, PasswordHasher, Profile,
    Scope, TokenConfig, Tokens, authorize,
};
use crate::id::MerchantId;
use crate::ledger::Ledger;
use crate::store::Store;

/// Auth with cheap hashing (the parameters travel in each hash; production uses OWASP's).
pub(crate) fn test_auth(store: &Arc<dyn Store>, ledger: &Ledger) -> Auth {
    test_auth_with(store, ledger, LoginLimits::default())
}

fn test_auth_with(store: &Arc<dyn Store>, ledger: &Ledger, limits: LoginLimits) -> Auth {
    let mut tokens = TokenConfig::new("https://obol.test", "obol-api", KeyEncryptionKey::random());
    // EdDSA keys are quick to make; RS256 has its own case below.
    tokens.algorithm = Algorithm::EdDSA;
    auth_with_tokens(store, ledger, limits, tokens)
}

fn auth_with_tokens(
    store: &Arc<dyn Store>,
    ledger: &Ledger,
    limits: LoginLimits,
    tokens: TokenConfig,
) -> Auth {
    let config = AuthConfig {
        hasher: PasswordHasher::with_params(1024, 1, 1).unwrap(),
        limits,
        session_lifetime: Duration::from_secs(7 * 24 * 3600),
        tokens,
    };
    Auth::new(
        store.clone(),
        ledger.clock().clone(),
        ledger.ids().clone(),
        config,
    )
}

pub async fn api_keys_authenticate_until_revoked_or_expired(store: Arc<dyn Store>) {
    let (ledger, clock) = test_ledger(store.clone(), 91).await;
    let auth = test_auth(&store, &ledger);
    // The background rotation job gives a fresh installation its first signing key.
    assert!(auth.jwks().await.unwrap().keys.is_empty());
    let rotation = auth.spawn_key_rotation(Duration::from_millis(5));
    for _ in 0..100 {
        if !auth.jwks().await.unwrap().keys.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    rotation.stop().await;
    assert_eq!(auth.jwks().await.unwrap().keys.len(), 1);
    let acme = MerchantId::derived("acme");
    let other = MerchantId::derived("other");
    let scopes = [Scope::PaymentsRead, Scope::PaymentsWrite].into();
    let (key, secret) = auth
        .issue_api_key(&acme, "checkout server", Mode::Live, scopes, None)
        .await
        .unwrap();
    assert!(!format!("{key:?}").contains(secret.expose()));
    assert_ne!(key.hash, secret.expose());

    let principal = auth.authenticate_api_key(secret.expose()).await.unwrap();
    assert!(matches!(&principal.actor, Actor::ApiKey { key: id } if *id == key.id));
    assert_eq!(principal.mode, Mode::Live);
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
    assert_eq!(err.code(), "api_key_not_found");
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
            Mode::Test,
            [Scope::LedgerRead].into(),
            Some(expires),
        )
        .await
        .unwrap();
    assert!(auth.authenticate_api_key(short.expose()).await.is_ok());
    clock.advance(Duration::from_secs(3601));
    let unknown = crate::auth::ApiKeySecret::generate(Mode::Live, &mut rand::rng());
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
        .issue_api_key(&acme, "empty", Mode::Live, Default::default(), None)
        .await;
    assert!(none.is_err());
    assert_eq!(auth.api_keys(&acme).await.unwrap().len(), 2);
}

pub async fn users_sign_in_with_limits_and_tenancy(store: Arc<dyn Store>) {
    let (ledger, clock) = test_ledger(store.clone(), 92).await;
    let auth = test_auth(&store, &ledger);
    let acme = MerchantId::derived("acme");
    let other = MerchantId::derived("other");
    let password = Password::new("purple-monkey-dishwasher");
    let new = NewUser {
        merchant: acme.clone(),
        email: "  Alice@Example.com".into(),
        password: password.clone(),
        profile: Profile::default(),
        scopes: [Scope::PaymentsRead].into(),
        live: false,
    };
    let alice = auth.create_user(new.clone()).await.unwrap();
    assert_eq!(alice.email, "alice@example.com");
    assert!(!alice.password_hash.contains("purple"));
    let taken = auth
        .create_user(NewUser {
            email: "ALICE@example.com".into(),
            ..new.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(taken.code(), "email_taken");
    // The same email in another tenant is another user.
    auth.create_user(NewUser {
        merchant: other.clone(),
        ..new.clone()
    })
    .await
    .unwrap();
    let weak = auth
        .create_user(NewUser {
            email: "bob@example.com".into(),
            password: Password::new("password1"),
            ..new.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(weak.code(), "weak_password");
    assert_eq!(
        auth.user(&other, &alice.id).await.unwrap_err().code(),
        "user_not_found"
    );

    let signed_in = auth
        .sign_in(&acme, "alice@EXAMPLE.com", &password, Some("10.0.0.1"))
        .await
        .unwrap();
    assert_eq!(signed_in.id, alice.id);
    let wrong = auth
        .sign_in(
            &acme,
            "alice@example.com",
            &Password::new("nope-nope-nope"),
            None,
        )
        .await
        .unwrap_err();
    let unknown = auth
        .sign_in(&acme, "carol@example.com", &password, None)
        .await
        .unwrap_err();
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.code(), "unauthenticated");

    // Ten failures from one source stop that source for the window, even with the right
    // password; the user signs in from elsewhere (a stranger cannot lock them out).
    for _ in 1..10 {
        let _ = auth
            .sign_in(
                &acme,
                "alice@example.com",
                &Password::new("guess-guess"),
                None,
            )
            .await;
    }
    let locked = auth
        .sign_in(&acme, "alice@example.com", &password, None)
        .await
        .unwrap_err();
    assert_eq!(locked.code(), "too_many_attempts");
    auth.sign_in(&acme, "alice@example.com", &password, Some("10.0.0.2"))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(15 * 60 + 1));
    auth.sign_in(&acme, "alice@example.com", &password, None)
        .await
        .unwrap();
    // A success gives its attempt back: signing in never uses up the budget.
    for _ in 0..12 {
        auth.sign_in(&acme, "alice@example.com", &password, Some("10.0.0.3"))
            .await
            .unwrap();
    }

    // A burst of concurrent guesses gets exactly the budget, no more: each attempt is
    // reserved before its password is hashed.
    let guess = Password::new("burst-guess");
    let burst = futures::future::join_all(
        (0..30).map(|_| auth.sign_in(&acme, "alice@example.com", &guess, Some("192.0.2.77"))),
    )
    .await;
    let codes = |code: &str| {
        burst
            .iter()
            .filter(|r| matches!(r, Err(e) if e.code() == code))
            .count()
    };
    assert_eq!(codes("unauthenticated"), 10, "{burst:?}");
    assert_eq!(codes("too_many_attempts"), 20);

    // A source that keeps failing is stopped across accounts; other sources are not.
    let strict = test_auth_with(
        &store,
        &ledger,
        LoginLimits {
            per_source: 3,
            ..LoginLimits::default()
        },
    );
    for email in ["x@example.com", "y@example.com", "z@example.com"] {
        let err = strict
            .sign_in(&acme, email, &password, Some("203.0.113.9"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "unauthenticated");
    }
    let blocked = strict
        .sign_in(&acme, "alice@example.com", &password, Some("203.0.113.9"))
        .await
        .unwrap_err();
    assert_eq!(blocked.code(), "too_many_attempts");
    strict
        .sign_in(&acme, "alice@example.com", &password, Some("198.51.100.4"))
        .await
        .unwrap();

    // Profile, email and password changes; disable and delete.
    let profile = Profile {
        name: Some("Alice".into()),
        ..Profile::default()
    };
    let updated = auth
        .update_profile(&acme, &alice.id, profile)
        .await
        .unwrap();
    assert_eq!(updated.version, alice.version + 1);
    let new_password = Password::new("correct-horse-battery");
    let err = auth
        .change_password(
            &acme,
            &alice.id,
            &Password::new("not-the-one"),
            &new_password,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unauthenticated");
    auth.change_password(&acme, &alice.id, &password, &new_password, None)
        .await
        .unwrap();
    assert!(
        auth.sign_in(&acme, "alice@example.com", &password, None)
            .await
            .is_err()
    );
    auth.sign_in(&acme, "alice@example.com", &new_password, None)
        .await
        .unwrap();
    let bob = auth
        .create_user(NewUser {
            email: "bob@example.com".into(),
            ..new.clone()
        })
        .await
        .unwrap();
    let clash = auth
        .change_email(&acme, &alice.id, "BOB@example.com")
        .await
        .unwrap_err();
    assert_eq!(clash.code(), "email_taken");
    let moved = auth
        .change_email(&acme, &bob.id, "robert@example.com")
        .await
        .unwrap();
    assert_eq!(moved.email, "robert@example.com");
    auth.sign_in(&acme, "robert@example.com", &password, None)
        .await
        .unwrap();
    auth.disable_user(&acme, &alice.id).await.unwrap();
    let disabled = auth
        .sign_in(&acme, "alice@example.com", &new_password, None)
        .await
        .unwrap_err();
    assert_eq!(disabled.code(), "unauthenticated");
    auth.delete_user(&acme, &alice.id).await.unwrap();
    assert_eq!(
        auth.delete_user(&acme, &alice.id).await.unwrap_err().code(),
        "user_not_found"
    );
}

pub async fn sessions_rotate_detect_reuse_and_end(store: Arc<dyn Store>) {
    let (ledger, clock) = test_ledger(store.clone(), 93).await;
    let auth = test_auth(&store, &ledger);
    let acme = MerchantId::derived("acme");
    let password = Password::new("purple-monkey-dishwasher");
    let new = NewUser {
        merchant: acme.clone(),
        email: "dana@example.com".into(),
        password: password.clone(),
        profile: Profile::default(),
        scopes: [Scope::LedgerRead].into(),
        live: false,
    };
    let dana = auth.create_user(new.clone()).await.unwrap();
    // A test-only user signs in to test mode, never live.
    let live = auth
        .login(&acme, "dana@example.com", &password, None, Mode::Live)
        .await
        .unwrap_err();
    assert_eq!(live.code(), "forbidden");
    let Tokens {
        session: first,
        refresh: token,
        ..
    } = auth
        .login(&acme, "dana@example.com", &password, None, Mode::Test)
        .await
        .unwrap();
    let principal = auth.session_principal(&first.id).await.unwrap();
    assert!(authorize(&principal, Scope::LedgerRead, &acme).is_ok());

    // Rotation: the new token works, the old one is now a reuse that ends the family.
    let Tokens {
        session: second,
        refresh: token2,
        ..
    } = auth.refresh(token.expose()).await.unwrap();
    assert_eq!(second.family, first.family);
    assert_ne!(token2.expose(), token.expose());
    let Tokens {
        session: third,
        refresh: token3,
        ..
    } = auth.refresh(token2.expose()).await.unwrap();
    let reuse = auth.refresh(token.expose()).await.unwrap_err();
    assert_eq!(reuse.code(), "unauthenticated");
    assert!(auth.refresh(token3.expose()).await.is_err());
    assert!(auth.session_principal(&third.id).await.is_err());

    // Logout ends the family at once.
    let Tokens {
        session,
        refresh: token,
        ..
    } = auth
        .login(&acme, "dana@example.com", &password, None, Mode::Test)
        .await
        .unwrap();
    auth.logout(token.expose()).await.unwrap();
    assert!(auth.session_principal(&session.id).await.is_err());
    assert!(auth.refresh(token.expose()).await.is_err());

    // A password change from one session keeps it and ends the others.
    let kept = auth
        .login(&acme, "dana@example.com", &password, None, Mode::Test)
        .await
        .unwrap();
    let other = auth
        .login(&acme, "dana@example.com", &password, None, Mode::Test)
        .await
        .unwrap();
    let interim = Password::new("an-interim-passphrase");
    auth.change_password(&acme, &dana.id, &password, &interim, Some(&kept.session.id))
        .await
        .unwrap();
    assert!(auth.verify_access_token(&kept.access).await.is_ok());
    assert!(auth.verify_access_token(&other.access).await.is_err());
    assert!(auth.refresh(other.refresh.expose()).await.is_err());
    auth.change_password(&acme, &dana.id, &interim, &password, Some(&kept.session.id))
        .await
        .unwrap();
    auth.logout(kept.refresh.expose()).await.unwrap();

    // A password change and disabling end sessions on the next call.
    let Tokens {
        session,
        refresh: token,
        ..
    } = auth
        .login(&acme, "dana@example.com", &password, None, Mode::Test)
        .await
        .unwrap();
    let changed = Password::new("a-brand-new-passphrase");
    auth.change_password(&acme, &dana.id, &password, &changed, None)
        .await
        .unwrap();
    assert!(auth.session_principal(&session.id).await.is_err());
    assert!(auth.refresh(token.expose()).await.is_err());
    let Tokens {
        session,
        refresh: token,
        ..
    } = auth
        .login(&acme, "dana@example.com", &changed, None, Mode::Test)
        .await
        .unwrap();
    auth.disable_user(&acme, &dana.id).await.unwrap();
    assert!(auth.session_principal(&session.id).await.is_err());
    assert!(auth.refresh(token.expose()).await.is_err());

    // Sessions end after their lifetime, refreshes do not extend it.
    let erin = auth
        .create_user(NewUser {
            email: "erin@example.com".into(),
            ..new
        })
        .await
        .unwrap();
    let Tokens {
        session,
        refresh: token,
        ..
    } = auth
        .login(&acme, &erin.email, &password, None, Mode::Test)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(6 * 24 * 3600));
    let Tokens {
        session: later,
        refresh: token,
        ..
    } = auth.refresh(token.expose()).await.unwrap();
    assert_eq!(later.expires_at, session.expires_at);
    clock.advance(Duration::from_secs(24 * 3600));
    assert!(auth.refresh(token.expose()).await.is_err());
    assert!(auth.session_principal(&later.id).await.is_err());
    assert_eq!(
        auth.refresh("obol_rt_not-a-token")
            .await
            .unwrap_err()
            .code(),
        "unauthenticated"
    );
}

pub async fn access_tokens_verify_rotate_and_end_with_the_session(store: Arc<dyn Store>) {
    let (ledger, clock) = test_ledger(store.clone(), 94).await;
    let auth = test_auth(&store, &ledger);
    let acme = MerchantId::derived("acme");
    let password = Password::new("purple-monkey-dishwasher");
    add_reader(&auth, &acme, "fay@example.com", &password).await;
    let login = auth
        .login(&acme, "fay@example.com", &password, None, Mode::Test)
        .await
        .unwrap();
    let principal = auth.verify_access_token(&login.access).await.unwrap();
    assert!(authorize(&principal, Scope::PaymentsRead, &acme).is_ok());
    // A refresh token is not an access token, nor the reverse.
    assert!(
        auth.verify_access_token(login.refresh.expose())
            .await
            .is_err()
    );
    assert!(auth.refresh(&login.access).await.is_err());

    // Offline: a verifier from the published JWKS needs no call.
    let jwks = auth.jwks().await.unwrap();
    assert_eq!(jwks.keys.len(), 1);
    let offline = AccessTokenVerifier::from_jwks(&jwks, auth.expectations()).unwrap();
    let claims = offline.verify(&login.access, ledger.now()).unwrap();
    assert_eq!(claims["sid"], login.session.id.as_str());
    assert!(!serde_json::to_string(&jwks).unwrap().contains("\"d\""));

    // Rotation after 30 days: the new key is published an hour before it signs.
    assert!(!auth.rotate_keys().await.unwrap());
    clock.advance(Duration::from_secs(30 * 24 * 3600));
    let old = auth
        .login(&acme, "fay@example.com", &password, None, Mode::Test)
        .await
        .unwrap();
    assert!(auth.rotate_keys().await.unwrap());
    assert_eq!(auth.jwks().await.unwrap().keys.len(), 2);
    let still_old = auth.refresh(old.refresh.expose()).await.unwrap();
    let kid = kid_of;
    assert_eq!(kid(&still_old.access), kid(&old.access));
    clock.advance(Duration::from_secs(3599));
    let last_old = auth.refresh(still_old.refresh.expose()).await.unwrap();
    assert_eq!(kid(&last_old.access), kid(&old.access));
    let signed_at = ledger.now();
    clock.advance(Duration::from_secs(2));
    let new = auth.refresh(last_old.refresh.expose()).await.unwrap();
    assert_ne!(kid(&new.access), kid(&old.access));
    // The old key's last token still verifies during its grace period…
    assert!(auth.verify_access_token(&last_old.access).await.is_ok());
    assert!(auth.verify_access_token(&new.access).await.is_ok());
    // …and after it the old key is gone from the JWKS: its tokens are refused outright.
    clock.advance(Duration::from_secs(16 * 60));
    let after = auth.jwks().await.unwrap();
    assert_eq!(after.keys.len(), 1);
    let strict = AccessTokenVerifier::from_jwks(&after, auth.expectations()).unwrap();
    let err = strict.verify(&last_old.access, signed_at).unwrap_err();
    assert_eq!(err.code(), "unauthenticated");

    // Logging out ends the access token's session on the next call.
    let fresh = auth.refresh(new.refresh.expose()).await.unwrap();
    assert!(auth.verify_access_token(&fresh.access).await.is_ok());
    auth.logout(fresh.refresh.expose()).await.unwrap();
    assert!(auth.verify_access_token(&fresh.access).await.is_err());
}

/// An RS256 key sealed by an Obol that signed with the `rsa` crate (before AWS-LC), its
/// key-encryption key, and a token it signed.
pub const RS256_KEY_FROM_THE_RSA_CRATE: &str =
    include_str!("../../tests/fixtures/rs256_key_sealed_by_the_rsa_crate.json");

pub async fn rs256_keys_sealed_before_the_upgrade_sign_and_rotate(store: Arc<dyn Store>) {
    use crate::auth::jwt::{Expectations, Jwks, VerifyingKey, verify};
    use crate::auth::keyring::KeyRecord;

    let (ledger, clock) = test_ledger(store.clone(), 95).await;
    let fixture: serde_json::Value = serde_json::from_str(RS256_KEY_FROM_THE_RSA_CRATE).unwrap();
    let mut record: KeyRecord = serde_json::from_value(fixture["record"].clone()).unwrap();
    record.created_at = ledger.now();
    record.activates_at = ledger.now();
    store.add_signing_key(&record, None).await.unwrap();
    let kek = KeyEncryptionKey::from_base64(fixture["kek"].as_str().unwrap()).unwrap();
    let mut tokens = TokenConfig::new("https://obol.test", "obol-api", kek);
    tokens.algorithm = Algorithm::RS256;
    let auth = auth_with_tokens(&store, &ledger, LoginLimits::default(), tokens);

    // The published key is the one the old release published, and a token the old release
    // signed still verifies.
    let jwks = auth.jwks().await.unwrap();
    assert_eq!(jwks.keys, vec![record.public.clone()]);
    let keys: Vec<VerifyingKey> = jwks
        .keys
        .iter()
        .map(|jwk| VerifyingKey::from_jwk(jwk).unwrap())
        .collect();
    let old_release = Expectations {
        issuer: "https://obol.example".into(),
        audience: "obol-api".into(),
        leeway_seconds: 0,
    };
    let old_token = fixture["token"].as_str().unwrap();
    assert_eq!(
        verify(old_token, &keys, &old_release, ledger.now()).unwrap()["sub"],
        "usr_1"
    );

    // The stored key signs new tokens.
    let acme = MerchantId::derived("acme");
    let password = Password::new("purple-monkey-dishwasher");
    add_reader(&auth, &acme, "gil@example.com", &password).await;
    let login = || auth.login(&acme, "gil@example.com", &password, None, Mode::Test);
    let before = login().await.unwrap();
    assert_eq!(kid_of(&before.access), record.kid);
    assert!(auth.verify_access_token(&before.access).await.is_ok());

    // A rotation after the upgrade makes an AWS-LC key, which signs once published long
    // enough; by then the old key's last token has expired.
    let new_kid = auth.rotate_keys_now().await.unwrap();
    let published: Jwks = auth.jwks().await.unwrap();
    assert_eq!(published.keys.len(), 2);
    clock.advance(Duration::from_secs(3601));
    let after = login().await.unwrap();
    assert_eq!(kid_of(&after.access), new_kid);
    assert!(auth.verify_access_token(&after.access).await.is_ok());
    assert!(
        auth.verify_access_token(&before.access).await.is_err(),
        "expired by now"
    );
    let offline = AccessTokenVerifier::from_jwks(&published, auth.expectations()).unwrap();
    assert!(offline.verify(&after.access, ledger.now()).is_ok());
}

/// A sealer with versions, as a Transit key has (`tag:v<N>:` and the local seal under
/// version N's key), for cases about rotation and rewrap without a Vault.
#[derive(Debug)]
pub struct VersionedSealer {
    keys: std::sync::Mutex<Vec<Arc<KeyEncryptionKey>>>,
}

impl Default for VersionedSealer {
    fn default() -> Self {
        VersionedSealer {
            keys: std::sync::Mutex::new(vec![Arc::new(KeyEncryptionKey::random())]),
        }
    }
}

impl VersionedSealer {
    fn key(&self, version: usize) -> crate::error::Result<Arc<KeyEncryptionKey>> {
        let keys = self.keys.lock().unwrap();
        version
            .checked_sub(1)
            .and_then(|at| keys.get(at))
            .cloned()
            .ok_or_else(|| crate::error::Error::corrupt("no such key version"))
    }

    fn split(sealed: &str) -> crate::error::Result<(usize, &str)> {
        let (version, rest) = sealed
            .strip_prefix("tag:v")
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(|| crate::error::Error::corrupt("not a versioned seal"))?;
        let version = version
            .parse()
            .map_err(|_| crate::error::Error::corrupt("not a versioned seal"))?;
        Ok((version, rest))
    }
}

#[async_trait::async_trait]
impl KeySealer for VersionedSealer {
    async fn seal(&self, context: &str, secret: &[u8]) -> crate::error::Result<String> {
        let latest = self.keys.lock().unwrap().len();
        let sealed = self.key(latest)?.seal_bytes(context, secret)?;
        Ok(format!("tag:v{latest}:{sealed}"))
    }

    async fn open(
        &self,
        context: &str,
        sealed: &str,
    ) -> crate::error::Result<zeroize::Zeroizing<Vec<u8>>> {
        let (version, rest) = Self::split(sealed)?;
        self.key(version)?.open_bytes(context, rest)
    }

    async fn rewrap(&self, context: &str, sealed: &str) -> crate::error::Result<Option<String>> {
        let (version, _) = Self::split(sealed)?;
        if version == self.keys.lock().unwrap().len() {
            return Ok(None);
        }
        let secret = self.open(context, sealed).await?;
        self.seal(context, &secret).await.map(Some)
    }

    async fn rotate(&self) -> crate::error::Result<()> {
        self.keys
            .lock()
            .unwrap()
            .push(Arc::new(KeyEncryptionKey::random()));
        Ok(())
    }

    fn recognises(&self, sealed: &str) -> bool {
        sealed.starts_with("tag:v")
    }
}

pub async fn signing_keys_are_sealed_again_under_a_new_key(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store.clone(), 96).await;
    // The same key twice (it is not Clone: each copy is made on purpose).
    let kek_text = KeyEncryptionKey::random().to_base64();
    let kek = || KeyEncryptionKey::from_base64(&kek_text).unwrap();
    let tokens = || {
        let mut tokens = TokenConfig::new("https://obol.test", "obol-api", kek());
        tokens.algorithm = Algorithm::EdDSA;
        tokens
    };
    let auth = |tokens| auth_with_tokens(&store, &ledger, LoginLimits::default(), tokens);
    let local = auth(tokens());
    let acme = MerchantId::derived("acme");
    let password = Password::new("purple-monkey-dishwasher");
    add_reader(&local, &acme, "hal@example.com", &password).await;
    let login = |auth: &Auth| {
        let auth = auth.clone();
        let (acme, password) = (acme.clone(), password.clone());
        async move {
            auth.login(&acme, "hal@example.com", &password, None, Mode::Test)
                .await
        }
    };
    let first = login(&local).await.unwrap();

    // The deployment moves its key into a key service: the local key still opens what it
    // sealed, until everything is sealed again under the service's key.
    let service = Arc::new(VersionedSealer::default());
    let moving = auth(tokens().with_sealer(Arc::new(MigratingSealer::new(
        service.clone(),
        Arc::new(LocalSealer::new(kek())),
    ))));
    assert!(login(&moving).await.is_ok());
    assert_eq!(moving.rewrap_signing_keys().await.unwrap().sealed, 1);
    assert_eq!(moving.rewrap_signing_keys().await.unwrap().sealed, 0);
    let sealed = |prefix: &'static str| {
        let store = store.clone();
        async move {
            let keys = store.signing_keys().await.unwrap();
            !keys.is_empty() && keys.iter().all(|k| k.sealed.starts_with(prefix))
        }
    };
    assert!(sealed("tag:v1:").await);

    // Now the service alone opens them, and the same key signs; the local key opens nothing.
    let moved = auth(tokens().with_sealer(service.clone()));
    let after = login(&moved).await.unwrap();
    assert_eq!(kid_of(&after.access), kid_of(&first.access));
    assert_eq!(login(&auth(tokens())).await.unwrap_err().code(), "corrupt");

    // The service's key rotates: new signing keys are sealed under the new version, and a
    // rewrap moves the older ones onto it.
    moved.rotate_key_encryption_key().await.unwrap();
    moved.rotate_keys_now().await.unwrap();
    assert_eq!(moved.rewrap_signing_keys().await.unwrap().sealed, 1);
    assert!(sealed("tag:v2:").await);
    assert!(
        login(&auth(tokens().with_sealer(service.clone())))
            .await
            .is_ok()
    );

    // A reseal of a text that changed meanwhile, or of no key, writes nothing.
    let keys = store.signing_keys().await.unwrap();
    let record = &keys[0];
    assert!(
        !store
            .reseal_signing_key(&record.kid, "stale", "x")
            .await
            .unwrap()
    );
    assert!(
        !store
            .reseal_signing_key("sig_none", &record.sealed, "x")
            .await
            .unwrap()
    );
    assert_eq!(store.signing_keys().await.unwrap(), keys);
    // A record that cannot be opened is reported, and the others are sealed again anyway.
    let mut broken = keys[0].clone();
    broken.kid = "sig_broken".into();
    broken.sealed = "tag:v9:nothing".into();
    broken.retired_at = Some(broken.activates_at);
    store.add_signing_key(&broken, None).await.unwrap();
    moved.rotate_key_encryption_key().await.unwrap();
    let report = moved.rewrap_signing_keys().await.unwrap();
    assert_eq!(report.sealed, 2);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "sig_broken");
    // A key from configuration cannot rotate in place.
    assert_eq!(
        local.rotate_key_encryption_key().await.unwrap_err().code(),
        "config"
    );
}

/// A test-mode user of `merchant` who may read payments.
async fn add_reader(auth: &Auth, merchant: &MerchantId, email: &str, password: &Password) {
    auth.create_user(NewUser {
        merchant: merchant.clone(),
        email: email.into(),
        password: password.clone(),
        profile: Profile::default(),
        scopes: [Scope::PaymentsRead].into(),
        live: false,
    })
    .await
    .unwrap();
}

/// The `kid` in a compact JWS header.
fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The sign-in limit table stays bounded by its window: a reservation forgets every attempt
/// older than the window under every key, not only its own, so junk keys (a stranger's many
/// made-up emails) and a victim's failed attempts are gone once the window has passed.
pub async fn sign_in_attempts_older_than_the_window_are_forgotten_under_every_key(
    store: Arc<dyn Store>,
) {
    use crate::clock::Timestamp;
    use crate::store::{AttemptLimit, LoginReservation};
    let limit = |key: &str| AttemptLimit {
        key: key.to_owned(),
        allowed: 3,
    };
    let window = Duration::from_secs(15 * 60);
    let start = Timestamp::from_micros(1_700_000_000_000_000);
    let ever = Timestamp::from_micros(0);
    for n in 0..3 {
        let reserved = store
            .reserve_login_attempt(&format!("victim-{n}"), &[limit("victim")], ever, start)
            .await
            .unwrap();
        assert_eq!(reserved, LoginReservation::Reserved);
    }
    assert!(matches!(
        store
            .reserve_login_attempt("victim-3", &[limit("victim")], ever, start)
            .await
            .unwrap(),
        LoginReservation::Refused { .. }
    ));
    for n in 0..40 {
        store
            .reserve_login_attempt(
                &format!("junk-{n}"),
                &[limit(&format!("junk-{n}"))],
                ever,
                start,
            )
            .await
            .unwrap();
    }
    // One sign-in under an unrelated key once the window has passed.
    let later = start.plus(window).plus(Duration::from_secs(1));
    let since = start.plus(Duration::from_secs(1));
    assert_eq!(
        store
            .reserve_login_attempt("late", &[limit("someone")], since, later)
            .await
            .unwrap(),
        LoginReservation::Reserved
    );
    // Counting from the beginning of time finds none of the old attempts: they were deleted,
    // not merely left out of the window.
    for n in 0..3 {
        assert_eq!(
            store
                .reserve_login_attempt(
                    &format!("victim-again-{n}"),
                    &[limit("victim")],
                    ever,
                    later
                )
                .await
                .unwrap(),
            LoginReservation::Reserved,
            "the victim's old attempts are still stored"
        );
    }
    let one = |key: String| AttemptLimit { key, allowed: 1 };
    for n in 0..40 {
        assert_eq!(
            store
                .reserve_login_attempt(
                    &format!("junk-again-{n}"),
                    &[one(format!("junk-{n}"))],
                    ever,
                    later
                )
                .await
                .unwrap(),
            LoginReservation::Reserved,
            "a stranger's old attempt is still stored"
        );
    }
}
