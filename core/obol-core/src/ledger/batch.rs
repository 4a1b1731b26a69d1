//! The ledger's rules, applied to a batch of commands in memory.
//!
//! Every Store runs the same three steps inside one database transaction: load the state the
//! batch touches ([`BatchKeys`] says what), call [`apply`], persist the [`BatchWrites`]. The
//! rules live here once, so every backend behaves the same.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model::{
    Account, Balance, Direction, Entry, ExpireHold, Hold, HoldStatus, LedgerCommand, NewHold,
    NewTransaction, PostAmount, PostHold, Reverse, Transaction, TransactionKind, VoidHold,
};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{AccountId, TransactionId};

/// A command ready for the writer, with the hash of its body (for idempotency checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The command.
    pub command: LedgerCommand,
    /// Hex SHA-256 of the command's canonical JSON.
    pub body_hash: String,
}

impl Submission {
    /// Hashes a command's body.
    pub fn new(command: LedgerCommand) -> Result<Self> {
        let json = serde_json::to_vec(&command).map_err(Error::corrupt)?;
        let body_hash = hex::encode(Sha256::digest(&json));
        Ok(Submission { command, body_hash })
    }
}

/// The stored outcome of an id: what it committed, or the error it failed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The transaction it committed.
    Committed(Transaction),
    /// The error it failed with (replayed for the same id forever).
    Failed(Error),
}

/// An id's stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The body hash of the request that first used the id.
    pub body_hash: String,
    /// What happened.
    pub outcome: Outcome,
}

/// What a batch touches, for the store to load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchKeys {
    /// Ids whose records are needed: the commands' own ids and reversal targets.
    pub records: Vec<TransactionId>,
    /// Holds that are posted, voided or expired.
    pub holds: Vec<TransactionId>,
}

impl BatchKeys {
    /// The records and holds a batch needs.
    pub fn of(batch: &[Submission]) -> Self {
        let mut records = BTreeSet::new();
        let mut holds = BTreeSet::new();
        for sub in batch {
            records.insert(sub.command.id().clone());
            match &sub.command {
                LedgerCommand::PostHold(c) => {
                    holds.insert(c.hold_id.clone());
                }
                LedgerCommand::VoidHold(c) => {
                    holds.insert(c.hold_id.clone());
                }
                LedgerCommand::ExpireHold(c) => {
                    holds.insert(c.hold_id.clone());
                }
                LedgerCommand::Reverse(c) => {
                    records.insert(c.transaction_id.clone());
                }
                LedgerCommand::Transfer(_) | LedgerCommand::Hold(_) => {}
            }
        }
        BatchKeys {
            records: records.into_iter().collect(),
            holds: holds.into_iter().collect(),
        }
    }

    /// The accounts a batch touches, sorted (stores lock them in this order, so two writers
    /// never deadlock).
    pub fn accounts(
        batch: &[Submission],
        records: &HashMap<TransactionId, Record>,
        holds: &HashMap<TransactionId, Hold>,
    ) -> Vec<AccountId> {
        let mut accounts = BTreeSet::new();
        let mut add = |entries: &[Entry]| {
            for e in entries {
                accounts.insert(e.account.clone());
            }
        };
        for sub in batch {
            match &sub.command {
                LedgerCommand::Transfer(c) => add(&c.entries),
                LedgerCommand::Hold(c) => add(&c.entries),
                LedgerCommand::PostHold(PostHold { hold_id, .. })
                | LedgerCommand::VoidHold(VoidHold { hold_id, .. })
                | LedgerCommand::ExpireHold(ExpireHold { hold_id, .. }) => {
                    if let Some(hold) = holds.get(hold_id) {
                        add(&hold.entries);
                    }
                }
                LedgerCommand::Reverse(c) => {
                    if let Some(Record {
                        outcome: Outcome::Committed(t),
                        ..
                    }) = records.get(&c.transaction_id)
                    {
                        add(&t.entries);
                    }
                }
            }
        }
        accounts.into_iter().collect()
    }
}

