//! What a deployment tells the Stripe rail: its keys, where Stripe is, and how it may charge.

use std::time::Duration;

use obol_core::error::{Error, Result};
use obol_core::mode::Mode;
use obol_core::money::AssetCode;
use obol_core::payments::rail_config;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::webhook_signature::StripeWebhookSecret;

/// Stripe's API, when no `api_base` is given.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com/";

/// How long one call may take before its outcome counts as unknown.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Currencies Obol charges through Stripe by default: two-decimal and zero-decimal ones whose
/// minor unit is Stripe's amount unit (three-decimal currencies need amounts rounded to tens).
pub const DEFAULT_CURRENCIES: [&str; 18] = [
    "USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "JPY",
    "SGD", "HKD", "MXN", "BRL", "INR",
];

/// Currencies whose Stripe amounts are not their ISO 4217 minor units: three-decimal ones
/// (amounts must end in 0) and those Stripe counts in two decimals while ISO gives zero or
/// charges in whole units only.
const SCALED_DIFFERENTLY: [&str; 9] = [
    "BHD", "JOD", "KWD", "OMR", "TND", "HUF", "ISK", "TWD", "UGX",
];

/// The Stripe rail's configuration. Debug shows no secret.
pub struct StripeConfig {
    secret_key: SecretString,
    mode: Mode,
    pub(crate) webhook_secret: StripeWebhookSecret,
    pub(crate) api_base: String,
    pub(crate) return_url: String,
    pub(crate) token_key: Zeroizing<[u8; 32]>,
    pub(crate) multicapture: bool,
    pub(crate) timeout: Duration,
    pub(crate) currencies: Vec<AssetCode>,
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("mode", &self.mode)
            .field("api_base", &self.api_base)
            .field("return_url", &self.return_url)
            .field("multicapture", &self.multicapture)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The configuration section errors name.
const SECTION: &str = "providers.stripe";

fn config(reason: impl Into<String>) -> Error {
    rail_config::invalid(SECTION, reason)
}

/// The mode a secret key charges in: `sk_test_`/`rk_test_` test, `sk_live_`/`rk_live_` live.
pub fn mode_of_key(key: &str) -> Result<Mode> {
    let mode = match key.get(..8) {
        Some("sk_test_" | "rk_test_") => Mode::Test,
        Some("sk_live_" | "rk_live_") => Mode::Live,
        _ => {
            return Err(config(
                "secret_key must start with sk_test_, sk_live_, rk_test_ or rk_live_",
            ));
        }
    };
    if key.len() > 255 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(config(
            "secret_key must be at most 255 letters, digits and underscores",
        ));
    }
    Ok(mode)
}

impl StripeConfig {
    /// A configuration from the secret key, the webhook signing secret (`whsec_…`), the URL
    /// customers return to after 3-D Secure, and the key that binds tokens to merchants (a
    /// deployment derives it from its key-encryption key, so tokens outlive a restart).
    pub fn new(
        secret_key: &str,
        webhook_secret: &str,
        return_to: &str,
        token_key: Zeroizing<[u8; 32]>,
    ) -> Result<Self> {
        let mode = mode_of_key(secret_key)?;
        Ok(StripeConfig {
            secret_key: SecretString::from(secret_key.to_owned()),
            mode,
            webhook_secret: StripeWebhookSecret::parse(webhook_secret)?,
            api_base: STRIPE_API_BASE.to_owned(),
            return_url: rail_config::return_url(SECTION, return_to)?,
            token_key,
            multicapture: false,
            timeout: DEFAULT_TIMEOUT,
            currencies: DEFAULT_CURRENCIES
                .iter()
                .map(|code| AssetCode::new(*code))
                .collect::<Result<_>>()?,
        })
    }

    /// Talks to another Stripe-compatible API (a local fake in tests).
    pub fn with_api_base(mut self, base: &str) -> Result<Self> {
        self.api_base = rail_config::api_base(SECTION, base)?;
        Ok(self)
    }

