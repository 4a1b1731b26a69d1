//! The services in process: each method checks the caller against the engine's one
//! authorization rule, keeps the caller inside its own tenant, and calls the engine.

mod auth;
mod ledger;
mod payments;

use std::sync::Arc;

use obol::auth::{Principal, Scope, authorize};
use obol::idempotency::run_once;
use obol::payments::{Customer, Payment};
use obol::{Account, AccountId, Balance, CustomerId, Entry, Error, PaymentId, Result, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::Services;
use crate::engine::Engine;

/// The metadata key naming the merchant that owns a ledger account.
pub const OWNER_KEY: &str = "merchant";

/// All three services over one engine in this process.
#[derive(Clone)]
pub struct Local {
    engine: Arc<Engine>,
}

impl Local {
    /// The services of `engine`.
    pub fn services(engine: Arc<Engine>) -> Services {
        let local = Arc::new(Local { engine });
        Services {
            payments: local.clone(),
            ledger: local.clone(),
            auth: local,
        }
    }

    /// Runs `work` once per (tenant, operation, key): the first answer is stored and replayed.
    /// `work` is given the time the key was first claimed (`None` without a key).
    async fn once<T, F, Fut>(
        &self,
        who: &Principal,
        operation: &str,
        key: Option<&str>,
        request: &(impl Serialize + Sync),
        work: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce(Option<Timestamp>) -> Fut + Send,
        Fut: std::future::Future<Output = Result<T>> + Send,
    {
        match key {
            None => work(None).await,
            Some(key) => {
                let scoped = scoped_key(who, operation, key);
                let store = self.engine.store().as_ref();
                run_once(store, &scoped, request, self.engine.now(), work).await
            }
        }
    }

    /// A payment of the caller's tenant; another tenant's is as good as unknown.
    async fn own_payment(&self, who: &Principal, id: &PaymentId) -> Result<Payment> {
        let payment = self.engine.payments().payment(id).await?;
        if payment.merchant != *who.merchant() {
            return Err(Error::PaymentNotFound { id: id.to_string() });
        }
        Ok(payment)
    }

    async fn own_customer(&self, who: &Principal, id: &CustomerId) -> Result<Customer> {
        let customer = self.engine.payments().customer(id).await?;
        if customer.merchant != *who.merchant() {
            return Err(Error::CustomerNotFound { id: id.to_string() });
        }
        Ok(customer)
    }

    /// An account the caller's tenant owns, with its balance.
    async fn own_account(&self, who: &Principal, id: &AccountId) -> Result<(Account, Balance)> {
        let found = self.engine.ledger().account_and_balance(id).await?;
        if found.0.metadata.get(OWNER_KEY).map(String::as_str) != Some(who.merchant().as_str()) {
            return Err(Error::AccountNotFound {
                account: id.to_string(),
            });
        }
        Ok(found)
    }

    /// Every account the entries touch belongs to the caller's tenant.
    async fn own_entries(&self, who: &Principal, entries: &[Entry]) -> Result<()> {
        for entry in entries {
            self.own_account(who, &entry.account).await?;
        }
        Ok(())
    }

    /// Whether any of the entries touches an account of the caller's tenant.
    async fn touches(&self, who: &Principal, entries: &[Entry]) -> bool {
        for entry in entries {
            if self.own_account(who, &entry.account).await.is_ok() {
                return true;
            }
        }
        false
    }
}

/// The idempotency key as stored: tenant and operation keep callers' keys apart, and the
/// caller's key (up to 255 characters) is hashed to keep the stored key short.
fn scoped_key(who: &Principal, operation: &str, key: &str) -> String {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!("{}:{operation}:{digest}", who.merchant())
}

fn allow(who: &Principal, scope: Scope) -> Result<()> {
    authorize(who, scope, who.merchant())
}
