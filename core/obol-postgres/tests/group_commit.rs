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
