//! Sealing secrets at rest under the deployment's key-encryption key, wherever that key
//! lives: in configuration ([`LocalSealer`], the default) or in a key service such as Vault's
//! Transit engine (`obol_http::VaultTransit`), which never hands the key out.
//!
//! Every sealed text is bound to a context (what it is the secret of: a signing key's `kid`),
//! so a sealed secret copied onto another record does not open there.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::keyring::KeyEncryptionKey;
use crate::error::{Error, Result};

/// What a rewrap did: how many secrets it sealed again, and the records it could not (each
/// left as it was, for the operator to look at; the others are not held up by them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrapped {
    /// Secrets sealed again.
    pub sealed: usize,
    /// The records (a signing key's `kid`, an endpoint's id) that could not be, with why.
    pub failed: Vec<(String, String)>,
}

impl Rewrapped {
    /// Counts what happened to `record`: sealed again (`true`), left alone (`false`, current
    /// already or changed meanwhile), or not sealable (reported). An error that is not the
    /// record's (the key service or the store unavailable, or refusing the configuration)
    /// would fail every record alike: it ends the rewrap instead.
    pub fn count(&mut self, record: &str, outcome: Result<bool>) -> Result<()> {
        match outcome {
            Ok(true) => self.sealed += 1,
            Ok(false) => {}
            Err(error) if error.is_retryable() || error.code() == "config" => return Err(error),
            Err(error) => {
                tracing::warn!(
                    record,
                    code = error.code(),
                    "a secret could not be sealed again"
                );
                self.failed.push((record.to_owned(), error.to_string()));
            }
        }
        Ok(())
    }
}

/// Seals and opens secrets under a key-encryption key.
#[async_trait]
pub trait KeySealer: Send + Sync + fmt::Debug {
    /// Seals `secret`, bound to `context`.
    async fn seal(&self, context: &str, secret: &[u8]) -> Result<String>;

    /// Opens what [`KeySealer::seal`] made for `context`; a wrong key or context, or a
    /// tampered text, is `corrupt`.
    async fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>>;

    /// `sealed` sealed again under the newest version of the key, without the secret leaving
    /// the key service where it can; `None` when it already is.
    async fn rewrap(&self, context: &str, sealed: &str) -> Result<Option<String>>;

    /// Makes a new version of the key for new seals; older versions still open what they
    /// sealed, until [`KeySealer::rewrap`] has moved everything on.
    async fn rotate(&self) -> Result<()>;

    /// Whether `sealed` is this sealer's kind of text (another sealer's is not its to open).
    fn recognises(&self, sealed: &str) -> bool;
}

/// Seals with the key-encryption key from configuration (ChaCha20-Poly1305, the context as
/// associated data): base64 of nonce ‖ ciphertext, as signing keys were always sealed.
#[derive(Debug, Clone)]
pub struct LocalSealer(Arc<KeyEncryptionKey>);

impl LocalSealer {
    /// Seals under `key`.
    pub fn new(key: KeyEncryptionKey) -> Self {
        LocalSealer(Arc::new(key))
    }

    /// Seals under `key`, shared with its other user (no second copy of the key).
    pub fn shared(key: Arc<KeyEncryptionKey>) -> Self {
        LocalSealer(key)
    }
}

#[async_trait]
impl KeySealer for LocalSealer {
    async fn seal(&self, context: &str, secret: &[u8]) -> Result<String> {
        self.0.seal_bytes(context, secret)
    }

    async fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>> {
        self.0.open_bytes(context, sealed)
    }

    async fn rewrap(&self, _context: &str, _sealed: &str) -> Result<Option<String>> {
        // One key, one version: what it sealed is current.
        Ok(None)
    }

    async fn rotate(&self) -> Result<()> {
        Err(Error::Config {
            reason: "a key-encryption key from configuration cannot rotate in place: move the \
                     deployment to Vault Transit, or seal again under a new key with \
                     `obol keys rewrap`"
                .into(),
        })
    }

    fn recognises(&self, sealed: &str) -> bool {
        // Transit's texts start `vault:v<N>:`; base64 never holds a colon.
        !sealed.contains(':')
    }
}

/// Moving from one sealer to another: new secrets are sealed by `to`; what `from` sealed
/// still opens, and [`KeySealer::rewrap`] seals it again under `to`.
#[derive(Debug, Clone)]
pub struct MigratingSealer {
    to: Arc<dyn KeySealer>,
    from: Arc<dyn KeySealer>,
}

