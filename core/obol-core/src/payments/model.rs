//! Payment records as stored, the domain events they emit, and the atomic write a store
//! applies for each change.

use serde::{Deserialize, Serialize};

use super::children::Child;
use super::provider::MethodToken;
use super::state::{CaptureMethod, PaymentState, PaymentStatus};
use crate::clock::Timestamp;
use crate::id::{CustomerId, EventId, MerchantId, PaymentId, TransactionId};
use crate::idempotency::KeyAnswer;
use crate::ledger::batch::Submission;
use crate::ledger::model::Metadata;
use crate::mode::Mode;
use crate::money::{Asset, AssetCode};

/// What a caller asks for when creating a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct NewPayment {
    /// The payment's id (callers may supply it, so a retry reuses it).
    pub id: PaymentId,
    /// Minor units.
    #[serde(with = "crate::money::PositiveMinorUnits")]
    pub amount: i128,
    /// The asset.
    pub asset: AssetCode,
    /// Automatic or manual capture.
    pub capture_method: CaptureMethod,
    /// The paying customer, if known.
    pub customer: Option<CustomerId>,
    /// The merchant paid.
    pub merchant: MerchantId,
    /// Free-form metadata.
    pub metadata: Metadata,
    /// Test or live: which rails may take it.
    #[serde(default)]
    pub mode: Mode,
}

impl NewPayment {
    /// A payment for `amount` minor units of `asset` to the default merchant, captured
    /// automatically.
    pub fn new(id: PaymentId, amount: i128, asset: AssetCode) -> Self {
        NewPayment {
            id,
            amount,
            asset,
            capture_method: CaptureMethod::Automatic,
            customer: None,
            merchant: default_merchant(),
            metadata: Metadata::new(),
            mode: Mode::Test,
        }
    }

    /// In `mode`.
    pub fn in_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Paid to `merchant`.
    pub fn for_merchant(mut self, merchant: MerchantId) -> Self {
        self.merchant = merchant;
        self
    }

    /// Authorize now, capture later.
    pub fn manual_capture(mut self) -> Self {
        self.capture_method = CaptureMethod::Manual;
        self
    }
}

/// The merchant of a single-merchant installation (an id derived from a fixed name).
pub fn default_merchant() -> MerchantId {
    MerchantId::derived("obol:default-merchant")
}

/// A merchant given as text by a binding's caller: the default merchant when absent.
pub fn merchant_named(text: Option<&str>) -> crate::error::Result<MerchantId> {
    match text {
        Some(text) => text.parse(),
        None => Ok(default_merchant()),
    }
}

/// The largest payment in `asset`: a billion major units (10^29 minor units at most). The
/// payment engine's accounts are shared by every merchant of a mode, so one merchant's huge
/// payments must never be able to overflow them for the others: at this bound that would
/// take more than 10^9 payments.
pub fn largest_amount(asset: &Asset) -> i128 {
    let digits = (u32::from(asset.scale) + 9).min(29);
    10_i128.pow(digits)
}

/// A payment (intent) as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Payment {
    /// The id.
    pub id: PaymentId,
    /// The asset.
    pub asset: AssetCode,
    /// Status and amounts.
    pub state: PaymentState,
    /// The paying customer.
    pub customer: Option<CustomerId>,
    /// The merchant paid.
    pub merchant: MerchantId,
    /// The payment method (a provider token; never card data).
    pub method: Option<MethodToken>,
    /// The provider that took the current attempt.
    pub provider: Option<String>,
    /// The provider's charge reference.
    pub provider_reference: Option<String>,
    /// Confirmation attempts so far; the provider idempotency key is `{id}:{attempt}`.
    pub attempt: u32,
    /// Where to send the customer when the status is `requires_action`.
    pub next_action_url: Option<String>,
    /// The last decline code, after a decline.
    pub last_decline: Option<String>,
    /// The ledger hold of this payment's authorization.
    pub hold_id: TransactionId,
    /// Provider fees paid on its captures, in minor units.
    #[serde(with = "crate::money::MinorUnits", default)]
    pub fees: i128,
    /// Free-form metadata.
    pub metadata: Metadata,
    /// When created.
    pub created_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
    /// Bumped by every write; a write must name the version it read.
    pub version: i64,
    /// Test or live (payments from before modes existed were test).
    #[serde(default)]
    pub mode: Mode,
}

impl Payment {
    /// The key sent to the provider for the current confirmation attempt.
    pub fn attempt_key(&self) -> String {
        format!("{}:{}", self.id, self.attempt)
    }
}

