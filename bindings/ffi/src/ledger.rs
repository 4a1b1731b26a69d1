//! The ledger: accounts, transfers, holds, balances and history.

use std::collections::HashMap;
use std::time::SystemTime;

use obol::{
    Account, AccountId, Balance, Entry, HistoryEntry, Hold, LedgerCommand, NewAccount, NewHold,
    NewTransaction, PostAmount, PostHold, Result, Transaction, TransactionId, VoidHold,
};

use crate::convert::{amount, id, metadata, metadata_out, time, timestamp};
use crate::error::LedgerError;
use crate::object::Obol;
use crate::tenant::Tenant;

/// A side of an entry, and an account's normal balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewAccountInput {
    /// Its id (`acct_…`); a new one when absent. Pass one to make a retry safe.
    #[uniffi(default = None)]
    pub id: Option<String>,
    /// The asset code (`USD`, `BTC`, …).
    pub asset: String,
    /// The side it grows on: debit for assets and expenses, credit for liabilities and
    /// income.
    pub normal_balance: Direction,
    /// Refuse entries that would take its balance below zero on its normal side.
    #[uniffi(default = false)]
    pub no_overdraft: bool,
    /// Free-form labels.
    pub metadata: HashMap<String, String>,
}

/// An account.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AccountRecord {
    /// `acct_…`.
    pub id: String,
    /// The asset code.
    pub asset: String,
    /// The side it grows on.
    pub normal_balance: Direction,
    /// Whether it refuses going below zero.
    pub no_overdraft: bool,
    /// Free-form labels.
    pub metadata: HashMap<String, String>,
    /// Closed accounts take no entries.
    pub closed: bool,
    /// When it was made.
    pub created_at: SystemTime,
}

impl From<Account> for AccountRecord {
    fn from(account: Account) -> Self {
        AccountRecord {
            id: account.id.to_string(),
            asset: account.asset.to_string(),
            normal_balance: account.normal_balance.into(),
            no_overdraft: account.flags.debits_must_not_exceed_credits
                || account.flags.credits_must_not_exceed_debits,
            metadata: metadata_out(account.metadata),
            closed: account.closed,
            created_at: time(account.created_at),
        }
    }
}

/// An account's balance, in minor units as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BalanceRecord {
    /// The account.
    pub account: String,
    /// The asset code.
    pub asset: String,
    /// Posted, on the account's normal side (credits minus debits for a credit account).
    pub posted: String,
    /// Posted less what pending holds take away, on the normal side.
    pub available: String,
    /// Sum of posted debits.
    pub debits_posted: String,
    /// Sum of posted credits.
    pub credits_posted: String,
    /// Sum of pending (held) debits.
    pub debits_pending: String,
    /// Sum of pending (held) credits.
    pub credits_pending: String,
}

fn balance_record(account: &Account, balance: &Balance) -> BalanceRecord {
    BalanceRecord {
        account: account.id.to_string(),
        asset: account.asset.to_string(),
        posted: balance.posted(account.normal_balance).to_string(),
        available: balance.available(account.normal_balance).to_string(),
        debits_posted: balance.debits_posted.to_string(),
        credits_posted: balance.credits_posted.to_string(),
        debits_pending: balance.debits_pending.to_string(),
        credits_pending: balance.credits_pending.to_string(),
    }
}

/// One entry of a transfer or hold.
#[derive(Debug, Clone, uniffi::Record)]
pub struct EntryInput {
    /// The account (`acct_…`).
    pub account: String,
    /// Debit or credit.
    pub direction: Direction,
    /// Minor units, a positive decimal string (`"1250"` is 12.50 USD).
    pub amount: String,
    /// The asset code; the account's.
    pub asset: String,
}

fn entries(inputs: &[EntryInput]) -> Result<Vec<Entry>> {
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

/// One entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EntryRecord {
    /// The account.
    pub account: String,
    /// Debit or credit.
    pub direction: Direction,
    /// Minor units.
    pub amount: String,
    /// The asset code.
    pub asset: String,
}

fn entry_records(entries: Vec<Entry>) -> Vec<EntryRecord> {
    entries
        .into_iter()
        .map(|entry| EntryRecord {
            account: entry.account.to_string(),
            direction: entry.direction.into(),
            amount: entry.amount.to_string(),
            asset: entry.asset.to_string(),
        })
        .collect()
}

