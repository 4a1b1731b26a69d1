//! The `Obol` object: one engine on one store, shared by every thread of the app.

use std::sync::Arc;

use obol::auth::KeyEncryptionKey;
use obol::{Engine, EngineHandle, Error, Result};
use zeroize::Zeroizing;

use crate::error::ObolError;
use crate::runtime::run;

/// What opening an engine needs besides the store URL. Its secrets are never shown by
/// `Debug`, and [`open_obol`] wipes them once read.
#[derive(uniffi::Record)]
pub struct ObolOptions {
    /// The key (base64, 32 bytes) that seals signing keys at rest; keep it in the platform's
    /// key store (see [`generate_key_encryption_key`]).
    pub key_encryption_key: String,
    /// The issuer (`iss`) of the access tokens the engine signs.
    pub issuer: String,
    /// The audience (`aud`) of the access tokens the engine signs.
    pub audience: String,
    /// Card payments through Stripe as well as the sandbox.
    #[uniffi(default = None)]
    pub stripe: Option<StripeSettings>,
}

/// How the engine reaches Stripe (its rail registered ahead of the sandbox). Its secrets are
/// never shown by `Debug`, and [`open_obol`] wipes them once read.
#[derive(uniffi::Record)]
pub struct StripeSettings {
    /// `sk_test_…` or `sk_live_…`; keep it in the platform's key store.
    pub secret_key: String,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: String,
    /// Where customers return after 3-D Secure.
    pub return_url: String,
    /// Another Stripe-compatible API (https, or http on loopback only); Stripe's when `None`.
    #[uniffi(default = None)]
    pub api_base: Option<String>,
    /// Several captures per authorization (the account must have multicapture).
    #[uniffi(default = false)]
    pub multicapture: bool,
    /// The currencies routed to Stripe; Stripe's common ones when `None`.
    #[uniffi(default = None)]
    pub currencies: Option<Vec<String>>,
}

impl std::fmt::Debug for ObolOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObolOptions")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("stripe", &self.stripe)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("return_url", &self.return_url)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl StripeSettings {
    /// The engine's Stripe options; the keys' text is wiped once read.
    fn options(self) -> Result<obol::StripeOptions> {
        let secret_key = Zeroizing::new(self.secret_key);
        let webhook_secret = Zeroizing::new(self.webhook_secret);
        obol::StripeOptions::from_settings(
            &secret_key,
            &webhook_secret,
            &self.return_url,
            self.api_base.as_deref(),
            self.multicapture,
            self.currencies.as_deref(),
        )
    }
}

/// A new random key-encryption key, base64: make it once and keep it.
#[uniffi::export]
pub fn generate_key_encryption_key() -> String {
    KeyEncryptionKey::random().to_base64()
}

/// Opens the engine on the store `url` names (`sqlite://app.db`, `sqlite::memory:`,
/// `postgres://…`), running its migrations.
#[uniffi::export]
pub async fn open_obol(
    url: String,
    options: ObolOptions,
) -> std::result::Result<Arc<Obol>, ObolError> {
    let handle = run(async move {
        // UniFFI's records move their fields out, so they cannot wipe on drop: the secrets
        // are taken into wiping wrappers here, read, and wiped.
        let ObolOptions {
            key_encryption_key,
            issuer,
            audience,
            stripe,
        } = options;
        let key_encryption_key = Zeroizing::new(key_encryption_key);
        // Stripe's keys first: read (and wiped) whatever happens next.
        let stripe = stripe.map(StripeSettings::options).transpose()?;
        let mut engine = obol::EngineOptions::new(
            &issuer,
            &audience,
            KeyEncryptionKey::from_base64(&key_encryption_key)?,
        );
        engine.stripe = stripe;
        EngineHandle::open_with(&url, engine).await
    })
    .await?;
    Ok(Arc::new(Obol {
        handle: Arc::new(handle),
    }))
}

/// The engine: ledger, payments (the sandbox, and Stripe when configured) and auth over one store. Safe to call
/// from many threads at once. Sign-in and the host's own set-up (assets, a first user or
/// key) are here; everything done for a merchant goes through a [`crate::Tenant`]
/// ([`Obol::act_as`], [`Obol::authenticate`]). Dropping it closes the store once the calls
/// in flight finish; [`Obol::shutdown`] also waits until every write is durable.
#[derive(Debug, uniffi::Object)]
pub struct Obol {
    pub(crate) handle: Arc<EngineHandle>,
}

impl Obol {
    /// Runs `work` on the engine on the library's runtime, its error in the caller's area.
    pub(crate) async fn call<T, E, F, Fut>(&self, work: F) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<Error>,
        F: FnOnce(Arc<Engine>) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let engine = self.handle.engine()?;
        run(work(engine)).await.map_err(E::from)
    }
}

#[uniffi::export]
impl Obol {
    /// Stops taking calls and waits until every write is durable. Later calls fail with
    /// `shut_down`; a second call does nothing.
    pub async fn shutdown(&self) {
        let closing = self.handle.shutdown();
        let closed = run(async move {
            closing.await;
            Ok(())
        })
        .await;
        if let Err(error) = closed {
            tracing::warn!(%error, "closing the engine failed");
        }
    }
}
