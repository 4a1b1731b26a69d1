//! The payment state machine: Stripe's public PaymentIntent statuses and the one function,
//! [`transition`], through which every change goes.
//!
//! ```text
//! requires_payment_method ──attach──▶ requires_confirmation ──confirm──▶ processing
//!        ▲                                                       │  ▲        │
//!        └───────────── decline (from processing/requires_action)┘  │        │
//! requires_confirmation ◀──abort (the provider call did not happen)── processing
//!                       requires_action ◀──require_action───────────┘        │
//!                       requires_action ──complete_action──▶ processing      │
//! processing ──authorize──▶ requires_capture (manual) | succeeded (automatic)─┘
//! requires_capture ──capture (partial, several)──▶ requires_capture | succeeded
//! requires_capture ──expire──▶ succeeded (something captured) | canceled (nothing captured)
//! any state but processing and the terminal ones ──cancel | expire──▶ canceled
//! succeeded ──refund | refund_failed | open_dispute | close_dispute──▶ succeeded
//!   (amounts move; a payment's status never leaves a terminal state)
//! ```
//!
//! The function is pure: it checks the action against the state, returns the next state and
//! the ledger effects the change implies, and on refusal returns a typed error and nothing else.
//! Invariant of every reachable state:
//! `0 ≤ refunded + disputed ≤ captured ≤ authorized ≤ amount`. Refunds and disputes are child
//! objects with their own lifecycles ([`super::children`]); the payment only reserves their
//! amounts, and their money moves through their own ledger holds.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ledger::codec::amount_text;

/// Where a payment stands (Stripe's public PaymentIntent statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Waiting for a payment method (new, or after a decline).
    RequiresPaymentMethod,
    /// Has a payment method; waiting for the customer's confirmation.
    RequiresConfirmation,
    /// The provider needs the customer to act (e.g. 3-D Secure).
    RequiresAction,
    /// The provider is working on it; the outcome is not known yet.
    Processing,
    /// Authorized; funds are held until captured, canceled or expired.
    RequiresCapture,
    /// Captured (final); refunds may still follow.
    Succeeded,
    /// Canceled (final); any hold was released.
    Canceled,
}

impl PaymentStatus {
    /// Every status, in flow order.
    pub const ALL: [PaymentStatus; 7] = [
        PaymentStatus::RequiresPaymentMethod,
        PaymentStatus::RequiresConfirmation,
        PaymentStatus::RequiresAction,
        PaymentStatus::Processing,
        PaymentStatus::RequiresCapture,
        PaymentStatus::Succeeded,
        PaymentStatus::Canceled,
    ];

    /// The stable name (as stored and sent over APIs).
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::RequiresPaymentMethod => "requires_payment_method",
            PaymentStatus::RequiresConfirmation => "requires_confirmation",
            PaymentStatus::RequiresAction => "requires_action",
            PaymentStatus::Processing => "processing",
            PaymentStatus::RequiresCapture => "requires_capture",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Canceled => "canceled",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| Error::corrupt(format!("unknown payment status {text:?}")))
    }

    /// Succeeded and canceled are final: no action moves a payment out of them.
    pub fn is_terminal(self) -> bool {
        matches!(self, PaymentStatus::Succeeded | PaymentStatus::Canceled)
    }
}

impl std::fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When authorized funds are captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    /// Captured in full as soon as authorized.
    Automatic,
    /// Held until the merchant captures (in full, in part, or in several parts).
    Manual,
}

/// Why a payment was canceled (Stripe's reasons, plus expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CancellationReason {
    /// The customer asked.
    RequestedByCustomer,
    /// A duplicate of another payment.
    Duplicate,
    /// Suspected fraud.
    Fraudulent,
    /// The customer went away before paying.
    Abandoned,
    /// The authorization or the payment's window ran out.
    Expired,
}

