//! The provider seam: one small trait per capability, and [`Provider`] which says which of
//! them a rail has (`None` = unsupported, known before any call) and what it can do
//! ([`Capabilities`]). Every rail (sandbox, Stripe, PayPal, bank files, Bitcoin, Ethereum)
//! implements these.
//!
//! Failure contract: [`Error::ProviderUnavailable`] means the call did not take effect (safe to
//! try another provider); [`Error::ProviderTimeout`] means the outcome is unknown (settle it
//! with [`StatusSync`], never by charging elsewhere); a decline is an answer, not an error.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::card::{CardDetails, CardSummary};
use super::state::CaptureMethod;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{CustomerId, MerchantId, PaymentId, RefundId};
use crate::mode::Mode;
use crate::money::AssetCode;

/// The kind of payment method a provider takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    /// Credit and debit cards.
    Card,
    /// Bank transfers and direct debits (ACH, SEPA).
    BankTransfer,
    /// On-chain crypto payments.
    Crypto,
    /// Wallets (PayPal and the like).
    Wallet,
}

impl MethodKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            MethodKind::Card => "card",
            MethodKind::BankTransfer => "bank_transfer",
            MethodKind::Crypto => "crypto",
            MethodKind::Wallet => "wallet",
        }
    }
}

/// What a provider can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Assets it settles; `None` means any.
    pub assets: Option<Vec<AssetCode>>,
    /// Payment method kinds it takes.
    pub methods: Vec<MethodKind>,
    /// Authorize now, capture later.
    pub manual_capture: bool,
    /// Several partial captures of one authorization.
    pub multi_capture: bool,
    /// Refunds of part of a capture.
    pub partial_refunds: bool,
}

impl Capabilities {
    /// True when it takes `method` payments in `asset`.
    pub fn handles(&self, asset: &AssetCode, method: MethodKind) -> bool {
        self.methods.contains(&method)
            && self
                .assets
                .as_ref()
                .is_none_or(|assets| assets.contains(asset))
    }
}

/// A payment method as a provider knows it: its token, and what the engine may show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct MethodToken {
    /// The provider that issued the token.
    pub provider: String,
    /// The provider's token (never card data).
    pub token: String,
    /// The kind of method.
    pub kind: MethodKind,
    /// For cards: brand, last 4, expiry.
    pub card: Option<CardSummary>,
}

/// Authorize (and, with automatic capture, capture) a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// The payment.
    pub payment_id: PaymentId,
    /// Sent to the provider so a retried call never charges twice.
    pub idempotency_key: String,
    /// Minor units.
    pub amount: i128,
    /// The asset.
    pub asset: AssetCode,
    /// The payment method token.
    pub token: String,
    /// Automatic or manual capture.
    pub capture_method: CaptureMethod,
    /// The merchant paid (a token is good for its own merchant only).
    pub merchant: MerchantId,
}

/// A provider's answer to an authorization, a completed customer action, or a status query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChargeOutcome {
    /// Funds are held (manual capture) or taken (automatic capture).
    Authorized {
        /// The provider's charge reference.
        reference: String,
        /// Minor units authorized.
        #[serde(with = "crate::money::MinorUnits")]
        amount: i128,
    },
    /// The customer must act (e.g. 3-D Secure) at `redirect_url`.
    RequiresAction {
        /// The provider's charge reference.
        reference: String,
        /// Where to send the customer.
        redirect_url: String,
    },
    /// Accepted; the result comes later (webhook or status sync).
    Processing {
        /// The provider's charge reference.
        reference: String,
    },
    /// Declined.
    Declined {
        /// The provider's charge reference, if one was made.
        reference: Option<String>,
        /// Why (`generic_decline`, `insufficient_funds`, …).
        decline_code: String,
    },
}

/// What a status query found for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChargeStatus {
    /// The provider never saw the call: it did not take effect.
    NotFound,
    /// The charge, as it stands.
    Found(ChargeOutcome),
}

/// A refund's result at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundOutcome {
    /// Money is on its way back.
    Succeeded,
    /// Accepted; the result comes later.
    Pending,
    /// Refused by the provider.
    Failed,
}

/// An event a provider sent by webhook, after verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderEvent {
    /// The provider's event id (for deduplication).
    pub id: String,
    /// The charge it is about.
    pub reference: String,
    /// What happened.
    pub kind: ProviderEventKind,
}

/// What a provider event says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderEventKind {
    /// A processing charge settled.
    ChargeSettled(ChargeOutcome),
    /// The customer disputed the charge.
    DisputeOpened {
        /// Minor units disputed.
        #[serde(with = "crate::money::PositiveMinorUnits")]
        amount: i128,
        /// The bank's reason.
        reason: String,
    },
    /// The dispute was decided for the merchant.
    DisputeWon,
    /// The dispute was decided for the customer.
    DisputeLost,
}

/// Turns card details into a token.
#[async_trait]
pub trait Tokenizer: Send + Sync {
    /// Tokenizes a card for `merchant` (details go to the provider only); the token is
    /// good for that merchant's payments only.
    async fn tokenize_card(&self, merchant: &MerchantId, card: &CardDetails)
    -> Result<MethodToken>;