/// A transaction as stored (a transfer, a hold, a posting or voiding of one, …).
#[derive(Debug, Clone, uniffi::Record)]
pub struct TransactionRecord {
    /// `txn_…`; also the idempotency key of the request that made it.
    pub id: String,
    /// `posted`, `hold`, `post_hold`, `void_hold`, `expiry` or `reversal`.
    pub kind: String,
    /// Its entries.
    pub entries: Vec<EntryRecord>,
    /// The hold or transaction it acts on.
    pub related: Option<String>,
    /// When it takes effect.
    pub effective_at: SystemTime,
    /// Free-form labels.
    pub metadata: HashMap<String, String>,
}

impl From<Transaction> for TransactionRecord {
    fn from(transaction: Transaction) -> Self {
        TransactionRecord {
            id: transaction.id.to_string(),
            kind: transaction.kind.as_str().to_owned(),
            entries: entry_records(transaction.entries),
            related: transaction.related.map(|id| id.to_string()),
            effective_at: time(transaction.effective_at),
            metadata: metadata_out(transaction.metadata),
        }
    }
}

/// A hold and what has been posted of it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct HoldRecord {
    /// `txn_…` of the hold.
    pub id: String,
    /// `pending`, `posted`, `voided` or `expired`.
    pub status: String,
    /// The held entries.
    pub entries: Vec<EntryRecord>,
    /// Posted so far, per entry, in minor units.
    pub posted: Vec<String>,
    /// When it lapses, if ever.
    pub expires_at: Option<SystemTime>,
}

impl From<Hold> for HoldRecord {
    fn from(hold: Hold) -> Self {
        HoldRecord {
            id: hold.id.to_string(),
            status: hold.status.as_str().to_owned(),
            entries: entry_records(hold.entries),
            posted: hold.posted.iter().map(i128::to_string).collect(),
            expires_at: hold.expires_at.map(time),
        }
    }
}

/// One posted entry in an account's history.
#[derive(Debug, Clone, uniffi::Record)]
pub struct HistoryRecord {
    /// Its place in the account's history.
    pub sequence: i64,
    /// The transaction it belongs to.
    pub transaction_id: String,
    /// Debit or credit.
    pub direction: Direction,
    /// Minor units.
    pub amount: String,
    /// The asset code.
    pub asset: String,
    /// When it took effect.
    pub effective_at: SystemTime,
}

impl From<HistoryEntry> for HistoryRecord {
    fn from(entry: HistoryEntry) -> Self {
        HistoryRecord {
            sequence: entry.sequence,
            transaction_id: entry.transaction_id.to_string(),
            direction: entry.direction.into(),
            amount: entry.amount.to_string(),
            asset: entry.asset.to_string(),
            effective_at: time(entry.effective_at),
        }
    }
}

/// A page of history and the cursor of the next (absent on the last page).
#[derive(Debug, Clone, uniffi::Record)]
pub struct HistoryPage {
    /// Oldest first.
    pub items: Vec<HistoryRecord>,
    /// Pass it back for the next page.
    pub next_cursor: Option<String>,
}

/// A transaction id given by the caller, or a new one.
fn transaction_id(tenant: &obol::Tenant, given: Option<&str>) -> Result<TransactionId> {
    match given {
        Some(given) => id(given),
        None => Ok(TransactionId::generate(tenant.ids())),
    }
}

#[uniffi::export]
impl Obol {
    /// Registers an asset (code and decimal places); USD, EUR, BTC, ETH and the other
    /// common ones exist already.
    pub async fn register_asset(&self, code: String, scale: u8) -> Result<(), LedgerError> {
        self.call(|engine| async move {
            let asset = obol::Asset::new(&code, scale)?;
            engine.ledger().register_asset(asset).await
        })
        .await
    }
}

#[uniffi::export]
impl Tenant {
    /// Opens an account the tenant owns.
    pub async fn create_account(
        &self,
        input: NewAccountInput,
    ) -> Result<AccountRecord, LedgerError> {
        self.call(|tenant| async move {
            let id = match &input.id {
                Some(given) => id(given)?,
                None => AccountId::generate(tenant.ids()),
            };
            let asset = obol::AssetCode::new(&input.asset)?;
            let mut new = NewAccount::new(id, asset, input.normal_balance.into());
            if input.no_overdraft {
                new = new.no_overdraft();
            }
            new.metadata = metadata(input.metadata);
            tenant.create_account(None, new).await
        })
        .await
        .map(AccountRecord::from)
    }