/// A payment's amounts and status: what [`transition`] reads and returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct PaymentState {
    /// Where the payment stands.
    pub status: PaymentStatus,
    /// Automatic or manual capture.
    pub capture_method: CaptureMethod,
    /// The amount asked for, in minor units.
    #[serde(with = "crate::money::MinorUnits")]
    pub amount: i128,
    /// The amount the provider authorized (held), in minor units.
    #[serde(with = "crate::money::MinorUnits")]
    pub authorized: i128,
    /// The amount captured so far.
    #[serde(with = "crate::money::MinorUnits")]
    pub captured: i128,
    /// The amount refunded so far (pending and succeeded refunds).
    #[serde(with = "crate::money::MinorUnits")]
    pub refunded: i128,
    /// The amount under dispute or lost in disputes.
    #[serde(default)]
    #[serde(with = "crate::money::MinorUnits")]
    pub disputed: i128,
    /// Set when canceled.
    pub cancellation: Option<CancellationReason>,
}

impl PaymentState {
    /// A new payment for `amount` minor units (must be positive).
    pub fn new(amount: i128, capture_method: CaptureMethod) -> Result<Self> {
        positive(amount)?;
        Ok(PaymentState {
            status: PaymentStatus::RequiresPaymentMethod,
            capture_method,
            amount,
            authorized: 0,
            captured: 0,
            refunded: 0,
            disputed: 0,
            cancellation: None,
        })
    }

    /// What may still be captured.
    pub fn capturable(&self) -> i128 {
        if self.status == PaymentStatus::RequiresCapture {
            self.authorized - self.captured
        } else {
            0
        }
    }

    /// What may still be refunded (or disputed).
    pub fn refundable(&self) -> i128 {
        self.captured - self.refunded - self.disputed
    }
}

/// Something that happens to a payment: a caller's request or a provider's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PaymentAction {
    /// A payment method was attached.
    AttachPaymentMethod,
    /// The customer confirmed; the provider call starts.
    Confirm,
    /// The provider asks the customer to act (3-D Secure).
    RequireAction,
    /// The customer acted; back to the provider.
    CompleteAction,
    /// The provider authorized `amount` (at most the amount asked for).
    Authorize {
        /// Minor units authorized.
        #[serde(with = "crate::money::MinorUnits")]
        amount: i128,
    },
    /// The provider declined; another payment method may be tried.
    Decline,
    /// The provider call certainly did not take effect (provider unavailable): confirm again.
    Abort,
    /// Capture part or all of what is authorized. `final_capture` releases the rest.
    Capture {
        /// Minor units to capture.
        #[serde(with = "crate::money::MinorUnits")]
        amount: i128,
        /// No further captures: the uncaptured rest is released.
        final_capture: bool,
    },
    /// Cancel the payment.
    Cancel {
        /// Why.
        reason: CancellationReason,
    },
    /// The payment's window or its authorization ran out.
    Expire,
    /// Refund part or all of what was captured (reserved now; the refund settles later).
    Refund {
        /// Minor units to refund.
        #[serde(with = "crate::money::MinorUnits")]
        amount: i128,
    },
    /// A refund failed or was canceled: its amount is refundable again.
    RefundFailed {
        /// Minor units of the failed refund.
        #[serde(with = "crate::money::MinorUnits")]
        amount: i128,
    },
    /// The customer disputed part or all of the payment.
    OpenDispute {
        /// Minor units disputed.
        #[serde(with = "crate::money::MinorUnits")]
        amount: i128,
    },
    /// A dispute was decided: won returns the amount, lost keeps it disputed.
    CloseDispute {
        /// Minor units of the dispute.
        #[serde(with = "crate::money::MinorUnits")]
        amount: i128,
        /// Decided for the merchant.
        won: bool,
    },
}

impl PaymentAction {
    /// The action's stable name (used in errors and events).
    pub fn name(&self) -> &'static str {
        match self {
            PaymentAction::AttachPaymentMethod => "attach_payment_method",
            PaymentAction::Confirm => "confirm",
            PaymentAction::RequireAction => "require_action",
            PaymentAction::CompleteAction => "complete_action",
            PaymentAction::Authorize { .. } => "authorize",
            PaymentAction::Decline => "decline",
            PaymentAction::Abort => "abort",
            PaymentAction::Capture { .. } => "capture",
            PaymentAction::Cancel { .. } => "cancel",
            PaymentAction::Expire => "expire",
            PaymentAction::Refund { .. } => "refund",
            PaymentAction::RefundFailed { .. } => "refund_failed",
            PaymentAction::OpenDispute { .. } => "open_dispute",
            PaymentAction::CloseDispute { .. } => "close_dispute",
        }
    }
}

