//! Every mutating payment call as one serialisable value: what servers and bindings send, and
//! what an idempotency key's request hash is computed over.

use serde::{Deserialize, Serialize};

use super::model::NewPayment;
use super::provider::MethodToken;
use super::state::CancellationReason;
use crate::id::{PaymentId, PaymentMethodId};

/// A mutating payment request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum PaymentRequest {
    /// Create a payment.
    Create(NewPayment),
    /// Attach a payment method.
    AttachMethod {
        /// The payment.
        payment: PaymentId,
        /// The method's provider token.
        method: MethodToken,
    },
    /// Attach one of the customer's saved payment methods.
    AttachSavedMethod {
        /// The payment.
        payment: PaymentId,
        /// The saved method.
        method: PaymentMethodId,
    },
    /// Confirm (authorize through the provider).
    Confirm {
        /// The payment.
        payment: PaymentId,
    },
    /// Continue after the customer's action.
    CompleteAction {
        /// The payment.
        payment: PaymentId,
    },
    /// Capture authorized funds.
    Capture {
        /// The payment.
        payment: PaymentId,
        /// Minor units; everything capturable when absent.
        #[serde(with = "crate::money::OptionalPositiveMinorUnits", default)]
        amount: Option<i128>,
        /// Release the rest after this capture.
        final_capture: bool,
    },
    /// Cancel.
    Cancel {
        /// The payment.
        payment: PaymentId,
        /// Why.
        reason: CancellationReason,
    },
    /// Expire.
    Expire {
        /// The payment.
        payment: PaymentId,
    },
    /// Refund captured funds (answers with the payment; its refunds are its children).
    Refund {
        /// The payment.
        payment: PaymentId,
        /// Minor units; everything still refundable when absent (decided when it runs, so a
        /// retry with the same key asks the same).
        #[serde(with = "crate::money::OptionalPositiveMinorUnits", default)]
        amount: Option<i128>,
        /// Why.
        reason: Option<String>,
    },
}
