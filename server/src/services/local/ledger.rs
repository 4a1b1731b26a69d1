//! The ledger, in process: the tenant API.

use async_trait::async_trait;
use obol::auth::Principal;
use obol::{
    Account, AccountId, Balance, HistoryEntry, Hold, LedgerCommand, NewAccount, Page, Result,
    Timestamp, Transaction, TransactionId,
};

use super::Local;
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
        self.tenant(who).create_account(key, new).await
    }

    async fn account(&self, who: &Principal, id: &AccountId) -> Result<(Account, Balance)> {
        self.tenant(who).account(id).await
    }

    async fn close_account(&self, who: &Principal, id: &AccountId) -> Result<Account> {
        self.tenant(who).close_account(id).await
    }

    async fn balance_at(&self, who: &Principal, id: &AccountId, at: Timestamp) -> Result<Balance> {
        self.tenant(who).balance_at(id, at).await
    }

    async fn submit(&self, who: &Principal, command: LedgerCommand) -> Result<Transaction> {
        self.tenant(who).submit(command).await
    }

    async fn transaction(&self, who: &Principal, id: &TransactionId) -> Result<Transaction> {
        self.tenant(who).transaction(id).await
    }

    async fn hold(&self, who: &Principal, id: &TransactionId) -> Result<Hold> {
        self.tenant(who).hold(id).await
    }

    async fn history(
        &self,
        who: &Principal,
        id: &AccountId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<HistoryEntry>> {
        self.tenant(who).history(id, cursor, limit).await
    }
}
