//! The `Obol` class: one engine on one store, shared by every caller in the process.

use std::sync::{Arc, Mutex};

use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
use napi_derive::napi;
use obol::auth::KeyEncryptionKey;
use obol::{Engine, EngineOptions, Error};

use crate::convert::promise;

/// What opening an engine needs besides the store URL.
#[napi(object)]
pub struct ObolOptions {
    /// The key (base64, 32 bytes) that seals signing keys at rest.
    pub key_encryption_key: String,
    /// The issuer (`iss`) of the access tokens the engine signs.
    pub issuer: String,
    /// The audience (`aud`) of the access tokens the engine signs.
    pub audience: String,
}

/// A new random key-encryption key, base64: make it once and keep it.
#[napi]
pub fn generate_key_encryption_key() -> String {
    KeyEncryptionKey::random().to_base64()
}

/// The engine: ledger, payments (sandbox provider) and auth over one store. Garbage
/// collection closes the store once the calls in flight finish; `shutdown()` also waits
/// until every write is durable.
#[napi]
pub struct Obol {
    engine: Mutex<Option<Arc<Engine>>>,
}

impl Obol {
    /// The engine, unless shut down.
    pub(crate) fn engine(&self) -> obol::Result<Arc<Engine>> {
        let engine = match self.engine.lock() {
            Ok(engine) => engine,
            Err(poisoned) => poisoned.into_inner(),
        };
        engine.clone().ok_or(Error::ShutDown)
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
        let kek = KeyEncryptionKey::from_base64(&options.key_encryption_key)?;
        let options = EngineOptions::new(&options.issuer, &options.audience, kek);
        let engine = Engine::open(&url, options).await?;
        // A signing key must exist before the first log-in.
        engine.auth().rotate_keys().await?;
        Ok(Obol {
            engine: Mutex::new(Some(Arc::new(engine))),
        })
    })
}

#[napi]
impl Obol {
    /// Stops taking calls and waits until every write is durable. Later calls reject with
    /// `shut_down`; a second call does nothing.
    #[napi]
    pub fn shutdown<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let taken = match self.engine.lock() {
            Ok(mut engine) => engine.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        promise(env, async move {
            if let Some(engine) = taken {
                match Arc::try_unwrap(engine) {
                    Ok(engine) => engine.shutdown().await,
                    Err(_) => tracing::debug!("engine still in use at shutdown; it closes on drop"),
                }
            }
            Ok(())
        })
    }
}
