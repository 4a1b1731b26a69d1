//! Conformance cases every Store must pass. Each takes a fresh, empty store.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use super::{START, test_ledger};
use crate::clock::{Clock, Timestamp};
use crate::error::Error;
use crate::id::{AccountId, TransactionId};
use crate::ledger::Ledger;
use crate::ledger::model::*;
use crate::money::{Asset, AssetCode};
use crate::store::Store;

fn usd() -> AssetCode {
    AssetCode::new("USD").unwrap()
}

async fn open(
    ledger: &Ledger,
    asset: &AssetCode,
    normal: Direction,
    no_overdraft: bool,
) -> AccountId {
    let mut new = NewAccount::new(ledger.new_account_id(), asset.clone(), normal);
    if no_overdraft {
        new = new.no_overdraft();
    }
    ledger.create_account(new).await.unwrap().id
}

async fn pay(
    ledger: &Ledger,
    from: &AccountId,
    to: &AccountId,
    amount: i128,
) -> Result<Transaction, Error> {
    let entries = Entry::transfer(from, to, amount, &usd()).to_vec();
    ledger
        .transfer(NewTransaction::new(ledger.new_transaction_id(), entries))
        .await
}

/// Checks that per asset, total debits equal total credits, posted and pending.
pub async fn assert_balanced(store: &dyn Store) {
    for t in store.asset_totals().await.unwrap() {
        assert_eq!(
            t.totals.debits_posted, t.totals.credits_posted,
            "{} posted",
            t.asset
        );
        assert_eq!(
            t.totals.debits_pending, t.totals.credits_pending,
            "{} pending",
            t.asset
        );
    }
}

pub async fn accounts_are_idempotent(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store, 1).await;
    let new = NewAccount::new(ledger.new_account_id(), usd(), Direction::Credit)
        .no_overdraft()
        .with_metadata("owner", "alice");
    let first = ledger.create_account(new.clone()).await.unwrap();
    let again = ledger.create_account(new.clone()).await.unwrap();
    assert_eq!(first, again);
    assert!(first.flags.debits_must_not_exceed_credits);
    assert_eq!(ledger.account(&new.id).await.unwrap(), first);
    let other = NewAccount {
        normal_balance: Direction::Debit,
        ..new.clone()
    };
    let err = ledger.create_account(other).await.unwrap_err();
    assert_eq!(err.code(), "idempotency_conflict");
    let unknown = NewAccount::new(
        ledger.new_account_id(),
        AssetCode::new("NOPE").unwrap(),
        Direction::Debit,
    );
    assert_eq!(
        ledger.create_account(unknown).await.unwrap_err().code(),
        "unknown_asset"
    );
    let missing = ledger.account(&ledger.new_account_id()).await.unwrap_err();
    assert_eq!(missing.code(), "account_not_found");
    let closed = ledger.close_account(&new.id).await.unwrap();
    assert!(closed.closed);
}

pub async fn transfers_move_balances_and_history(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store.clone(), 2).await;
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let alice = open(&ledger, &usd(), Direction::Credit, true).await;
    let bob = open(&ledger, &usd(), Direction::Credit, true).await;
    pay(&ledger, &world, &alice, 10_000).await.unwrap();
    let txn = pay(&ledger, &alice, &bob, 2_550).await.unwrap();
    assert_eq!(txn.kind, TransactionKind::Posted);
    assert_eq!(ledger.transaction(&txn.id).await.unwrap(), txn);

    let a = ledger.balance(&alice).await.unwrap();
    assert_eq!((a.credits_posted, a.debits_posted), (10_000, 2_550));
    assert_eq!(a.posted(Direction::Credit), 7_450);
    assert_eq!(a.available(Direction::Credit), 7_450);
    assert_eq!(
        ledger
            .balance(&bob)
            .await
            .unwrap()
            .posted(Direction::Credit),
        2_550
    );
    assert_eq!(
        ledger
            .balance(&world)
            .await
            .unwrap()
            .posted(Direction::Debit),
        10_000
    );

    let history = ledger.history(&alice, None, 10).await.unwrap();
    assert_eq!(history.items.len(), 2);
    assert_eq!(history.items[0].direction, Direction::Credit);
    assert_eq!(history.items[1].transaction_id, txn.id);
    assert_eq!(history.items[1].amount, 2_550);
    assert_eq!(history.next_cursor, None);
    assert_balanced(store.as_ref()).await;
}

