//! Obol's engine: money, ids, clock, the double-entry ledger, payments, auth, and the storage
//! seam.
//!
//! Nothing here knows about HTTP, FFI or a particular database: stores, providers, servers and
//! bindings depend on this crate, never the other way round.

pub mod auth;
pub mod clock;
pub mod error;
pub mod id;
pub mod idempotency;
pub mod ledger;
pub mod memory;
pub mod mode;
pub mod money;
pub mod payments;
pub mod periodic;
pub mod request_body;
pub mod store;
pub mod tenant;
pub mod webhooks;
// Counts and times only (never amounts): crate-private, so no host or rail reads money with it.
pub(crate) mod whole_number;

#[cfg(feature = "testing")]
pub mod testing;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{Error, ErrorClass, Result};
pub use id::{
    AccountId, ApiKeyId, CustomerId, DisputeId, EndpointId, EventId, IdGen, MerchantId, PaymentId,
    PaymentMethodId, RandomIdGen, RefundId, SessionId, TransactionId, UserId,
};
pub use ledger::model::{
    Account, AccountFlags, AccountOwner, Balance, CreateTransaction, Direction, Entry,
    HistoryEntry, Hold, HoldStatus, LedgerCommand, Metadata, NewAccount, NewHold, NewTransaction,
    Page, PostAmount, PostHold, Reverse, Transaction, TransactionKind, VoidHold,
};
pub use ledger::{Ledger, LedgerConfig};
pub use memory::MemoryStore;
pub use mode::Mode;
pub use money::{Asset, AssetCode, AssetRegistry, Money};
pub use store::{
    AuthStore, CustomerStore, IdempotencyStore, LedgerStore, PaymentStore, Store, WebhookStore,
};
pub use tenant::Tenant;
