//! PayPal's REST resources as Obol reads them (Orders v2, Payments v2, webhooks), keeping
//! only the fields it uses; unknown fields are ignored as PayPal adds them.

use obol_core::error::{Error, Result};
use obol_core::money::Asset;
use serde::{Deserialize, Serialize};

/// An amount: a currency and a decimal string (`"10.50"`, `"1000"` for JPY).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    /// ISO 4217.
    pub currency_code: String,
    /// Decimal, with the currency's decimals.
    pub value: String,
}

impl Amount {
    /// `minor` units of `currency` as PayPal writes them.
    pub fn of(minor: i128, currency: &Asset) -> Amount {
        Amount {
            currency_code: currency.code.as_str().to_owned(),
            value: currency.format_amount(minor),
        }
    }

    /// Minor units of `currency`, refusing another currency and anything not a plain
    /// non-negative decimal with at most the currency's decimals.
    pub fn minor_units(&self, currency: &Asset) -> Result<i128> {
        let plain = !self.value.is_empty()
            && self.value.len() <= 40
            && self.value.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if self.currency_code != currency.code.as_str() || !plain {
            return Err(Error::InvalidAmount {
                reason: format!(
                    "PayPal amount {} {} is not in {}",
                    self.value, self.currency_code, currency.code
                ),
            });
        }
        currency.parse_amount(&self.value)
    }
}

/// A HATEOAS link.
#[derive(Debug, Clone, Deserialize)]
pub struct Link {
    /// The URL.
    pub href: String,
    /// What it is (`approve`, `payer-action`, `up`, `self`).
    pub rel: String,
}

/// An order (`/v2/checkout/orders`).
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    /// PayPal's id.
    pub id: String,
    /// `CREATED`, `PAYER_ACTION_REQUIRED`, `APPROVED`, `COMPLETED`, `VOIDED`, `SAVED`.
    pub status: String,
    /// `CAPTURE` or `AUTHORIZE` (absent in some minimal answers).
    #[serde(default)]
    pub intent: Option<String>,
    /// The purchase units (Obol makes one).
    #[serde(default)]
    pub purchase_units: Vec<PurchaseUnit>,
    /// Links, among them the payer's approval link.
    #[serde(default)]
    pub links: Vec<Link>,
}

impl Order {
    /// The payments made on the order's (single) purchase unit.
    pub fn payments(&self) -> Option<&OrderPayments> {
        self.purchase_units.first()?.payments.as_ref()
    }

    /// Where the payer approves: `payer-action` (with a payment source) or `approve`.
    pub fn approval_link(&self) -> Option<&str> {
        ["payer-action", "approve"].iter().find_map(|rel| {
            self.links
                .iter()
                .find(|link| link.rel == *rel)
                .map(|link| link.href.as_str())
        })
    }
}

/// One purchase unit.
#[derive(Debug, Clone, Deserialize)]
pub struct PurchaseUnit {
    /// The amount.
    #[serde(default)]
    pub amount: Option<Amount>,
    /// The money moved.
    #[serde(default)]
    pub payments: Option<OrderPayments>,
}

/// Authorizations, captures and refunds of a purchase unit.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderPayments {
    /// Authorizations (intent `AUTHORIZE`).
    #[serde(default)]
    pub authorizations: Vec<Authorization>,
    /// Captures.
    #[serde(default)]
    pub captures: Vec<Capture>,
    /// Refunds.
    #[serde(default)]
    pub refunds: Vec<Refund>,
}

/// An authorization (`/v2/payments/authorizations`).
#[derive(Debug, Clone, Deserialize)]
pub struct Authorization {
    /// PayPal's id.
    pub id: String,
    /// `CREATED`, `CAPTURED`, `PARTIALLY_CAPTURED`, `DENIED`, `VOIDED`, `EXPIRED`, `PENDING`.
    pub status: String,
    /// Authorized.
    #[serde(default)]
    pub amount: Option<Amount>,
}

/// Ids a capture or refund is linked to.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RelatedIds {
    /// The order.
    #[serde(default)]
    pub order_id: Option<String>,
}

/// `supplementary_data` of a capture.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Supplementary {
    /// Related ids.
    #[serde(default)]
    pub related_ids: RelatedIds,
}

/// A capture (`/v2/payments/captures`).
#[derive(Debug, Clone, Deserialize)]
pub struct Capture {
    /// PayPal's id.
    pub id: String,
    /// `COMPLETED`, `PENDING`, `DECLINED`, `FAILED`, `REFUNDED`, `PARTIALLY_REFUNDED`.
    pub status: String,
    /// Captured.
    #[serde(default)]
    pub amount: Option<Amount>,
    /// What it belongs to.
    #[serde(default)]
    pub supplementary_data: Option<Supplementary>,
}