pub async fn history_pages_with_a_cursor(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store, 3).await;
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let alice = open(&ledger, &usd(), Direction::Credit, false).await;
    let mut ids = Vec::new();
    for amount in 1..=7 {
        ids.push(pay(&ledger, &world, &alice, amount).await.unwrap().id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = ledger.history(&alice, cursor.as_deref(), 3).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|e| e.transaction_id.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let bad = ledger
        .history(&alice, Some("garbage"), 3)
        .await
        .unwrap_err();
    assert_eq!(bad.code(), "invalid_cursor");
}

pub async fn insufficient_funds_changes_nothing_and_stays_failed(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store.clone(), 4).await;
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let alice = open(&ledger, &usd(), Direction::Credit, true).await;
    let bob = open(&ledger, &usd(), Direction::Credit, true).await;
    pay(&ledger, &world, &alice, 500).await.unwrap();

    let id = ledger.new_transaction_id();
    let request = NewTransaction::new(
        id.clone(),
        Entry::transfer(&alice, &bob, 501, &usd()).to_vec(),
    );
    let err = ledger.transfer(request.clone()).await.unwrap_err();
    assert_eq!(err.code(), "insufficient_funds");
    assert_eq!(
        ledger
            .balance(&alice)
            .await
            .unwrap()
            .posted(Direction::Credit),
        500
    );
    assert_eq!(ledger.balance(&bob).await.unwrap(), Balance::default());
    assert_eq!(
        ledger.transaction(&id).await.unwrap_err().code(),
        "transaction_not_found"
    );

    // Funding the account later does not revive a failed id: it stays failed.
    pay(&ledger, &world, &alice, 1_000).await.unwrap();
    let again = ledger.transfer(request).await.unwrap_err();
    assert_eq!(again, err);
    assert_eq!(ledger.balance(&bob).await.unwrap(), Balance::default());

    // An overdraft limit lets the account go that far past zero, no further.
    let limited = NewAccount::new(ledger.new_account_id(), usd(), Direction::Credit)
        .no_overdraft()
        .with_limit(300);
    let limited = ledger.create_account(limited).await.unwrap().id;
    pay(&ledger, &limited, &bob, 300).await.unwrap();
    assert_eq!(
        pay(&ledger, &limited, &bob, 1).await.unwrap_err().code(),
        "insufficient_funds"
    );
    assert_balanced(store.as_ref()).await;
}

pub async fn same_id_replays_and_different_body_conflicts(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store, 5).await;
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let alice = open(&ledger, &usd(), Direction::Credit, false).await;
    let id = ledger.new_transaction_id();
    let request = NewTransaction::new(
        id.clone(),
        Entry::transfer(&world, &alice, 700, &usd()).to_vec(),
    );
    let first = ledger.transfer(request.clone()).await.unwrap();
    let replay = ledger.transfer(request.clone()).await.unwrap();
    assert_eq!(first, replay);
    assert_eq!(ledger.balance(&alice).await.unwrap().credits_posted, 700);

    let different = NewTransaction::new(
        id.clone(),
        Entry::transfer(&world, &alice, 701, &usd()).to_vec(),
    );
    let err = ledger.transfer(different).await.unwrap_err();
    assert_eq!(err.code(), "idempotency_conflict");
    let as_hold = NewHold {
        id,
        entries: request.entries.clone(),
        expires_at: None,
        metadata: Metadata::new(),
    };
    assert_eq!(
        ledger.hold(as_hold).await.unwrap_err().code(),
        "idempotency_conflict"
    );
    assert_eq!(ledger.balance(&alice).await.unwrap().credits_posted, 700);

    // Duplicates submitted at once are applied once.
    let dup_id = ledger.new_transaction_id();
    let dup = NewTransaction::new(dup_id, Entry::transfer(&world, &alice, 5, &usd()).to_vec());
    let results = futures::future::join_all((0..10).map(|_| ledger.transfer(dup.clone()))).await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert_eq!(ledger.balance(&alice).await.unwrap().credits_posted, 705);
}

