//! Refunds and disputes: child objects of a payment, each with its own small state machine
//! and its own ledger hold for the money going back.
//!
//! ```text
//! refund:  pending ──▶ succeeded | failed | canceled
//! dispute: needs_response ──▶ under_review ──▶ won | lost   (needs_response ──▶ won | lost too)
//! ```
//!
//! Ledger: a refund or a dispute holds its amount (merchant → clearing) when it opens; a
//! succeeded refund or a lost dispute posts the hold; a failed or canceled refund or a won
//! dispute voids it.

use serde::{Deserialize, Serialize};

use super::state::LedgerEffect;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{DisputeId, PaymentId, RefundId, TransactionId};

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Sent (or being sent) to the provider.
    Pending,
    /// The money is on its way back to the customer.
    Succeeded,
    /// The provider refused it.
    Failed,
    /// Canceled before it settled.
    Canceled,
}

/// Where a dispute stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    /// Opened by the customer's bank; the merchant may respond.
    NeedsResponse,
    /// Evidence submitted; the bank is deciding.
    UnderReview,
    /// Decided for the merchant.
    Won,
    /// Decided for the customer.
    Lost,
}

/// A refund of part or all of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Refund {
    /// The id (also the provider idempotency key of the refund call).
    pub id: RefundId,
    /// The payment refunded.
    pub payment_id: PaymentId,
    /// Minor units.
    #[serde(with = "crate::money::MinorUnits")]
    pub amount: i128,
    /// Where it stands.
    pub status: RefundStatus,
    /// Why, as the caller said.
    pub reason: Option<String>,
    /// The ledger hold of the money going back.
    pub hold_id: TransactionId,
    /// When created.
    pub created_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
    /// Bumped by every write.
    pub version: i64,
}

/// A dispute (chargeback) of part or all of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Dispute {
    /// The id.
    pub id: DisputeId,
    /// The payment disputed.
    pub payment_id: PaymentId,
    /// Minor units.
    #[serde(with = "crate::money::MinorUnits")]
    pub amount: i128,
    /// Where it stands.
    pub status: DisputeStatus,
    /// The bank's reason (`fraudulent`, `product_not_received`, …).
    pub reason: String,
    /// The ledger hold of the money withdrawn while it is open.
    pub hold_id: TransactionId,
    /// When opened.
    pub created_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
    /// Bumped by every write.
    pub version: i64,
}

/// A refund or a dispute, as stored beside its payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum Child {
    /// A refund.
    Refund(Refund),
    /// A dispute.
    Dispute(Dispute),
}

impl Child {
    /// The child's id as text.
    pub fn id(&self) -> &str {
        match self {
            Child::Refund(r) => r.id.as_str(),
            Child::Dispute(d) => d.id.as_str(),
        }
    }

    /// The payment it belongs to.
    pub fn payment_id(&self) -> &PaymentId {
        match self {
            Child::Refund(r) => &r.payment_id,
            Child::Dispute(d) => &d.payment_id,
        }
    }

    /// `refund` or `dispute`.
    pub fn kind(&self) -> &'static str {
        match self {
            Child::Refund(_) => "refund",
            Child::Dispute(_) => "dispute",
        }
    }

    /// The status's stable name.
    pub fn status(&self) -> &'static str {
        match self {
            Child::Refund(r) => r.status.as_str(),
            Child::Dispute(d) => d.status.as_str(),
        }
    }

    /// The stored version.
    pub fn version(&self) -> i64 {
        match self {
            Child::Refund(r) => r.version,
            Child::Dispute(d) => d.version,
        }
    }

    /// When it last changed.
    pub fn updated_at(&self) -> crate::clock::Timestamp {
        match self {
            Child::Refund(r) => r.updated_at,
            Child::Dispute(d) => d.updated_at,
        }
    }
}

impl RefundStatus {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
            RefundStatus::Canceled => "canceled",
        }
    }

    /// The refund's next status and ledger effects, or `invalid_transition`.
    pub fn to(self, next: RefundStatus, amount: i128) -> Result<Vec<LedgerEffect>> {
        match (self, next) {
            (RefundStatus::Pending, RefundStatus::Succeeded) => Ok(vec![LedgerEffect::Capture {
                amount,
                release_rest: true,
            }]),
            (RefundStatus::Pending, RefundStatus::Failed | RefundStatus::Canceled) => {
                Ok(vec![LedgerEffect::Release])
            }
            _ => Err(Error::InvalidTransition {
                status: self.as_str().to_owned(),
                action: format!("become {}", next.as_str()),
            }),
        }
    }
}

impl DisputeStatus {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::NeedsResponse => "needs_response",
            DisputeStatus::UnderReview => "under_review",
            DisputeStatus::Won => "won",
            DisputeStatus::Lost => "lost",
        }
    }

    /// The dispute's ledger effects for moving to `next`, or `invalid_transition`.
    pub fn to(self, next: DisputeStatus, amount: i128) -> Result<Vec<LedgerEffect>> {
        use DisputeStatus as D;
        match (self, next) {
            (D::NeedsResponse, D::UnderReview) => Ok(Vec::new()),
            (D::NeedsResponse | D::UnderReview, D::Won) => Ok(vec![LedgerEffect::Release]),
            (D::NeedsResponse | D::UnderReview, D::Lost) => Ok(vec![LedgerEffect::Capture {
                amount,
                release_rest: true,
            }]),
            _ => Err(Error::InvalidTransition {
                status: self.as_str().to_owned(),
                action: format!("become {}", next.as_str()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refunds_settle_once() {
        assert_eq!(
            RefundStatus::Pending
                .to(RefundStatus::Succeeded, 5)
                .unwrap(),
            vec![LedgerEffect::Capture {
                amount: 5,
                release_rest: true
            }]
        );
        assert_eq!(
            RefundStatus::Pending.to(RefundStatus::Canceled, 5).unwrap(),
            vec![LedgerEffect::Release]
        );
        for done in [
            RefundStatus::Succeeded,
            RefundStatus::Failed,
            RefundStatus::Canceled,
        ] {
            let err = done.to(RefundStatus::Succeeded, 5).unwrap_err();
            assert_eq!(err.code(), "invalid_transition");
        }
    }

    #[test]
    fn disputes_are_won_or_lost_once() {
        use DisputeStatus as D;
        assert!(D::NeedsResponse.to(D::UnderReview, 5).unwrap().is_empty());
        assert_eq!(
            D::UnderReview.to(D::Won, 5).unwrap(),
            vec![LedgerEffect::Release]
        );
        assert!(matches!(
            D::NeedsResponse.to(D::Lost, 5).unwrap()[..],
            [LedgerEffect::Capture { amount: 5, .. }]
        ));
        assert!(D::Won.to(D::Lost, 5).is_err());
        assert!(D::Lost.to(D::UnderReview, 5).is_err());
        assert!(D::UnderReview.to(D::UnderReview, 5).is_err());
    }
}