    /// An account.
    pub async fn account(&self, id: String) -> Result<AccountRecord, LedgerError> {
        self.call(|tenant| async move { tenant.account(&crate::convert::id(&id)?).await })
            .await
            .map(|(account, _)| AccountRecord::from(account))
    }

    /// An account's balance now.
    pub async fn balance(&self, account: String) -> Result<BalanceRecord, LedgerError> {
        self.call(|tenant| async move {
            let account: AccountId = id(&account)?;
            let (account, balance) = tenant.account(&account).await?;
            Ok(balance_record(&account, &balance))
        })
        .await
    }

    /// Posts a balanced transaction. `id` is its idempotency key: the same id with the same
    /// entries answers the first result; with different ones, `idempotency_conflict`.
    pub async fn transfer(
        &self,
        id: Option<String>,
        entries: Vec<EntryInput>,
        metadata: HashMap<String, String>,
    ) -> Result<TransactionRecord, LedgerError> {
        self.call(|tenant| async move {
            let mut new = NewTransaction::new(
                transaction_id(&tenant, id.as_deref())?,
                self::entries(&entries)?,
            );
            new.metadata = crate::convert::metadata(metadata);
            tenant.submit(LedgerCommand::Transfer(new)).await
        })
        .await
        .map(TransactionRecord::from)
    }

    /// Reserves funds: the entries count as pending until posted, voided or expired.
    pub async fn hold(
        &self,
        id: Option<String>,
        entries: Vec<EntryInput>,
        expires_at: Option<SystemTime>,
        metadata: HashMap<String, String>,
    ) -> Result<TransactionRecord, LedgerError> {
        self.call(|tenant| async move {
            let hold = NewHold {
                id: transaction_id(&tenant, id.as_deref())?,
                entries: self::entries(&entries)?,
                expires_at: expires_at.map(timestamp).transpose()?,
                metadata: crate::convert::metadata(metadata),
            };
            tenant.submit(LedgerCommand::Hold(hold)).await
        })
        .await
        .map(TransactionRecord::from)
    }

    /// Posts a hold: all that is still held when `amount` is absent, else that amount (a
    /// two-entry hold), releasing the rest when `release_remainder`.
    pub async fn post_hold(
        &self,
        hold_id: String,
        amount: Option<String>,
        release_remainder: bool,
        id: Option<String>,
    ) -> Result<TransactionRecord, LedgerError> {
        self.call(|tenant| async move {
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
            tenant.submit(LedgerCommand::PostHold(post)).await
        })
        .await
        .map(TransactionRecord::from)
    }

    /// Releases what a hold still holds.
    pub async fn void_hold(
        &self,
        hold_id: String,
        id: Option<String>,
    ) -> Result<TransactionRecord, LedgerError> {
        self.call(|tenant| async move {
            let void = VoidHold {
                id: transaction_id(&tenant, id.as_deref())?,
                hold_id: crate::convert::id(&hold_id)?,
                metadata: Default::default(),
            };
            tenant.submit(LedgerCommand::VoidHold(void)).await
        })
        .await
        .map(TransactionRecord::from)
    }

    /// A hold and what has been posted of it.
    pub async fn get_hold(&self, hold_id: String) -> Result<HoldRecord, LedgerError> {
        self.call(|tenant| async move { tenant.hold(&id(&hold_id)?).await })
            .await
            .map(HoldRecord::from)
    }

    /// A transaction.
    pub async fn transaction(&self, id: String) -> Result<TransactionRecord, LedgerError> {
        self.call(|tenant| async move { tenant.transaction(&crate::convert::id(&id)?).await })
            .await
            .map(TransactionRecord::from)
    }

    /// An account's posted entries, oldest first, `limit` per page.
    pub async fn history(
        &self,
        account: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<HistoryPage, LedgerError> {
        self.call(|tenant| async move {
            let page = tenant
                .history(&id(&account)?, cursor.as_deref(), limit)
                .await?;
            Ok(HistoryPage {
                items: page.items.into_iter().map(HistoryRecord::from).collect(),
                next_cursor: page.next_cursor,
            })
        })
        .await
    }
}
