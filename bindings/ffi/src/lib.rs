//! Obol for Kotlin, Swift and Python through UniFFI (proc-macros, no UDL).
//!
//! Thin on purpose: an [`Obol`] object over the shared [`obol::Engine`], a [`Tenant`] object
//! for everything done for a merchant (the engine's own tenant API), records that carry
//! amounts and ids as strings (UniFFI has no 128-bit integers), one error enum per area with
//! the engine's stable code, and nothing the engine itself lacks. Async methods run on a
//! Tokio runtime the library owns and stay async in the target language.

mod auth;
mod convert;
mod customers;
mod error;
mod events;
mod ledger;
mod object;
mod payments;
mod runtime;
mod tenant;

pub use auth::{ApiKeyRecord, TokensRecord, UserRecord, verify_access_token_offline};
pub use customers::{CustomerRecord, NewCustomerInput, SavedCardRecord};
pub use error::{AuthError, LedgerError, ObolError, PaymentError};
pub use events::EventRecord;
pub use ledger::{
    AccountRecord, BalanceRecord, Direction, EntryInput, EntryRecord, HistoryPage, HistoryRecord,
    HoldRecord, NewAccountInput, TransactionRecord,
};
pub use object::{Obol, ObolOptions, StripeSettings, generate_key_encryption_key, open_obol};
pub use payments::{CaptureMethod, CardInput, NewPaymentInput, PaymentRecord};
pub use runtime::stop_runtime;
pub use tenant::{PrincipalRecord, Tenant};

uniffi::setup_scaffolding!();
