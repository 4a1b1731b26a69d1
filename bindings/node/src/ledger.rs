//! The ledger: accounts, transfers, holds, balances and history.

use std::collections::HashMap;

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, Result};
use napi_derive::napi;
use obol::{
    Account, Entry, HistoryEntry, Hold, LedgerCommand, NewAccount, NewHold, NewTransaction,
    PostAmount, PostHold, Transaction, TransactionId, VoidHold,
};

use crate::convert::{amount, id, metadata, metadata_out, millis, promise};
use crate::tenant::Tenant;

/// A side of an entry, and an account's normal balance.
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Debit side.
    Debit,
    /// Credit side.
    Credit,
}

impl From<Direction> for obol::Direction {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Debit => obol::Direction::Debit,
            Direction::Credit => obol::Direction::Credit,
        }
    }
}

impl From<obol::Direction> for Direction {
    fn from(direction: obol::Direction) -> Self {
        match direction {
            obol::Direction::Debit => Direction::Debit,
            obol::Direction::Credit => Direction::Credit,
        }
    }
}

/// A new account.
#[napi(object)]
pub struct NewAccountInput {
    /// Its id (`acct_…`); a new one when absent. Pass one to make a retry safe.
    pub id: Option<String>,
    /// The asset code (`USD`, `BTC`, …).
    pub asset: String,
    /// The side it grows on.
    pub normal_balance: Direction,
    /// Refuse entries that would take its balance below zero on its normal side.
    pub no_overdraft: Option<bool>,
    /// Free-form labels.
    pub metadata: Option<HashMap<String, String>>,
}

/// An account.
#[napi(object)]
pub struct AccountRecord {
    /// `acct_…`.
    pub id: String,
    /// The asset code.
    pub asset: String,
    /// The side it grows on.
    pub normal_balance: Direction,
    /// Free-form labels.
    pub metadata: HashMap<String, String>,
    /// Closed accounts take no entries.
    pub closed: bool,
    /// When it was made (milliseconds since 1970).
    pub created_at: i64,
}

impl From<Account> for AccountRecord {
    fn from(account: Account) -> Self {
        AccountRecord {
            id: account.id.to_string(),
            asset: account.asset.to_string(),
            normal_balance: account.normal_balance.into(),
            metadata: metadata_out(account.metadata),
            closed: account.closed,
            created_at: millis(account.created_at),
        }
    }
}

/// An account's balance, in minor units as decimal strings.
#[napi(object)]
pub struct BalanceRecord {
    /// The account.
    pub account: String,
    /// The asset code.
    pub asset: String,
    /// Posted, on the account's normal side.
    pub posted: String,
    /// Posted less what pending holds take away, on the normal side.
    pub available: String,
    /// Sum of pending (held) debits.
    pub debits_pending: String,
    /// Sum of pending (held) credits.
    pub credits_pending: String,
}

/// One entry of a transfer or hold.
#[napi(object)]
pub struct EntryInput {
    /// The account (`acct_…`).
    pub account: String,
    /// Debit or credit.
    pub direction: Direction,
    /// Minor units, a positive decimal string.
    pub amount: String,
    /// The asset code; the account's.
    pub asset: String,
}

fn entries(inputs: &[EntryInput]) -> obol::Result<Vec<Entry>> {
    inputs
        .iter()
        .map(|input| {
            Ok(Entry {
                account: id(&input.account)?,
                direction: input.direction.into(),
                amount: amount(&input.amount)?,
                asset: obol::AssetCode::new(&input.asset)?,
            })
        })
        .collect()
}

/// A transaction as stored.
#[napi(object)]
pub struct TransactionRecord {
    /// `txn_…`; also the idempotency key of the request that made it.
    pub id: String,
    /// `posted`, `hold`, `post_hold`, `void_hold`, `expiry` or `reversal`.
    pub kind: String,
    /// The hold or transaction it acts on.
    pub related: Option<String>,
}

impl From<Transaction> for TransactionRecord {
    fn from(transaction: Transaction) -> Self {
        TransactionRecord {
            id: transaction.id.to_string(),
            kind: transaction.kind.as_str().to_owned(),
            related: transaction.related.map(|id| id.to_string()),
        }
    }
}

/// A hold and what has been posted of it.
#[napi(object)]
pub struct HoldRecord {
    /// `txn_…` of the hold.
    pub id: String,
    /// `pending`, `posted`, `voided` or `expired`.
    pub status: String,
    /// Posted so far, per entry, in minor units.
    pub posted: Vec<String>,
}

impl From<Hold> for HoldRecord {
    fn from(hold: Hold) -> Self {
        HoldRecord {
            id: hold.id.to_string(),
            status: hold.status.as_str().to_owned(),
            posted: hold.posted.iter().map(i128::to_string).collect(),
        }
    }
}

/// One posted entry in an account's history.
#[napi(object)]
pub struct HistoryRecord {
    /// Its place in the account's history.
    pub sequence: i64,
    /// The transaction it belongs to.
    pub transaction_id: String,
    /// Debit or credit.
    pub direction: Direction,
    /// Minor units.
    pub amount: String,
}

impl From<HistoryEntry> for HistoryRecord {
    fn from(entry: HistoryEntry) -> Self {
        HistoryRecord {
            sequence: entry.sequence,
            transaction_id: entry.transaction_id.to_string(),
            direction: entry.direction.into(),
            amount: entry.amount.to_string(),
        }
    }
}