/// The stored state a batch reads, loaded by the store (accounts locked for update).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchState {
    /// Accounts and their balances.
    pub accounts: HashMap<AccountId, (Account, Balance)>,
    /// Existing records of the batch's ids and reversal targets.
    pub records: HashMap<TransactionId, Record>,
    /// Holds the batch refers to.
    pub holds: HashMap<TransactionId, Hold>,
}

/// What applying some submissions to a [`BatchState`] may change, kept beforehand so the
/// change can be undone: only the rows they touch, so a batch of many writes each of which
/// must fail alone does not copy the whole state once per write.
#[derive(Debug)]
pub struct Savepoint {
    accounts: Vec<(AccountId, Option<(Account, Balance)>)>,
    records: Vec<(TransactionId, Option<Record>)>,
    holds: Vec<(TransactionId, Option<Hold>)>,
}

impl BatchState {
    /// Keeps what applying `batch` may change: its accounts, the records of its ids and
    /// reversal targets, and its holds (a new hold is stored under its command's id).
    pub fn savepoint(&self, batch: &[Submission]) -> Savepoint {
        let keys = BatchKeys::of(batch);
        let accounts = BatchKeys::accounts(batch, &self.records, &self.holds)
            .into_iter()
            .map(|id| {
                let kept = self.accounts.get(&id).cloned();
                (id, kept)
            })
            .collect();
        let holds = keys
            .holds
            .iter()
            .chain(&keys.records)
            .map(|id| (id.clone(), self.holds.get(id).cloned()))
            .collect();
        let records = keys
            .records
            .into_iter()
            .map(|id| {
                let kept = self.records.get(&id).cloned();
                (id, kept)
            })
            .collect();
        Savepoint {
            accounts,
            records,
            holds,
        }
    }

    /// Puts back what `savepoint` kept, undoing whatever was applied since.
    pub fn roll_back(&mut self, savepoint: Savepoint) {
        fn restore<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, kept: Vec<(K, Option<V>)>) {
            for (key, value) in kept {
                match value {
                    Some(value) => {
                        map.insert(key, value);
                    }
                    None => {
                        map.remove(&key);
                    }
                }
            }
        }
        restore(&mut self.accounts, savepoint.accounts);
        restore(&mut self.records, savepoint.records);
        restore(&mut self.holds, savepoint.holds);
    }
}

/// One posted entry to append to the entry log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    /// The transaction.
    pub transaction_id: TransactionId,
    /// The entry.
    pub entry: Entry,
    /// When it counts.
    pub effective_at: Timestamp,
    /// When it was committed.
    pub created_at: Timestamp,
}

/// Everything a batch writes, for the store to persist in the same database transaction.
#[derive(Debug, Clone, Default)]
pub struct BatchWrites {
    /// New records: committed transactions and failed ids, in order.
    pub records: Vec<(TransactionId, Record)>,
    /// Posted entries to append to the history log, in order.
    pub entries: Vec<EntryRow>,
    /// Holds created.
    pub new_holds: Vec<Hold>,
    /// Holds whose posted amounts or status changed (final state).
    pub updated_holds: Vec<Hold>,
    /// (reversed transaction, reversal) links.
    pub reversals: Vec<(TransactionId, TransactionId)>,
    /// Final balances of every account the batch changed.
    pub balances: Vec<(AccountId, Balance)>,
}

impl BatchWrites {
    /// Adds what a later batch on the same state wrote: rows appended, and for holds and
    /// balances the later final state kept (one row write per hold and account, however many
    /// batches touched it: hot accounts are written once per group commit).
    pub fn absorb(&mut self, later: BatchWrites) {
        self.records.extend(later.records);
        self.entries.extend(later.entries);
        self.reversals.extend(later.reversals);
        self.new_holds.extend(later.new_holds);
        for hold in later.updated_holds {
            if let Some(slot) = self.new_holds.iter_mut().find(|h| h.id == hold.id) {
                *slot = hold;
            } else if let Some(slot) = self.updated_holds.iter_mut().find(|h| h.id == hold.id) {
                *slot = hold;
            } else {
                self.updated_holds.push(hold);
            }
        }
        for (account, balance) in later.balances {
            match self.balances.iter_mut().find(|(id, _)| *id == account) {
                Some(slot) => slot.1 = balance,
                None => self.balances.push((account, balance)),
            }
        }
    }
}

