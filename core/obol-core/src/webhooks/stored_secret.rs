//! An endpoint's signing secret as stored: sealed under the key-encryption key and bound to
//! the endpoint, or plain text from a release that stored secrets unsealed (`obol keys
//! rewrap` seals those).

use std::fmt;

use super::signature::{PREFIX, WebhookSecret};
use crate::auth::KeySealer;
use crate::error::Result;
use crate::id::EndpointId;

/// A webhook secret at rest. Debug shows neither form.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredSecret {
    /// Sealed by the deployment's [`KeySealer`], bound to the endpoint's id.
    Sealed(String),
    /// `whsec_…` as earlier releases stored it.
    Plain(WebhookSecret),
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredSecret::Sealed(_) => f.write_str("StoredSecret::Sealed(…)"),
            StoredSecret::Plain(_) => f.write_str("StoredSecret::Plain(…)"),
        }
    }
}

/// What a secret is sealed for: the endpoint (never a signing key's `kid`).
fn context(endpoint: &EndpointId) -> String {
    format!("webhook-endpoint:{endpoint}")
}

impl StoredSecret {
    /// Reads a stored text: plain if it is `whsec_…`, sealed otherwise.
    pub fn from_stored(text: &str) -> Result<Self> {
        if text.starts_with(PREFIX) {
            WebhookSecret::parse(text).map(StoredSecret::Plain)
        } else {
            Ok(StoredSecret::Sealed(text.to_owned()))
        }
    }

    /// The text to store.
    pub fn to_stored(&self) -> String {
        match self {
            StoredSecret::Sealed(text) => text.clone(),
            StoredSecret::Plain(secret) => secret.expose(),
        }
    }

    /// `secret` sealed for `endpoint`.
    pub async fn seal(
        sealer: &dyn KeySealer,
        endpoint: &EndpointId,
        secret: &WebhookSecret,
    ) -> Result<Self> {
        let sealed = sealer.seal(&context(endpoint), secret.bytes()).await?;
        Ok(StoredSecret::Sealed(sealed))
    }

    /// The secret of `endpoint`; a text sealed for another endpoint is `corrupt`.
    pub async fn open(
        &self,
        sealer: &dyn KeySealer,
        endpoint: &EndpointId,
    ) -> Result<WebhookSecret> {
        match self {
            StoredSecret::Plain(secret) => Ok(secret.clone()),
            StoredSecret::Sealed(text) => {
                let bytes = sealer.open(&context(endpoint), text).await?;
                WebhookSecret::from_bytes(&bytes)
            }
        }
    }

    /// This secret sealed under the newest version of the key (a plain one sealed for the
    /// first time); `None` when it already is.
    pub async fn rewrap(
        &self,
        sealer: &dyn KeySealer,
        endpoint: &EndpointId,
    ) -> Result<Option<Self>> {
        match self {
            StoredSecret::Plain(secret) => Self::seal(sealer, endpoint, secret).await.map(Some),
            StoredSecret::Sealed(text) => Ok(sealer
                .rewrap(&context(endpoint), text)
                .await?
                .map(StoredSecret::Sealed)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::auth::{KeyEncryptionKey, LocalSealer};

    #[tokio::test]
    async fn secrets_are_sealed_for_their_endpoint_and_plain_ones_still_read() {
        let sealer = LocalSealer::new(KeyEncryptionKey::random());
        let (one, two) = (EndpointId::derived("one"), EndpointId::derived("two"));
        let secret = WebhookSecret::random(&mut rand::rng());
        let sealed = StoredSecret::seal(&sealer, &one, &secret).await.unwrap();
        let text = sealed.to_stored();
        assert!(!text.contains(&secret.expose()["whsec_".len()..]));
        let read = StoredSecret::from_stored(&text).unwrap();
        assert_eq!(read, sealed);
        assert_eq!(read.open(&sealer, &one).await.unwrap(), secret);
        assert_eq!(
            read.open(&sealer, &two).await.unwrap_err().code(),
            "corrupt"
        );
        assert_eq!(format!("{read:?}"), "StoredSecret::Sealed(…)");

        let plain = StoredSecret::from_stored(&secret.expose()).unwrap();
        assert_eq!(plain, StoredSecret::Plain(secret.clone()));
        assert_eq!(plain.open(&sealer, &two).await.unwrap(), secret);
        let moved = plain.rewrap(&sealer, &one).await.unwrap().unwrap();
        assert_eq!(moved.open(&sealer, &one).await.unwrap(), secret);
        assert_eq!(moved.rewrap(&sealer, &one).await.unwrap(), None);
        assert!(StoredSecret::from_stored("whsec_short").is_err());
    }
}
