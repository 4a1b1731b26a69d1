//! What a deployment tells the PayPal rail: its REST app's credentials, its webhook, where
//! PayPal is, where payers return, and how patiently to call.

use std::time::Duration;

use obol_core::error::{Error, Result};
use obol_core::mode::Mode;
use obol_core::money::{Asset, AssetCode, ISO_4217};
use obol_core::payments::rail_config;
use secrecy::{ExposeSecret, SecretString};

/// PayPal's sandbox API (test mode).
pub const PAYPAL_SANDBOX_API: &str = "https://api-m.sandbox.paypal.com/";
/// PayPal's live API.
pub const PAYPAL_LIVE_API: &str = "https://api-m.paypal.com/";
/// How long one call may take before its outcome counts as unknown.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How far a webhook's transmission time may be from now.
pub const WEBHOOK_TOLERANCE: Duration = Duration::from_secs(600);

/// Currencies Obol charges through PayPal by default: PayPal's currencies whose decimals are
/// their ISO 4217 minor units.
pub const DEFAULT_CURRENCIES: [&str; 16] = [
    "USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "JPY",
    "SGD", "HKD", "MXN",
];

/// Currencies PayPal takes in whole units only although ISO 4217 gives them two decimals.
const WHOLE_UNITS_AT_PAYPAL: [&str; 2] = ["HUF", "TWD"];

/// The configuration section errors name.
const SECTION: &str = "providers.paypal";

fn config(reason: impl Into<String>) -> Error {
    rail_config::invalid(SECTION, reason)
}

/// How often a call PayPal answered with 429 or 5xx is sent again, and the first pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Further tries after the first.
    pub retries: u32,
    /// The first pause; each next one doubles (PayPal's `Retry-After` wins when longer).
    pub first: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            retries: 3,
            first: Duration::from_millis(250),
        }
    }
}

/// The PayPal rail's configuration. Debug shows no secret.
pub struct PayPalConfig {
    pub(crate) client_id: String,
    client_secret: SecretString,
    pub(crate) webhook_id: String,
    mode: Mode,
    pub(crate) api_base: String,
    pub(crate) return_url: String,
    pub(crate) timeout: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) currencies: Vec<Asset>,
}

impl std::fmt::Debug for PayPalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayPalConfig")
            .field("client_id", &self.client_id)
            .field("webhook_id", &self.webhook_id)
            .field("mode", &self.mode)
            .field("api_base", &self.api_base)
            .field("return_url", &self.return_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Checks a credential or id PayPal issued: 1 to `max` ASCII letters, digits, `-` and `_`.
fn credential(name: &str, text: &str, max: usize) -> Result<String> {
    let ok = !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(config(format!(
            "{name} must be 1 to {max} letters, digits, '-' or '_'"
        )));
    }
    Ok(text.to_owned())
}

impl PayPalConfig {
    /// A configuration from the REST app's client id and secret, the id of the webhook PayPal
    /// delivers to (its signatures are checked against it), the URL payers return to after
    /// approving, and the mode (`Test` talks to PayPal's sandbox, `Live` to PayPal).
    pub fn new(
        client_id: &str,
        client_secret: &str,
        webhook_id: &str,
        return_to: &str,
        mode: Mode,
    ) -> Result<Self> {
        let secret_ok = !client_secret.is_empty()
            && client_secret.len() <= 256
            && client_secret.bytes().all(|b| b.is_ascii_graphic());
        if !secret_ok {
            return Err(config(
                "client_secret must be 1 to 256 printable characters",
            ));
        }
        Ok(PayPalConfig {
            client_id: credential("client_id", client_id, 128)?,
            client_secret: SecretString::from(client_secret.to_owned()),
            webhook_id: credential("webhook_id", webhook_id, 64)?,
            mode,
            api_base: match mode {
                Mode::Test => PAYPAL_SANDBOX_API,
                Mode::Live => PAYPAL_LIVE_API,
            }
            .to_owned(),
            return_url: rail_config::return_url(SECTION, return_to)?,
            timeout: DEFAULT_TIMEOUT,
            backoff: Backoff::default(),
            currencies: DEFAULT_CURRENCIES
                .iter()
                .map(|code| currency(code))
                .collect::<Result<_>>()?,
        })
    }

    /// Talks to another PayPal-compatible API (a local fake in tests). A live rail talks to
    /// PayPal's live API only.
    pub fn with_api_base(mut self, base: &str) -> Result<Self> {
        let base = rail_config::api_base(SECTION, base)?;
        if self.mode == Mode::Live && base != PAYPAL_LIVE_API {
            return Err(config("a live rail talks to PayPal's live API only"));
        }
        self.api_base = base;
        Ok(self)
    }

    /// How long a call may take before its outcome counts as unknown.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How calls answered with 429 or 5xx are retried.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The currencies Obol routes to PayPal: ISO 4217 codes with zero or two decimals that
    /// PayPal counts the same way.
    pub fn with_currencies(mut self, currencies: Vec<AssetCode>) -> Result<Self> {
        if currencies.is_empty() {
            return Err(config("currencies must name at least one currency"));
        }
        self.currencies = currencies
            .iter()
            .map(|code| currency(code.as_str()))
            .collect::<Result<_>>()?;
        Ok(self)
    }

