//! An in-memory Store: for tests, simulations and apps that keep nothing.

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
use crate::money::{Asset, AssetCode};
use crate::payments::children::Child;
use crate::payments::customers::{Customer, SavedMethod};
use crate::payments::model::{Event, EventQuery, Payment, PaymentQuery, PaymentWrite, StoredEvent};
use crate::payments::state::PaymentStatus;
use crate::store::{
    AuthStore, CustomerStore, IdempotencyStore, LedgerStore, PaymentStore, WebhookStore,
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
    login_failures: Vec<(String, Timestamp)>,
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

#[async_trait]
impl LedgerStore for MemoryStore {
    async fn save_asset(&self, asset: &Asset) -> Result<()> {
        self.lock()?
            .assets
            .entry(asset.code.clone())
            .or_insert_with(|| asset.clone());
        Ok(())
    }

    async fn custom_assets(&self) -> Result<Vec<Asset>> {
        Ok(self.lock()?.assets.values().cloned().collect())
    }

    async fn insert_account(&self, account: &Account) -> Result<Account> {
        let mut state = self.lock()?;
        let slot = state
            .accounts
            .entry(account.id.clone())
            .or_insert_with(|| (account.clone(), Balance::default()));
        Ok(slot.0.clone())
    }

    async fn account(&self, id: &AccountId) -> Result<Option<(Account, Balance)>> {
        Ok(self.lock()?.accounts.get(id).cloned())
    }

    async fn close_account(&self, id: &AccountId) -> Result<Option<Account>> {
        let mut state = self.lock()?;
        Ok(state.accounts.get_mut(id).map(|(account, _)| {
            account.closed = true;
            account.clone()
        }))
    }

    async fn write_batch(
        &self,
        batch: &[Submission],
        now: Timestamp,
    ) -> Result<Vec<Result<Transaction>>> {
        let mut state = self.lock()?;
        let (results, writes) = state.plan(batch, now);
        state.persist(writes);
        Ok(results)
    }

    async fn transaction(&self, id: &TransactionId) -> Result<Option<Transaction>> {
        Ok(match self.lock()?.records.get(id) {
            Some(Record {
                outcome: Outcome::Committed(t),
                ..
            }) => Some(t.clone()),
            _ => None,
        })
    }

    async fn hold(&self, id: &TransactionId) -> Result<Option<Hold>> {
        Ok(self.lock()?.holds.get(id).cloned())
    }

    async fn history(
        &self,
        account: &AccountId,
        after_sequence: Option<i64>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>> {
        let after = after_sequence.unwrap_or(0);
        let state = self.lock()?;
        Ok(state
            .entries
            .iter()
            .filter(|(a, e)| a == account && e.sequence > after)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn posted_at(&self, account: &AccountId, at: Timestamp) -> Result<(i128, i128)> {
        let state = self.lock()?;
        let (mut debits, mut credits) = (0i128, 0i128);
        for (_, e) in state
            .entries
            .iter()
            .filter(|(a, e)| a == account && e.effective_at <= at)
        {
            batch::add_to_side(&mut debits, &mut credits, e.direction, e.amount)?;
        }
        Ok((debits, credits))
    }

    async fn due_holds(&self, now: Timestamp, limit: u32) -> Result<Vec<TransactionId>> {
        let state = self.lock()?;
        let mut due: Vec<TransactionId> = state
            .holds
            .values()
            .filter(|h| h.status == HoldStatus::Pending && h.expires_at.is_some_and(|t| t <= now))
            .map(|h| h.id.clone())
            .collect();
        due.sort();
        due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(due)
    }

    async fn asset_totals(&self) -> Result<Vec<AssetTotals>> {
        let state = self.lock()?;
        let mut totals: BTreeMap<AssetCode, Balance> = BTreeMap::new();
        for (account, balance) in state.accounts.values() {
            let sum = totals.entry(account.asset.clone()).or_default();
            *sum = sum.plus(balance)?;
        }
        Ok(totals
            .into_iter()
            .map(|(asset, totals)| AssetTotals { asset, totals })
            .collect())
    }
}

#[async_trait]
impl PaymentStore for MemoryStore {
    async fn write_payment(&self, write: PaymentWrite, now: Timestamp) -> Result<()> {
        let mut state = self.lock()?;
        let stored = state.payments.get(&write.payment.id).map(|p| p.version);
        let children_current = write.children.iter().all(|w| {
            let stored = state
                .children
                .iter()
                .find(|c| c.id() == w.child.id())
                .map(Child::version);
            stored == w.expected_version
        });
        if stored != write.expected_version || !children_current {
            return Err(Error::Contention {
                reason: "the payment changed concurrently".into(),
            });
        }
        let (results, writes) = state.plan(&write.ledger, now);
        batch::all_committed(results)?;
        state.persist(writes);
        state
            .payments
            .insert(write.payment.id.clone(), write.payment.clone());
        for w in &write.children {
            match state.children.iter_mut().find(|c| c.id() == w.child.id()) {
                Some(existing) => *existing = w.child.clone(),
                None => state.children.push(w.child.clone()),
            }
        }
        state.events.extend(write.events.iter().cloned());
        Ok(())
    }

    async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>> {
        Ok(self.lock()?.payments.get(id).cloned())
    }

    async fn payments_with_status(
        &self,
        status: PaymentStatus,
        limit: u32,
    ) -> Result<Vec<Payment>> {
        let state = self.lock()?;
        let mut found: Vec<Payment> = state
            .payments
            .values()
            .filter(|p| p.state.status == status)
            .cloned()
            .collect();
        found.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id)));
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(found)
    }

    async fn payment_by_reference(
        &self,
        provider: &str,
        reference: &str,
    ) -> Result<Option<Payment>> {
        Ok(self
            .lock()?
            .payments
            .values()
            .find(|p| {
                p.provider.as_deref() == Some(provider)
                    && p.provider_reference.as_deref() == Some(reference)
            })
            .cloned())
    }

    async fn child(&self, id: &str) -> Result<Option<Child>> {
        Ok(self.lock()?.children.iter().find(|c| c.id() == id).cloned())
    }

    async fn children(&self, payment: &PaymentId) -> Result<Vec<Child>> {
        Ok(self
            .lock()?
            .children
            .iter()
            .filter(|c| c.payment_id() == payment)
            .cloned()
            .collect())
    }

    async fn children_with_status(
        &self,
        kind: &str,
        status: &str,
        limit: u32,
    ) -> Result<Vec<Child>> {
        Ok(self
            .lock()?
            .children
            .iter()
            .filter(|c| c.kind() == kind && c.status() == status)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn list_payments(&self, query: &PaymentQuery) -> Result<Vec<Payment>> {
        let state = self.lock()?;
        let mut found: Vec<Payment> = state
            .payments
            .values()
            .filter(|p| query.matches(p))
            .filter(|p| {
                query
                    .starting_after
                    .as_ref()
                    .is_none_or(|after| p.id < *after)
            })
            .cloned()
            .collect();
        found.sort_by(|a, b| b.id.cmp(&a.id));
        found.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        Ok(found)
    }

    async fn merchant_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let state = self.lock()?;
        let skip = usize::try_from(query.after.max(0)).unwrap_or(usize::MAX);
        Ok(state
            .events
            .iter()
            .enumerate()
            .skip(skip)
            .filter(|(_, e)| e.payment.merchant == query.merchant)
            .filter(|(_, e)| query.payment.as_ref().is_none_or(|p| *p == e.payment_id))
            .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
            .map(|(index, event)| StoredEvent {
                sequence: i64::try_from(index).unwrap_or(i64::MAX) + 1,
                event: event.clone(),
            })
            .collect())
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
        let state = self.lock()?;
        let skip = usize::try_from(after.max(0)).unwrap_or(usize::MAX);
        Ok(state
            .events
            .iter()
            .enumerate()
            .skip(skip)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|(index, event)| StoredEvent {
                sequence: i64::try_from(index).unwrap_or(i64::MAX) + 1,
                event: event.clone(),
            })
            .collect())
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim_key(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claim> {
        let mut state = self.lock()?;
        let Some(record) = state.keys.get_mut(key) else {
            state.keys.insert(
                key.to_owned(),
                KeyRecord {
                    request_hash: request_hash.to_owned(),
                    response: None,
                    lease_until,
                    claimed_at: now,
                },
            );
            return Ok(Claim::Started {
                claimed_at: Some(now),
            });
        };
        let claim = Claim::of_existing(
            &record.request_hash,
            record.response.clone(),
            record.lease_until,
            Some(record.claimed_at),
            request_hash,
            now,
        );
        if matches!(claim, Claim::Started { .. }) {
            record.lease_until = lease_until;
        }
        Ok(claim)
    }

    async fn complete_key(&self, key: &str, response: &str) -> Result<()> {
        if let Some(record) = self.lock()?.keys.get_mut(key) {
            record.response = Some(response.to_owned());
        }
        Ok(())
    }

    async fn release_key(&self, key: &str) -> Result<()> {
        let mut state = self.lock()?;
        if state.keys.get(key).is_some_and(|r| r.response.is_none()) {
            state.keys.remove(key);
        }
        Ok(())
    }
}

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn save_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        let mut state = self.lock()?;
        match state.endpoints.iter_mut().find(|e| e.id == endpoint.id) {
            Some(existing) => {
                existing.url.clone_from(&endpoint.url);
                existing.enabled = endpoint.enabled;
            }
            None => state.endpoints.push(endpoint.clone()),
        }
        Ok(())
    }

    async fn endpoints(&self, merchant: &MerchantId) -> Result<Vec<WebhookEndpoint>> {
        let state = self.lock()?;
        Ok(state
            .endpoints
            .iter()
            .filter(|e| e.merchant == *merchant)
            .cloned()
            .collect())
    }

    async fn fan_out_events(&self, limit: u32, now: Timestamp) -> Result<usize> {
        let mut state = self.lock()?;
        let end = state
            .events
            .len()
            .min(state.fanned_out + usize::try_from(limit).unwrap_or(usize::MAX));
        let targets: Vec<(MerchantId, EndpointId)> = state
            .endpoints
            .iter()
            .filter(|e| e.enabled)
            .map(|e| (e.merchant.clone(), e.id.clone()))
            .collect();
        let mut created = 0;
        for event in state.fanned_out..end {
            let merchant = state.events[event].payment.merchant.clone();
            for (_, endpoint_id) in targets.iter().filter(|(m, _)| *m == merchant) {
                state.deliveries.push(DeliveryRow {
                    event,
                    endpoint_id: endpoint_id.clone(),
                    state: DeliveryState::Pending,
                    attempts: 0,
                    next_attempt_at: now,
                });
                created += 1;
            }
        }
        state.fanned_out = end;
        Ok(created)
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        let mut due = Vec::new();
        for (index, row) in state.deliveries.iter_mut().enumerate() {
            if due.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                break;
            }
            if row.state != DeliveryState::Pending || row.next_attempt_at > now {
                continue;
            }
            let (Some(endpoint), Some(event)) = (
                state.endpoints.iter().find(|e| e.id == row.endpoint_id),
                state.events.get(row.event),
            ) else {
                continue;
            };
            due.push(Delivery {
                id: i64::try_from(index).unwrap_or(i64::MAX) + 1,
                event_id: event.id.clone(),
                endpoint_id: endpoint.id.clone(),
                url: endpoint.url.clone(),
                secret: endpoint.secret.clone(),
                body: to_json(event)?,
                attempts: row.attempts,
            });
            row.next_attempt_at = lease_until;
        }
        Ok(due)
    }

    async fn record_attempt(&self, outcome: &AttemptOutcome) -> Result<()> {
        let mut state = self.lock()?;
        let index = usize::try_from(outcome.attempt.delivery_id - 1)
            .map_err(|_| Error::corrupt("bad delivery id"))?;
        let row = state
            .deliveries
            .get_mut(index)
            .ok_or_else(|| Error::corrupt("unknown delivery"))?;
        row.state = outcome.state;
        row.attempts = outcome.attempt.attempt;
        if let Some(next) = outcome.next_attempt_at {
            row.next_attempt_at = next;
        }
        if outcome.disable_endpoint {
            let gone = outcome.attempt.endpoint_id.clone();
            for endpoint in state.endpoints.iter_mut().filter(|e| e.id == gone) {
                endpoint.enabled = false;
            }
            for row in state
                .deliveries
                .iter_mut()
                .filter(|d| d.endpoint_id == gone && d.state == DeliveryState::Pending)
            {
                row.state = DeliveryState::Failed;
            }
        }
        state.attempts.push(outcome.attempt.clone());
        Ok(())
    }

    async fn delivery_attempts(&self, event_id: &EventId) -> Result<Vec<DeliveryAttempt>> {
        Ok(self
            .lock()?
            .attempts
            .iter()
            .filter(|a| &a.event_id == event_id)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl CustomerStore for MemoryStore {
    async fn insert_customer(&self, customer: &Customer) -> Result<Customer> {
        Ok(self
            .lock()?
            .customers
            .entry(customer.id.clone())
            .or_insert_with(|| customer.clone())
            .clone())
    }

    async fn customer(&self, id: &CustomerId) -> Result<Option<Customer>> {
        Ok(self.lock()?.customers.get(id).cloned())
    }

    async fn save_method(&self, method: &SavedMethod) -> Result<()> {
        let mut state = self.lock()?;
        match state.methods.iter_mut().find(|m| m.id == method.id) {
            Some(existing) => existing.detached = method.detached,
            None => state.methods.push(method.clone()),
        }
        Ok(())
    }

    async fn saved_method(&self, id: &PaymentMethodId) -> Result<Option<SavedMethod>> {
        Ok(self.lock()?.methods.iter().find(|m| &m.id == id).cloned())
    }

    async fn saved_methods(&self, customer: &CustomerId) -> Result<Vec<SavedMethod>> {
        Ok(self
            .lock()?
            .methods
            .iter()
            .filter(|m| &m.customer == customer)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl AuthStore for MemoryStore {
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        let mut state = self.lock()?;
        if state
            .api_keys
            .iter()
            .any(|k| k.hash == key.hash || k.id == key.id)
        {
            return Err(Error::Contention {
                reason: "an API key with this id or hash exists".into(),
            });
        }
        state.api_keys.push(key.clone());
        Ok(())
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        Ok(self
            .lock()?
            .api_keys
            .iter()
            .find(|k| k.hash == hash)
            .cloned())
    }

    async fn api_keys(&self, merchant: &MerchantId) -> Result<Vec<ApiKey>> {
        Ok(self
            .lock()?
            .api_keys
            .iter()
            .filter(|k| &k.merchant == merchant)
            .cloned()
            .collect())
    }

    async fn revoke_api_key(
        &self,
        merchant: &MerchantId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<Option<ApiKey>> {
        let mut state = self.lock()?;
        Ok(state
            .api_keys
            .iter_mut()
            .find(|k| &k.id == id && &k.merchant == merchant)
            .map(|key| {
                key.revoked_at.get_or_insert(at);
                key.clone()
            }))
    }

    async fn insert_user(&self, user: &User) -> Result<()> {
        let mut state = self.lock()?;
        if state
            .users
            .iter()
            .any(|u| u.merchant == user.merchant && u.email == user.email)
        {
            return Err(Error::EmailTaken);
        }
        if state.users.iter().any(|u| u.id == user.id) {
            return Err(Error::Contention {
                reason: "a user with this id exists".into(),
            });
        }
        state.users.push(user.clone());
        Ok(())
    }

    async fn user(&self, merchant: &MerchantId, id: &UserId) -> Result<Option<User>> {
        Ok(self
            .lock()?
            .users
            .iter()
            .find(|u| &u.merchant == merchant && &u.id == id)
            .cloned())
    }

    async fn user_by_email(&self, merchant: &MerchantId, email: &str) -> Result<Option<User>> {
        Ok(self
            .lock()?
            .users
            .iter()
            .find(|u| &u.merchant == merchant && u.email == email)
            .cloned())
    }

    async fn update_user(&self, user: &User, expected_version: i64) -> Result<()> {
        let mut state = self.lock()?;
        if state
            .users
            .iter()
            .any(|u| u.merchant == user.merchant && u.email == user.email && u.id != user.id)
        {
            return Err(Error::EmailTaken);
        }
        let stored = state
            .users
            .iter_mut()
            .find(|u| {
                u.merchant == user.merchant && u.id == user.id && u.version == expected_version
            })
            .ok_or_else(|| Error::Contention {
                reason: "the user changed concurrently".into(),
            })?;
        *stored = user.clone();
        Ok(())
    }

    async fn delete_user(&self, merchant: &MerchantId, id: &UserId) -> Result<bool> {
        let mut state = self.lock()?;
        let before = state.users.len();
        state
            .users
            .retain(|u| !(&u.merchant == merchant && &u.id == id));
        Ok(state.users.len() < before)
    }

    async fn record_login_failure(&self, key: &str, at: Timestamp) -> Result<()> {
        self.lock()?.login_failures.push((key.to_owned(), at));
        Ok(())
    }

    async fn login_failures_since(&self, key: &str, since: Timestamp) -> Result<Vec<Timestamp>> {
        let mut times: Vec<Timestamp> = self
            .lock()?
            .login_failures
            .iter()
            .filter(|(k, at)| k == key && *at >= since)
            .map(|(_, at)| *at)
            .collect();
        times.sort();
        Ok(times)
    }

    async fn clear_login_failures(&self, key: &str) -> Result<()> {
        self.lock()?.login_failures.retain(|(k, _)| k != key);
        Ok(())
    }

    async fn insert_session(&self, session: &Session) -> Result<()> {
        let mut state = self.lock()?;
        if state
            .sessions
            .iter()
            .any(|s| s.id == session.id || s.refresh_hash == session.refresh_hash)
        {
            return Err(Error::Contention {
                reason: "a session with this id or token exists".into(),
            });
        }
        state.sessions.push(session.clone());
        Ok(())
    }

    async fn session_by_refresh_hash(&self, hash: &str) -> Result<Option<Session>> {
        Ok(self
            .lock()?
            .sessions
            .iter()
            .find(|s| s.refresh_hash == hash)
            .cloned())
    }

    async fn session(&self, id: &SessionId) -> Result<Option<Session>> {
        Ok(self.lock()?.sessions.iter().find(|s| &s.id == id).cloned())
    }

    async fn rotate_session(&self, old: &SessionId, new: &Session, at: Timestamp) -> Result<bool> {
        let mut state = self.lock()?;
        let Some(current) = state
            .sessions
            .iter_mut()
            .find(|s| &s.id == old && s.rotated_at.is_none() && s.revoked_at.is_none())
        else {
            return Ok(false);
        };
        current.rotated_at = Some(at);
        state.sessions.push(new.clone());
        Ok(true)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        Ok(self.lock()?.signing_keys.clone())
    }

    async fn add_signing_key(&self, record: &SigningKeyRecord, retire: Option<&str>) -> Result<()> {
        let mut state = self.lock()?;
        if state.signing_keys.iter().any(|k| k.kid == record.kid) {
            return Err(Error::Contention {
                reason: "a signing key with this kid exists".into(),
            });
        }
        if let Some(old) = retire {
            for key in state.signing_keys.iter_mut().filter(|k| k.kid == old) {
                key.retired_at.get_or_insert(record.activates_at);
            }
        }
        state.signing_keys.push(record.clone());
        Ok(())
    }

    async fn revoke_family(&self, family: &SessionId, at: Timestamp) -> Result<()> {
        for session in self
            .lock()?
            .sessions
            .iter_mut()
            .filter(|s| &s.family == family)
        {
            session.revoked_at.get_or_insert(at);
        }
        Ok(())
    }

    async fn revoke_user_sessions(
        &self,
        merchant: &MerchantId,
        user: &UserId,
        except: Option<&SessionId>,
        at: Timestamp,
    ) -> Result<()> {
        for session in self
            .lock()?
            .sessions
            .iter_mut()
            .filter(|s| &s.merchant == merchant && &s.user == user && Some(&s.family) != except)
        {
            session.revoked_at.get_or_insert(at);
        }
        Ok(())
    }
}
