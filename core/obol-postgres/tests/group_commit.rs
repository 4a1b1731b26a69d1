//! Group commit of payment writes: many payments written at once share transactions; a write
//! that loses its race (the same payment changed by a neighbour in its queue, or by another
//! process) fails alone and every other write commits; two stores on one schema (two
//! processes) stay consistent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use obol_core::payments::{
    CardDetails, NewPayment, PaymentStatus, Payments, ProviderRegistry, Sandbox, default_merchant,
};
use obol_core::testing::conformance::assert_balanced;
use obol_core::testing::test_ledger;
use obol_core::{AssetCode, Error, PaymentId, Store};

async fn engine(store: Arc<dyn Store>, seed: u64, sandbox: Arc<Sandbox>) -> Arc<Payments> {
    let (ledger, _) = test_ledger(store, seed).await;
    let mut providers = ProviderRegistry::new();
    providers.register(sandbox);
    Arc::new(Payments::new(Arc::new(ledger), providers))
}

/// A payment of `amount`, authorized for manual capture.
async fn held(payments: &Payments, amount: i128) -> PaymentId {
    let id = PaymentId::generate(payments.ledger().ids().as_ref());
    let usd = AssetCode::new("USD").unwrap();
    payments
        .create(NewPayment::new(id.clone(), amount, usd).manual_capture())
        .await
        .unwrap();
    let card =
        CardDetails::new("4242424242424242", 12, 2030, "123", payments.ledger().now()).unwrap();
    let token = payments
        .tokenize_card("sandbox", &default_merchant(), &card)
        .await
        .unwrap();
    payments.attach_method(&id, token).await.unwrap();
    let held = payments.confirm(&id).await.unwrap();
    assert_eq!(held.state.status, PaymentStatus::RequiresCapture);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_loses_its_race_fails_alone_and_its_neighbours_commit() {
    let schema = common::fresh_schema();
    let sandbox = Arc::new(Sandbox::ephemeral());
    let store_a: Arc<dyn Store> = Arc::new(common::store_in(&schema).await);
    let store_b: Arc<dyn Store> = Arc::new(common::store_in(&schema).await);
    let a = engine(store_a.clone(), 1, sandbox.clone()).await;
    let b = engine(store_b, 2, sandbox).await;
    let mut ids = Vec::new();
    for n in 0..40 {
        ids.push(held(if n % 2 == 0 { &a } else { &b }, 1000).await);
    }
    // Every payment captured at once through both stores; the first two are also captured a
    // second time concurrently: the first through the same store (a neighbour in its queue),
    // the second through the other store (another process).
    let mut tasks = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let payments = if n % 2 == 0 { a.clone() } else { b.clone() };
        let id = id.clone();
        tasks.push((
            n,
            tokio::spawn(async move { payments.capture(&id, Some(600), true).await }),
        ));
    }
    for n in [0, 1] {
        let (payments, id) = (a.clone(), ids[n].clone());
        tasks.push((
            n,
            tokio::spawn(async move { payments.capture(&id, Some(600), true).await }),
        ));
    }
    let mut wins = vec![0; ids.len()];
    for (n, task) in tasks {
        match task.await.unwrap() {
            Ok(_) => wins[n] += 1,
            // The payment had moved on: refused, never applied twice.
            Err(error) => assert!(
                matches!(
                    error,
                    Error::Contention { .. } | Error::InvalidTransition { .. }
                ),
                "{error}"
            ),
        }
    }
    assert!(wins.iter().all(|w| *w == 1), "one capture each: {wins:?}");
    for id in &ids {
        let payment = a.payment(id).await.unwrap();
        assert_eq!(payment.state.status, PaymentStatus::Succeeded);
        assert_eq!(payment.state.captured, 600, "{id}");
    }
    assert_balanced(store_a.as_ref()).await;
}