/// For writes whose commands must all succeed together (a payment's postings): the first
/// failure, if any.
pub fn all_committed(results: Vec<Result<Transaction>>) -> Result<()> {
    match results.into_iter().find(Result::is_err) {
        Some(Err(error)) => Err(error),
        _ => Ok(()),
    }
}

/// Applies a batch in order; each command succeeds or fails alone. Returns one result per
/// command and what to persist.
pub fn apply(
    state: &mut BatchState,
    batch: &[Submission],
    now: Timestamp,
) -> (Vec<Result<Transaction>>, BatchWrites) {
    let mut writes = BatchWrites::default();
    let mut changed_accounts: BTreeSet<AccountId> = BTreeSet::new();
    let mut new_hold_ids: BTreeSet<TransactionId> = BTreeSet::new();
    let mut updated_hold_ids: BTreeSet<TransactionId> = BTreeSet::new();
    let mut results = Vec::with_capacity(batch.len());

    for sub in batch {
        let id = sub.command.id();
        if let Some(record) = state.records.get(id) {
            let replay = if record.body_hash != sub.body_hash {
                Err(Error::IdempotencyConflict { id: id.to_string() })
            } else {
                match &record.outcome {
                    Outcome::Committed(t) => Ok(t.clone()),
                    Outcome::Failed(e) => Err(e.clone()),
                }
            };
            results.push(replay);
            continue;
        }
        let outcome = match execute(state, &sub.command, now) {
            Ok(effects) => {
                let txn = effects.transaction.clone();
                for (account, balance) in effects.balances {
                    if let Some(slot) = state.accounts.get_mut(&account) {
                        slot.1 = balance;
                    }
                    changed_accounts.insert(account);
                }
                if txn.kind.posts() {
                    writes
                        .entries
                        .extend(txn.entries.iter().map(|entry| EntryRow {
                            transaction_id: txn.id.clone(),
                            entry: entry.clone(),
                            effective_at: txn.effective_at,
                            created_at: txn.created_at,
                        }));
                }
                if let Some(hold) = effects.hold {
                    if txn.kind == TransactionKind::Hold {
                        new_hold_ids.insert(hold.id.clone());
                    } else if !new_hold_ids.contains(&hold.id) {
                        updated_hold_ids.insert(hold.id.clone());
                    }
                    state.holds.insert(hold.id.clone(), hold);
                }
                if let Some(target) = effects.reversed {
                    if let Some(Record {
                        outcome: Outcome::Committed(t),
                        ..
                    }) = state.records.get_mut(&target)
                    {
                        t.reversed_by = Some(txn.id.clone());
                    }
                    writes.reversals.push((target, txn.id.clone()));
                }
                Outcome::Committed(txn)
            }
            Err(error) => Outcome::Failed(error),
        };
        results.push(match &outcome {
            Outcome::Committed(t) => Ok(t.clone()),
            Outcome::Failed(e) => Err(e.clone()),
        });
        let record = Record {
            body_hash: sub.body_hash.clone(),
            outcome,
        };
        writes.records.push((id.clone(), record.clone()));
        state.records.insert(id.clone(), record);
    }

    let hold = |id: &TransactionId| state.holds.get(id).cloned();
    writes.new_holds = new_hold_ids.iter().filter_map(hold).collect();
    writes.updated_holds = updated_hold_ids.iter().filter_map(hold).collect();
    writes.balances = changed_accounts
        .into_iter()
        .filter_map(|id| state.accounts.get(&id).map(|(_, b)| (id.clone(), *b)))
        .collect();
    (results, writes)
}

/// What one successful command changes.
struct Effects {
    transaction: Transaction,
    balances: Vec<(AccountId, Balance)>,
    hold: Option<Hold>,
    reversed: Option<TransactionId>,
}

/// Balances being changed by one command, checked before anything is kept.
struct Draft<'a> {
    state: &'a BatchState,
    balances: HashMap<AccountId, Balance>,
}

