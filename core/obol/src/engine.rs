//! The whole engine on one store: ledger, payments (the sandbox, and the rails switched on by
//! features and options) and auth. The servers,
//! the bindings and the desktop app all open it this way, so they run the same thing, and
//! all act for their callers through [`Engine::tenant`].

use std::sync::Arc;

use obol_core::auth::{Auth, AuthConfig, KeyEncryptionKey, KeySealer, Principal, TokenConfig};
use obol_core::payments::{Payments, ProviderRegistry, Sandbox, SandboxSecrets};
use obol_core::webhooks::WebhookSecret;
use obol_core::{Ledger, LedgerConfig, Result, Store, Tenant, Timestamp};

/// What an engine needs besides its store (not `Clone`: it holds the key-encryption key).
#[derive(Debug)]
pub struct EngineOptions {
    /// The issuer (`iss`) of the access tokens it signs.
    pub issuer: String,
    /// The audience (`aud`) of the access tokens it signs.
    pub audience: String,
    /// The key that seals its signing keys at rest (unless `sealer` is set), and the root of
    /// the secrets it derives (token keys, fingerprints).
    pub key_encryption_key: KeyEncryptionKey,
    /// Seals signing keys at rest instead of the local key: Vault Transit
    /// (`obol_http::VaultTransit`), say.
    pub sealer: Option<Arc<dyn KeySealer>>,
    /// Clock, ids and ledger writer tuning.
    pub ledger: LedgerConfig,
    /// The secret the sandbox signs and verifies its webhooks with (the deployment's own);
    /// without one, a random one for this process (sandbox webhooks then verify only until
    /// it stops).
    pub sandbox_webhook_secret: Option<WebhookSecret>,
    /// The Stripe rail, registered ahead of the sandbox (it takes card payments in its
    /// currencies; the sandbox, test-mode ones in the rest).
    #[cfg(feature = "stripe")]
    pub stripe: Option<StripeOptions>,
    /// The PayPal rail (PayPal checkouts: `wallet` payments in its currencies).
    #[cfg(feature = "paypal")]
    pub paypal: Option<PayPalOptions>,
}

/// How to reach PayPal. Debug shows no secret.
#[cfg(feature = "paypal")]
#[derive(Debug, Clone)]
pub struct PayPalOptions {
    /// The REST app's client id.
    pub client_id: String,
    /// The REST app's secret.
    pub client_secret: secrecy::SecretString,
    /// The id of the webhook PayPal delivers to `/webhooks/paypal` (deliveries are verified
    /// against it).
    pub webhook_id: String,
    /// Where payers return after approving at PayPal.
    pub return_url: String,
    /// Live payments (PayPal's live API); PayPal's sandbox when false.
    pub live: bool,
    /// Another PayPal-compatible API (a local fake, test mode only); PayPal's own when `None`.
    pub api_base: Option<String>,
    /// The currencies routed to PayPal; PayPal's common ones when `None`.
    pub currencies: Option<Vec<obol_core::AssetCode>>,
}

#[cfg(feature = "paypal")]
impl PayPalOptions {
    /// Options as a host's configuration spells them (the server's `[providers.paypal]`, a
    /// binding's settings): currency codes as text, each checked.
    pub fn from_settings(
        client_id: &str,
        client_secret: &str,
        webhook_id: &str,
        return_url: &str,
        live: bool,
        api_base: Option<&str>,
        currencies: Option<&[String]>,
    ) -> Result<Self> {
        Ok(PayPalOptions {
            client_id: client_id.to_owned(),
            client_secret: client_secret.into(),
            webhook_id: webhook_id.to_owned(),
            return_url: return_url.to_owned(),
            live,
            api_base: api_base.map(str::to_owned),
            currencies: asset_codes(currencies)?,
        })
    }

    /// The rail these options describe.
    fn provider(&self) -> Result<obol_paypal::PayPal> {
        use secrecy::ExposeSecret;
        let mode = if self.live {
            obol_core::Mode::Live
        } else {
            obol_core::Mode::Test
        };
        let mut config = obol_paypal::PayPalConfig::new(
            &self.client_id,
            self.client_secret.expose_secret(),
            &self.webhook_id,
            &self.return_url,
            mode,
        )?;
        if let Some(base) = &self.api_base {
            config = config.with_api_base(base)?;
        }
        if let Some(currencies) = &self.currencies {
            config = config.with_currencies(currencies.clone())?;
        }
        obol_paypal::PayPal::new(config)
    }
}

