//! Payments (ARCHITECTURE §4): intents that move through Stripe's statuses, the ledger
//! movements each change implies, refunds, disputes, idempotency and providers.
//!
//! Built so far: the state machine ([`state`]), pure and shared by every store.

pub mod state;

pub use state::{
    CancellationReason, CaptureMethod, LedgerEffect, PaymentAction, PaymentState, PaymentStatus,
    Transition, transition,
};