impl<'a> Draft<'a> {
    fn new(state: &'a BatchState) -> Self {
        Draft {
            state,
            balances: HashMap::new(),
        }
    }

    fn account(&self, id: &AccountId) -> Result<&'a Account> {
        self.state
            .accounts
            .get(id)
            .map(|(a, _)| a)
            .ok_or_else(|| Error::AccountNotFound {
                account: id.to_string(),
            })
    }

    /// The account must exist, be open and hold the entry's asset.
    fn usable(&self, entry: &Entry) -> Result<()> {
        let account = self.account(&entry.account)?;
        if account.closed {
            return Err(Error::AccountClosed {
                account: account.id.to_string(),
            });
        }
        if account.asset != entry.asset {
            return Err(Error::AssetMismatch {
                account: account.id.to_string(),
                account_asset: account.asset.to_string(),
                entry_asset: entry.asset.to_string(),
            });
        }
        Ok(())
    }

    fn balance(&mut self, id: &AccountId) -> Result<&mut Balance> {
        if !self.balances.contains_key(id) {
            let (_, stored) =
                self.state
                    .accounts
                    .get(id)
                    .ok_or_else(|| Error::AccountNotFound {
                        account: id.to_string(),
                    })?;
            self.balances.insert(id.clone(), *stored);
        }
        self.balances
            .get_mut(id)
            .ok_or_else(|| Error::AccountNotFound {
                account: id.to_string(),
            })
    }

    /// Refuses the draft if a flagged account went further past its limit.
    fn check_limits(self) -> Result<Vec<(AccountId, Balance)>> {
        for (id, after) in &self.balances {
            let Some((account, before)) = self.state.accounts.get(id) else {
                continue;
            };
            let exceeds = |b: &Balance| -> Result<(bool, i128)> {
                let flags = account.flags;
                if flags.debits_must_not_exceed_credits {
                    return side_usage(
                        b.debits_posted,
                        b.debits_pending,
                        b.credits_posted,
                        account.limit,
                    );
                }
                if flags.credits_must_not_exceed_debits {
                    return side_usage(
                        b.credits_posted,
                        b.credits_pending,
                        b.debits_posted,
                        account.limit,
                    );
                }
                Ok((false, 0))
            };
            let (over, used_after) = exceeds(after)?;
            // Only a movement that grows the constrained side is refused, so money can always
            // flow back into an account that is already past its limit.
            if over && used_after > exceeds(before)?.1 {
                return Err(Error::InsufficientFunds {
                    account: id.to_string(),
                });
            }
        }
        Ok(self.balances.into_iter().collect())
    }
}

/// For a constrained side: whether posted plus pending exceeds the other side's posted amount
/// plus the limit, and how much of the side is used.
fn side_usage(
    posted: i128,
    pending: i128,
    other_posted: i128,
    limit: i128,
) -> Result<(bool, i128)> {
    let used = posted.checked_add(pending).ok_or(Error::Overflow)?;
    let allowed = other_posted.checked_add(limit).ok_or(Error::Overflow)?;
    Ok((used > allowed, used))
}

fn execute(state: &BatchState, command: &LedgerCommand, now: Timestamp) -> Result<Effects> {
    match command {
        LedgerCommand::Transfer(c) => transfer(state, c, now),
        LedgerCommand::Hold(c) => hold(state, c, now),
        LedgerCommand::PostHold(c) => post_hold(state, c, now),
        LedgerCommand::VoidHold(c) => release(
            state,
            &c.id,
            &c.hold_id,
            &c.metadata,
            now,
            ReleaseKind::Void,
        ),
        LedgerCommand::ExpireHold(c) => release(
            state,
            &c.id,
            &c.hold_id,
            &Default::default(),
            now,
            ReleaseKind::Expire,
        ),
        LedgerCommand::Reverse(c) => reverse(state, c, now),
    }
}

