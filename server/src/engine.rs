//! The engine a server process runs: store, ledger, payments (sandbox provider), auth and
//! webhook delivery, opened from the configuration, with its housekeeping tasks.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use obol::EngineOptions;
use obol::Store;
use obol::auth::{KeyEncryptionKey, KeySealer, LocalSealer, MigratingSealer};
use obol::payments::{Maintenance, MaintenancePolicy};
use obol::periodic::Periodic;
use obol::webhooks::{WebhookDispatcher, WebhookSecret};
use obol_http::HttpWebhookTransport;
use obol_http::VaultTransit;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::config::{Config, Role};

/// How often signing keys are checked for rotation.
const KEY_ROTATION_CHECK: Duration = Duration::from_secs(3600);
/// How often the webhook outbox is drained.
const WEBHOOK_PASS: Duration = Duration::from_secs(1);
/// Deliveries attempted per pass.
const WEBHOOK_BATCH: u32 = 100;
/// How long one webhook delivery may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The engine of one process: the shared engine (ledger, payments, auth) and webhook
/// delivery, which only servers do.
pub struct Engine {
    core: obol::Engine,
    /// Webhook endpoints and delivery.
    pub webhooks: WebhookDispatcher,
}

impl std::ops::Deref for Engine {
    type Target = obol::Engine;

    fn deref(&self) -> &obol::Engine {
        &self.core
    }
}

impl Engine {
    /// Opens the store the configuration names (running its migrations) and the engine on
    /// it.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let url = config.store_url();
        if config.database_url.is_none() {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    config.data_dir.display()
                )
            })?;
        }
        let options = obol::StoreOptions {
            max_connections: config.database_max_connections,
        };
        let store = obol::open_store_with(&url, &options)
            .await
            .with_context(|| format!("cannot open the database at {}", redact(&url)))?;
        let (kek, sealer) = key_sealing(config).await?;
        let mut config = config.clone();
        if config.sandbox_webhook_secret.is_none() && config.dev {
            config.sandbox_webhook_secret = Some(dev_sandbox_webhook_secret(&config)?);
        }
        Self::on_store_sealed(store, &config, kek, sealer).await
    }

    /// The engine over an open store, sealing with the local key.
    pub async fn on_store(
        store: Arc<dyn Store>,
        config: &Config,
        kek: KeyEncryptionKey,
    ) -> anyhow::Result<Self> {
        Self::on_store_sealed(store, config, kek, None).await
    }

    /// The engine over an open store, sealing with `sealer` when given (see [`key_sealing`]).
    pub async fn on_store_sealed(
        store: Arc<dyn Store>,
        config: &Config,
        kek: KeyEncryptionKey,
        sealer: Option<Arc<dyn KeySealer>>,
    ) -> anyhow::Result<Self> {
        let mut options = EngineOptions::new(&config.issuer, &config.audience, kek);
        options.sealer = sealer;
        options.sandbox_webhook_secret = match &config.sandbox_webhook_secret {
            Some(text) => Some(WebhookSecret::parse(text.expose_secret())?),
            None => None,
        };
        options.stripe = config
            .providers
            .stripe
            .as_ref()
            .map(stripe_options)
            .transpose()?;
        options.paypal = config
            .providers
            .paypal
            .as_ref()
            .map(paypal_options)
            .transpose()?;
        let core = obol::Engine::on_store(store.clone(), options).await?;
        let transport = Arc::new(HttpWebhookTransport::with_policy(
            WEBHOOK_TIMEOUT,
            config.webhook_targets(),
        )?);
        let webhooks = WebhookDispatcher::new(
            store,
            transport,
            core.ledger().clock().clone(),
            core.ledger().ids().clone(),
            core.auth().sealer().clone(),
        );
        Ok(Engine { core, webhooks })
    }

    /// Starts the housekeeping of `role`: payment maintenance (expiry, status sync) and
    /// webhook delivery where payments run, signing-key rotation where auth runs.
    pub fn start_background(&self, role: Role) -> Background {
        let payments = matches!(role, Role::All | Role::Payments);
        let auth = matches!(role, Role::All | Role::Auth);
        let maintenance = payments
            .then(|| Maintenance::spawn(self.payments().clone(), MaintenancePolicy::default()));
        let rotation = auth.then(|| self.auth().spawn_key_rotation(KEY_ROTATION_CHECK));
        let delivery = payments.then(|| {
            let webhooks = self.webhooks.clone();
            Periodic::spawn(WEBHOOK_PASS, move || {
                let webhooks = webhooks.clone();
                async move {
                    if let Err(error) = webhooks.run_due(WEBHOOK_BATCH).await {
                        tracing::warn!(code = error.code(), %error, "webhook delivery pass failed");
                    }
                }
            })
        });
        Background {
            maintenance,
            rotation,
            delivery,
        }
    }

    /// Waits until every ledger write is durable and stops the writer. Call once the
    /// servers have stopped and dropped their handles.
    pub async fn shutdown(self) {
        drop(self.webhooks);
        self.core.shutdown().await;
    }
}