impl MigratingSealer {
    /// Seals with `to`, opens with whichever of the two sealed.
    pub fn new(to: Arc<dyn KeySealer>, from: Arc<dyn KeySealer>) -> Self {
        MigratingSealer { to, from }
    }

    fn sealer_of(&self, sealed: &str) -> Result<&Arc<dyn KeySealer>> {
        if self.to.recognises(sealed) {
            Ok(&self.to)
        } else if self.from.recognises(sealed) {
            Ok(&self.from)
        } else {
            Err(Error::corrupt("a sealed secret is of no known kind"))
        }
    }
}

#[async_trait]
impl KeySealer for MigratingSealer {
    async fn seal(&self, context: &str, secret: &[u8]) -> Result<String> {
        self.to.seal(context, secret).await
    }

    async fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>> {
        self.sealer_of(sealed)?.open(context, sealed).await
    }

    async fn rewrap(&self, context: &str, sealed: &str) -> Result<Option<String>> {
        if self.to.recognises(sealed) {
            return self.to.rewrap(context, sealed).await;
        }
        let secret = self.sealer_of(sealed)?.open(context, sealed).await?;
        self.to.seal(context, &secret).await.map(Some)
    }

    async fn rotate(&self) -> Result<()> {
        self.to.rotate().await
    }

    fn recognises(&self, sealed: &str) -> bool {
        self.to.recognises(sealed) || self.from.recognises(sealed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_record_error_is_reported_and_a_service_error_ends_the_rewrap() {
        let mut rewrapped = Rewrapped::default();
        rewrapped.count("a", Ok(true)).unwrap();
        rewrapped.count("b", Ok(false)).unwrap();
        rewrapped
            .count("c", Err(Error::corrupt("tampered")))
            .unwrap();
        assert_eq!((rewrapped.sealed, rewrapped.failed.len()), (1, 1));
        assert_eq!(rewrapped.failed[0].0, "c");
        let down = rewrapped.count("d", Err(Error::unavailable("Vault did not answer")));
        assert_eq!(down.unwrap_err().code(), "unavailable");
        let refused = rewrapped.count(
            "e",
            Err(Error::Config {
                reason: "token refused".into(),
            }),
        );
        assert_eq!(refused.unwrap_err().code(), "config");
        assert_eq!(rewrapped.failed.len(), 1);
    }

    #[tokio::test]
    async fn local_seals_bind_their_context_and_key() {
        let sealer = LocalSealer::new(KeyEncryptionKey::random());
        let sealed = sealer.seal("sig_1", b"secret bytes").await.unwrap();
        assert!(sealer.recognises(&sealed));
        assert_eq!(
            sealer.open("sig_1", &sealed).await.unwrap().as_slice(),
            b"secret bytes"
        );
        assert_eq!(
            sealer.open("sig_2", &sealed).await.unwrap_err().code(),
            "corrupt"
        );
        let other = LocalSealer::new(KeyEncryptionKey::random());
        assert!(other.open("sig_1", &sealed).await.is_err());
        assert_eq!(sealer.rewrap("sig_1", &sealed).await.unwrap(), None);
        assert_eq!(sealer.rotate().await.unwrap_err().code(), "config");
        assert!(!sealer.recognises("vault:v1:abc"));
    }

    #[tokio::test]
    async fn a_migration_opens_both_and_seals_again_under_the_new_key() {
        let old = Arc::new(LocalSealer::new(KeyEncryptionKey::random()));
        let new = Arc::new(crate::testing::auth::VersionedSealer::default());
        let before = old.seal("sig_1", b"kept").await.unwrap();
        let migrating = MigratingSealer::new(new.clone(), old.clone());
        assert!(migrating.recognises(&before));
        assert_eq!(
            migrating.open("sig_1", &before).await.unwrap().as_slice(),
            b"kept"
        );
        // Sealed again under the new key, bound to the same context.
        let moved = migrating.rewrap("sig_1", &before).await.unwrap().unwrap();
        assert!(new.recognises(&moved));
        assert_eq!(new.open("sig_1", &moved).await.unwrap().as_slice(), b"kept");
        assert!(new.open("sig_2", &moved).await.is_err());
        // What the new key sealed is current; new secrets go under it.
        assert_eq!(migrating.rewrap("sig_1", &moved).await.unwrap(), None);
        let fresh = migrating.seal("sig_3", b"new").await.unwrap();
        assert_eq!(new.open("sig_3", &fresh).await.unwrap().as_slice(), b"new");
        assert_eq!(
            migrating.open("sig_1", "neither").await.unwrap_err().code(),
            "corrupt"
        );
    }
}
