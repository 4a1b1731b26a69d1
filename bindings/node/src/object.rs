//! The `Obol` class: one engine on one store, shared by every caller in the process.

use std::sync::Arc;

use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
use napi_derive::napi;
use obol::auth::KeyEncryptionKey;
use obol::{Engine, EngineHandle};
use zeroize::Zeroize;

use crate::convert::promise;

/// What opening an engine needs besides the store URL. Its secrets are wiped when it is
/// dropped.
// Read from JavaScript only (never handed back), so it can wipe its secrets on drop.
#[napi(object, object_to_js = false)]
pub struct ObolOptions {
    /// The key (base64, 32 bytes) that seals signing keys at rest.
    pub key_encryption_key: String,
    /// The issuer (`iss`) of the access tokens the engine signs.
    pub issuer: String,
    /// The audience (`aud`) of the access tokens the engine signs.
    pub audience: String,
    /// Card payments through Stripe as well as the sandbox.
    pub stripe: Option<StripeSettings>,
}

/// How the engine reaches Stripe (its rail registered ahead of the sandbox). Its secrets are
/// wiped when it is dropped.
// Read from JavaScript only (never handed back), so it can wipe its secrets on drop.
#[napi(object, object_to_js = false)]
pub struct StripeSettings {
    /// `sk_test_…` or `sk_live_…`.
    pub secret_key: String,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: String,
    /// Where customers return after 3-D Secure.
    pub return_url: String,
    /// Another Stripe-compatible API (https, or http on loopback only); Stripe's when absent.
    pub api_base: Option<String>,
    /// Several captures per authorization (the account must have multicapture).
    pub multicapture: Option<bool>,
    /// The currencies routed to Stripe; Stripe's common ones when absent.
    pub currencies: Option<Vec<String>>,
}

impl Drop for ObolOptions {
    fn drop(&mut self) {
        self.key_encryption_key.zeroize();
    }
}

impl Drop for StripeSettings {
    fn drop(&mut self) {
        self.secret_key.zeroize();
        self.webhook_secret.zeroize();
    }
}

impl StripeSettings {
    fn options(&self) -> obol::Result<obol::StripeOptions> {
        obol::StripeOptions::from_settings(
            &self.secret_key,
            &self.webhook_secret,
            &self.return_url,
            self.api_base.as_deref(),
            self.multicapture.unwrap_or(false),
            self.currencies.as_deref(),
        )
    }
}
/// A new random key-encryption key, base64: make it once and keep it.
#[napi]
pub fn generate_key_encryption_key() -> String {
    KeyEncryptionKey::random().to_base64()
}

/// The engine: ledger, payments (the sandbox, and Stripe when configured) and auth over one store. Sign-in and the
/// app's own set-up are here; everything done for a merchant goes through a `Tenant`
/// (`actAs`, `authenticate`). Garbage
/// collection closes the store once the calls in flight finish; `shutdown()` also waits
/// until every write is durable.
#[napi]
pub struct Obol {
    pub(crate) handle: Arc<EngineHandle>,
}

impl Obol {
    /// The engine, unless shut down.
    pub(crate) fn engine(&self) -> obol::Result<Arc<Engine>> {
        self.handle.engine()
    }
}

/// Opens the engine on the store `url` names (`sqlite://app.db`, `sqlite::memory:`,
/// `postgres://…`), running its migrations.
#[napi(ts_return_type = "Promise<Obol>")]
pub fn open_obol<'env>(
    env: &'env Env,
    url: String,
    options: ObolOptions,
) -> napi::Result<PromiseRaw<'env, Obol>> {
    promise(env, async move {
        let mut engine = obol::EngineOptions::new(
            &options.issuer,
            &options.audience,
            KeyEncryptionKey::from_base64(&options.key_encryption_key)?,
        );
        engine.stripe = options
            .stripe
            .as_ref()
            .map(StripeSettings::options)
            .transpose()?;
        drop(options);
        let handle = EngineHandle::open_with(&url, engine).await?;
        Ok(Obol {
            handle: Arc::new(handle),
        })
    })
}

#[napi]
impl Obol {
    /// Stops taking calls and waits until every write is durable. Later calls reject with
    /// `shut_down`; a second call does nothing.
    #[napi]
    pub fn shutdown<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let closing = self.handle.shutdown();
        promise(env, async move {
            closing.await;
            Ok(())
        })
    }
}
