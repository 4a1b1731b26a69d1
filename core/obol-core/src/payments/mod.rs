//! Payments (ARCHITECTURE §4): intents that move through Stripe's statuses, the ledger
//! movements each change implies, refunds, disputes, idempotency and providers.
//!
//! Built so far: the state machine ([`state`]); the chart of accounts with the ledger commands
//! each state change implies ([`postings`]); card data at the edge ([`card`]); the provider
//! traits ([`provider`]), routing with safe fallback ([`routing`]) and the sandbox provider
//! ([`sandbox`]); the engine ([`engine`]) writing each change with its postings and events.

pub mod card;
pub mod children;
pub mod customers;
pub mod engine;
pub mod input;
pub mod maintenance;
pub mod model;
pub mod postings;
pub mod provider;
pub mod rail_config;
pub mod request;
pub mod routing;
pub mod sandbox;
pub mod state;

pub use card::{CardBrand, CardDetails, CardSummary};
pub use children::{Child, Dispute, DisputeStatus, Refund, RefundStatus};
pub use customers::{CUSTOMER_EMAIL_PATTERN, Customer, NewCustomer, SavedMethod};
pub(crate) use engine::is_merchant_balance;
pub use engine::{IdOrigin, Payments};
pub use input::{CardInput, CreatePayment, CreateRefund, MethodInput};
pub use maintenance::{Maintenance, MaintenancePolicy};
pub use model::{
    ChildWrite, EncodedWrite, Event, EventQuery, NewPayment, Payment, PaymentQuery, PaymentWrite,
    StoredEvent, default_merchant, largest_amount, merchant_named,
};
pub use postings::{PaymentAccounts, ledger_commands};
pub use provider::{
    AuthorizeRequest, Authorizer, Canceler, Capabilities, Capturer, ChargeOutcome, ChargeStatus,
    MethodKind, MethodToken, Provider, ProviderEvent, ProviderEventKind, RefundOutcome, Refunder,
    StatusSync, Tokenizer, WebhookParser,
};
pub use request::PaymentRequest;
pub use routing::ProviderRegistry;
pub use sandbox::{Sandbox, SandboxSecrets};
pub use state::{
    CancellationReason, CaptureMethod, LedgerEffect, PaymentAction, PaymentState, PaymentStatus,
    Transition, transition,
};