pub async fn holds_post_in_parts_void_and_expire(store: Arc<dyn Store>) {
    let (ledger, clock) = test_ledger(store.clone(), 6).await;
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let alice = open(&ledger, &usd(), Direction::Credit, true).await;
    let shop = open(&ledger, &usd(), Direction::Credit, false).await;
    pay(&ledger, &world, &alice, 1_000).await.unwrap();

    let hold_id = ledger.new_transaction_id();
    let hold = ledger
        .hold(NewHold {
            id: hold_id.clone(),
            entries: Entry::transfer(&alice, &shop, 600, &usd()).to_vec(),
            expires_at: None,
            metadata: Metadata::new(),
        })
        .await
        .unwrap();
    assert_eq!(hold.kind, TransactionKind::Hold);
    let a = ledger.balance(&alice).await.unwrap();
    assert_eq!(
        (a.debits_pending, a.available(Direction::Credit)),
        (600, 400)
    );
    assert_eq!(ledger.balance(&shop).await.unwrap().credits_pending, 600);
    // The hold counts against the limit.
    assert_eq!(
        pay(&ledger, &alice, &shop, 401).await.unwrap_err().code(),
        "insufficient_funds"
    );

    let post = |amount: PostAmount, release: bool| PostHold {
        id: ledger.new_transaction_id(),
        hold_id: hold_id.clone(),
        amount,
        release_remainder: release,
        effective_at: None,
        metadata: Metadata::new(),
    };
    let p1 = ledger
        .post_hold(post(PostAmount::Amount(200), false))
        .await
        .unwrap();
    assert_eq!(p1.kind, TransactionKind::PostHold);
    assert_eq!(p1.related.as_ref(), Some(&hold_id));
    ledger
        .post_hold(post(PostAmount::Amount(150), false))
        .await
        .unwrap();
    let over = ledger
        .post_hold(post(PostAmount::Amount(251), false))
        .await
        .unwrap_err();
    assert_eq!(over.code(), "exceeds_hold");
    let h = ledger.get_hold(&hold_id).await.unwrap();
    assert_eq!(
        (h.status, h.posted.clone()),
        (HoldStatus::Pending, vec![350, 350])
    );
    let a = ledger.balance(&alice).await.unwrap();
    assert_eq!((a.debits_posted, a.debits_pending), (350, 250));
    ledger
        .post_hold(post(PostAmount::Remaining, false))
        .await
        .unwrap();
    assert_eq!(
        ledger.get_hold(&hold_id).await.unwrap().status,
        HoldStatus::Posted
    );
    let closed = ledger
        .post_hold(post(PostAmount::Amount(1), false))
        .await
        .unwrap_err();
    assert_eq!(closed.code(), "hold_not_pending");
    let s = ledger.balance(&shop).await.unwrap();
    assert_eq!((s.credits_posted, s.credits_pending), (600, 0));

    // Partial post that releases the rest.
    let h2 = ledger.new_transaction_id();
    ledger
        .hold(NewHold {
            id: h2.clone(),
            entries: Entry::transfer(&alice, &shop, 300, &usd()).to_vec(),
            expires_at: None,
            metadata: Metadata::new(),
        })
        .await
        .unwrap();
    let mut capture = post(PostAmount::Amount(100), true);
    capture.hold_id = h2.clone();
    ledger.post_hold(capture).await.unwrap();
    let a = ledger.balance(&alice).await.unwrap();
    assert_eq!((a.debits_posted, a.debits_pending), (700, 0));

    // Void releases everything.
    let h3 = ledger.new_transaction_id();
    ledger
        .hold(NewHold {
            id: h3.clone(),
            entries: Entry::transfer(&alice, &shop, 50, &usd()).to_vec(),
            expires_at: None,
            metadata: Metadata::new(),
        })
        .await
        .unwrap();
    let void = ledger
        .void_hold(VoidHold {
            id: ledger.new_transaction_id(),
            hold_id: h3.clone(),
            metadata: Metadata::new(),
        })
        .await
        .unwrap();
    assert_eq!(void.entries[0].amount, 50);
    assert_eq!(
        ledger.get_hold(&h3).await.unwrap().status,
        HoldStatus::Voided
    );
    assert_eq!(ledger.balance(&alice).await.unwrap().debits_pending, 0);

    // Expiry releases a hold past its timeout; posting it after that fails.
    let h4 = ledger.new_transaction_id();
    ledger
        .hold(NewHold {
            id: h4.clone(),
            entries: Entry::transfer(&alice, &shop, 80, &usd()).to_vec(),
            expires_at: Some(START.plus(Duration::from_secs(60))),
            metadata: Metadata::new(),
        })
        .await
        .unwrap();
    assert_eq!(ledger.expire_due_holds().await.unwrap(), 0);
    clock.advance(Duration::from_secs(61));
    let mut late = post(PostAmount::Remaining, false);
    late.hold_id = h4.clone();
    assert_eq!(
        ledger.post_hold(late).await.unwrap_err().code(),
        "hold_expired"
    );
    assert_eq!(ledger.expire_due_holds().await.unwrap(), 1);
    assert_eq!(
        ledger.get_hold(&h4).await.unwrap().status,
        HoldStatus::Expired
    );
    assert_eq!(ledger.balance(&alice).await.unwrap().debits_pending, 0);
    assert_eq!(ledger.balance(&shop).await.unwrap().credits_pending, 0);
    let unknown = PostHold {
        hold_id: ledger.new_transaction_id(),
        ..post(PostAmount::Remaining, false)
    };
    assert_eq!(
        ledger.post_hold(unknown).await.unwrap_err().code(),
        "hold_not_found"
    );
    assert_balanced(store.as_ref()).await;
}