/// A ledger movement a transition implies; the engine turns each into ledger commands
/// through the chart of accounts, in the same database transaction as the state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum LedgerEffect {
    /// Hold the authorized amount.
    Hold {
        /// Minor units.
        #[serde(with = "crate::money::MinorUnits")]
        amount: i128,
    },
    /// Post part of the hold; with `release_rest`, release what is left of it.
    Capture {
        /// Minor units.
        #[serde(with = "crate::money::MinorUnits")]
        amount: i128,
        /// Release the uncaptured rest of the hold.
        release_rest: bool,
    },
    /// Release the whole remaining hold.
    Release,
    /// A provider fee on a capture, posted on its own (debit fees, credit clearing).
    Fee {
        /// Minor units.
        #[serde(with = "crate::money::MinorUnits")]
        amount: i128,
    },
    /// Hold funds going back from the merchant to the customer (a refund or a dispute);
    /// posted by a later `Capture`, or released.
    HoldReturn {
        /// Minor units.
        #[serde(with = "crate::money::MinorUnits")]
        amount: i128,
    },
}

/// The result of an allowed action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state after the action.
    pub next: PaymentState,
    /// The ledger movements, in order.
    pub effects: Vec<LedgerEffect>,
}

fn positive(amount: i128) -> Result<()> {
    if amount <= 0 {
        return Err(Error::InvalidAmount {
            reason: "payment amounts must be positive".into(),
        });
    }
    Ok(())
}