fn transfer(state: &BatchState, c: &NewTransaction, now: Timestamp) -> Result<Effects> {
    let mut draft = Draft::new(state);
    for entry in &c.entries {
        draft.usable(entry)?;
        draft
            .balance(&entry.account)?
            .add(entry.direction, false, entry.amount)?;
    }
    Ok(Effects {
        balances: draft.check_limits()?,
        transaction: Transaction {
            id: c.id.clone(),
            kind: TransactionKind::Posted,
            entries: c.entries.clone(),
            related: None,
            reversed_by: None,
            effective_at: c.effective_at.unwrap_or(now),
            created_at: now,
            metadata: c.metadata.clone(),
        },
        hold: None,
        reversed: None,
    })
}

fn hold(state: &BatchState, c: &NewHold, now: Timestamp) -> Result<Effects> {
    let mut draft = Draft::new(state);
    for entry in &c.entries {
        draft.usable(entry)?;
        draft
            .balance(&entry.account)?
            .add(entry.direction, true, entry.amount)?;
    }
    Ok(Effects {
        balances: draft.check_limits()?,
        transaction: Transaction {
            id: c.id.clone(),
            kind: TransactionKind::Hold,
            entries: c.entries.clone(),
            related: None,
            reversed_by: None,
            effective_at: now,
            created_at: now,
            metadata: c.metadata.clone(),
        },
        hold: Some(Hold {
            id: c.id.clone(),
            entries: c.entries.clone(),
            posted: vec![0; c.entries.len()],
            status: HoldStatus::Pending,
            expires_at: c.expires_at,
            created_at: now,
        }),
        reversed: None,
    })
}

fn pending_hold<'a>(state: &'a BatchState, id: &TransactionId) -> Result<&'a Hold> {
    let hold = state
        .holds
        .get(id)
        .ok_or_else(|| Error::HoldNotFound { id: id.to_string() })?;
    if hold.status != HoldStatus::Pending {
        return Err(Error::HoldNotPending {
            id: id.to_string(),
            status: hold.status.as_str().to_string(),
        });
    }
    Ok(hold)
}

