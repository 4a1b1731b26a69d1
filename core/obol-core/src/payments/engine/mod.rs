//! The payment engine: runs each request through the state machine, calls the provider between
//! recovery points, and writes every change (payment row, ledger postings, outbox events) as one
//! atomic [`PaymentWrite`].
//!
//! Recovery points ("atomic phases"): before a provider call that can move money, the payment
//! is written in `processing` with the provider and the attempt's idempotency key. If the
//! process dies during the call, [`Payments::sync_processing`] later asks the provider what
//! happened under that key and either records the outcome or, if the provider never saw the
//! call, returns the payment to `requires_confirmation`. The provider's own idempotency on the
//! key means a retried call never charges twice. Captures and refunds use deterministic keys
//! (derived from what was recorded before the call) for the same reason.

mod accounts;
pub(crate) use accounts::is_merchant_balance;
mod capture;
mod confirm;
mod create;
mod customers;
mod disputes;
mod provider_events;
mod reads;
mod refunds;
mod requests;
mod write;

pub use create::IdOrigin;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::card::CardDetails;
use super::children::{Child, Dispute, DisputeStatus, Refund, RefundStatus};
use super::customers::{Customer, NewCustomer, SavedMethod};
use super::model::{
    ChildWrite, Event, EventQuery, NewPayment, Payment, PaymentQuery, PaymentWrite, StoredEvent,
};
use super::postings::{PaymentAccounts, ledger_commands};
use super::provider::{
    AuthorizeRequest, ChargeOutcome, ChargeStatus, MethodToken, Provider, ProviderEvent,
    ProviderEventKind, RefundOutcome, unsupported,
};
use super::request::PaymentRequest;
use super::routing::ProviderRegistry;
use super::state::{
    CancellationReason, LedgerEffect, PaymentAction, PaymentState, PaymentStatus, transition,
};
use crate::error::{Error, Result};
use crate::id::{
    AccountId, CustomerId, DisputeId, EventId, MerchantId, PaymentId, PaymentMethodId, RefundId,
    TransactionId,
};
use crate::idempotency::{run_once, run_payment_once};
use crate::ledger::batch::Submission;
use crate::ledger::model::{Direction, LedgerCommand, NewAccount};
use crate::ledger::validate;
use crate::ledger::{Ledger, MAX_PAGE};
use crate::mode::Mode;
use crate::money::AssetCode;

/// Payments over a ledger and a set of providers.
#[derive(Debug)]
pub struct Payments {
    ledger: Arc<Ledger>,
    providers: ProviderRegistry,
    accounts: Mutex<accounts::AccountCache>,
}

impl Payments {
    /// A payment engine writing through `ledger`'s store, clock and ids.
    pub fn new(ledger: Arc<Ledger>, providers: ProviderRegistry) -> Self {
        Payments {
            ledger,
            providers,
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// The ledger underneath.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Gives back the ledger (to shut it down once nothing else uses it).
    pub fn into_ledger(self) -> Arc<Ledger> {
        self.ledger
    }

    fn provider(&self, name: &str) -> Result<Arc<dyn Provider>> {
        self.providers
            .get(name)
            .cloned()
            .ok_or_else(|| Error::ProviderNotFound {
                // The name may come from a URL: echo no more of it than a name can be.
                name: name.chars().take(64).collect(),
            })
    }

    /// The provider that tokenizes card details for `asset` (any, when `None`) in `mode`.
    pub fn card_tokenizer(
        &self,
        asset: Option<&AssetCode>,
        mode: Mode,
    ) -> Result<Arc<dyn Provider>> {
        self.providers
            .card_tokenizer(asset, mode)
            .cloned()
            .ok_or_else(|| Error::NoProvider {
                asset: asset.map_or_else(|| "any asset".to_owned(), AssetCode::to_string),
                method: super::provider::MethodKind::Card.as_str().to_owned(),
            })
    }

    /// A provider by name that serves `mode`: to a caller in the other mode it does not
    /// exist (a live key never reaches the sandbox).
    pub(crate) fn provider_in(&self, name: &str, mode: Mode) -> Result<Arc<dyn Provider>> {
        self.provider(name)
            .ok()
            .filter(|provider| provider.mode() == mode)
            .ok_or_else(|| Error::ProviderNotFound {
                name: name.to_owned(),
            })
    }

    fn charge_of(&self, payment: &Payment) -> Result<(Arc<dyn Provider>, String)> {
        let provider = self.provider(payment.provider.as_deref().unwrap_or_default())?;
        let reference = payment.provider_reference.clone().ok_or_else(|| {
            Error::corrupt(format!("payment {} has no provider charge", payment.id))
        })?;
        Ok((provider, reference))
    }

    fn cutoff(&self, min_age: Duration) -> i64 {
        self.ledger.now().as_micros() - i64::try_from(min_age.as_micros()).unwrap_or(i64::MAX)
    }
}