pub async fn reversals_undo_once(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store.clone(), 7).await;
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let alice = open(&ledger, &usd(), Direction::Credit, true).await;
    let bob = open(&ledger, &usd(), Direction::Credit, true).await;
    pay(&ledger, &world, &alice, 900).await.unwrap();
    let txn = pay(&ledger, &alice, &bob, 400).await.unwrap();
    let reverse = |target: &TransactionId| Reverse {
        id: ledger.new_transaction_id(),
        transaction_id: target.clone(),
        effective_at: None,
        metadata: Metadata::new(),
    };
    let reversal = ledger.reverse(reverse(&txn.id)).await.unwrap();
    assert_eq!(reversal.kind, TransactionKind::Reversal);
    assert_eq!(reversal.entries[0].direction, Direction::Credit);
    assert_eq!(
        ledger
            .balance(&alice)
            .await
            .unwrap()
            .posted(Direction::Credit),
        900
    );
    assert_eq!(
        ledger
            .balance(&bob)
            .await
            .unwrap()
            .posted(Direction::Credit),
        0
    );
    let original = ledger.transaction(&txn.id).await.unwrap();
    assert_eq!(original.reversed_by, Some(reversal.id.clone()));
    assert_eq!(
        ledger.reverse(reverse(&txn.id)).await.unwrap_err().code(),
        "already_reversed"
    );
    assert_eq!(
        ledger
            .reverse(reverse(&reversal.id))
            .await
            .unwrap_err()
            .code(),
        "not_reversible"
    );
    let missing = ledger
        .reverse(reverse(&ledger.new_transaction_id()))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), "transaction_not_found");

    // A reversal that would overdraw a flagged account is refused.
    let t2 = pay(&ledger, &alice, &bob, 500).await.unwrap();
    pay(&ledger, &bob, &world, 500).await.unwrap();
    assert_eq!(
        ledger.reverse(reverse(&t2.id)).await.unwrap_err().code(),
        "insufficient_funds"
    );
    assert_balanced(store.as_ref()).await;
}

