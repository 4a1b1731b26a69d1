//! Payments (ARCHITECTURE §4): intents that move through Stripe's statuses, the ledger
//! movements each change implies, refunds, disputes, idempotency and providers.
//!
//! Built so far: the state machine ([`state`]) and the chart of accounts with the ledger
//! commands each state change implies ([`postings`]); both pure and shared by every store.

pub mod postings;
pub mod state;

pub use postings::{PaymentAccounts, ledger_commands};
pub use state::{
    CancellationReason, CaptureMethod, LedgerEffect, PaymentAction, PaymentState, PaymentStatus,
    Transition, transition,
};