/// A page of history and the cursor of the next (absent on the last page).
#[napi(object)]
pub struct HistoryPage {
    /// Oldest first.
    pub items: Vec<HistoryRecord>,
    /// Pass it back for the next page.
    pub next_cursor: Option<String>,
}

fn transaction_id(tenant: &obol::Tenant, given: Option<&str>) -> obol::Result<TransactionId> {
    match given {
        Some(given) => id(given),
        None => Ok(TransactionId::generate(tenant.ids())),
    }
}

#[napi]
impl Tenant {
    /// Opens an account the tenant owns.
    #[napi]
    pub fn create_account<'env>(
        &self,
        env: &'env Env,
        input: NewAccountInput,
    ) -> Result<PromiseRaw<'env, AccountRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let tenant = tenant?;
            let id = match &input.id {
                Some(given) => id(given)?,
                None => obol::AccountId::generate(tenant.ids()),
            };
            let asset = obol::AssetCode::new(&input.asset)?;
            let mut new = NewAccount::new(id, asset, input.normal_balance.into());
            if input.no_overdraft == Some(true) {
                new = new.no_overdraft();
            }
            new.metadata = metadata(input.metadata);
            tenant
                .create_account(None, new)
                .await
                .map(AccountRecord::from)
        })
    }

    /// An account's balance now.
    #[napi]
    pub fn balance<'env>(
        &self,
        env: &'env Env,
        account: String,
    ) -> Result<PromiseRaw<'env, BalanceRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let (account, balance) = tenant?.account(&id(&account)?).await?;
            let normal = account.normal_balance;
            Ok(BalanceRecord {
                account: account.id.to_string(),
                asset: account.asset.to_string(),
                posted: balance.posted(normal).to_string(),
                available: balance.available(normal).to_string(),
                debits_pending: balance.debits_pending.to_string(),
                credits_pending: balance.credits_pending.to_string(),
            })
        })
    }

    /// Posts a balanced transaction. `id` is its idempotency key: the same id with the same
    /// entries answers the first result; with different ones, `idempotency_conflict`.
    #[napi]
    pub fn transfer<'env>(
        &self,
        env: &'env Env,
        id: Option<String>,
        entries: Vec<EntryInput>,
        metadata: Option<HashMap<String, String>>,
    ) -> Result<PromiseRaw<'env, TransactionRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let tenant = tenant?;
            let mut new = NewTransaction::new(
                transaction_id(&tenant, id.as_deref())?,
                self::entries(&entries)?,
            );
            new.metadata = crate::convert::metadata(metadata);
            tenant
                .submit(LedgerCommand::Transfer(new))
                .await
                .map(TransactionRecord::from)
        })
    }

    /// Reserves funds: the entries count as pending until posted, voided or expired.
    #[napi]
    pub fn hold<'env>(
        &self,
        env: &'env Env,
        id: Option<String>,
        entries: Vec<EntryInput>,
    ) -> Result<PromiseRaw<'env, TransactionRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let tenant = tenant?;
            let hold = NewHold {
                id: transaction_id(&tenant, id.as_deref())?,
                entries: self::entries(&entries)?,
                expires_at: None,
                metadata: Default::default(),
            };
            tenant
                .submit(LedgerCommand::Hold(hold))
                .await
                .map(TransactionRecord::from)
        })
    }

    /// Posts a hold: all still held when `amount` is absent, else that amount, releasing the
    /// rest when `releaseRemainder`.
    #[napi]
    pub fn post_hold<'env>(
        &self,
        env: &'env Env,
        hold_id: String,
        amount: Option<String>,
        release_remainder: bool,
        id: Option<String>,
    ) -> Result<PromiseRaw<'env, TransactionRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let tenant = tenant?;
            let post = PostHold {
                id: transaction_id(&tenant, id.as_deref())?,
                hold_id: crate::convert::id(&hold_id)?,
                amount: match amount {
                    Some(text) => PostAmount::Amount(crate::convert::amount(&text)?),
                    None => PostAmount::Remaining,
                },
                release_remainder,
                effective_at: None,
                metadata: Default::default(),
            };
            tenant
                .submit(LedgerCommand::PostHold(post))
                .await
                .map(TransactionRecord::from)
        })
    }

    /// Releases what a hold still holds.
    #[napi]
    pub fn void_hold<'env>(
        &self,
        env: &'env Env,
        hold_id: String,
        id: Option<String>,
    ) -> Result<PromiseRaw<'env, TransactionRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let tenant = tenant?;
            let void = VoidHold {
                id: transaction_id(&tenant, id.as_deref())?,
                hold_id: crate::convert::id(&hold_id)?,
                metadata: Default::default(),
            };
            tenant
                .submit(LedgerCommand::VoidHold(void))
                .await
                .map(TransactionRecord::from)
        })
    }

    /// A hold and what has been posted of it.
    #[napi]
    pub fn get_hold<'env>(
        &self,
        env: &'env Env,
        hold_id: String,
    ) -> Result<PromiseRaw<'env, HoldRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            tenant?.hold(&id(&hold_id)?).await.map(HoldRecord::from)
        })
    }

    /// An account's posted entries, oldest first, `limit` per page.
    #[napi]
    pub fn history<'env>(
        &self,
        env: &'env Env,
        account: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<PromiseRaw<'env, HistoryPage>> {
        let tenant = self.scoped();
        promise(env, async move {
            let page = tenant?
                .history(&id(&account)?, cursor.as_deref(), limit)
                .await?;
            Ok(HistoryPage {
                items: page.items.into_iter().map(HistoryRecord::from).collect(),
                next_cursor: page.next_cursor,
            })
        })
    }
}