pub async fn bad_input_is_refused_and_changes_nothing(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store.clone(), 8).await;
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let alice = open(&ledger, &usd(), Direction::Credit, false).await;
    let eur = AssetCode::new("EUR").unwrap();
    let euro = open(&ledger, &eur, Direction::Credit, false).await;
    let closed = open(&ledger, &usd(), Direction::Credit, false).await;
    ledger.close_account(&closed).await.unwrap();
    pay(&ledger, &world, &alice, 100).await.unwrap();
    let before = store.asset_totals().await.unwrap();

    let cases: Vec<(Vec<Entry>, &str)> = vec![
        (
            vec![
                Entry::debit(&world, 5, &usd()),
                Entry::credit(&alice, 4, &usd()),
            ],
            "unbalanced",
        ),
        (
            Entry::transfer(&world, &euro, 5, &usd()).to_vec(),
            "asset_mismatch",
        ),
        (
            vec![
                Entry::debit(&world, 5, &usd()),
                Entry::credit(&euro, 5, &eur),
            ],
            "unbalanced",
        ),
        (
            Entry::transfer(&world, &ledger.new_account_id(), 5, &usd()).to_vec(),
            "account_not_found",
        ),
        (
            Entry::transfer(&world, &closed, 5, &usd()).to_vec(),
            "account_closed",
        ),
        (
            Entry::transfer(&world, &alice, 0, &usd()).to_vec(),
            "invalid_amount",
        ),
        (
            Entry::transfer(&world, &alice, -5, &usd()).to_vec(),
            "invalid_amount",
        ),
        (
            Entry::transfer(&world, &alice, i128::MAX, &usd()).to_vec(),
            "overflow",
        ),
        (vec![], "invalid_transaction"),
    ];
    for (entries, code) in cases {
        let id = ledger.new_transaction_id();
        let err = ledger
            .transfer(NewTransaction::new(id.clone(), entries))
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert!(ledger.transaction(&id).await.is_err());
    }
    let mut long = NewTransaction::new(
        ledger.new_transaction_id(),
        Entry::transfer(&world, &alice, 1, &usd()).to_vec(),
    );
    long.metadata.insert("note".into(), "x".repeat(501));
    assert_eq!(
        ledger.transfer(long).await.unwrap_err().code(),
        "invalid_metadata"
    );
    let bad_account =
        NewAccount::new(ledger.new_account_id(), usd(), Direction::Credit).with_limit(-1);
    assert_eq!(
        ledger.create_account(bad_account).await.unwrap_err().code(),
        "invalid_account"
    );

    assert_eq!(store.asset_totals().await.unwrap(), before);
    assert_eq!(
        ledger.history(&alice, None, 100).await.unwrap().items.len(),
        1
    );
    assert_balanced(store.as_ref()).await;
}

pub async fn failures_in_a_batch_fail_alone(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store.clone(), 9).await;
    let ledger = Arc::new(ledger);
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let alice = open(&ledger, &usd(), Direction::Credit, true).await;
    let bob = open(&ledger, &usd(), Direction::Credit, true).await;
    pay(&ledger, &world, &alice, 100).await.unwrap();
    // 50 submissions at once: each tries to move 10 from alice; only 10 can succeed.
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let ledger = ledger.clone();
            let (alice, bob) = (alice.clone(), bob.clone());
            tokio::spawn(async move { pay(&ledger, &alice, &bob, 10).await })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code(), "insufficient_funds"),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(
        ledger
            .balance(&alice)
            .await
            .unwrap()
            .posted(Direction::Credit),
        0
    );
    assert_eq!(
        ledger
            .balance(&bob)
            .await
            .unwrap()
            .posted(Direction::Credit),
        100
    );
    assert_balanced(store.as_ref()).await;
}

/// A request far larger than the usual batch (a store may plan or write it differently):
/// funding transfers, a hold made and posted, a reversal of a transfer the same request made,
/// and one overspend that fails alone, all written whole.
pub async fn a_large_request_is_written_whole(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store.clone(), 15).await;
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let shop = open(&ledger, &usd(), Direction::Credit, false).await;
    let mut customers = Vec::new();
    for _ in 0..40 {
        customers.push(open(&ledger, &usd(), Direction::Credit, true).await);
    }
    let transfer = |from: &AccountId, to: &AccountId, amount: i128| {
        NewTransaction::new(
            ledger.new_transaction_id(),
            Entry::transfer(from, to, amount, &usd()).to_vec(),
        )
    };
    // 200 transfers of 5: every customer is credited 25.
    let funding: Vec<NewTransaction> = (0..200)
        .map(|i| transfer(&world, &customers[i % 40], 5))
        .collect();
    let hold_id = ledger.new_transaction_id();
    let mut commands: Vec<LedgerCommand> = funding
        .iter()
        .cloned()
        .map(LedgerCommand::Transfer)
        .collect();
    commands.push(LedgerCommand::Hold(NewHold {
        id: hold_id.clone(),
        entries: Entry::transfer(&customers[1], &shop, 10, &usd()).to_vec(),
        expires_at: None,
        metadata: Metadata::new(),
    }));
    commands.push(LedgerCommand::PostHold(PostHold {
        id: ledger.new_transaction_id(),
        hold_id: hold_id.clone(),
        amount: PostAmount::Remaining,
        release_remainder: false,
        effective_at: None,
        metadata: Metadata::new(),
    }));
    let reversal_id = ledger.new_transaction_id();
    commands.push(LedgerCommand::Reverse(Reverse {
        id: reversal_id.clone(),
        transaction_id: funding[0].id.clone(),
        effective_at: None,
        metadata: Metadata::new(),
    }));
    commands.push(LedgerCommand::Transfer(transfer(
        &customers[2],
        &shop,
        1_000,
    )));
    let results = ledger.submit_many(commands).await.unwrap();
    assert_eq!(results.len(), 204);
    assert!(results[..203].iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        results[203].as_ref().unwrap_err().code(),
        "insufficient_funds"
    );

    let credit = |id: AccountId| {
        let ledger = &ledger;
        async move { ledger.balance(&id).await.unwrap().posted(Direction::Credit) }
    };
    assert_eq!(credit(customers[0].clone()).await, 20);
    assert_eq!(credit(customers[1].clone()).await, 15);
    for customer in &customers[2..] {
        assert_eq!(credit(customer.clone()).await, 25);
    }
    assert_eq!(credit(shop.clone()).await, 10);
    assert_eq!(
        ledger.get_hold(&hold_id).await.unwrap().status,
        HoldStatus::Posted
    );
    let reversed = ledger.transaction(&funding[0].id).await.unwrap();
    assert_eq!(reversed.reversed_by, Some(reversal_id));
    assert_eq!(
        ledger
            .history(&customers[3], None, 100)
            .await
            .unwrap()
            .items
            .len(),
        5
    );
    assert_balanced(store.as_ref()).await;
}

