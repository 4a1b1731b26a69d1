//! The double-entry ledger: accounts, transactions, holds, reversals, balances and history.

pub mod batch;
pub mod codec;
pub mod model;
pub mod stats;
pub mod validate;
pub mod writer;

use std::sync::{Arc, RwLock};

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::error::{Error, Result};
use crate::id::{AccountId, IdGen, RandomIdGen, TransactionId};
use crate::money::{Asset, AssetCode, AssetRegistry};
use crate::store::Store;
use batch::Submission;
use model::{
    Account, Balance, ExpireHold, HistoryEntry, Hold, LedgerCommand, NewAccount, NewHold,
    NewTransaction, Page, PostHold, Reverse, Transaction, VoidHold,
};
use writer::{BatchWriter, WriterConfig};

/// The largest page a history query returns.
pub const MAX_PAGE: u32 = 1000;

/// How a ledger is set up: its time and id sources and writer tuning.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The id generator.
    pub ids: Arc<dyn IdGen>,
    /// Writer tuning.
    pub writer: WriterConfig,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        LedgerConfig {
            ids: Arc::new(RandomIdGen::new(clock.clone())),
            clock,
            writer: WriterConfig::default(),
        }
    }
}

/// The ledger engine over a Store. Cheap to share behind an `Arc`; all writes go through one
/// batching writer.
#[derive(Debug)]
pub struct Ledger {
    store: Arc<dyn Store>,
    writer: BatchWriter,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    assets: RwLock<AssetRegistry>,
}

impl Ledger {
    /// Opens the ledger on a store: loads custom assets and starts the writer task.
    pub async fn open(store: Arc<dyn Store>, config: LedgerConfig) -> Result<Self> {
        let mut assets = AssetRegistry::with_builtins();
        for asset in store.custom_assets().await? {
            assets.register(asset)?;
        }
        let writer = BatchWriter::spawn(store.clone(), config.clock.clone(), config.writer);
        Ok(Ledger {
            store,
            writer,
            clock: config.clock,
            ids: config.ids,
            assets: RwLock::new(assets),
        })
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock every engine part reads time from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The id source every engine part takes ids from.
    pub fn ids(&self) -> &Arc<dyn IdGen> {
        &self.ids
    }

    /// The current time by the ledger's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A fresh account id.
    pub fn new_account_id(&self) -> AccountId {
        AccountId::generate(self.ids.as_ref())
    }

    /// A fresh transaction id.
    pub fn new_transaction_id(&self) -> TransactionId {
        TransactionId::generate(self.ids.as_ref())
    }

    /// Looks up an asset by code.
    pub fn asset(&self, code: &str) -> Result<Asset> {
        let code = AssetCode::new(code)?;
        self.registry()?.get(&code)
    }

    /// A copy of the asset registry, for parsing and formatting money.
    pub fn assets(&self) -> Result<AssetRegistry> {
        Ok(self.registry()?.clone())
    }

    fn registry(&self) -> Result<std::sync::RwLockReadGuard<'_, AssetRegistry>> {
        self.assets
            .read()
            .map_err(|_| Error::unavailable("asset registry lock poisoned"))
    }

    /// Defines a custom asset (a token) with its scale; defining it again the same way is a
    /// no-op, with another scale an error.
    pub async fn register_asset(&self, asset: Asset) -> Result<()> {
        if AssetRegistry::is_builtin(&asset.code) {
            return self.registry()?.clone().register(asset);
        }
        self.registry()?.clone().register(asset.clone())?;
        self.store.save_asset(&asset).await?;
        self.assets
            .write()
            .map_err(|_| Error::unavailable("asset registry lock poisoned"))?
            .register(asset)
    }

    /// Opens an account. The same id with the same definition returns the existing account;
    /// with a different one, `idempotency_conflict`.
    pub async fn create_account(&self, new: NewAccount) -> Result<Account> {
        validate::account(&new)?;
        self.registry()?.get(&new.asset)?;
        let account = Account {
            id: new.id.clone(),
            asset: new.asset.clone(),
            normal_balance: new.normal_balance,
            flags: new.flags,
            limit: new.limit,
            metadata: new.metadata.clone(),
            closed: false,
            created_at: self.clock.now(),
            owner: new.owner.clone(),
        };
        let stored = self.store.insert_account(&account).await?;
        if !stored.matches(&new) {
            return Err(Error::IdempotencyConflict {
                id: new.id.to_string(),
            });
        }
        Ok(stored)
    }

    /// An account.
    pub async fn account(&self, id: &AccountId) -> Result<Account> {
        Ok(self.account_and_balance(id).await?.0)
    }

    /// An account and its balance, read together.
    pub async fn account_and_balance(&self, id: &AccountId) -> Result<(Account, Balance)> {
        self.store
            .account(id)
            .await?
            .ok_or_else(|| Error::AccountNotFound {
                account: id.to_string(),
            })
    }

    /// Closes an account to new movements (pending holds may still be voided or expire).
    pub async fn close_account(&self, id: &AccountId) -> Result<Account> {
        self.store
            .close_account(id)
            .await?
            .ok_or_else(|| Error::AccountNotFound {
                account: id.to_string(),
            })
    }

    /// The current balance of an account.
    pub async fn balance(&self, id: &AccountId) -> Result<Balance> {
        Ok(self.account_and_balance(id).await?.1)
    }

