//! State-machine property test: random sequences of ledger operations run against a store and
//! against a deliberately simple reference model; after every step the results, every balance
//! and the invariants must agree.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::test_ledger;
use crate::clock::{Clock, ManualClock, Timestamp};
use crate::id::{AccountId, TransactionId};
use crate::ledger::Ledger;
use crate::ledger::model::*;
use crate::money::AssetCode;
use crate::store::Store;

/// Makes a fresh, empty store.
pub type Factory = dyn Fn() -> Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send>> + Send + Sync;

/// One generated step; indices are taken modulo what exists when the step runs.
#[derive(Debug, Clone)]
pub enum Op {
    CreateAccount {
        asset: usize,
        no_overdraft: bool,
        limit: i128,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: i128,
    },
    Hold {
        from: usize,
        to: usize,
        amount: i128,
        expires_in: Option<u64>,
    },
    Post {
        hold: usize,
        amount: Option<i128>,
        release: bool,
    },
    Void {
        hold: usize,
    },
    Reverse {
        txn: usize,
    },
    Advance {
        seconds: u64,
    },
    Expire,
    Duplicate {
        submission: usize,
    },
    Conflict {
        submission: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..2usize, any::<bool>(), prop_oneof![Just(0i128), 1..50i128])
            .prop_map(|(asset, no_overdraft, limit)| Op::CreateAccount { asset, no_overdraft, limit }),
        6 => (any::<usize>(), any::<usize>(), 1..300i128)
            .prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        3 => (any::<usize>(), any::<usize>(), 1..300i128, proptest::option::of(1..120u64))
            .prop_map(|(from, to, amount, expires_in)| Op::Hold { from, to, amount, expires_in }),
        3 => (any::<usize>(), proptest::option::of(1..200i128), any::<bool>())
            .prop_map(|(hold, amount, release)| Op::Post { hold, amount, release }),
        1 => any::<usize>().prop_map(|hold| Op::Void { hold }),
        2 => any::<usize>().prop_map(|txn| Op::Reverse { txn }),
        1 => (1..90u64).prop_map(|seconds| Op::Advance { seconds }),
        1 => Just(Op::Expire),
        2 => any::<usize>().prop_map(|submission| Op::Duplicate { submission }),
        1 => any::<usize>().prop_map(|submission| Op::Conflict { submission }),
    ]
}

#[derive(Debug, Clone)]
struct ModelAccount {
    id: AccountId,
    asset: AssetCode,
    no_overdraft: bool,
    limit: i128,
    balance: Balance,
}

#[derive(Debug, Clone)]
struct ModelHold {
    id: TransactionId,
    from: usize,
    to: usize,
    amount: i128,
    posted: i128,
    pending: bool,
    expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
struct ModelTxn {
    id: TransactionId,
    from: usize,
    to: usize,
    amount: i128,
    reversible: bool,
    reversed: bool,
}

#[derive(Debug, Default)]
struct Model {
    accounts: Vec<ModelAccount>,
    holds: Vec<ModelHold>,
    txns: Vec<ModelTxn>,
    /// Every command sent, with the outcome code the first time ("ok" or an error code).
    submissions: Vec<(LedgerCommand, String)>,
}

type Expect = std::result::Result<(), &'static str>;

/// What the model does once the ledger confirms a command.
type OnOk = Box<dyn FnOnce(&mut Model, &Transaction) + Send>;

impl Model {
    fn used_ok(&self, index: usize, after: &Balance) -> bool {
        let a = &self.accounts[index];
        !a.no_overdraft
            || after.debits_posted + after.debits_pending <= after.credits_posted + a.limit
            || after.debits_posted + after.debits_pending
                <= a.balance.debits_posted + a.balance.debits_pending
    }