pub async fn many_commands_in_one_request_answer_in_order(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store.clone(), 14).await;
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let alice = open(&ledger, &usd(), Direction::Credit, true).await;
    let bob = open(&ledger, &usd(), Direction::Credit, true).await;
    let transfer = |from: &AccountId, to: &AccountId, amount: i128| {
        NewTransaction::new(
            ledger.new_transaction_id(),
            Entry::transfer(from, to, amount, &usd()).to_vec(),
        )
    };
    let fund = transfer(&world, &alice, 100);
    let spend = transfer(&alice, &bob, 70);
    let overspend = transfer(&alice, &bob, 70);
    let mut unbalanced = transfer(&alice, &bob, 5);
    unbalanced.entries[1].amount = 6;
    let commands = vec![
        LedgerCommand::Transfer(fund.clone()),
        LedgerCommand::Transfer(spend.clone()),
        LedgerCommand::Transfer(overspend.clone()),
        LedgerCommand::Transfer(unbalanced.clone()),
        // The same id and body twice in one request: applied once, answered twice.
        LedgerCommand::Transfer(spend.clone()),
    ];
    let results = ledger.submit_many(commands).await.unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0].as_ref().unwrap().id, fund.id);
    assert_eq!(results[1].as_ref().unwrap().id, spend.id);
    assert_eq!(
        results[2].as_ref().unwrap_err().code(),
        "insufficient_funds"
    );
    assert_eq!(results[3].as_ref().unwrap_err().code(), "unbalanced");
    assert_eq!(results[4], results[1]);
    assert!(ledger.submit_many(Vec::new()).await.unwrap().is_empty());
    let balance = |id: AccountId| {
        let ledger = &ledger;
        async move { ledger.balance(&id).await.unwrap().posted(Direction::Credit) }
    };
    assert_eq!(balance(alice.clone()).await, 30);
    assert_eq!(balance(bob.clone()).await, 70);
    // The refused command wrote nothing: its id is free; the failed one stays failed.
    assert_eq!(
        ledger.transaction(&unbalanced.id).await.unwrap_err().code(),
        "transaction_not_found"
    );
    let again = ledger.transfer(overspend).await.unwrap_err();
    assert_eq!(again.code(), "insufficient_funds");
    assert_balanced(store.as_ref()).await;
}

