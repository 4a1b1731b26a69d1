//! Two engine instances write to the same PostgreSQL schema at once: no money is created or
//! lost, no flagged account goes negative, and a transaction sent to both is applied once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use obol_core::testing::conformance::assert_balanced;
use obol_core::testing::test_ledger;
use obol_core::{AssetCode, Direction, Entry, Ledger, NewAccount, NewTransaction, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_on_one_database_stay_consistent() {
    let schema = common::fresh_schema();
    let store_a: Arc<dyn Store> = Arc::new(common::store_in(&schema).await);
    let store_b: Arc<dyn Store> = Arc::new(common::store_in(&schema).await);
    let (a, _) = test_ledger(store_a.clone(), 1).await;
    let (b, _) = test_ledger(store_b, 2).await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let usd = AssetCode::new("USD").unwrap();

    let world = a.new_account_id();
    a.create_account(NewAccount::new(
        world.clone(),
        usd.clone(),
        Direction::Debit,
    ))
    .await
    .unwrap();
    let mut wallets = Vec::new();
    for _ in 0..6 {
        let id = a.new_account_id();
        a.create_account(
            NewAccount::new(id.clone(), usd.clone(), Direction::Credit).no_overdraft(),
        )
        .await
        .unwrap();
        let fund = NewTransaction::new(
            a.new_transaction_id(),
            Entry::transfer(&world, &id, 500, &usd).to_vec(),
        );
        a.transfer(fund).await.unwrap();
        wallets.push(id);
    }
    let wallets = Arc::new(wallets);

    // Every request goes to both engines: same ids, same bodies, racing.
    let mut tasks = Vec::new();
    for worker in 0..8usize {
        let (a, b, wallets, usd) = (a.clone(), b.clone(), wallets.clone(), usd.clone());
        tasks.push(tokio::spawn(async move {
            let mut applied = 0i128;
            for i in 0..40usize {
                let from = &wallets[(worker + i) % wallets.len()];
                let to = &wallets[(worker + 2 * i + 1) % wallets.len()];
                if from == to {
                    continue;
                }
                let txn = NewTransaction::new(
                    a.new_transaction_id(),
                    Entry::transfer(from, to, 37, &usd).to_vec(),
                );
                let engine: &Ledger = if i % 2 == 0 { &a } else { &b };
                let other: &Ledger = if i % 2 == 0 { &b } else { &a };
                let (first, second) =
                    tokio::join!(engine.transfer(txn.clone()), other.transfer(txn.clone()));
                match (&first, &second) {
                    (Ok(x), Ok(y)) => {
                        assert_eq!(x, y);
                        applied += 1;
                    }
                    (Err(x), Err(y)) => {
                        assert_eq!(x.code(), "insufficient_funds");
                        assert_eq!(x, y);
                    }
                    _ => panic!("the two engines disagree: {first:?} vs {second:?}"),
                }
            }
            applied
        }));
    }
    let mut applied = 0;
    for task in tasks {
        applied += task.await.unwrap();
    }
    assert!(applied > 0);

    let mut total = 0;
    for id in wallets.iter() {
        let balance = b.balance(id).await.unwrap();
        assert!(balance.posted(Direction::Credit) >= 0, "{id} went negative");
        total += balance.posted(Direction::Credit);
    }
    assert_eq!(total, 3_000);
    // Each applied transfer appears once in the history of its source.
    let mut debits = 0;
    for id in wallets.iter() {
        let page = a.history(id, None, 1000).await.unwrap();
        debits += page
            .items
            .iter()
            .filter(|e| e.direction == Direction::Debit)
            .count();
    }
    assert_eq!(i128::try_from(debits).unwrap(), applied);
    assert_balanced(store_a.as_ref()).await;
}