impl Capture {
    /// True when the money was taken (later refunds do not undo that).
    pub fn took_money(&self) -> bool {
        matches!(
            self.status.as_str(),
            "COMPLETED" | "PARTIALLY_REFUNDED" | "REFUNDED"
        )
    }
}

/// A refund (`/v2/payments/refunds`).
#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    /// `COMPLETED`, `PENDING`, `FAILED`, `CANCELLED`.
    pub status: String,
    /// Refunded.
    #[serde(default)]
    pub amount: Option<Amount>,
    /// What the merchant attached (Obol: the refund id).
    #[serde(default)]
    pub custom_id: Option<String>,
    /// Links; `up` is the capture refunded.
    #[serde(default)]
    pub links: Vec<Link>,
}

impl Refund {
    /// The capture this refund belongs to, from its `up` link.
    pub fn capture_id(&self) -> Option<&str> {
        let up = self.links.iter().find(|link| link.rel == "up")?;
        up.href.trim_end_matches('/').rsplit('/').next()
    }
}

/// PayPal's error body.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    /// `UNPROCESSABLE_ENTITY`, `INVALID_REQUEST`, `RESOURCE_NOT_FOUND`, … (OAuth errors carry
    /// `error` instead).
    #[serde(default, alias = "error")]
    pub name: String,
    /// A sentence.
    #[serde(default, alias = "error_description")]
    pub message: Option<String>,
    /// PayPal's trace id, for its support.
    #[serde(default)]
    pub debug_id: Option<String>,
    /// What exactly was wrong.
    #[serde(default)]
    pub details: Vec<ErrorDetail>,
}

impl ErrorBody {
    /// The first detail's description, if any.
    pub fn description(&self) -> Option<&str> {
        self.details.first()?.description.as_deref()
    }

    /// The first detail's `issue` (`INSTRUMENT_DECLINED`), if any.
    pub fn issue(&self) -> Option<&str> {
        self.details.first().map(|detail| detail.issue.as_str())
    }
}

/// One detail of an error.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorDetail {
    /// The issue code.
    #[serde(default)]
    pub issue: String,
    /// A sentence.
    #[serde(default)]
    pub description: Option<String>,
}

/// The OAuth2 token answer.
#[derive(Deserialize)]
pub struct TokenAnswer {
    /// The bearer token.
    pub access_token: String,
    /// Seconds it lives.
    pub expires_in: u64,
}

/// The verify-webhook-signature answer.
#[derive(Debug, Deserialize)]
pub struct Verification {
    /// `SUCCESS` or `FAILURE`.
    pub verification_status: String,
}

/// True when `text` is an id PayPal could have issued (letters, digits, `-`), so it may be put
/// in a URL path.
pub fn is_paypal_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `text` as an id for a URL path, or an error.
pub fn paypal_id(text: &str) -> Result<&str> {
    if is_paypal_id(text) {
        Ok(text)
    } else {
        Err(Error::InvalidRequest {
            reason: "not a PayPal id".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_in_the_currencys_decimals() {
        let usd = Asset::new("USD", 2).unwrap();
        let jpy = Asset::new("JPY", 0).unwrap();
        assert_eq!(Amount::of(1050, &usd).value, "10.50");
        assert_eq!(Amount::of(1050, &jpy).value, "1050");
        assert_eq!(Amount::of(1050, &usd).minor_units(&usd).unwrap(), 1050);
        assert_eq!(Amount::of(7, &jpy).minor_units(&jpy).unwrap(), 7);
        for bad in ["-1.00", "1.001", "1e3", "", " 1", "0x10", "1,00", "NaN"] {
            let amount = Amount {
                currency_code: "USD".into(),
                value: bad.into(),
            };
            assert!(amount.minor_units(&usd).is_err(), "{bad:?}");
        }
        assert!(Amount::of(100, &usd).minor_units(&jpy).is_err());
    }

    #[test]
    fn ids_for_paths_are_plain() {
        assert!(is_paypal_id("5O190127TN364715T"));
        assert!(is_paypal_id("WH-2WR32451HC0233532-67976317FL4543714"));
        for bad in ["", "../orders", "a/b", "a?b", "a b", "é", &"A".repeat(65)] {
            assert!(!is_paypal_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_refund_names_its_capture() {
        let refund: Refund = serde_json::from_value(serde_json::json!({
            "status": "COMPLETED",
            "links": [{"href": "https://api-m.paypal.com/v2/payments/captures/C9", "rel": "up"}]
        }))
        .unwrap();
        assert_eq!(refund.capture_id(), Some("C9"));
    }
}
