//! An in-memory Store: for tests, simulations and apps that keep nothing.

mod auth;
mod customers;
mod idempotency;
mod ledger;
mod payments;
mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::auth::api_key::ApiKey;
use crate::auth::keyring::KeyRecord as SigningKeyRecord;
use crate::auth::session::Session;
use crate::auth::user::User;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{
    AccountId, ApiKeyId, CustomerId, EndpointId, EventId, MerchantId, PaymentId, PaymentMethodId,
    SessionId, TransactionId, UserId,
};
use crate::idempotency::Claim;
use crate::ledger::batch::{self, BatchKeys, BatchState, BatchWrites, Outcome, Record, Submission};
use crate::ledger::codec::to_json;
use crate::ledger::model::{
    Account, AssetTotals, Balance, HistoryEntry, Hold, HoldStatus, Transaction,
};
use crate::mode::Mode;
use crate::money::{Asset, AssetCode};
use crate::payments::children::Child;
use crate::payments::customers::{Customer, SavedMethod};
use crate::payments::model::{Event, EventQuery, Payment, PaymentQuery, PaymentWrite, StoredEvent};
use crate::payments::state::PaymentStatus;
use crate::store::{
    AttemptLimit, AuthStore, CustomerStore, IdempotencyStore, LedgerStore, LoginReservation,
    PaymentStore, WebhookStore,
};
use crate::webhooks::model::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryState, WebhookEndpoint,
};

#[derive(Debug, Default)]
struct State {
    assets: BTreeMap<AssetCode, Asset>,
    accounts: BTreeMap<AccountId, (Account, Balance)>,
    records: HashMap<TransactionId, Record>,
    holds: HashMap<TransactionId, Hold>,
    entries: Vec<(AccountId, HistoryEntry)>,
    payments: HashMap<PaymentId, Payment>,
    /// Refunds and disputes, in creation order.
    children: Vec<Child>,
    events: Vec<Event>,
    keys: HashMap<String, KeyRecord>,
    customers: HashMap<CustomerId, Customer>,
    /// API keys, in creation order.
    api_keys: Vec<ApiKey>,
    users: Vec<User>,
    sessions: Vec<Session>,
    signing_keys: Vec<SigningKeyRecord>,
    /// Sign-in attempts: (attempt, limit key, when).
    login_attempts: Vec<(String, String, Timestamp)>,
    /// Saved payment methods, in creation order.
    methods: Vec<SavedMethod>,
    endpoints: Vec<WebhookEndpoint>,
    /// How many events have been fanned out to deliveries.
    fanned_out: usize,
    deliveries: Vec<DeliveryRow>,
    attempts: Vec<DeliveryAttempt>,
}

#[derive(Debug)]
struct DeliveryRow {
    event: usize,
    endpoint_id: EndpointId,
    state: DeliveryState,
    attempts: u32,
    next_attempt_at: Timestamp,
}

#[derive(Debug)]
struct KeyRecord {
    request_hash: String,
    response: Option<String>,
    lease_until: Timestamp,
    claimed_at: Timestamp,
}

impl State {
    /// Runs the ledger rules over what the batch touches, without changing anything yet.
    fn plan(
        &self,
        batch: &[Submission],
        now: Timestamp,
    ) -> (Vec<Result<Transaction>>, BatchWrites) {
        let keys = BatchKeys::of(batch);
        let mut loaded = BatchState::default();
        for id in &keys.records {
            if let Some(record) = self.records.get(id) {
                loaded.records.insert(id.clone(), record.clone());
            }
        }
        for id in &keys.holds {
            if let Some(hold) = self.holds.get(id) {
                loaded.holds.insert(id.clone(), hold.clone());
            }
        }
        for id in BatchKeys::accounts(batch, &loaded.records, &loaded.holds) {
            if let Some(account) = self.accounts.get(&id) {
                loaded.accounts.insert(id, account.clone());
            }
        }
        batch::apply(&mut loaded, batch, now)
    }

    /// Keeps what a planned batch wrote.
    fn persist(&mut self, writes: BatchWrites) {
        for (id, record) in writes.records {
            self.records.insert(id, record);
        }
        for row in writes.entries {
            let sequence = i64::try_from(self.entries.len()).unwrap_or(i64::MAX) + 1;
            let entry = HistoryEntry {
                sequence,
                transaction_id: row.transaction_id,
                direction: row.entry.direction,
                amount: row.entry.amount,
                asset: row.entry.asset,
                effective_at: row.effective_at,
                created_at: row.created_at,
            };
            self.entries.push((row.entry.account, entry));
        }
        for hold in writes.new_holds.into_iter().chain(writes.updated_holds) {
            self.holds.insert(hold.id.clone(), hold);
        }
        for (target, reversal) in writes.reversals {
            if let Some(Record {
                outcome: Outcome::Committed(t),
                ..
            }) = self.records.get_mut(&target)
            {
                t.reversed_by = Some(reversal);
            }
        }
        for (id, balance) in writes.balances {
            if let Some(slot) = self.accounts.get_mut(&id) {
                slot.1 = balance;
            }
        }
    }
}

/// A Store that lives in the process's memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| Error::unavailable("memory store lock poisoned"))
    }
}