    /// Applies a two-entry movement (debit `from`, credit `to`) to posted or pending balances.
    fn movement(&mut self, from: usize, to: usize, amount: i128, pending: bool) -> Expect {
        if self.accounts[from].asset != self.accounts[to].asset {
            return Err("asset_mismatch");
        }
        let mut f = self.accounts[from].balance;
        let mut t = self.accounts[to].balance;
        if pending {
            f.debits_pending += amount;
            t.credits_pending += amount;
        } else {
            f.debits_posted += amount;
            t.credits_posted += amount;
        }
        if from == to {
            let mut both = self.accounts[from].balance;
            if pending {
                both.debits_pending += amount;
                both.credits_pending += amount;
            } else {
                both.debits_posted += amount;
                both.credits_posted += amount;
            }
            if !self.used_ok(from, &both) {
                return Err("insufficient_funds");
            }
            self.accounts[from].balance = both;
            return Ok(());
        }
        if !self.used_ok(from, &f) || !self.used_ok(to, &t) {
            return Err("insufficient_funds");
        }
        self.accounts[from].balance = f;
        self.accounts[to].balance = t;
        Ok(())
    }

    fn settle(&mut self, hold: usize, post: i128, release: i128) {
        let ModelHold { from, to, .. } = self.holds[hold];
        self.accounts[from].balance.debits_pending -= post + release;
        self.accounts[from].balance.debits_posted += post;
        self.accounts[to].balance.credits_pending -= post + release;
        self.accounts[to].balance.credits_posted += post;
        self.holds[hold].posted += post;
    }
}

fn code(result: &crate::error::Result<Transaction>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.code().into(),
    }
}

fn expect_code(expect: Expect) -> String {
    match expect {
        Ok(()) => "ok".into(),
        Err(code) => code.into(),
    }
}

async fn run_case(store: Arc<dyn Store>, ops: Vec<Op>) -> std::result::Result<(), TestCaseError> {
    let (ledger, clock) = test_ledger(store.clone(), 99).await;
    let mut model = Model::default();
    for asset in ["USD", "EUR"] {
        let asset = AssetCode::new(asset).unwrap();
        let id = ledger.new_account_id();
        ledger
            .create_account(NewAccount::new(id.clone(), asset.clone(), Direction::Debit))
            .await
            .unwrap();
        model.accounts.push(ModelAccount {
            id,
            asset,
            no_overdraft: false,
            limit: 0,
            balance: Balance::default(),
        });
    }
    for (step, op) in ops.into_iter().enumerate() {
        apply_op(&ledger, &clock, &mut model, op.clone())
            .await
            .map_err(|e| TestCaseError::fail(format!("step {step} {op:?}: {e}")))?;
        check_invariants(&ledger, store.as_ref(), &model)
            .await
            .map_err(|e| TestCaseError::fail(format!("after step {step} {op:?}: {e}")))?;
    }
    ledger.shutdown().await;
    Ok(())
}