    /// Posted debits and credits of an account counting entries effective at or before `at`
    /// (pending holds are not part of a point-in-time balance).
    pub async fn balance_at(&self, id: &AccountId, at: Timestamp) -> Result<Balance> {
        self.account(id).await?;
        let (debits_posted, credits_posted) = self.store.posted_at(id, at).await?;
        Ok(Balance {
            debits_posted,
            credits_posted,
            ..Balance::default()
        })
    }

    /// Applies any ledger command once; the command's id is its idempotency key.
    pub async fn submit(&self, command: LedgerCommand) -> Result<Transaction> {
        validate::command(&command)?;
        self.writer.submit(Submission::new(command)?).await
    }

    /// Applies several commands in one request: they are committed in the same database
    /// transaction, each with its own result (a failing one fails alone), in order. This is
    /// the high-throughput path: one round trip for many transfers.
    pub async fn submit_many(
        &self,
        commands: Vec<LedgerCommand>,
    ) -> Result<Vec<Result<Transaction>>> {
        let mut results: Vec<Option<Result<Transaction>>> = Vec::with_capacity(commands.len());
        let mut accepted = Vec::with_capacity(commands.len());
        for command in commands {
            // Invalid input is answered here and never reaches the store.
            match validate::command(&command).and_then(|()| Submission::new(command)) {
                Ok(submission) => {
                    accepted.push(submission);
                    results.push(None);
                }
                Err(error) => results.push(Some(Err(error))),
            }
        }
        let mut written = self.writer.submit_many(accepted).await?.into_iter();
        results
            .into_iter()
            .map(|slot| match slot {
                Some(rejected) => Ok(rejected),
                None => written
                    .next()
                    .ok_or_else(|| Error::corrupt("the writer answered too few results")),
            })
            .collect()
    }

    /// Posts a transaction.
    pub async fn transfer(&self, transaction: NewTransaction) -> Result<Transaction> {
        self.submit(LedgerCommand::Transfer(transaction)).await
    }

    /// Places a hold (pending transaction).
    pub async fn hold(&self, hold: NewHold) -> Result<Transaction> {
        self.submit(LedgerCommand::Hold(hold)).await
    }

    /// Posts all or part of a hold.
    pub async fn post_hold(&self, post: PostHold) -> Result<Transaction> {
        self.submit(LedgerCommand::PostHold(post)).await
    }

    /// Voids a hold.
    pub async fn void_hold(&self, void: VoidHold) -> Result<Transaction> {
        self.submit(LedgerCommand::VoidHold(void)).await
    }

    /// Reverses a posted transaction.
    pub async fn reverse(&self, reverse: Reverse) -> Result<Transaction> {
        self.submit(LedgerCommand::Reverse(reverse)).await
    }

    /// Expires every pending hold past its timeout; returns how many expired.
    pub async fn expire_due_holds(&self) -> Result<usize> {
        let mut expired = 0;
        loop {
            let due = self.store.due_holds(self.clock.now(), 256).await?;
            if due.is_empty() {
                return Ok(expired);
            }
            let commands = due.into_iter().map(|hold_id| {
                self.submit(LedgerCommand::ExpireHold(ExpireHold {
                    id: self.new_transaction_id(),
                    hold_id,
                }))
            });
            for result in futures::future::join_all(commands).await {
                match result {
                    Ok(_) => expired += 1,
                    // Posted or voided meanwhile: nothing to expire.
                    Err(Error::HoldNotPending { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
        }
    }

    /// A committed transaction.
    pub async fn transaction(&self, id: &TransactionId) -> Result<Transaction> {
        self.store
            .transaction(id)
            .await?
            .ok_or_else(|| Error::TransactionNotFound { id: id.to_string() })
    }

    /// A hold and how much of it is posted.
    pub async fn get_hold(&self, id: &TransactionId) -> Result<Hold> {
        self.store
            .hold(id)
            .await?
            .ok_or_else(|| Error::HoldNotFound { id: id.to_string() })
    }

    /// Posted entries of an account, oldest first, `limit` per page (at most [`MAX_PAGE`]).
    pub async fn history(
        &self,
        account: &AccountId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<HistoryEntry>> {
        self.account(account).await?;
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.clamp(1, MAX_PAGE);
        let items = self.store.history(account, after, limit).await?;
        let full = items.len() == usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = items
            .last()
            .filter(|_| full)
            .map(|last| encode_cursor(last.sequence));
        Ok(Page { items, next_cursor })
    }

    /// The batching writer's counters (batches, sizes, commit latencies).
    pub fn writer_stats(&self) -> stats::WriterSnapshot {
        self.writer.stats().snapshot()
    }

    /// Stops taking writes and waits until everything queued is durable.
    pub async fn shutdown(self) {
        self.writer.shutdown().await;
    }
}

fn encode_cursor(sequence: i64) -> String {
    format!("seq_{sequence}")
}

/// A cursor this ledger made: `seq_` and a sequence number, digits only (no sign).
fn decode_cursor(cursor: &str) -> Result<i64> {
    cursor
        .strip_prefix("seq_")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
        .ok_or(Error::InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_nothing_else_reads_as_one() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        for bad in [
            "seq_-1",
            "seq_+1",
            "seq_",
            "seq_1 ",
            "42",
            "seq_99999999999999999999",
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
