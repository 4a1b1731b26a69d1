//! The engine as one principal may use it: who may do what, in one place, for every host.
//!
//! A host authenticates its caller (a bearer credential, a session, or itself) and gets a
//! [`Tenant`] for the [`Principal`]. Every method takes no tenant argument: it checks the
//! principal's scope, keeps it inside its own merchant and mode (another tenant's payment,
//! customer, account or key is as good as unknown), names keyed requests by one rule
//! ([`keys`]), and runs multi-step calls (create and confirm) itself. The REST and gRPC servers,
//! both language bindings and the desktop app all call this, so a rule written here holds
//! everywhere.
//!
//! The engine's own accounts (provider clearing, fees, merchants' payment balances) are
//! [`crate::AccountOwner::System`]: no tenant creates, closes or posts to them here; a
//! merchant may read its own payment balances.

mod customers;
pub mod keys;
mod ledger;
mod payments;
mod users;
mod webhooks;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use payments::MerchantBalance;

use crate::auth::{Auth, Principal, Scope};
use crate::error::Result;
use crate::id::{IdGen, MerchantId};
use crate::idempotency::{Claimed, run_once, run_payment_once};
use crate::ledger::Ledger;
use crate::mode::Mode;
use crate::payments::{Payment, Payments};
use crate::store::Store;

/// The engine as one principal sees it (see the module documentation).
#[derive(Debug, Clone)]
pub struct Tenant {
    payments: Arc<Payments>,
    auth: Auth,
    principal: Principal,
}

impl Tenant {
    /// `principal`'s view of the engine made of `payments` (and its ledger) and `auth`.
    pub fn new(payments: Arc<Payments>, auth: Auth, principal: Principal) -> Self {
        Tenant {
            payments,
            auth,
            principal,
        }
    }

    /// Who acts.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The engine's id source, for ids a host makes before a call (`AccountId::generate`).
    pub fn ids(&self) -> &dyn IdGen {
        self.ledger().ids().as_ref()
    }

    fn merchant(&self) -> &MerchantId {
        self.principal.merchant()
    }

    fn mode(&self) -> Mode {
        self.principal.mode()
    }

    fn require(&self, scope: Scope) -> Result<()> {
        self.principal.require(scope)
    }

    fn ledger(&self) -> &Arc<Ledger> {
        self.payments.ledger()
    }

    fn store(&self) -> &dyn Store {
        self.ledger().store().as_ref()
    }

    /// Runs `work` once per (tenant, operation, key): the first answer is stored and replayed
    /// to every retry with the same request; the same key with another request is
    /// `idempotency_conflict`. `work` is told when the key was first claimed and whether an
    /// earlier request held it (without a key, it runs every time, and was never run before).
    async fn once<T, F, Fut>(
        &self,
        operation: keys::Operation,
        key: Option<&str>,
        request: &(impl Serialize + Sync),
        work: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce(Claimed) -> Fut + Send,
        Fut: std::future::Future<Output = Result<T>> + Send,
    {
        match key {
            None => work(Claimed::UNKEYED).await,
            Some(key) => {
                let scoped = self.scoped_key(operation, key);
                run_once(self.store(), &scoped, request, self.ledger().now(), work).await
            }
        }
    }

    /// [`Self::once`] for a request that answers with a payment: its last payment write
    /// stores the answer (see [`run_payment_once`]).
    async fn once_paying<F, Fut>(
        &self,
        operation: keys::Operation,
        key: Option<&str>,
        request: &(impl Serialize + Sync),
        work: F,
    ) -> Result<Payment>
    where
        F: FnOnce(Claimed) -> Fut + Send,
        Fut: std::future::Future<Output = Result<Payment>> + Send,
    {
        match key {
            None => work(Claimed::UNKEYED).await,
            Some(key) => {
                let scoped = self.scoped_key(operation, key);
                run_payment_once(self.store(), &scoped, request, self.ledger().now(), work).await
            }
        }
    }

    /// `key` as stored: scoped to the principal's merchant, its mode and `operation`.
    fn scoped_key(&self, operation: keys::Operation, key: &str) -> String {
        keys::scoped_key(self.merchant(), self.mode(), operation, key)
    }
}
