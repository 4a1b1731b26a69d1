//! A tenant's ledger: accounts it owns, transfers, holds and reversals among them, balances
//! and history. The engine's own accounts are out of reach, except that a merchant may read
//! its own payment balances.

use super::Tenant;
use super::keys::Operation;
use crate::auth::Scope;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{AccountId, TransactionId};
use crate::ledger::model::{
    Account, AccountOwner, Balance, Entry, HistoryEntry, Hold, LedgerCommand, NewAccount, Page,
    Transaction,
};

impl Tenant {
    /// Opens an account owned by the tenant's merchant (whatever `new.owner` says). Ids in the
    /// reserved range are the engine's and refused; an id another tenant holds is
    /// `idempotency_conflict`.
    pub async fn create_account(&self, key: Option<&str>, new: NewAccount) -> Result<Account> {
        self.require(Scope::LedgerWrite)?;
        if new.id.is_reserved() {
            return Err(Error::InvalidAccount {
                reason: format!(
                    "ids starting {}_0000000000 are reserved for the engine's own accounts",
                    AccountId::PREFIX
                ),
            });
        }
        let new = new.owned_by(self.account_owner());
        self.once(Operation::CreateAccount, key, &new, |_| {
            self.ledger().create_account(new.clone())
        })
        .await
    }

    /// An account the tenant may read, with its balance.
    pub async fn account(&self, id: &AccountId) -> Result<(Account, Balance)> {
        self.require(Scope::LedgerRead)?;
        self.readable_account(id).await
    }

    /// Closes one of the tenant's accounts.
    pub async fn close_account(&self, id: &AccountId) -> Result<Account> {
        self.require(Scope::LedgerWrite)?;
        self.own_account(id).await?;
        self.ledger().close_account(id).await
    }

    /// A balance as of `at`.
    pub async fn balance_at(&self, id: &AccountId, at: Timestamp) -> Result<Balance> {
        self.require(Scope::LedgerRead)?;
        self.readable_account(id).await?;
        self.ledger().balance_at(id, at).await
    }

    /// Applies a transfer, hold, post, void or reversal whose every account is the tenant's.
    pub async fn submit(&self, command: LedgerCommand) -> Result<Transaction> {
        self.require(Scope::LedgerWrite)?;
        let ledger = self.ledger();
        match &command {
            LedgerCommand::Transfer(t) => self.own_entries(&t.entries).await?,
            LedgerCommand::Hold(h) => self.own_entries(&h.entries).await?,
            LedgerCommand::PostHold(p) => {
                self.own_entries(&ledger.get_hold(&p.hold_id).await?.entries)
                    .await?;
            }
            LedgerCommand::VoidHold(v) => {
                self.own_entries(&ledger.get_hold(&v.hold_id).await?.entries)
                    .await?;
            }
            LedgerCommand::Reverse(r) => {
                let original = ledger.transaction(&r.transaction_id).await?;
                self.own_entries(&original.entries).await?;
            }
            LedgerCommand::ExpireHold(_) => {
                return Err(Error::InvalidTransaction {
                    reason: "holds expire on their own".into(),
                });
            }
        }
        ledger.submit(command).await
    }

    /// A transaction touching an account the tenant may read.
    pub async fn transaction(&self, id: &TransactionId) -> Result<Transaction> {
        self.require(Scope::LedgerRead)?;
        let transaction = self.ledger().transaction(id).await?;
        if !self.touches(&transaction.entries).await? {
            return Err(Error::TransactionNotFound { id: id.to_string() });
        }
        Ok(transaction)
    }

    /// A hold touching an account the tenant may read.
    pub async fn hold(&self, id: &TransactionId) -> Result<Hold> {
        self.require(Scope::LedgerRead)?;
        let hold = self.ledger().get_hold(id).await?;
        if !self.touches(&hold.entries).await? {
            return Err(Error::HoldNotFound { id: id.to_string() });
        }
        Ok(hold)
    }

    /// An account's posted entries, oldest first, a page at a time.
    pub async fn history(
        &self,
        id: &AccountId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<HistoryEntry>> {
        self.require(Scope::LedgerRead)?;
        self.readable_account(id).await?;
        self.ledger().history(id, cursor, limit).await
    }

    /// The owner of the accounts this tenant opens: its merchant, in its mode.
    fn account_owner(&self) -> AccountOwner {
        AccountOwner::Merchant(self.merchant().clone(), self.mode())
    }

    /// An account the tenant owns; any other is as good as unknown.
    async fn own_account(&self, id: &AccountId) -> Result<(Account, Balance)> {
        let found = self.ledger().account_and_balance(id).await?;
        if found.0.owner != self.account_owner() {
            return Err(Error::AccountNotFound {
                account: id.to_string(),
            });
        }
        Ok(found)
    }

    /// An account the tenant owns, or its merchant's own payment balance in its mode.
    async fn readable_account(&self, id: &AccountId) -> Result<(Account, Balance)> {
        let found = self.ledger().account_and_balance(id).await?;
        if !self.may_read(&found.0) {
            return Err(Error::AccountNotFound {
                account: id.to_string(),
            });
        }
        Ok(found)
    }

    fn may_read(&self, account: &Account) -> bool {
        match &account.owner {
            AccountOwner::Merchant(..) => account.owner == self.account_owner(),
            AccountOwner::System => {
                crate::payments::is_merchant_balance(account, self.merchant(), self.mode())
            }
            AccountOwner::Host => false,
        }
    }

    /// Every account the entries touch is the tenant's own.
    async fn own_entries(&self, entries: &[Entry]) -> Result<()> {
        for entry in entries {
            self.own_account(&entry.account).await?;
        }
        Ok(())
    }

    /// Whether any of the entries touches an account the tenant may read.
    async fn touches(&self, entries: &[Entry]) -> Result<bool> {
        for entry in entries {
            match self.ledger().account(&entry.account).await {
                Ok(account) if self.may_read(&account) => return Ok(true),
                Ok(_) | Err(Error::AccountNotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(false)
    }
}
