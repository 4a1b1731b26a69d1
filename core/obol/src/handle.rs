//! An engine an app's threads share and shut down once: what the language bindings hold.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use obol_core::auth::KeyEncryptionKey;
use obol_core::{Error, Result};

use crate::engine::{Engine, EngineOptions};

/// One engine for an app: calls take a reference to it until [`EngineHandle::shutdown`],
/// after which they fail with `shut_down`.
#[derive(Debug)]
pub struct EngineHandle {
    slot: Mutex<Option<Arc<Engine>>>,
}

impl EngineHandle {
    /// Opens the engine on the store `url` names, its signing keys sealed with
    /// `key_encryption_key` (base64), with a signing key ready for the first log-in (made
    /// once, then rotated when due).
    pub async fn open(
        url: &str,
        issuer: &str,
        audience: &str,
        key_encryption_key: &str,
    ) -> Result<Self> {
        let kek = KeyEncryptionKey::from_base64(key_encryption_key)?;
        Self::open_with(url, EngineOptions::new(issuer, audience, kek)).await
    }

    /// Opens the engine on the store `url` names with `options` (rails included), with a
    /// signing key ready for the first log-in.
    pub async fn open_with(url: &str, options: EngineOptions) -> Result<Self> {
        let engine = Engine::open(url, options).await?;
        engine.auth().rotate_keys().await?;
        Ok(EngineHandle {
            slot: Mutex::new(Some(Arc::new(engine))),
        })
    }

    fn slot(&self) -> MutexGuard<'_, Option<Arc<Engine>>> {
        // The slot holds no invariant a panicking holder could break.
        match self.slot.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The engine, unless shut down.
    pub fn engine(&self) -> Result<Arc<Engine>> {
        self.slot().clone().ok_or(Error::ShutDown)
    }

    /// Stops handing out the engine now; the future waits until every write is durable. If
    /// calls in flight still hold the engine, the store closes when the last one ends. A
    /// second shutdown does nothing.
    pub fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let taken = self.slot().take();
        async move {
            let Some(engine) = taken else { return };
            match Arc::try_unwrap(engine) {
                Ok(engine) => engine.shutdown().await,
                Err(_) => tracing::debug!("engine still in use at shutdown; it closes on drop"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_after_shutdown_fail_with_shut_down() {
        let kek = KeyEncryptionKey::random().to_base64();
        let handle = EngineHandle::open("memory:", "i", "a", &kek).await.unwrap();
        assert!(handle.engine().is_ok());
        handle.shutdown().await;
        assert_eq!(handle.engine().unwrap_err().code(), "shut_down");
        handle.shutdown().await;
        let bad = EngineHandle::open("memory:", "i", "a", "not base64").await;
        assert_eq!(bad.unwrap_err().code(), "config");
    }
}