    /// Test (PayPal's sandbox) or live.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The currency `code` as configured, if PayPal is routed payments in it.
    pub(crate) fn currency(&self, code: &AssetCode) -> Option<&Asset> {
        self.currencies.iter().find(|asset| asset.code == *code)
    }

    /// True for a page or certificate of PayPal's own (https on paypal.com), or one under
    /// the configured API base (a local fake): where a payer may be sent, and where a
    /// webhook's certificate may come from.
    pub(crate) fn is_paypal_url(&self, url: &url::Url) -> bool {
        let paypal = url.scheme() == "https"
            && url.port().is_none()
            && url.username().is_empty()
            && url
                .host_str()
                .is_some_and(|host| host == "paypal.com" || host.ends_with(".paypal.com"));
        paypal || url.as_str().starts_with(&self.api_base)
    }

    pub(crate) fn client_secret(&self) -> &str {
        self.client_secret.expose_secret()
    }
}

/// A currency PayPal may be routed: ISO 4217, zero or two decimals, counted alike at PayPal.
fn currency(code: &str) -> Result<Asset> {
    let digits = ISO_4217
        .iter()
        .find(|(iso, _)| *iso == code)
        .map(|(_, digits)| *digits);
    match digits {
        Some(digits @ (0 | 2)) if !WHOLE_UNITS_AT_PAYPAL.contains(&code) => {
            Asset::new(code, digits)
        }
        _ => Err(config(format!(
            "{code} is not a currency PayPal counts in its ISO 4217 minor units"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_config() -> PayPalConfig {
        PayPalConfig::new(
            "AbC-client_1",
            "s3cret-VALUE",
            "8PT597110X687430LKGECATA",
            "https://shop.example/paid",
            Mode::Test,
        )
        .unwrap()
    }

    #[test]
    fn the_mode_picks_paypals_api() {
        assert_eq!(test_config().api_base, PAYPAL_SANDBOX_API);
        let live =
            PayPalConfig::new("id", "secret", "WH1", "https://a.example/", Mode::Live).unwrap();
        assert_eq!(live.api_base, PAYPAL_LIVE_API);
        assert_eq!(
            live.with_api_base("http://127.0.0.1:9").unwrap_err().code(),
            "config",
            "a live rail never talks to a fake"
        );
        assert_eq!(
            test_config()
                .with_api_base("http://127.0.0.1:9")
                .unwrap()
                .api_base,
            "http://127.0.0.1:9/"
        );
        assert!(test_config().with_api_base("http://10.0.0.1").is_err());
    }

    #[test]
    fn hostile_credentials_are_refused() {
        let make = |id: &str, secret: &str, webhook: &str| {
            PayPalConfig::new(id, secret, webhook, "https://a.example/", Mode::Test)
        };
        for (id, secret, webhook) in [
            ("", "s", "W"),
            ("a b", "s", "W"),
            ("a\n", "s", "W"),
            ("a", "", "W"),
            ("a", "has space", "W"),
            ("a", "s", ""),
            ("a", "s", "../x"),
            ("a", "s", &"W".repeat(65)),
        ] {
            assert_eq!(
                make(id, secret, webhook).unwrap_err().code(),
                "config",
                "{id:?} {secret:?} {webhook:?}"
            );
        }
    }

    #[test]
    fn only_paypals_pages_or_the_configured_fakes_are_trusted() {
        let config = test_config()
            .with_api_base("http://127.0.0.1:8430")
            .unwrap();
        let url = |text: &str| url::Url::parse(text).unwrap();
        for good in [
            "https://www.paypal.com/checkoutnow?token=O1",
            "https://www.sandbox.paypal.com/checkoutnow?token=O1",
            "https://api.paypal.com/v1/notifications/certs/CERT-1",
            "http://127.0.0.1:8430/checkoutnow?token=O1",
        ] {
            assert!(config.is_paypal_url(&url(good)), "{good}");
        }
        for bad in [
            "http://www.paypal.com/checkoutnow",
            "https://paypal.com.evil.example/",
            "https://evilpaypal.com/",
            "https://www.paypal.com:8443/",
            "https://user@www.paypal.com/",
            "http://127.0.0.1:8431/checkoutnow",
            "http://127.0.0.1:8430@evil.example/checkoutnow",
        ] {
            assert!(!config.is_paypal_url(&url(bad)), "{bad}");
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", test_config());
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn currencies_paypal_counts_differently_are_refused() {
        let codes = |list: &[&str]| list.iter().map(|c| AssetCode::new(*c).unwrap()).collect();
        assert!(
            test_config()
                .with_currencies(codes(&["EUR", "JPY"]))
                .is_ok()
        );
        for bad in [&["HUF"][..], &["EUR", "TWD"], &["KWD"], &["BTC"], &[]] {
            assert_eq!(
                test_config()
                    .with_currencies(codes(bad))
                    .unwrap_err()
                    .code(),
                "config",
                "{bad:?}"
            );
        }
    }
}