/// A domain event: written to the outbox in the same transaction as the change it reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Event {
    /// Stable id (the `webhook-id` of every delivery attempt).
    pub id: EventId,
    /// `payment.created`, `payment.succeeded`, …
    pub kind: String,
    /// The payment it is about.
    pub payment_id: PaymentId,
    /// The payment as it was after the change.
    pub payment: Payment,
    /// The refund or dispute the event is about, if any.
    pub child: Option<Child>,
    /// When it happened.
    pub created_at: Timestamp,
}

/// An event read back from the outbox, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in the outbox (increasing).
    pub sequence: i64,
    /// The event.
    pub event: Event,
}

/// One atomic payment change: the new payment row, the ledger commands it implies and the
/// events it emits. A store applies all of it in one database transaction or none of it.
#[derive(Debug, Clone)]
pub struct PaymentWrite {
    /// The payment after the change (its `version` is the new version).
    pub payment: Payment,
    /// The version the change was computed from; `None` for a new payment.
    pub expected_version: Option<i64>,
    /// Ledger commands; every one must succeed or nothing is written.
    pub ledger: Vec<Submission>,
    /// Refunds and disputes created or changed with the payment.
    pub children: Vec<ChildWrite>,
    /// Events for the outbox.
    pub events: Vec<Event>,
    /// The idempotency answer this write gives its request, stored in the same transaction
    /// unless its key has an answer already.
    pub answer: Option<KeyAnswer>,
}

/// A [`PaymentWrite`] with the JSON of its rows encoded beforehand: a store encodes on the
/// caller's task, not on its writer's, which is the serial part.
#[derive(Debug)]
pub struct EncodedWrite {
    /// The write.
    pub write: PaymentWrite,
    /// The payment's JSON.
    pub payment: String,
    /// Each child's JSON, in the write's order.
    pub children: Vec<String>,
    /// Each event's JSON, in the write's order.
    pub events: Vec<String>,
}

impl EncodedWrite {
    /// Encodes the rows of `write`.
    pub fn of(write: PaymentWrite) -> crate::error::Result<Self> {
        use crate::ledger::codec::to_json;
        Ok(EncodedWrite {
            payment: to_json(&write.payment)?,
            children: write
                .children
                .iter()
                .map(|c| to_json(&c.child))
                .collect::<crate::error::Result<_>>()?,
            events: write
                .events
                .iter()
                .map(to_json)
                .collect::<crate::error::Result<_>>()?,
            write,
        })
    }
}

/// A refund or dispute to store with a payment change.
#[derive(Debug, Clone)]
pub struct ChildWrite {
    /// The child after the change (its `version` is the new version).
    pub child: Child,
    /// The version the change was computed from; `None` for a new child.
    pub expected_version: Option<i64>,
}

/// Which payments a listing returns: one merchant's, newest first (by id, which is
/// time-ordered), optionally filtered, one page at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentQuery {
    /// The merchant whose payments are listed.
    pub merchant: MerchantId,
    /// Only payments in this mode (both when `None`).
    pub mode: Option<Mode>,
    /// Only payments in this status.
    pub status: Option<PaymentStatus>,
    /// Only this customer's payments.
    pub customer: Option<CustomerId>,
    /// Only payments created at or after this time.
    pub created_from: Option<Timestamp>,
    /// Only payments created before this time.
    pub created_before: Option<Timestamp>,
    /// The cursor: only payments older than this one (the last id of the previous page).
    pub starting_after: Option<PaymentId>,
    /// At most this many.
    pub limit: u32,
}

impl PaymentQuery {
    /// The first `limit` payments of `merchant`, unfiltered.
    pub fn merchant(merchant: MerchantId, limit: u32) -> Self {
        PaymentQuery {
            merchant,
            mode: None,
            status: None,
            customer: None,
            created_from: None,
            created_before: None,
            starting_after: None,
            limit,
        }
    }

    /// Whether `payment` passes the filters (the cursor and limit aside).
    pub fn matches(&self, payment: &Payment) -> bool {
        payment.merchant == self.merchant
            && self.mode.is_none_or(|m| payment.mode == m)
            && self.status.is_none_or(|s| payment.state.status == s)
            && self
                .customer
                .as_ref()
                .is_none_or(|c| payment.customer.as_ref() == Some(c))
            && self.created_from.is_none_or(|t| payment.created_at >= t)
            && self.created_before.is_none_or(|t| payment.created_at < t)
    }
}

/// Which events a listing returns: one merchant's, oldest first, after a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// The merchant whose payments the events are about.
    pub merchant: MerchantId,
    /// Only events of payments in this mode (both when `None`).
    pub mode: Option<Mode>,
    /// Only events of this payment.
    pub payment: Option<PaymentId>,
    /// Only events after this outbox position (0: from the start).
    pub after: i64,
    /// At most this many.
    pub limit: u32,
}