/// Applies one action to a payment. Refused actions return a typed error: the state is not
/// touched (it is borrowed, never changed in place).
pub fn transition(state: &PaymentState, action: PaymentAction) -> Result<Transition> {
    use PaymentAction as A;
    use PaymentStatus as S;
    let refuse = || Error::InvalidTransition {
        status: state.status.as_str().to_owned(),
        action: action.name().to_owned(),
    };
    let mut next = state.clone();
    let mut effects = Vec::new();
    match (state.status, action) {
        (S::RequiresPaymentMethod, A::AttachPaymentMethod) => {
            next.status = S::RequiresConfirmation;
        }
        (S::RequiresConfirmation, A::Confirm) => next.status = S::Processing,
        (S::Processing, A::RequireAction) => next.status = S::RequiresAction,
        (S::RequiresAction, A::CompleteAction) => next.status = S::Processing,
        (S::Processing | S::RequiresAction, A::Decline) => {
            next.status = S::RequiresPaymentMethod;
        }
        (S::Processing, A::Abort) => next.status = S::RequiresConfirmation,
        (S::Processing, A::Authorize { amount }) => {
            positive(amount)?;
            if amount > state.amount {
                return Err(Error::InvalidAmount {
                    reason: "a provider cannot authorize more than the payment's amount".into(),
                });
            }
            next.authorized = amount;
            effects.push(LedgerEffect::Hold { amount });
            match state.capture_method {
                CaptureMethod::Manual => next.status = S::RequiresCapture,
                CaptureMethod::Automatic => {
                    next.captured = amount;
                    next.status = S::Succeeded;
                    effects.push(LedgerEffect::Capture {
                        amount,
                        release_rest: true,
                    });
                }
            }
        }
        (
            S::RequiresCapture,
            A::Capture {
                amount,
                final_capture,
            },
        ) => {
            positive(amount)?;
            let remaining = state.capturable();
            if amount > remaining {
                return Err(Error::ExceedsAuthorized {
                    remaining: amount_text(remaining),
                });
            }
            next.captured = state.captured + amount;
            let done = final_capture || amount == remaining;
            if done {
                next.status = S::Succeeded;
            }
            effects.push(LedgerEffect::Capture {
                amount,
                release_rest: done,
            });
        }
        (S::RequiresCapture, A::Expire) if state.captured > 0 => {
            // Partly captured when the authorization ran out: keep what was taken.
            next.status = S::Succeeded;
            effects.push(LedgerEffect::Release);
        }
        (S::RequiresCapture, A::Expire) => {
            next.status = S::Canceled;
            next.cancellation = Some(CancellationReason::Expired);
            effects.push(LedgerEffect::Release);
        }
        (S::RequiresCapture, A::Cancel { reason }) if state.captured == 0 => {
            next.status = S::Canceled;
            next.cancellation = Some(reason);
            effects.push(LedgerEffect::Release);
        }
        (S::RequiresPaymentMethod | S::RequiresConfirmation | S::RequiresAction, A::Expire) => {
            next.status = S::Canceled;
            next.cancellation = Some(CancellationReason::Expired);
        }
        (
            S::RequiresPaymentMethod | S::RequiresConfirmation | S::RequiresAction,
            A::Cancel { reason },
        ) => {
            next.status = S::Canceled;
            next.cancellation = Some(reason);
        }
        (S::Succeeded, A::Refund { amount }) => {
            positive(amount)?;
            let remaining = state.refundable();
            if amount > remaining {
                return Err(Error::ExceedsRefundable {
                    remaining: amount_text(remaining),
                });
            }
            next.refunded = state.refunded + amount;
        }
        (S::Succeeded, A::RefundFailed { amount }) => {
            positive(amount)?;
            if amount > state.refunded {
                return Err(Error::InvalidAmount {
                    reason: "more than was refunded".into(),
                });
            }
            next.refunded = state.refunded - amount;
        }
        (S::Succeeded, A::OpenDispute { amount }) => {
            positive(amount)?;
            if amount > state.refundable() {
                return Err(Error::ExceedsRefundable {
                    remaining: amount_text(state.refundable()),
                });
            }
            next.disputed = state.disputed + amount;
        }
        (S::Succeeded, A::CloseDispute { amount, won }) => {
            positive(amount)?;
            if amount > state.disputed {
                return Err(Error::InvalidAmount {
                    reason: "more than is disputed".into(),
                });
            }
            if won {
                next.disputed = state.disputed - amount;
            }
        }
        _ => return Err(refuse()),
    }
    Ok(Transition { next, effects })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn manual(amount: i128) -> PaymentState {
        PaymentState::new(amount, CaptureMethod::Manual).unwrap()
    }

    fn run(mut state: PaymentState, actions: &[PaymentAction]) -> Result<PaymentState> {
        for action in actions {
            state = transition(&state, *action)?.next;
        }
        Ok(state)
    }

    const TO_PROCESSING: [PaymentAction; 2] =
        [PaymentAction::AttachPaymentMethod, PaymentAction::Confirm];

    #[test]
    fn manual_capture_in_parts_then_refund() {
        let state = run(manual(1000), &TO_PROCESSING).unwrap();
        let auth = transition(&state, PaymentAction::Authorize { amount: 1000 }).unwrap();
        assert_eq!(auth.next.status, PaymentStatus::RequiresCapture);
        assert_eq!(auth.effects, vec![LedgerEffect::Hold { amount: 1000 }]);
        let part = |amount| PaymentAction::Capture {
            amount,
            final_capture: false,
        };
        let first = transition(&auth.next, part(300)).unwrap();
        assert_eq!(first.next.status, PaymentStatus::RequiresCapture);
        let too_much = transition(&first.next, part(701)).unwrap_err();
        assert_eq!(too_much.code(), "exceeds_authorized");
        let last = transition(&first.next, part(700)).unwrap();
        assert_eq!(last.next.status, PaymentStatus::Succeeded);
        assert_eq!(
            last.effects,
            vec![LedgerEffect::Capture {
                amount: 700,
                release_rest: true
            }]
        );
        let refunded = run(
            last.next,
            &[
                PaymentAction::Refund { amount: 400 },
                PaymentAction::Refund { amount: 600 },
            ],
        )
        .unwrap();
        assert_eq!(refunded.refunded, 1000);
        let over = transition(&refunded, PaymentAction::Refund { amount: 1 }).unwrap_err();
        assert_eq!(over.code(), "exceeds_refundable");
    }

    #[test]
    fn final_partial_capture_releases_the_rest() {
        let state = run(
            manual(1000),
            &[
                PaymentAction::AttachPaymentMethod,
                PaymentAction::Confirm,
                PaymentAction::Authorize { amount: 1000 },
                PaymentAction::Capture {
                    amount: 250,
                    final_capture: true,
                },
            ],
        )
        .unwrap();
        assert_eq!(state.status, PaymentStatus::Succeeded);
        assert_eq!((state.authorized, state.captured), (1000, 250));
        assert_eq!(state.capturable(), 0);
    }

    #[test]
    fn automatic_capture_succeeds_on_authorization() {
        let state = PaymentState::new(500, CaptureMethod::Automatic).unwrap();
        let state = run(state, &TO_PROCESSING).unwrap();
        let done = transition(&state, PaymentAction::Authorize { amount: 500 }).unwrap();
        assert_eq!(done.next.status, PaymentStatus::Succeeded);
        assert_eq!(done.next.captured, 500);
        assert_eq!(done.effects.len(), 2);
    }

    #[test]
    fn three_d_secure_and_decline_paths() {
        let state = run(
            manual(100),
            &[
                PaymentAction::AttachPaymentMethod,
                PaymentAction::Confirm,
                PaymentAction::RequireAction,
            ],
        )
        .unwrap();
        assert_eq!(state.status, PaymentStatus::RequiresAction);
        let declined = transition(&state, PaymentAction::Decline).unwrap().next;
        assert_eq!(declined.status, PaymentStatus::RequiresPaymentMethod);
        let again = run(
            declined,
            &[
                PaymentAction::AttachPaymentMethod,
                PaymentAction::Confirm,
                PaymentAction::RequireAction,
                PaymentAction::CompleteAction,
                PaymentAction::Authorize { amount: 100 },
            ],
        )
        .unwrap();
        assert_eq!(again.status, PaymentStatus::RequiresCapture);
    }

    #[test]
    fn expiry_cancels_or_keeps_what_was_captured() {
        let held = run(
            manual(100),
            &[
                PaymentAction::AttachPaymentMethod,
                PaymentAction::Confirm,
                PaymentAction::Authorize { amount: 80 },
            ],
        )
        .unwrap();
        let expired = transition(&held, PaymentAction::Expire).unwrap();
        assert_eq!(expired.next.status, PaymentStatus::Canceled);
        assert_eq!(expired.next.cancellation, Some(CancellationReason::Expired));
        assert_eq!(expired.effects, vec![LedgerEffect::Release]);
        let partly = run(
            held,
            &[
                PaymentAction::Capture {
                    amount: 30,
                    final_capture: false,
                },
                PaymentAction::Expire,
            ],
        )
        .unwrap();
        assert_eq!(partly.status, PaymentStatus::Succeeded);
        assert_eq!(partly.captured, 30);
    }

    #[test]
    fn terminal_and_processing_refuse_cancel() {
        let processing = run(manual(10), &TO_PROCESSING).unwrap();
        let err = transition(
            &processing,
            PaymentAction::Cancel {
                reason: CancellationReason::Abandoned,
            },
        )
        .unwrap_err();
        assert_eq!(err.code(), "invalid_transition");
        let canceled = transition(
            &manual(10),
            PaymentAction::Cancel {
                reason: CancellationReason::Duplicate,
            },
        )
        .unwrap()
        .next;
        for action in [
            PaymentAction::AttachPaymentMethod,
            PaymentAction::Expire,
            PaymentAction::Refund { amount: 1 },
        ] {
            assert_eq!(
                transition(&canceled, action).unwrap_err().code(),
                "invalid_transition"
            );
        }
    }

    #[test]
    fn bad_amounts_are_refused() {
        assert_eq!(
            PaymentState::new(0, CaptureMethod::Manual)
                .unwrap_err()
                .code(),
            "invalid_amount"
        );
        let processing = run(manual(10), &TO_PROCESSING).unwrap();
        for amount in [0, -5, 11] {
            let err = transition(&processing, PaymentAction::Authorize { amount }).unwrap_err();
            assert_eq!(err.code(), "invalid_amount");
        }
    }

    #[test]
    fn statuses_round_trip_by_name() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(PaymentStatus::parse("paid").is_err());
    }

    fn any_action() -> impl Strategy<Value = PaymentAction> {
        let amount = -5i128..1200;
        prop_oneof![
            Just(PaymentAction::AttachPaymentMethod),
            Just(PaymentAction::Confirm),
            Just(PaymentAction::RequireAction),
            Just(PaymentAction::CompleteAction),
            amount
                .clone()
                .prop_map(|amount| PaymentAction::Authorize { amount }),
            Just(PaymentAction::Decline),
            Just(PaymentAction::Abort),
            (amount.clone(), any::<bool>()).prop_map(|(amount, final_capture)| {
                PaymentAction::Capture {
                    amount,
                    final_capture,
                }
            }),
            Just(PaymentAction::Cancel {
                reason: CancellationReason::RequestedByCustomer
            }),
            Just(PaymentAction::Expire),
            amount
                .clone()
                .prop_map(|amount| PaymentAction::Refund { amount }),
            amount
                .clone()
                .prop_map(|amount| PaymentAction::RefundFailed { amount }),
            amount
                .clone()
                .prop_map(|amount| PaymentAction::OpenDispute { amount }),
            (amount, any::<bool>())
                .prop_map(|(amount, won)| PaymentAction::CloseDispute { amount, won }),
        ]
    }

    proptest! {
        /// Random action sequences: refusals change nothing, terminal statuses are final,
        /// amounts stay ordered, and the ledger effects add up to the amounts.
        #[test]
        fn invariants_hold_for_any_sequence(
            automatic in any::<bool>(),
            amount in 1i128..1000,
            actions in proptest::collection::vec(any_action(), 0..40),
        ) {
            let method = if automatic { CaptureMethod::Automatic } else { CaptureMethod::Manual };
            let mut state = PaymentState::new(amount, method).unwrap();
            let (mut held, mut posted, mut refunded, mut released) = (0i128, 0i128, 0i128, false);
            for action in actions {
                match transition(&state, action) {
                    Ok(step) => {
                        if state.status.is_terminal() {
                            prop_assert_eq!(step.next.status, state.status);
                        }
                        for effect in &step.effects {
                            match *effect {
                                LedgerEffect::Hold { amount } => held += amount,
                                LedgerEffect::Capture { amount, release_rest } => {
                                    posted += amount;
                                    released |= release_rest;
                                }
                                LedgerEffect::Release => released = true,
                                LedgerEffect::HoldReturn { .. } | LedgerEffect::Fee { .. } => {
                                    prop_assert!(false, "payments do not hold returns");
                                }
                            }
                        }
                        if let PaymentAction::Refund { amount } = action {
                            refunded += amount;
                        }
                        if let PaymentAction::RefundFailed { amount } = action {
                            refunded -= amount;
                        }
                        state = step.next;
                    }
                    Err(error) => {
                        prop_assert!(!error.is_retryable());
                    }
                }
                prop_assert!(0 <= state.refunded && 0 <= state.disputed);
                prop_assert!(state.refunded + state.disputed <= state.captured);
                prop_assert!(state.captured <= state.authorized);
                prop_assert!(state.authorized <= state.amount);
                prop_assert_eq!(held, state.authorized);
                prop_assert_eq!(posted, state.captured);
                prop_assert_eq!(refunded, state.refunded);
                // Once the payment is final, nothing stays held.
                if state.status.is_terminal() && state.authorized > 0 {
                    prop_assert!(released);
                }
            }
        }
    }
}
