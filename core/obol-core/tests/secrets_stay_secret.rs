//! Secrets never reach logs, Debug output or error messages: a run of sign-ups, sign-ins
//! (good and bad), refreshes, API-key issue and use, with every tracing event captured at
//! TRACE level, then the capture, the Debug strings and the errors are searched for the
//! password, the refresh token, the access token and the API key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use obol_core::auth::{
    Algorithm, Auth, AuthConfig, KeyEncryptionKey, LoginLimits, Mode, NewUser, Password,
    PasswordHasher, Profile, Scope, TokenConfig,
};
use obol_core::testing::test_ledger;
use obol_core::{MemoryStore, MerchantId, Store};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_in_logs_debug_or_errors() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (ledger, _) = test_ledger(store.clone(), 99).await;
    let mut tokens = TokenConfig::new("https://obol.test", "obol-api", KeyEncryptionKey::random());
    tokens.algorithm = Algorithm::EdDSA;
    let auth = Auth::new(
        store,
        ledger.clock().clone(),
        ledger.ids().clone(),
        AuthConfig {
            hasher: PasswordHasher::with_params(1024, 1, 1).unwrap(),
            limits: LoginLimits::default(),
            session_lifetime: Duration::from_secs(3600),
            tokens,
        },
    );
    let acme = MerchantId::derived("acme");
    let secret_password = "Zebra-Quartz-Mango-917";
    let password = Password::new(secret_password);
    let user = auth
        .create_user(NewUser {
            merchant: acme.clone(),
            email: "gil@example.com".into(),
            password: password.clone(),
            profile: Profile::default(),
            scopes: [Scope::PaymentsRead].into(),
            live: false,
        })
        .await
        .unwrap();
    let login = auth
        .login(
            &acme,
            "gil@example.com",
            &password,
            Some("192.0.2.7"),
            Mode::Test,
        )
        .await
        .unwrap();
    let refreshed = auth.refresh(login.refresh.expose()).await.unwrap();
    let reuse = auth.refresh(login.refresh.expose()).await.unwrap_err();
    let wrong = auth
        .login(
            &acme,
            "gil@example.com",
            &Password::new("Zebra-Quartz-Mango-918"),
            None,
            Mode::Test,
        )
        .await
        .unwrap_err();
    let (key, api_secret) = auth
        .issue_api_key(&acme, "ci", Mode::Test, [Scope::LedgerRead].into(), None)
        .await
        .unwrap();
    auth.authenticate_api_key(api_secret.expose())
        .await
        .unwrap();
    let mut typo = api_secret.expose().to_owned();
    typo.pop();
    let bad_key = auth.authenticate_api_key(&typo).await.unwrap_err();

    let secrets = [
        secret_password.to_owned(),
        login.refresh.expose().to_owned(),
        refreshed.refresh.expose().to_owned(),
        login.access.clone(),
        refreshed.access.clone(),
        api_secret.expose().to_owned(),
    ];
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("API key issued"), "the capture works");
    let shown = format!(
        "{user:?} {login:?} {refreshed:?} {key:?} {api_secret:?} {password:?} {reuse} {reuse:?} \
         {wrong} {wrong:?} {bad_key} {bad_key:?}"
    );
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs");
        assert!(
            !shown.contains(secret.as_str()),
            "a secret reached Debug or an error"
        );
    }
}