/// Currency codes as a host's settings spell them, each checked.
#[cfg(any(feature = "stripe", feature = "paypal"))]
fn asset_codes(codes: Option<&[String]>) -> Result<Option<Vec<obol_core::AssetCode>>> {
    codes
        .map(|codes| {
            codes
                .iter()
                .map(|code| obol_core::AssetCode::new(code.as_str()))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()
}

/// How to reach Stripe. Debug shows no secret.
#[cfg(feature = "stripe")]
#[derive(Debug, Clone)]
pub struct StripeOptions {
    /// The secret (or restricted) key: `sk_test_…` takes test payments, `sk_live_…` live ones.
    pub secret_key: secrecy::SecretString,
    /// The signing secret of the webhook endpoint (`whsec_…`).
    pub webhook_secret: secrecy::SecretString,
    /// Where customers return after 3-D Secure.
    pub return_url: String,
    /// Another Stripe-compatible API (a local fake); Stripe's own when `None`.
    pub api_base: Option<String>,
    /// Several captures per authorization (the account must have multicapture).
    pub multicapture: bool,
    /// The currencies routed to Stripe; Stripe's common ones when `None`.
    pub currencies: Option<Vec<obol_core::AssetCode>>,
}

#[cfg(feature = "stripe")]
impl StripeOptions {
    /// Options with the keys and return URL; Stripe's API, one capture per authorization and
    /// Stripe's common currencies.
    pub fn new(secret_key: &str, webhook_secret: &str, return_url: &str) -> Self {
        StripeOptions {
            secret_key: secret_key.into(),
            webhook_secret: webhook_secret.into(),
            return_url: return_url.to_owned(),
            api_base: None,
            multicapture: false,
            currencies: None,
        }
    }

    /// Options as a host's configuration spells them (the server's `[providers.stripe]`, a
    /// binding's settings): currency codes as text, each checked.
    pub fn from_settings(
        secret_key: &str,
        webhook_secret: &str,
        return_url: &str,
        api_base: Option<&str>,
        multicapture: bool,
        currencies: Option<&[String]>,
    ) -> Result<Self> {
        let mut options = Self::new(secret_key, webhook_secret, return_url);
        options.api_base = api_base.map(str::to_owned);
        options.multicapture = multicapture;
        options.currencies = asset_codes(currencies)?;
        Ok(options)
    }

    /// The rail these options describe; its token key follows the key-encryption key.
    fn provider(&self, kek: &KeyEncryptionKey) -> Result<obol_stripe::Stripe> {
        use secrecy::ExposeSecret;
        let mut config = obol_stripe::StripeConfig::new(
            self.secret_key.expose_secret(),
            self.webhook_secret.expose_secret(),
            &self.return_url,
            kek.derive("obol:stripe:tokens")?,
        )?
        .with_multicapture(self.multicapture);
        if let Some(base) = &self.api_base {
            config = config.with_api_base(base)?;
        }
        if let Some(currencies) = &self.currencies {
            config = config.with_currencies(currencies.clone())?;
        }
        obol_stripe::Stripe::new(config)
    }
}

impl EngineOptions {
    /// Options with the system clock and random ids.
    pub fn new(issuer: &str, audience: &str, key_encryption_key: KeyEncryptionKey) -> Self {
        EngineOptions {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            key_encryption_key,
            sealer: None,
            ledger: LedgerConfig::default(),
            sandbox_webhook_secret: None,
            #[cfg(feature = "stripe")]
            stripe: None,
            #[cfg(feature = "paypal")]
            paypal: None,
        }
    }

    /// The sandbox's secrets: its token key follows the key-encryption key (so tokens stay
    /// good across restarts and instances), its webhook secret is the configured one.
    fn sandbox_secrets(&self) -> Result<SandboxSecrets> {
        Ok(SandboxSecrets {
            token_key: self.key_encryption_key.derive("obol:sandbox:tokens")?,
            webhook_secret: self
                .sandbox_webhook_secret
                .clone()
                .unwrap_or_else(|| SandboxSecrets::ephemeral().webhook_secret),
        })
    }
}

/// Ledger, payments and auth over one store.
#[derive(Debug)]
pub struct Engine {
    payments: Arc<Payments>,
    auth: Auth,
}

impl Engine {
    /// Opens the store `url` names (see [`crate::open_store`]) and the engine on it.
    pub async fn open(url: &str, options: EngineOptions) -> Result<Self> {
        Self::on_store(crate::open_store(url).await?, options).await
    }

    /// The engine over an open store, with the sandbox provider registered.
    pub async fn on_store(store: Arc<dyn Store>, options: EngineOptions) -> Result<Self> {
        let sandbox = Sandbox::new(options.sandbox_secrets()?);
        let ledger = Arc::new(Ledger::open(store.clone(), options.ledger).await?);
        let mut providers = ProviderRegistry::new();
        #[cfg(feature = "stripe")]
        if let Some(stripe) = &options.stripe {
            providers.register(Arc::new(stripe.provider(&options.key_encryption_key)?));
        }
        #[cfg(feature = "paypal")]
        if let Some(paypal) = &options.paypal {
            providers.register(Arc::new(paypal.provider()?));
        }
        providers.register(Arc::new(sandbox));
        let payments = Arc::new(Payments::new(ledger.clone(), providers));
        let mut tokens = TokenConfig::new(
            &options.issuer,
            &options.audience,
            options.key_encryption_key,
        );
        if let Some(sealer) = options.sealer {
            tokens = tokens.with_sealer(sealer);
        }
        let auth = Auth::new(
            store,
            ledger.clock().clone(),
            ledger.ids().clone(),
            AuthConfig::standard(tokens)?,
        );
        Ok(Engine { payments, auth })
    }

    /// The engine as `principal` may use it: every call checked against its scopes and kept
    /// inside its merchant and mode.
    pub fn tenant(&self, principal: Principal) -> Tenant {
        Tenant::new(self.payments.clone(), self.auth.clone(), principal)
    }

    /// Payments (and, underneath, the ledger).
    pub fn payments(&self) -> &Arc<Payments> {
        &self.payments
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        self.payments.ledger()
    }

    /// Users, sessions, tokens and API keys.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.ledger().store()
    }

    /// The time now, from the engine's clock.
    pub fn now(&self) -> Timestamp {
        self.ledger().now()
    }

    /// Waits until every ledger write is durable and stops the writer. Handles still shared
    /// elsewhere (a clone of the payments or the ledger) let it drain when they drop instead.
    pub async fn shutdown(self) {
        drop(self.auth);
        let ledger = match Arc::try_unwrap(self.payments) {
            Ok(payments) => payments.into_ledger(),
            Err(_) => {
                tracing::warn!("payments still shared at shutdown; the ledger drains on drop");
                return;
            }
        };
        match Arc::try_unwrap(ledger) {
            Ok(ledger) => ledger.shutdown().await,
            Err(_) => tracing::warn!("ledger still shared at shutdown; it drains on drop"),
        }
    }
}