/// The housekeeping tasks of a process.
pub struct Background {
    maintenance: Option<Maintenance>,
    rotation: Option<Periodic>,
    delivery: Option<Periodic>,
}

impl Background {
    /// Stops every task after its current pass.
    pub async fn stop(self) {
        if let Some(maintenance) = self.maintenance {
            maintenance.stop().await;
        }
        for task in [self.rotation, self.delivery].into_iter().flatten() {
            task.stop().await;
        }
    }
}

/// The key-encryption key and, when it lives in Vault, the sealer that uses it there.
///
/// With a Transit key, Vault seals; a local key, if configured too, still opens what it
/// sealed before (`obol keys rewrap` moves that into Vault) and stays the root of derived
/// secrets, which must not change under a running deployment. Without one, the root is
/// Transit's HMAC of a fixed label ([`VaultTransit::derivation_key`]).
pub async fn key_sealing(
    config: &Config,
) -> anyhow::Result<(KeyEncryptionKey, Option<Arc<dyn KeySealer>>)> {
    let Some(transit) = config.transit()? else {
        return Ok((key_encryption_key(config)?, None));
    };
    let vault = Arc::new(
        VaultTransit::connect(transit)
            .await
            .context("cannot use the Vault Transit key")?,
    );
    if config.key_encryption_key.is_some() || config.dev {
        let local = key_encryption_key(config)?;
        // The sealer opens what the local key sealed; it reads its own copy of the key.
        let from = Arc::new(LocalSealer::new(key_encryption_key(config)?));
        return Ok((local, Some(Arc::new(MigratingSealer::new(vault, from)))));
    }
    let root = vault
        .derivation_key()
        .await
        .context("cannot derive from the Vault Transit key")?;
    Ok((root, Some(vault)))
}

/// The key that seals signing keys: configured, or in dev mode one kept in the data
/// directory (made on first start).
pub fn key_encryption_key(config: &Config) -> anyhow::Result<KeyEncryptionKey> {
    if let Some(text) = &config.key_encryption_key {
        return Ok(KeyEncryptionKey::from_base64(text.expose_secret())?);
    }
    let path = config.data_dir.join("dev-key-encryption-key");
    if let Ok(text) = std::fs::read_to_string(&path).map(Zeroizing::new) {
        return Ok(KeyEncryptionKey::from_base64(text.trim())?);
    }
    let text = Zeroizing::new(crate::secrets::random_base64(32));
    crate::secrets::write_private(&path, &text)?;
    tracing::warn!(path = %path.display(), "dev mode: generated a key-encryption key");
    Ok(KeyEncryptionKey::from_base64(&text)?)
}

/// The engine's Stripe options from `[providers.stripe]`.
fn stripe_options(settings: &crate::config::StripeSettings) -> anyhow::Result<obol::StripeOptions> {
    obol::StripeOptions::from_settings(
        settings.secret_key.expose_secret(),
        settings.webhook_secret.expose_secret(),
        &settings.return_url,
        settings.api_base.as_deref(),
        settings.multicapture,
        settings.currencies.as_deref(),
    )
    .context("providers.stripe")
}

/// The engine's PayPal options from `[providers.paypal]`.
fn paypal_options(settings: &crate::config::PayPalSettings) -> anyhow::Result<obol::PayPalOptions> {
    obol::PayPalOptions::from_settings(
        &settings.client_id,
        settings.client_secret.expose_secret(),
        &settings.webhook_id,
        &settings.return_url,
        settings.live,
        settings.api_base.as_deref(),
        settings.currencies.as_deref(),
    )
    .context("providers.paypal")
}

/// The sandbox's webhook secret in dev mode: kept in the data directory (made on first
/// start), so webhooks signed before a restart still verify after it.
fn dev_sandbox_webhook_secret(config: &Config) -> anyhow::Result<SecretString> {
    let path = config.data_dir.join("dev-sandbox-webhook-secret");
    if let Ok(text) = std::fs::read_to_string(&path).map(Zeroizing::new) {
        return Ok(SecretString::from(text.trim()));
    }
    let text = SecretString::from(format!("whsec_{}", crate::secrets::random_base64(32)));
    crate::secrets::write_private(&path, text.expose_secret())?;
    tracing::warn!(path = %path.display(), "dev mode: generated the sandbox's webhook secret");
    Ok(text)
}

/// A database URL without its password or query (which may carry one), for messages.
pub fn redact(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((base, _)) => (base, "?…"),
        None => (url, ""),
    };
    let shown = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    };
    format!("{shown}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://me:secret@db:5432/x"),
            "postgres://me:***@db:5432/x"
        );
        assert_eq!(redact("postgres://me@db/x"), "postgres://me@db/x");
        assert_eq!(redact("sqlite://a.db"), "sqlite://a.db");
        assert_eq!(
            redact("postgres://db/x?user=me&password=secret"),
            "postgres://db/x?…"
        );
    }
}
