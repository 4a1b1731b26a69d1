//! The `Obol` object: one engine on one store, shared by every thread of the app.

use std::sync::{Arc, Mutex};

use obol::auth::KeyEncryptionKey;
use obol::{Engine, EngineOptions, Error, Result};

use crate::error::ObolError;
use crate::runtime::run;

/// What opening an engine needs besides the store URL.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ObolOptions {
    /// The key (base64, 32 bytes) that seals signing keys at rest; keep it in the platform's
    /// key store (see [`generate_key_encryption_key`]).
    pub key_encryption_key: String,
    /// The issuer (`iss`) of the access tokens the engine signs.
    pub issuer: String,
    /// The audience (`aud`) of the access tokens the engine signs.
    pub audience: String,
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
    let engine = run(async move {
        let kek = KeyEncryptionKey::from_base64(&options.key_encryption_key)?;
        let options = EngineOptions::new(&options.issuer, &options.audience, kek);
        let engine = Engine::open(&url, options).await?;
        // A signing key must exist before the first log-in (made once, then rotated when due).
        engine.auth().rotate_keys().await?;
        Ok(engine)
    })
    .await?;
    Ok(Arc::new(Obol {
        engine: Mutex::new(Some(Arc::new(engine))),
    }))
}

/// The engine: ledger, payments (sandbox provider) and auth over one store. Safe to call
/// from many threads at once. Dropping it closes the store once the calls in flight finish;
/// [`Obol::shutdown`] also waits until every write is durable.
#[derive(Debug, uniffi::Object)]
pub struct Obol {
    engine: Mutex<Option<Arc<Engine>>>,
}

impl Obol {
    /// The engine, unless shut down.
    pub(crate) fn engine(&self) -> Result<Arc<Engine>> {
        let engine = match self.engine.lock() {
            Ok(engine) => engine,
            Err(poisoned) => poisoned.into_inner(),
        };
        engine.clone().ok_or(Error::ShutDown)
    }

    /// Runs `work` on the engine on the library's runtime, its error in the caller's area.
    pub(crate) async fn call<T, E, F, Fut>(&self, work: F) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<Error>,
        F: FnOnce(Arc<Engine>) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let engine = self.engine()?;
        run(work(engine)).await.map_err(E::from)
    }
}

#[uniffi::export]
impl Obol {
    /// Stops taking calls and waits until every write is durable. Later calls fail with
    /// `shut_down`; a second call does nothing.
    pub async fn shutdown(&self) {
        let taken = match self.engine.lock() {
            Ok(mut engine) => engine.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(engine) = taken else { return };
        let closed = run(async move {
            match Arc::try_unwrap(engine) {
                Ok(engine) => engine.shutdown().await,
                // Calls still in flight hold it; the store closes when the last one ends.
                Err(_) => tracing::debug!("engine still in use at close; it closes on drop"),
            }
            Ok(())
        })
        .await;
        if let Err(error) = closed {
            tracing::warn!(%error, "closing the engine failed");
        }
    }
}
