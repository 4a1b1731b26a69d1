//! Crash safety: a child process writes transfers to a SQLite file and prints each id the
//! ledger acknowledged; the parent SIGKILLs it at random points, several times, then reopens the
//! file and checks that every acknowledged transaction is there, none is half-applied, and the
//! books balance.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use obol_core::testing::conformance::assert_balanced;
use obol_core::{
    AccountId, AssetCode, Balance, Direction, Entry, Ledger, LedgerConfig, NewAccount,
    NewTransaction, Store, TransactionId,
};
use obol_sqlite::SqliteStore;
use rand::{RngExt, SeedableRng, rngs::StdRng};

const ACCOUNTS: usize = 12;
const DB_ENV: &str = "OBOL_CRASH_DB";

async fn open(path: &str) -> (Arc<dyn Store>, Ledger) {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&format!("sqlite://{path}"))
            .await
            .unwrap(),
    );
    let ledger = Ledger::open(store.clone(), LedgerConfig::default())
        .await
        .unwrap();
    (store, ledger)
}

fn account_ids() -> Vec<AccountId> {
    (0..ACCOUNTS)
        .map(|i| AccountId::parse(&format!("acct_{:0>26}", i + 1)).unwrap())
        .collect()
}

/// The child: writes until killed. Does nothing unless started by the parent.
#[test]
#[ignore = "run by crash_safety as a child process"]
fn child_writer() {
    let Ok(path) = std::env::var(DB_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let (_, ledger) = open(&path).await;
        let ledger = Arc::new(ledger);
        let accounts = Arc::new(account_ids());
        let usd = AssetCode::new("USD").unwrap();
        let tasks: Vec<_> = (0..8u64)
            .map(|worker| {
                let (ledger, accounts, usd) = (ledger.clone(), accounts.clone(), usd.clone());
                tokio::spawn(async move {
                    let mut rng = StdRng::seed_from_u64(worker ^ u64::from(std::process::id()));
                    for _ in 0..1_000_000 {
                        let a = &accounts[rng.random_range(0..ACCOUNTS)];
                        let b = &accounts[rng.random_range(0..ACCOUNTS)];
                        let c = &accounts[rng.random_range(0..ACCOUNTS)];
                        let amount = rng.random_range(1..1_000i128);
                        // Four entries over three accounts: a half-applied one would show.
                        let entries = vec![
                            Entry::debit(a, amount, &usd),
                            Entry::credit(b, amount - amount / 3, &usd),
                            Entry::credit(c, amount / 3, &usd),
                        ]
                        .into_iter()
                        .filter(|e| e.amount > 0)
                        .collect();
                        let id = ledger.new_transaction_id();
                        ledger
                            .transfer(NewTransaction::new(id.clone(), entries))
                            .await
                            .unwrap();
                        println!("ACK {id}");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[test]
fn crash_safety() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db").display().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (_, ledger) = open(&path).await;
        let usd = AssetCode::new("USD").unwrap();
        for id in account_ids() {
            ledger
                .create_account(NewAccount::new(id, usd.clone(), Direction::Credit))
                .await
                .unwrap();
        }
        ledger.shutdown().await;
    });

    let mut acknowledged: BTreeSet<TransactionId> = BTreeSet::new();
    let mut rng = StdRng::seed_from_u64(42);
    for round in 0..6 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DB_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| {
                    line.strip_prefix("ACK ")
                        .map(|id| TransactionId::parse(id).unwrap())
                })
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(150..900)));
        child.kill().unwrap(); // SIGKILL: no destructors, no flush, mid-write.
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        assert!(
            !acked.is_empty() || round > 0,
            "the child acknowledged nothing"
        );
        acknowledged.extend(acked);
    }
    assert!(
        acknowledged.len() > 50,
        "too few writes to mean anything: {}",
        acknowledged.len()
    );

    runtime.block_on(async {
        let (store, ledger) = open(&path).await;
        for id in &acknowledged {
            ledger
                .transaction(id)
                .await
                .unwrap_or_else(|_| panic!("acknowledged {id} is missing"));
        }
        // Every account's balance is exactly the sum of its logged entries, and every logged
        // transaction has all its entries.
        let mut entries_seen: BTreeMap<TransactionId, usize> = BTreeMap::new();
        for id in account_ids() {
            let mut sum = Balance::default();
            let mut cursor: Option<String> = None;
            loop {
                let page = ledger.history(&id, cursor.as_deref(), 1000).await.unwrap();
                for e in &page.items {
                    match e.direction {
                        Direction::Debit => sum.debits_posted += e.amount,
                        Direction::Credit => sum.credits_posted += e.amount,
                    }
                    *entries_seen.entry(e.transaction_id.clone()).or_default() += 1;
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(ledger.balance(&id).await.unwrap(), sum, "{id}");
        }
        for (id, seen) in &entries_seen {
            let txn = ledger.transaction(id).await.unwrap();
            assert_eq!(txn.entries.len(), *seen, "{id} is half-applied");
        }
        assert!(entries_seen.len() >= acknowledged.len());
        assert_balanced(store.as_ref()).await;
    });
}
