//! Ledger: assets, accounts, batches (through the shared batch rules), holds and history.

use super::*;

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