pub async fn concurrent_transfers_keep_totals(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store.clone(), 10).await;
    let ledger = Arc::new(ledger);
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let mut accounts = Vec::new();
    for _ in 0..8 {
        let id = open(&ledger, &usd(), Direction::Credit, true).await;
        pay(&ledger, &world, &id, 1_000).await.unwrap();
        accounts.push(id);
    }
    let accounts = Arc::new(accounts);
    let tasks: Vec<_> = (0..16)
        .map(|worker| {
            let (ledger, accounts) = (ledger.clone(), accounts.clone());
            tokio::spawn(async move {
                for i in 0..25usize {
                    let from = &accounts[(worker + i) % accounts.len()];
                    let to = &accounts[(worker * 3 + i + 1) % accounts.len()];
                    if from != to {
                        let r = pay(&ledger, from, to, 7).await;
                        assert!(r.is_ok() || r.unwrap_err().code() == "insufficient_funds");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut sum = 0;
    for id in accounts.iter() {
        let balance = ledger.balance(id).await.unwrap();
        assert!(balance.posted(Direction::Credit) >= 0);
        sum += balance.posted(Direction::Credit);
    }
    assert_eq!(sum, 8_000);
    assert_balanced(store.as_ref()).await;
}

pub async fn balance_at_a_point_in_time(store: Arc<dyn Store>) {
    let (ledger, clock) = test_ledger(store, 11).await;
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let alice = open(&ledger, &usd(), Direction::Credit, false).await;
    pay(&ledger, &world, &alice, 100).await.unwrap();
    clock.advance(Duration::from_secs(10));
    let t1 = clock.now();
    pay(&ledger, &world, &alice, 20).await.unwrap();
    clock.advance(Duration::from_secs(10));
    // Backdated: effective before t1 though committed after.
    let mut backdated = NewTransaction::new(
        ledger.new_transaction_id(),
        Entry::transfer(&world, &alice, 3, &usd()).to_vec(),
    );
    backdated.effective_at = Some(START.plus(Duration::from_secs(5)));
    ledger.transfer(backdated).await.unwrap();

    let at_start = ledger.balance_at(&alice, START).await.unwrap();
    assert_eq!(at_start.posted(Direction::Credit), 100);
    let at_t1 = ledger
        .balance_at(&alice, Timestamp::from_micros(t1.as_micros() - 1))
        .await
        .unwrap();
    assert_eq!(at_t1.posted(Direction::Credit), 103);
    let now = ledger.balance_at(&alice, ledger.now()).await.unwrap();
    assert_eq!(now.posted(Direction::Credit), 123);
    assert_eq!(
        ledger
            .balance(&alice)
            .await
            .unwrap()
            .posted(Direction::Credit),
        123
    );
}

pub async fn huge_amounts_are_stored_exactly(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store.clone(), 12).await;
    let eth = AssetCode::new("ETH").unwrap();
    let world = open(&ledger, &eth, Direction::Debit, false).await;
    let wallet = open(&ledger, &eth, Direction::Credit, false).await;
    // 10^38 - 1 wei is far past 2^96 and 2^64: it must survive the store unchanged.
    let huge: i128 = 99_999_999_999_999_999_999_999_999_999_999_999_999;
    let txn = ledger
        .transfer(NewTransaction::new(
            ledger.new_transaction_id(),
            Entry::transfer(&world, &wallet, huge, &eth).to_vec(),
        ))
        .await
        .unwrap();
    assert_eq!(
        ledger.transaction(&txn.id).await.unwrap().entries[0].amount,
        huge
    );
    assert_eq!(ledger.balance(&wallet).await.unwrap().credits_posted, huge);
    assert_eq!(
        ledger.history(&wallet, None, 1).await.unwrap().items[0].amount,
        huge
    );
    assert_eq!(
        ledger
            .balance_at(&wallet, ledger.now())
            .await
            .unwrap()
            .credits_posted,
        huge
    );
    let err = ledger
        .transfer(NewTransaction::new(
            ledger.new_transaction_id(),
            Entry::transfer(&world, &wallet, huge, &eth).to_vec(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "overflow");
    let token = Asset::new("USDC.ETH", 6).unwrap();
    ledger.register_asset(token.clone()).await.unwrap();
    assert_eq!(ledger.asset("USDC.ETH").unwrap(), token);
    assert!(store.custom_assets().await.unwrap().contains(&token));
    assert_balanced(store.as_ref()).await;
}

pub async fn metadata_round_trips(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store, 13).await;
    let world = open(&ledger, &usd(), Direction::Debit, false).await;
    let alice = open(&ledger, &usd(), Direction::Credit, false).await;
    let mut request = NewTransaction::new(
        ledger.new_transaction_id(),
        Entry::transfer(&world, &alice, 1, &usd()).to_vec(),
    );
    request
        .metadata
        .insert("order".into(), "ord_123 ✓ \"quoted\"".into());
    request.metadata.insert("empty".into(), String::new());
    let txn = ledger.transfer(request.clone()).await.unwrap();
    let stored = ledger.transaction(&txn.id).await.unwrap();
    assert_eq!(stored.metadata, request.metadata);
    assert_eq!(stored, txn);
}
