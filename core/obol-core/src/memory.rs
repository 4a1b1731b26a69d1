//! An in-memory Store: for tests, simulations and apps that keep nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{AccountId, TransactionId};
use crate::ledger::batch::{self, BatchKeys, BatchState, Outcome, Record, Submission};
use crate::ledger::model::{
    Account, AssetTotals, Balance, HistoryEntry, Hold, HoldStatus, Transaction,
};
use crate::money::{Asset, AssetCode};
use crate::store::LedgerStore;

#[derive(Debug, Default)]
struct State {
    assets: BTreeMap<AssetCode, Asset>,
    accounts: BTreeMap<AccountId, (Account, Balance)>,
    records: HashMap<TransactionId, Record>,
    holds: HashMap<TransactionId, Hold>,
    entries: Vec<(AccountId, HistoryEntry)>,
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
        let keys = BatchKeys::of(batch);
        let mut loaded = BatchState::default();
        for id in &keys.records {
            if let Some(record) = state.records.get(id) {
                loaded.records.insert(id.clone(), record.clone());
            }
        }
        for id in &keys.holds {
            if let Some(hold) = state.holds.get(id) {
                loaded.holds.insert(id.clone(), hold.clone());
            }
        }
        for id in BatchKeys::accounts(batch, &loaded.records, &loaded.holds) {
            if let Some(account) = state.accounts.get(&id) {
                loaded.accounts.insert(id, account.clone());
            }
        }

        let (results, writes) = batch::apply(&mut loaded, batch, now);

        for (id, record) in writes.records {
            state.records.insert(id, record);
        }
        for row in writes.entries {
            let sequence = i64::try_from(state.entries.len()).unwrap_or(i64::MAX) + 1;
            let entry = HistoryEntry {
                sequence,
                transaction_id: row.transaction_id,
                direction: row.entry.direction,
                amount: row.entry.amount,
                asset: row.entry.asset,
                effective_at: row.effective_at,
                created_at: row.created_at,
            };
            state.entries.push((row.entry.account, entry));
        }
        for hold in writes.new_holds.into_iter().chain(writes.updated_holds) {
            state.holds.insert(hold.id.clone(), hold);
        }
        for (target, reversal) in writes.reversals {
            if let Some(Record {
                outcome: Outcome::Committed(t),
                ..
            }) = state.records.get_mut(&target)
            {
                t.reversed_by = Some(reversal);
            }
        }
        for (id, balance) in writes.balances {
            if let Some(slot) = state.accounts.get_mut(&id) {
                slot.1 = balance;
            }
        }
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