    /// Several partial captures per authorization (Stripe's multicapture, which needs an
    /// account with it enabled). Off by default: one capture, the rest released.
    pub fn with_multicapture(mut self, on: bool) -> Self {
        self.multicapture = on;
        self
    }

    /// How long a call may take before its outcome counts as unknown.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The currencies Obol routes to Stripe: ISO 4217 codes whose minor unit is Stripe's
    /// amount unit (three-decimal currencies and those Stripe counts differently are refused).
    pub fn with_currencies(mut self, currencies: Vec<AssetCode>) -> Result<Self> {
        if currencies.is_empty() {
            return Err(config("currencies must name at least one currency"));
        }
        for currency in &currencies {
            let code = currency.as_str();
            let minor_digits = obol_core::money::ISO_4217
                .iter()
                .find(|(iso, _)| *iso == code)
                .map(|(_, digits)| *digits);
            if !matches!(minor_digits, Some(0 | 2)) {
                return Err(config(format!(
                    "{code} is not an ISO 4217 currency with zero or two decimals"
                )));
            }
            if SCALED_DIFFERENTLY.contains(&code) {
                return Err(config(format!(
                    "{code}: Stripe's amounts in it are not its minor units; Obol does not route it to Stripe"
                )));
            }
        }
        self.currencies = currencies;
        Ok(self)
    }

    /// Test or live, from the secret key.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub(crate) fn secret_key(&self) -> &str {
        self.secret_key.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Zeroizing<[u8; 32]> {
        Zeroizing::new([7; 32])
    }

    const WHSEC: &str = "whsec_0123456789abcdefABCDEF";

    #[test]
    fn the_key_names_the_mode() {
        assert_eq!(mode_of_key("sk_test_abc123").unwrap(), Mode::Test);
        assert_eq!(mode_of_key("rk_live_abc123").unwrap(), Mode::Live);
        for bad in [
            "pk_test_abc",
            "sk_tes",
            "",
            "sk_test_a b",
            "sk_test_\n",
            "sk_test_é",
        ] {
            assert_eq!(mode_of_key(bad).unwrap_err().code(), "config", "{bad:?}");
        }
        assert!(mode_of_key(&format!("sk_test_{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn plain_http_is_for_loopback_only() {
        let base = |url: &str| {
            StripeConfig::new("sk_test_x", WHSEC, "https://shop.example/done", key())
                .unwrap()
                .with_api_base(url)
                .map(|c| c.api_base)
        };
        assert_eq!(
            base("http://127.0.0.1:12111").unwrap(),
            "http://127.0.0.1:12111/"
        );
        assert_eq!(base("http://localhost:1/").unwrap(), "http://localhost:1/");
        assert_eq!(
            base("https://api.stripe.com").unwrap(),
            "https://api.stripe.com/"
        );
        for bad in [
            "http://api.stripe.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "https://user:pw@api.stripe.com",
            "https://api.stripe.com/?x=1",
            "not a url",
        ] {
            assert_eq!(base(bad).unwrap_err().code(), "config", "{bad}");
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let config =
            StripeConfig::new("sk_test_supersecret", WHSEC, "https://a.example/", key()).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("supersecret") && !shown.contains("0123456789abcdef"));
    }

    #[test]
    fn currencies_stripe_scales_differently_are_refused() {
        let base = || StripeConfig::new("sk_test_x", WHSEC, "https://a.example/", key()).unwrap();
        let codes = |list: &[&str]| list.iter().map(|c| AssetCode::new(*c).unwrap()).collect();
        assert!(base().with_currencies(codes(&["EUR", "JPY"])).is_ok());
        for bad in [&["KWD"][..], &["EUR", "HUF"], &["BTC"], &[]] {
            assert_eq!(
                base().with_currencies(codes(bad)).unwrap_err().code(),
                "config",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_return_urls_are_refused() {
        for bad in ["/relative", "javascript:alert(1)", "https://u:p@a.example/"] {
            let err = StripeConfig::new("sk_test_x", WHSEC, bad, key()).unwrap_err();
            assert_eq!(err.code(), "config", "{bad}");
        }
    }
}
