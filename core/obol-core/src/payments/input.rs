//! Payments as a client asks for them: the terms of a new payment, and a payment method given
//! as card details (test mode only), a provider token, or a saved method. Every host (REST,
//! gRPC, the bindings) hands these to the tenant API ([`crate::tenant::Tenant`]) as they came.

use serde::{Deserialize, Serialize};

use super::provider::MethodToken;
use super::state::CaptureMethod;
use crate::id::{CustomerId, PaymentMethodId};
use crate::ledger::model::Metadata;
use crate::money::AssetCode;

/// A payment as a client asks for it: created, and with a method and `confirm`, paid in one
/// call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// Minor units, as a string.
    #[serde(with = "crate::money::PositiveMinorUnits")]
    pub amount: i128,
    /// The asset (`USD`).
    pub asset: AssetCode,
    /// `automatic` (default) or `manual`.
    #[serde(default)]
    pub capture_method: Option<CaptureMethod>,
    /// The paying customer.
    #[serde(default)]
    pub customer: Option<CustomerId>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Metadata,
    /// A method to attach at once.
    #[serde(default)]
    pub payment_method: Option<MethodInput>,
    /// Confirm at once (needs a method).
    #[serde(default)]
    pub confirm: bool,
}

impl CreatePayment {
    /// A payment of `amount` minor units of `asset`, nothing else set.
    pub fn new(amount: i128, asset: AssetCode) -> Self {
        CreatePayment {
            amount,
            asset,
            capture_method: None,
            customer: None,
            metadata: Metadata::new(),
            payment_method: None,
            confirm: false,
        }
    }

    /// What an idempotency key's request hash covers: every term, and of the method only
    /// what a receipt shows.
    pub fn fingerprint(&self) -> impl Serialize + '_ {
        (
            self.amount.to_string(),
            &self.asset,
            &self.capture_method,
            &self.customer,
            &self.metadata,
            self.payment_method.as_ref().map(MethodInput::fingerprint),
            self.confirm,
        )
    }
}

/// A payment method as a client gives it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum MethodInput {
    /// Card details, tokenized with the sandbox at once and never kept. Test mode only: with
    /// a live rail, cards are tokenized in the customer's browser or app, never sent here.
    Card(CardInput),
    /// A provider token obtained earlier, for the caller's own merchant.
    Token(MethodToken),
    /// One of the customer's saved methods.
    Saved(PaymentMethodId),
}

impl MethodInput {
    /// What an idempotency key's request hash covers: card numbers never, only what a
    /// receipt shows (the last four digits, last first: the form stored hashes use).
    pub fn fingerprint(&self) -> String {
        match self {
            MethodInput::Card(card) => format!(
                "card:{}:{:02}/{}",
                card.number.chars().rev().take(4).collect::<String>(),
                card.exp_month,
                card.exp_year
            ),
            MethodInput::Token(token) => format!("token:{}:{}", token.provider, token.token),
            MethodInput::Saved(id) => format!("saved:{id}"),
        }
    }
}

impl std::fmt::Debug for MethodInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MethodInput::Card(_) => f.write_str("Card(..)"),
            MethodInput::Token(token) => write!(f, "Token({})", token.provider),
            MethodInput::Saved(id) => write!(f, "Saved({id})"),
        }
    }
}

/// Card details as typed. Debug shows none of them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    /// The card number: 12 to 19 digits, spaces allowed.
    #[cfg_attr(feature = "schemars", schemars(length(min = 12, max = 23)))]
    pub number: String,
    /// Expiry month, 1–12.
    #[serde(deserialize_with = "crate::whole_number::u8")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1, max = 12)))]
    pub exp_month: u8,
    /// Expiry year, four digits.
    #[serde(deserialize_with = "crate::whole_number::u16")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 2000, max = 2999)))]
    pub exp_year: u16,
    /// The security code: 3 or 4 digits.
    #[cfg_attr(feature = "schemars", schemars(regex(pattern = r"^[0-9]{3,4}$")))]
    pub cvc: String,
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardInput(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_and_debug_never_show_card_numbers() {
        let card = MethodInput::Card(CardInput {
            number: "4242424242421234".into(),
            exp_month: 3,
            exp_year: 2030,
            cvc: "987".into(),
        });
        assert_eq!(card.fingerprint(), "card:4321:03/2030");
        let shown = format!("{card:?}");
        assert!(!shown.contains("4242") && !shown.contains("987"), "{shown}");
    }
}

/// A refund as a client asks for it (the JSON body of a refund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schemars", schemars(rename = "RefundBody"))]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    /// Minor units; everything refundable when absent.
    #[serde(default, with = "crate::money::OptionalPositiveMinorUnits")]
    pub amount: Option<i128>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}