fn post_hold(state: &BatchState, c: &PostHold, now: Timestamp) -> Result<Effects> {
    let hold = pending_hold(state, &c.hold_id)?;
    if hold.expires_at.is_some_and(|at| at <= now) {
        return Err(Error::HoldExpired {
            id: hold.id.to_string(),
        });
    }
    let amounts: Vec<i128> = match &c.amount {
        PostAmount::Remaining => (0..hold.entries.len()).map(|i| hold.remaining(i)).collect(),
        PostAmount::Amount(amount) => {
            let simple = hold.entries.len() == 2
                && hold.entries[0].direction != hold.entries[1].direction
                && hold.entries[0].amount == hold.entries[1].amount;
            if !simple {
                return Err(Error::InvalidTransaction {
                    reason: "a single post amount needs a hold of one debit and one credit; \
                             give one amount per entry"
                        .into(),
                });
            }
            vec![*amount; 2]
        }
        PostAmount::PerEntry(amounts) => {
            if amounts.len() != hold.entries.len() {
                return Err(Error::InvalidTransaction {
                    reason: format!("the hold has {} entries", hold.entries.len()),
                });
            }
            amounts.clone()
        }
    };
    super::validate::balanced(
        hold.entries
            .iter()
            .zip(&amounts)
            .map(|(e, a)| (&e.asset, e.direction, *a)),
    )?;

    let mut draft = Draft::new(state);
    let mut updated = hold.clone();
    let mut posted_entries = Vec::new();
    for (index, (entry, amount)) in hold.entries.iter().zip(&amounts).enumerate() {
        let remaining = hold.remaining(index);
        if *amount > remaining {
            return Err(Error::ExceedsHold {
                id: hold.id.to_string(),
            });
        }
        let released = if c.release_remainder {
            remaining - amount
        } else {
            0
        };
        if *amount > 0 {
            draft.usable(entry)?;
            posted_entries.push(Entry {
                amount: *amount,
                ..entry.clone()
            });
        }
        let balance = draft.balance(&entry.account)?;
        balance.sub(entry.direction, true, amount + released)?;
        balance.add(entry.direction, false, *amount)?;
        updated.posted[index] += amount;
    }
    let fully_posted = (0..updated.entries.len()).all(|i| updated.remaining(i) == 0);
    if c.release_remainder || fully_posted {
        updated.status = HoldStatus::Posted;
    }
    if posted_entries.is_empty() {
        return Err(Error::InvalidAmount {
            reason: "a post must move something".into(),
        });
    }
    Ok(Effects {
        balances: draft.check_limits()?,
        transaction: Transaction {
            id: c.id.clone(),
            kind: TransactionKind::PostHold,
            entries: posted_entries,
            related: Some(hold.id.clone()),
            reversed_by: None,
            effective_at: c.effective_at.unwrap_or(now),
            created_at: now,
            metadata: c.metadata.clone(),
        },
        hold: Some(updated),
        reversed: None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ReleaseKind {
    Void,
    Expire,
}

fn release(
    state: &BatchState,
    id: &TransactionId,
    hold_id: &TransactionId,
    metadata: &super::model::Metadata,
    now: Timestamp,
    kind: ReleaseKind,
) -> Result<Effects> {
    let hold = pending_hold(state, hold_id)?;
    if kind == ReleaseKind::Expire && hold.expires_at.is_none_or(|at| at > now) {
        return Err(Error::InvalidTransaction {
            reason: format!("hold {hold_id} is not due to expire"),
        });
    }
    let mut draft = Draft::new(state);
    let mut released_entries = Vec::new();
    for (index, entry) in hold.entries.iter().enumerate() {
        let remaining = hold.remaining(index);
        if remaining > 0 {
            draft
                .balance(&entry.account)?
                .sub(entry.direction, true, remaining)?;
            released_entries.push(Entry {
                amount: remaining,
                ..entry.clone()
            });
        }
    }
    let mut updated = hold.clone();
    updated.status = match kind {
        ReleaseKind::Void => HoldStatus::Voided,
        ReleaseKind::Expire => HoldStatus::Expired,
    };
    Ok(Effects {
        balances: draft.check_limits()?,
        transaction: Transaction {
            id: id.clone(),
            kind: match kind {
                ReleaseKind::Void => TransactionKind::VoidHold,
                ReleaseKind::Expire => TransactionKind::Expiry,
            },
            entries: released_entries,
            related: Some(hold_id.clone()),
            reversed_by: None,
            effective_at: now,
            created_at: now,
            metadata: metadata.clone(),
        },
        hold: Some(updated),
        reversed: None,
    })
}

fn reverse(state: &BatchState, c: &Reverse, now: Timestamp) -> Result<Effects> {
    let target = match state.records.get(&c.transaction_id) {
        Some(Record {
            outcome: Outcome::Committed(t),
            ..
        }) => t,
        _ => {
            return Err(Error::TransactionNotFound {
                id: c.transaction_id.to_string(),
            });
        }
    };
    if !target.kind.posts() || target.kind == TransactionKind::Reversal {
        return Err(Error::NotReversible {
            id: target.id.to_string(),
            reason: format!("a {} transaction cannot be reversed", target.kind.as_str()),
        });
    }
    if target.reversed_by.is_some() {
        return Err(Error::AlreadyReversed {
            id: target.id.to_string(),
        });
    }
    let entries: Vec<Entry> = target
        .entries
        .iter()
        .map(|e| Entry {
            direction: e.direction.opposite(),
            ..e.clone()
        })
        .collect();
    let mut draft = Draft::new(state);
    for entry in &entries {
        draft.usable(entry)?;
        draft
            .balance(&entry.account)?
            .add(entry.direction, false, entry.amount)?;
    }
    Ok(Effects {
        balances: draft.check_limits()?,
        transaction: Transaction {
            id: c.id.clone(),
            kind: TransactionKind::Reversal,
            entries,
            related: Some(target.id.clone()),
            reversed_by: None,
            effective_at: c.effective_at.unwrap_or(now),
            created_at: now,
            metadata: c.metadata.clone(),
        },
        hold: None,
        reversed: Some(target.id.clone()),
    })
}

/// The posted side totals of a direction, used by stores summing entries.
pub fn add_to_side(
    debits: &mut i128,
    credits: &mut i128,
    side: Direction,
    amount: i128,
) -> Result<()> {
    let field = match side {
        Direction::Debit => debits,
        Direction::Credit => credits,
    };
    *field = field.checked_add(amount).ok_or(Error::Overflow)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::model::{Metadata, NewAccount};
    use crate::money::AssetCode;

    fn usd() -> AssetCode {
        AssetCode::new("USD").unwrap()
    }

    fn account(name: &str, no_overdraft: bool) -> (Account, Balance) {
        let mut new = NewAccount::new(AccountId::derived(name), usd(), Direction::Debit);
        if no_overdraft {
            new = new.no_overdraft();
        }
        let account = Account {
            id: new.id,
            asset: new.asset,
            normal_balance: new.normal_balance,
            flags: new.flags,
            limit: new.limit,
            metadata: new.metadata,
            closed: false,
            created_at: Timestamp::EPOCH,
            owner: new.owner,
        };
        (account, Balance::default())
    }

    fn id(name: &str) -> TransactionId {
        TransactionId::derived(name)
    }

    fn submit(command: LedgerCommand) -> Submission {
        Submission::new(command).unwrap()
    }

    fn transfer(name: &str, from: &str, to: &str, amount: i128) -> Submission {
        let entries = Entry::transfer(
            &AccountId::derived(from),
            &AccountId::derived(to),
            amount,
            &usd(),
        );
        submit(LedgerCommand::Transfer(NewTransaction::new(
            id(name),
            entries.to_vec(),
        )))
    }

    fn state() -> BatchState {
        let mut state = BatchState::default();
        for (name, no_overdraft) in [("wallet", true), ("funding", false), ("shop", false)] {
            let (account, balance) = account(name, no_overdraft);
            state
                .accounts
                .insert(account.id.clone(), (account, balance));
        }
        state
    }

    #[test]
    fn a_rolled_back_group_leaves_the_state_as_it_was_and_a_kept_one_stays() {
        let now = Timestamp::from_micros(1);
        let mut state = state();
        let kept = [
            transfer("top-up", "funding", "wallet", 100),
            transfer("earlier", "wallet", "shop", 30),
        ];
        let (results, _) = apply(&mut state, &kept, now);
        assert!(all_committed(results).is_ok());
        let before = state.clone();

        // A hold made and posted, a reversal of an earlier transfer, then a transfer the
        // wallet cannot pay: the group fails and every change it made is undone.
        let hold = NewHold {
            id: id("hold"),
            entries: Entry::transfer(
                &AccountId::derived("wallet"),
                &AccountId::derived("shop"),
                20,
                &usd(),
            )
            .to_vec(),
            expires_at: None,
            metadata: Metadata::new(),
        };
        let failing = [
            submit(LedgerCommand::Hold(hold)),
            submit(LedgerCommand::PostHold(PostHold {
                id: id("post"),
                hold_id: id("hold"),
                amount: PostAmount::Remaining,
                release_remainder: false,
                effective_at: None,
                metadata: Metadata::new(),
            })),
            submit(LedgerCommand::Reverse(Reverse {
                id: id("undo-earlier"),
                transaction_id: id("earlier"),
                effective_at: None,
                metadata: Metadata::new(),
            })),
            transfer("too-much", "wallet", "shop", 1_000),
        ];
        let savepoint = state.savepoint(&failing);
        let (results, _) = apply(&mut state, &failing, now);
        assert!(results[..3].iter().all(Result::is_ok), "{results:?}");
        assert!(all_committed(results).is_err());
        assert_ne!(state, before);
        state.roll_back(savepoint);
        assert_eq!(state, before);

        // The kept group is still there: its record replays, the wallet still holds 70.
        let (replayed, _) = apply(&mut state, &kept[1..], now);
        assert!(replayed[0].is_ok());
        let wallet = &state.accounts[&AccountId::derived("wallet")].1;
        assert_eq!(wallet.credits_posted - wallet.debits_posted, 70);
    }
}