    /// Makes `token` reusable by `customer` of `merchant` and returns the token to save
    /// (Stripe attaches the PaymentMethod to a Stripe Customer); by default a token is
    /// reusable as it is.
    async fn keep_for_customer(
        &self,
        _merchant: &MerchantId,
        _customer: &CustomerId,
        token: MethodToken,
    ) -> Result<MethodToken> {
        Ok(token)
    }

    /// True when `text` has the shape of a payment method the customer's browser or app made
    /// with the provider's own client library (Stripe.js: `pm_…`), which [`Self::adopt`] takes.
    fn adopts(&self, _text: &str) -> bool {
        false
    }

    /// Takes such a payment method as a token of `merchant`, after asking the provider what it
    /// is (a method another merchant saved is refused).
    async fn adopt(&self, _merchant: &MerchantId, _text: &str) -> Result<MethodToken> {
        Err(Error::InvalidPaymentMethod {
            reason: "this provider takes only tokens it issued".into(),
        })
    }
}

/// Authorizes payments and completes customer actions.
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// Authorizes (or, with automatic capture, charges) a payment.
    async fn authorize(&self, request: &AuthorizeRequest) -> Result<ChargeOutcome>;
    /// Continues a charge after the customer acted.
    async fn complete_action(&self, reference: &str) -> Result<ChargeOutcome>;
}

/// Captures authorized funds.
#[async_trait]
pub trait Capturer: Send + Sync {
    /// Captures `amount`; `final_capture` releases the rest. A retry with the same
    /// `idempotency_key` captures nothing more.
    async fn capture(
        &self,
        reference: &str,
        idempotency_key: &str,
        amount: i128,
        final_capture: bool,
    ) -> Result<()>;
}

/// Cancels an authorization.
#[async_trait]
pub trait Canceler: Send + Sync {
    /// Releases the authorization.
    async fn cancel(&self, reference: &str) -> Result<()>;
}

/// Refunds captured funds.
#[async_trait]
pub trait Refunder: Send + Sync {
    /// Refunds `amount` of a charge; `refund_id` makes a retry safe.
    async fn refund(
        &self,
        reference: &str,
        refund_id: &RefundId,
        amount: i128,
    ) -> Result<RefundOutcome>;
}

/// Looks up what happened to a call whose outcome is unknown.
#[async_trait]
pub trait StatusSync: Send + Sync {
    /// The charge made under an idempotency key, if any.
    async fn charge_status(&self, idempotency_key: &str) -> Result<ChargeStatus>;

    /// What became of a payment's attempt: the call that was made (`attempt`, with its key)
    /// and the provider's reference when an answer named one (a customer action whose
    /// completion was lost). By default [`Self::charge_status`] of the attempt's key; a rail
    /// that cannot look a charge up by key (PayPal) replays the call under the same key.
    async fn attempt_status(
        &self,
        attempt: &AuthorizeRequest,
        _reference: Option<&str>,
    ) -> Result<ChargeStatus> {
        self.charge_status(&attempt.idempotency_key).await
    }
}

/// Verifies and parses a provider's incoming webhook.
#[async_trait]
pub trait WebhookParser: Send + Sync {
    /// Checks the signature and freshness, then reads the event: `None` for a genuine event
    /// the engine does not act on (a type it ignores), an error for anything not genuine.
    /// Async because some rails verify a delivery by calling the provider.
    async fn parse_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Timestamp,
    ) -> Result<Option<ProviderEvent>>;
}

/// A payment rail. Each capability is an accessor; `None` means the rail lacks it.
pub trait Provider: Send + Sync + fmt::Debug {
    /// The provider's stable name (`sandbox`, `stripe`, …).
    fn name(&self) -> &str;
    /// Test rails (the sandbox, a Stripe test key) or live ones: a principal reaches only
    /// its own mode's.
    fn mode(&self) -> Mode;
    /// What it can do.
    fn capabilities(&self) -> Capabilities;
    /// Card tokenization.
    fn tokenizer(&self) -> Option<&dyn Tokenizer> {
        None
    }
    /// Authorization.
    fn authorizer(&self) -> Option<&dyn Authorizer> {
        None
    }
    /// Capture.
    fn capturer(&self) -> Option<&dyn Capturer> {
        None
    }
    /// Cancellation.
    fn canceler(&self) -> Option<&dyn Canceler> {
        None
    }
    /// Refunds.
    fn refunder(&self) -> Option<&dyn Refunder> {
        None
    }
    /// Status queries.
    fn status_sync(&self) -> Option<&dyn StatusSync> {
        None
    }
    /// Incoming webhooks.
    fn webhooks(&self) -> Option<&dyn WebhookParser> {
        None
    }
    /// True when this provider can charge `token` for `merchant` (by default: tokens it
    /// issued itself; a provider whose tokens name no merchant must check that another way).
    fn accepts_token(&self, token: &MethodToken, _merchant: &MerchantId) -> bool {
        token.provider == self.name()
    }
    /// The fee the provider keeps on a capture of `amount` minor units of `asset`.
    fn capture_fee(&self, _asset: &AssetCode, _amount: i128) -> i128 {
        0
    }
}

/// The error for a missing capability.
pub fn unsupported(provider: &dyn Provider, capability: &str) -> Error {
    Error::Unsupported {
        provider: provider.name().to_owned(),
        capability: capability.to_owned(),
    }
}
