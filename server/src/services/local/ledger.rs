//! The ledger, in process: callers reach only their tenant's accounts.

use async_trait::async_trait;
use obol::auth::{Principal, Scope};
use obol::{
    Account, AccountId, Balance, Error, HistoryEntry, Hold, LedgerCommand, NewAccount, Page,
    Result, Timestamp, Transaction, TransactionId,
};

use super::{Local, OWNER_KEY, allow};
use crate::services::LedgerService;

#[async_trait]
impl LedgerService for Local {
    async fn ready(&self) -> Result<()> {
        self.engine.store().ready().await
    }

    async fn create_account(
        &self,
        who: &Principal,
        key: Option<&str>,
        new: NewAccount,
    ) -> Result<Account> {
        allow(who, Scope::LedgerWrite)?;
        if new
            .metadata
            .get(OWNER_KEY)
            .is_some_and(|owner| owner != who.merchant().as_str())
        {
            return Err(Error::InvalidMetadata {
                reason: format!("the metadata key {OWNER_KEY:?} is reserved"),
            });
        }
        let new = new.with_metadata(OWNER_KEY, who.merchant().as_str());
        let ledger = self.engine.ledger();
        self.once(who, "accounts", key, &new, |_| {
            ledger.create_account(new.clone())
        })
        .await
    }

    async fn account(&self, who: &Principal, id: &AccountId) -> Result<(Account, Balance)> {
        allow(who, Scope::LedgerRead)?;
        self.own_account(who, id).await
    }

    async fn close_account(&self, who: &Principal, id: &AccountId) -> Result<Account> {
        allow(who, Scope::LedgerWrite)?;
        self.own_account(who, id).await?;
        self.engine.ledger().close_account(id).await
    }

    async fn balance_at(&self, who: &Principal, id: &AccountId, at: Timestamp) -> Result<Balance> {
        allow(who, Scope::LedgerRead)?;
        self.own_account(who, id).await?;
        self.engine.ledger().balance_at(id, at).await
    }

    async fn submit(&self, who: &Principal, command: LedgerCommand) -> Result<Transaction> {
        allow(who, Scope::LedgerWrite)?;
        let ledger = self.engine.ledger();
        match &command {
            LedgerCommand::Transfer(t) => self.own_entries(who, &t.entries).await?,
            LedgerCommand::Hold(h) => self.own_entries(who, &h.entries).await?,
            LedgerCommand::PostHold(p) => {
                self.own_entries(who, &ledger.get_hold(&p.hold_id).await?.entries)
                    .await?;
            }
            LedgerCommand::VoidHold(v) => {
                self.own_entries(who, &ledger.get_hold(&v.hold_id).await?.entries)
                    .await?;
            }
            LedgerCommand::Reverse(r) => {
                let original = ledger.transaction(&r.transaction_id).await?;
                self.own_entries(who, &original.entries).await?;
            }
            LedgerCommand::ExpireHold(_) => {
                return Err(Error::InvalidTransaction {
                    reason: "holds expire on their own".into(),
                });
            }
        }
        ledger.submit(command).await
    }

    async fn transaction(&self, who: &Principal, id: &TransactionId) -> Result<Transaction> {
        allow(who, Scope::LedgerRead)?;
        let transaction = self.engine.ledger().transaction(id).await?;
        if !self.touches(who, &transaction.entries).await {
            return Err(Error::TransactionNotFound { id: id.to_string() });
        }
        Ok(transaction)
    }

    async fn hold(&self, who: &Principal, id: &TransactionId) -> Result<Hold> {
        allow(who, Scope::LedgerRead)?;
        let hold = self.engine.ledger().get_hold(id).await?;
        if !self.touches(who, &hold.entries).await {
            return Err(Error::HoldNotFound { id: id.to_string() });
        }
        Ok(hold)
    }

    async fn history(
        &self,
        who: &Principal,
        id: &AccountId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<HistoryEntry>> {
        allow(who, Scope::LedgerRead)?;
        self.own_account(who, id).await?;
        self.engine.ledger().history(id, cursor, limit).await
    }
}