/// An account with a balance limit that the ledger's own writer moves while payment batches
/// of two processes draw on it: the limit holds, each write that was answered success moved
/// the money once, and the books balance. (Payments post to accounts without a limit; a
/// write with ledger commands of its own reaches one here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_account_keeps_its_limit_under_payment_batches_of_two_processes() {
    use obol_core::ledger::batch::Submission;
    use obol_core::ledger::model::NewTransaction;
    use obol_core::ledger::model::{AccountFlags, Direction, Entry, LedgerCommand, NewAccount};
    use obol_core::payments::PaymentWrite;

    let schema = common::fresh_schema();
    let sandbox = Arc::new(Sandbox::ephemeral());
    let store_a: Arc<dyn Store> = Arc::new(common::store_in(&schema).await);
    let store_b: Arc<dyn Store> = Arc::new(common::store_in(&schema).await);
    let a = engine(store_a.clone(), 11, sandbox.clone()).await;
    let b = engine(store_b.clone(), 12, sandbox).await;
    let usd = AssetCode::new("USD").unwrap();
    let ledger = a.ledger();
    let open = |flags: AccountFlags| {
        let mut new = NewAccount::new(ledger.new_account_id(), usd.clone(), Direction::Credit);
        new.flags = flags;
        ledger.create_account(new)
    };
    let wallet = open(AccountFlags {
        debits_must_not_exceed_credits: true,
        credits_must_not_exceed_debits: false,
    })
    .await
    .unwrap()
    .id;
    let source = open(AccountFlags::default()).await.unwrap().id;
    let sink = open(AccountFlags::default()).await.unwrap().id;
    let move_money = |from: &obol_core::AccountId, to: &obol_core::AccountId, amount| {
        LedgerCommand::Transfer(NewTransaction::new(
            ledger.new_transaction_id(),
            vec![
                Entry::debit(from, amount, &usd),
                Entry::credit(to, amount, &usd),
            ],
        ))
    };
    ledger
        .submit(move_money(&source, &wallet, 100))
        .await
        .unwrap();

    // 30 payments, each written with a command taking 10 from the wallet (through both
    // stores), while the ledger API adds 10 to it five times: 100 + 50 allow 15 of them.
    let mut writes = Vec::new();
    for n in 0..30 {
        let payments = if n % 2 == 0 { &a } else { &b };
        let id = PaymentId::generate(payments.ledger().ids().as_ref());
        let created = payments
            .create(NewPayment::new(id, 1000, usd.clone()))
            .await
            .unwrap();
        let mut next = created.clone();
        next.version += 1;
        let write = PaymentWrite {
            payment: next,
            expected_version: Some(created.version),
            ledger: vec![Submission::new(move_money(&wallet, &sink, 10)).unwrap()],
            children: Vec::new(),
            events: Vec::new(),
            answer: None,
        };
        writes.push((n, write));
    }
    let now = ledger.now();
    let mut tasks = Vec::new();
    for (n, write) in writes {
        let store = if n % 2 == 0 {
            store_a.clone()
        } else {
            store_b.clone()
        };
        tasks.push(tokio::spawn(async move {
            store.write_payment(write, now).await
        }));
    }
    let mut top_ups = Vec::new();
    for _ in 0..5 {
        let command = move_money(&source, &wallet, 10);
        let ledger = b.ledger().clone();
        top_ups.push(tokio::spawn(async move { ledger.submit(command).await }));
    }
    for top_up in top_ups {
        top_up.await.unwrap().unwrap();
    }
    let mut paid = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => paid += 1,
            Err(Error::InsufficientFunds { .. }) => {}
            Err(error) => panic!("{error}"),
        }
    }
    let balance = ledger.balance(&wallet).await.unwrap();
    assert!(
        balance.debits_posted <= balance.credits_posted,
        "{balance:?}"
    );
    assert_eq!(balance.debits_posted, 10 * paid);
    assert!(paid >= 10, "at least the first 100 pays for ten: {paid}");
    assert_eq!(
        ledger.balance(&sink).await.unwrap().credits_posted,
        10 * paid
    );
    assert_balanced(store_a.as_ref()).await;
}

/// Events become visible in `seq` order whichever process and batch wrote them: a reader
/// paging a merchant's events by `seq` while two stores write payments at once misses none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_paging_events_by_seq_misses_none_written_concurrently() {
    use obol_core::payments::EventQuery;
    use std::sync::atomic::{AtomicBool, Ordering};

    let schema = common::fresh_schema();
    let sandbox = Arc::new(Sandbox::ephemeral());
    let store_a: Arc<dyn Store> = Arc::new(common::store_in(&schema).await);
    let store_b: Arc<dyn Store> = Arc::new(common::store_in(&schema).await);
    let a = engine(store_a.clone(), 21, sandbox.clone()).await;
    let b = engine(store_b, 22, sandbox).await;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (store_a.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = store
                    .merchant_events(&EventQuery {
                        merchant: default_merchant(),
                        mode: None,
                        payment: None,
                        after,
                        limit: 100,
                    })
                    .await
                    .unwrap();
                if let Some(last) = page.last() {
                    after = last.sequence;
                }
                let empty = page.is_empty();
                seen.extend(page.into_iter().map(|e| e.event.id));
                if finished && empty {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut writers = Vec::new();
    for n in 0..200 {
        let payments = if n % 2 == 0 { a.clone() } else { b.clone() };
        writers.push(tokio::spawn(async move {
            let id = PaymentId::generate(payments.ledger().ids().as_ref());
            let usd = AssetCode::new("USD").unwrap();
            payments
                .create(NewPayment::new(id, 100, usd))
                .await
                .unwrap();
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();
    let all = store_a.events_after(0, 10_000).await.unwrap();
    assert_eq!(all.len(), 200, "one creation event per payment");
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an event read twice");
    assert_eq!(
        seen.len(),
        all.len(),
        "the reader skipped events committed late"
    );
}
