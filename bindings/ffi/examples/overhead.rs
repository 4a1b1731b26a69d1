//! The Rust side of the binding overhead benchmark (bindings/bench/run.sh): calls per second
//! of `balance` and `transfer`, one at a time, straight on the engine's tenant API and through
//! the FFI's tenant object (the runtime hop every binding pays, without a foreign language).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::future::Future;
use std::time::Instant;

use obol::auth::{KeyEncryptionKey, Principal, Scope};
use obol::payments::default_merchant;
use obol::{
    AccountId, Direction, Engine, EngineOptions, Entry, LedgerCommand, Mode, NewAccount,
    NewTransaction, TransactionId,
};
use obol_ffi::{EntryInput, ObolOptions};

async fn measure<F, Fut>(label: &str, name: &str, count: u32, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let started = Instant::now();
    for _ in 0..count {
        call().await;
    }
    let elapsed = started.elapsed();
    let per_second = u128::from(count) * 1_000_000_000 / elapsed.as_nanos().max(1);
    let per_call = elapsed.as_nanos() / u128::from(count) / 1000;
    println!("binding {label:<7} {name:<8} calls/s {per_second:>8}  per call {per_call:>5} µs");
}

#[tokio::main]
async fn main() {
    let calls: u32 = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("calls"))
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();

    let url = format!("sqlite://{}", dir.path().join("direct.db").display());
    // On a worker thread of the runtime, as the FFI object's calls run: the main thread's
    // `block_on` would add a cross-thread wake to every call.
    let direct = tokio::spawn(async move {
        let options = EngineOptions::new("b", "b", KeyEncryptionKey::random());
        let engine = Engine::open(&url, options).await.unwrap();
        let usd = engine.ledger().asset("USD").unwrap().code;
        let principal = Principal::host(default_merchant(), Scope::ALL.into(), Mode::Test);
        let shop = engine.tenant(principal);
        let a = NewAccount::new(
            AccountId::generate(shop.ids()),
            usd.clone(),
            Direction::Debit,
        );
        let b = NewAccount::new(
            AccountId::generate(shop.ids()),
            usd.clone(),
            Direction::Credit,
        );
        let a = shop.create_account(None, a).await.unwrap().id;
        let b = shop.create_account(None, b).await.unwrap().id;
        measure("rust", "balance", calls, || async {
            shop.account(&a).await.unwrap();
        })
        .await;
        measure("rust", "transfer", calls / 10, || async {
            let entries = Entry::transfer(&a, &b, 1, &usd).to_vec();
            let new = NewTransaction::new(TransactionId::generate(shop.ids()), entries);
            shop.submit(LedgerCommand::Transfer(new)).await.unwrap();
        })
        .await;
        drop(shop);
        engine.shutdown().await;
    });
    direct.await.unwrap();

    let url = format!("sqlite://{}", dir.path().join("ffi.db").display());
    let options = ObolOptions {
        key_encryption_key: obol_ffi::generate_key_encryption_key(),
        issuer: "b".into(),
        audience: "b".into(),
        stripe: None,
    };
    let engine = obol_ffi::open_obol(url, options).await.unwrap();
    let obol = engine.act_as(None, None, "test".into()).unwrap();
    let account = |normal_balance| obol_ffi::NewAccountInput {
        id: None,
        asset: "USD".into(),
        normal_balance,
        no_overdraft: false,
        metadata: HashMap::new(),
    };
    let a = obol
        .create_account(account(obol_ffi::Direction::Debit))
        .await
        .unwrap()
        .id;
    let b = obol
        .create_account(account(obol_ffi::Direction::Credit))
        .await
        .unwrap()
        .id;
    let entry = |account: &str, direction| EntryInput {
        account: account.to_owned(),
        direction,
        amount: "1".into(),
        asset: "USD".into(),
    };
    let entries = vec![
        entry(&a, obol_ffi::Direction::Debit),
        entry(&b, obol_ffi::Direction::Credit),
    ];
    measure("ffi", "balance", calls, || async {
        obol.balance(a.clone()).await.unwrap();
    })
    .await;
    measure("ffi", "transfer", calls / 10, || async {
        obol.transfer(None, entries.clone(), HashMap::new())
            .await
            .unwrap();
    })
    .await;
    engine.shutdown().await;
}