async fn apply_op(
    ledger: &Ledger,
    clock: &ManualClock,
    model: &mut Model,
    op: Op,
) -> Result<(), String> {
    let n = model.accounts.len();
    let now = clock.now();
    let (command, expected, on_ok): (LedgerCommand, Expect, OnOk) = match op {
        Op::CreateAccount {
            asset,
            no_overdraft,
            limit,
        } => {
            let asset = model.accounts[asset % 2].asset.clone();
            let mut new =
                NewAccount::new(ledger.new_account_id(), asset.clone(), Direction::Credit)
                    .with_limit(limit);
            if no_overdraft {
                new = new.no_overdraft();
            }
            ledger
                .create_account(new.clone())
                .await
                .map_err(|e| e.to_string())?;
            model.accounts.push(ModelAccount {
                id: new.id,
                asset,
                no_overdraft,
                limit,
                balance: Balance::default(),
            });
            return Ok(());
        }
        Op::Transfer { from, to, amount } => {
            let (from, to) = (from % n, to % n);
            let asset = model.accounts[from].asset.clone();
            let id = ledger.new_transaction_id();
            let entries = Entry::transfer(
                &model.accounts[from].id,
                &model.accounts[to].id,
                amount,
                &asset,
            )
            .to_vec();
            let expected = model.movement(from, to, amount, false);
            let txn = ModelTxn {
                id: id.clone(),
                from,
                to,
                amount,
                reversible: true,
                reversed: false,
            };
            (
                LedgerCommand::Transfer(NewTransaction::new(id, entries)),
                expected,
                Box::new(move |m: &mut Model, _: &Transaction| m.txns.push(txn)),
            )
        }
        Op::Hold {
            from,
            to,
            amount,
            expires_in,
        } => {
            let (from, to) = (from % n, to % n);
            let asset = model.accounts[from].asset.clone();
            let id = ledger.new_transaction_id();
            let expires_at = expires_in.map(|s| now.plus(Duration::from_secs(s)));
            let entries = Entry::transfer(
                &model.accounts[from].id,
                &model.accounts[to].id,
                amount,
                &asset,
            )
            .to_vec();
            let expected = model.movement(from, to, amount, true);
            let hold = ModelHold {
                id: id.clone(),
                from,
                to,
                amount,
                posted: 0,
                pending: true,
                expires_at,
            };
            (
                LedgerCommand::Hold(NewHold {
                    id,
                    entries,
                    expires_at,
                    metadata: Metadata::new(),
                }),
                expected,
                Box::new(move |m: &mut Model, _: &Transaction| m.holds.push(hold)),
            )
        }
        Op::Post {
            hold,
            amount,
            release,
        } => {
            if model.holds.is_empty() {
                return Ok(());
            }
            let index = hold % model.holds.len();
            let h = model.holds[index].clone();
            let remaining = h.amount - h.posted;
            let post = amount.unwrap_or(remaining);
            let expected = if !h.pending {
                Err("hold_not_pending")
            } else if h.expires_at.is_some_and(|at| at <= now) {
                Err("hold_expired")
            } else if post > remaining {
                Err("exceeds_hold")
            } else {
                Ok(())
            };
            let id = ledger.new_transaction_id();
            if expected.is_ok() {
                let released = if release { remaining - post } else { 0 };
                model.settle(index, post, released);
                if release || post == remaining {
                    model.holds[index].pending = false;
                }
            }
            let txn = ModelTxn {
                id: id.clone(),
                from: h.from,
                to: h.to,
                amount: post,
                reversible: true,
                reversed: false,
            };
            let command = PostHold {
                id,
                hold_id: h.id.clone(),
                amount: amount.map_or(PostAmount::Remaining, PostAmount::Amount),
                release_remainder: release,
                effective_at: None,
                metadata: Metadata::new(),
            };
            (
                LedgerCommand::PostHold(command),
                expected,
                Box::new(move |m: &mut Model, _: &Transaction| m.txns.push(txn)),
            )
        }
        Op::Void { hold } => {
            if model.holds.is_empty() {
                return Ok(());
            }
            let index = hold % model.holds.len();
            let h = model.holds[index].clone();
            let expected = if h.pending {
                Ok(())
            } else {
                Err("hold_not_pending")
            };
            if expected.is_ok() {
                model.settle(index, 0, h.amount - h.posted);
                model.holds[index].pending = false;
            }
            let command = VoidHold {
                id: ledger.new_transaction_id(),
                hold_id: h.id,
                metadata: Metadata::new(),
            };
            (
                LedgerCommand::VoidHold(command),
                expected,
                Box::new(|_: &mut Model, _: &Transaction| {}),
            )
        }
        Op::Reverse { txn } => {
            if model.txns.is_empty() {
                return Ok(());
            }
            let index = txn % model.txns.len();
            let t = model.txns[index].clone();
            let expected = if !t.reversible {
                Err("not_reversible")
            } else if t.reversed {
                Err("already_reversed")
            } else {
                model.movement(t.to, t.from, t.amount, false)
            };
            if expected.is_ok() {
                model.txns[index].reversed = true;
            }
            let id = ledger.new_transaction_id();
            let reversal = ModelTxn {
                id: id.clone(),
                from: t.to,
                to: t.from,
                amount: t.amount,
                reversible: false,
                reversed: false,
            };
            let command = Reverse {
                id,
                transaction_id: t.id,
                effective_at: None,
                metadata: Metadata::new(),
            };
            (
                LedgerCommand::Reverse(command),
                expected,
                Box::new(move |m: &mut Model, _: &Transaction| m.txns.push(reversal)),
            )
        }
        Op::Advance { seconds } => {
            clock.advance(Duration::from_secs(seconds));
            return Ok(());
        }
        Op::Expire => {
            let mut expected = 0;
            for index in 0..model.holds.len() {
                let h = model.holds[index].clone();
                if h.pending && h.expires_at.is_some_and(|at| at <= now) {
                    model.settle(index, 0, h.amount - h.posted);
                    model.holds[index].pending = false;
                    expected += 1;
                }
            }
            let expired = ledger.expire_due_holds().await.map_err(|e| e.to_string())?;
            if expired != expected {
                return Err(format!("expired {expired} holds, the model {expected}"));
            }
            return Ok(());
        }
        Op::Duplicate { submission } => {
            if model.submissions.is_empty() {
                return Ok(());
            }
            let (command, first) = model.submissions[submission % model.submissions.len()].clone();
            let again = code(&ledger.submit(command).await);
            if again != first {
                return Err(format!("duplicate gave {again}, first time {first}"));
            }
            return Ok(());
        }
        Op::Conflict { submission } => {
            let transfers: Vec<_> = model
                .submissions
                .iter()
                .filter_map(|(c, _)| match c {
                    LedgerCommand::Transfer(t) => Some(t.clone()),
                    _ => None,
                })
                .collect();
            if transfers.is_empty() {
                return Ok(());
            }
            let mut changed = transfers[submission % transfers.len()].clone();
            for entry in &mut changed.entries {
                entry.amount += 1;
            }
            let got = code(&ledger.transfer(changed).await);
            if got != "idempotency_conflict" {
                return Err(format!("a changed body under a used id gave {got}"));
            }
            return Ok(());
        }
    };
    let result = ledger.submit(command.clone()).await;
    let got = code(&result);
    let want = expect_code(expected);
    if got != want {
        return Err(format!("ledger said {got}, the model {want}"));
    }
    if let Ok(txn) = &result {
        on_ok(model, txn);
    }
    model.submissions.push((command, got));
    Ok(())
}

async fn check_invariants(ledger: &Ledger, store: &dyn Store, model: &Model) -> Result<(), String> {
    for t in store.asset_totals().await.map_err(|e| e.to_string())? {
        if t.totals.debits_posted != t.totals.credits_posted
            || t.totals.debits_pending != t.totals.credits_pending
        {
            return Err(format!("{} does not balance: {:?}", t.asset, t.totals));
        }
    }
    for a in &model.accounts {
        let balance = ledger.balance(&a.id).await.map_err(|e| e.to_string())?;
        if balance != a.balance {
            return Err(format!(
                "{} has {:?}, the model {:?}",
                a.id, balance, a.balance
            ));
        }
        if a.no_overdraft
            && balance.debits_posted + balance.debits_pending > balance.credits_posted + a.limit
        {
            return Err(format!("{} is past its limit: {balance:?}", a.id));
        }
    }
    Ok(())
}

/// Runs the property test against stores from `factory`: `OBOL_MODEL_CASES` cases (default
/// 24), up to 60 steps each.
pub fn check(
    factory: impl Fn() -> Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send>> + Send + Sync,
) {
    super::run_model(
        24,
        prop::collection::vec(op(), 1..60),
        factory,
        |store, ops| Box::pin(run_case(store, ops)),
    );
}
