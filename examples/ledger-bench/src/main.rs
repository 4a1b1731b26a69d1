//! Ledger benchmark: durable transfers per second and latency through the engine on SQLite and
//! PostgreSQL, with 1, 16 and 64 concurrent submitters, uniform over 10,000 accounts and
//! hot-spot over 10; beside a raw baseline that writes the same rows with hand-written SQL
//! through the same driver in batches, and the ratio engine/raw. One line per case.
//!
//! `cargo run --release -p ledger-bench [-- --seconds N]`; PostgreSQL from
//! `OBOL_BENCH_POSTGRES_URL` (default: the local server), skipped if unreachable.

// Floats here are rates and milliseconds of wall time, never money.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::float_arithmetic,
    clippy::cast_possible_truncation
)]

mod auth_bench;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use obol::{
    AccountId, AssetCode, Direction, Entry, Ledger, LedgerCommand, LedgerConfig, NewAccount,
    NewTransaction, Store,
};
use rand::{Rng, RngExt, SeedableRng, rngs::StdRng};
use sqlx::{Connection, QueryBuilder};

const ACCOUNTS: usize = 10_000;
const HOT_ACCOUNTS: usize = 10;
const SUBMITTERS: [usize; 3] = [1, 16, 64];
/// Transfers per request: one at a time, and vectors of transfers (`Ledger::submit_many`).
const PER_REQUEST: [usize; 2] = [1, 128];
/// Rows per multi-row statement in the raw baseline (bound-parameter limits).
const RAW_CHUNK: usize = 500;

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

struct Target {
    backend: Backend,
    /// Where the raw baseline connects (same database, same schema).
    url: String,
    schema: Option<String>,
    store: Arc<dyn Store>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let seconds: u64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(3);
    // Optional filters, for profiling one case: --only sqlite|postgres|auth,
    // --case uniform|hot10, --submitters N, --per-request N, --auth-tries N.
    let only = arg("--only");
    let only_case = arg("--case");
    let only_submitters: Option<usize> = arg("--submitters").and_then(|s| s.parse().ok());
    let only_per_request: Option<usize> = arg("--per-request").and_then(|s| s.parse().ok());
    let run_for = Duration::from_secs(seconds);
    let dir = tempfile::tempdir()?;

    let mut targets = Vec::new();
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite = obol_sqlite::SqliteStore::open(&sqlite_url).await?;
    targets.push(Target {
        backend: Backend::Sqlite,
        url: sqlite_url,
        schema: None,
        store: Arc::new(sqlite),
    });
    let pg_url = std::env::var("OBOL_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("obol_bench_{}", std::process::id());
    if only.as_deref().is_none_or(|o| o == "auth") {
        let tries = arg("--auth-tries")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000);
        auth_bench::run(run_for.min(Duration::from_secs(2)), tries).await?;
        if only.is_some() {
            return Ok(());
        }
    }
    let want_pg = only.as_deref().is_none_or(|o| o == "postgres");
    match obol_postgres::PostgresStore::open_in_schema(&pg_url, Some(&schema)).await {
        _ if !want_pg => {}
        Ok(store) => targets.push(Target {
            backend: Backend::Postgres,
            url: pg_url.clone(),
            schema: Some(schema.clone()),
            store: Arc::new(store),
        }),
        Err(error) => eprintln!("postgres: skipped ({error})"),
    }

    println!(
        "# {seconds} s per case; a transfer is one transaction of 2 postings (a debit and a credit)"
    );
    targets.retain(|t| only.as_deref().is_none_or(|o| o == t.backend.name()));
    for target in &targets {
        let ledger = Arc::new(Ledger::open(target.store.clone(), LedgerConfig::default()).await?);
        let usd = AssetCode::new("USD")?;
        let accounts = Arc::new(create_accounts(&ledger, &usd, ACCOUNTS).await?);
        for hot in [false, true] {
            let case = if hot { "hot10" } else { "uniform" };
            if only_case.as_deref().is_some_and(|c| c != case) {
                continue;
            }
            for (per_request, submitters) in PER_REQUEST
                .into_iter()
                .flat_map(|p| SUBMITTERS.map(|s| (p, s)))
            {
                if only_submitters.is_some_and(|n| n != submitters)
                    || only_per_request.is_some_and(|n| n != per_request)
                {
                    continue;
                }
                let pool = if hot { HOT_ACCOUNTS } else { ACCOUNTS };
                let load = Load {
                    submitters,
                    per_request,
                };
                let engine = run_engine(&ledger, &accounts[..pool], &usd, load, run_for).await?;
                let raw =
                    run_raw(target, &accounts[..pool], submitters * per_request, run_for).await?;
                println!(
                    "{:<8} {:<7} submitters={:<3} per_request={:<4} engine {:>9.0} transfers/s  p50 {:>7.2} ms  p99 {:>7.2} ms | raw {:>9.0} transfers/s | engine/raw {:.2}",
                    target.backend.name(),
                    case,
                    submitters,
                    per_request,
                    engine.per_second,
                    engine.p50_ms,
                    engine.p99_ms,
                    raw,
                    engine.per_second / raw,
                );
            }
        }
        if let Ok(ledger) = Arc::try_unwrap(ledger) {
            ledger.shutdown().await;
        }
    }
    if targets
        .iter()
        .any(|t| matches!(t.backend, Backend::Postgres))
    {
        let mut conn = sqlx::PgConnection::connect(&pg_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

/// The value after a command-line flag.
fn arg(flag: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != flag).nth(1)
}

async fn create_accounts(
    ledger: &Arc<Ledger>,
    usd: &AssetCode,
    count: usize,
) -> Result<Vec<AccountId>> {
    let mut ids = Vec::with_capacity(count);
    for chunk in 0..count.div_ceil(100) {
        let batch: Vec<_> = (0..100.min(count - chunk * 100))
            .map(|_| {
                let ledger = ledger.clone();
                let new = NewAccount::new(ledger.new_account_id(), usd.clone(), Direction::Credit);
                tokio::spawn(async move { ledger.create_account(new).await })
            })
            .collect();
        for task in batch {
            ids.push(task.await??.id);
        }
    }
    Ok(ids)
}

#[derive(Clone, Copy)]
struct Load {
    /// Concurrent closed-loop submitters.
    submitters: usize,
    /// Transfers in each request.
    per_request: usize,
}

struct EngineResult {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn run_engine(
    ledger: &Arc<Ledger>,
    accounts: &[AccountId],
    usd: &AssetCode,
    load: Load,
    run_for: Duration,
) -> Result<EngineResult> {
    let accounts = Arc::new(accounts.to_vec());
    let started = Instant::now();
    let deadline = started + run_for;
    let tasks: Vec<_> = (0..load.submitters)
        .map(|worker| {
            let (ledger, accounts, usd) = (ledger.clone(), accounts.clone(), usd.clone());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(worker as u64);
                let mut latencies = Vec::new();
                let mut transfers = 0usize;
                while Instant::now() < deadline {
                    let commands: Vec<LedgerCommand> = (0..load.per_request)
                        .map(|_| {
                            let (from, to) = pick_pair(&mut rng, accounts.len());
                            let entries = Entry::transfer(
                                &accounts[from],
                                &accounts[to],
                                1 + rng.random_range(0..1000),
                                &usd,
                            );
                            LedgerCommand::Transfer(NewTransaction::new(
                                ledger.new_transaction_id(),
                                entries.to_vec(),
                            ))
                        })
                        .collect();
                    let sent = Instant::now();
                    if load.per_request == 1 {
                        let command = commands.into_iter().next().context("no command")?;
                        ledger.submit(command).await?;
                    } else {
                        for result in ledger.submit_many(commands).await? {
                            result?;
                        }
                    }
                    // Every transfer of a request waits the same time.
                    latencies.push(sent.elapsed());
                    transfers += load.per_request;
                }
                anyhow::Ok((transfers, latencies))
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut transfers = 0usize;
    for task in tasks {
        let (done, times) = task.await??;
        transfers += done;
        latencies.extend(times);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies
            .get(index)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(EngineResult {
        per_second: transfers as f64 / elapsed,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

fn pick_pair(rng: &mut impl Rng, n: usize) -> (usize, usize) {
    let from = rng.random_range(0..n);
    let mut to = rng.random_range(0..n - 1);
    if to >= from {
        to += 1;
    }
    (from, to)
}

/// The same rows the engine writes per transfer (one transaction row, two entry rows, two
/// account balance updates), written with hand-written SQL in batches of `batch` transfers per
/// database transaction, from one writer, with no engine in between.
async fn run_raw(
    target: &Target,
    accounts: &[AccountId],
    batch: usize,
    run_for: Duration,
) -> Result<f64> {
    let mut rng = StdRng::seed_from_u64(7);
    let started = Instant::now();
    let mut written = 0usize;
    let run_id = std::process::id();
    match target.backend {
        Backend::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&target.url)?
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            while started.elapsed() < run_for {
                let rows = raw_rows(&mut rng, accounts, batch, run_id);
                let mut tx = conn.begin().await?;
                for chunk in rows.chunks(RAW_CHUNK) {
                    for mut query in raw_insert::<sqlx::Sqlite>(
                        chunk,
                        "",
                        "WITH v(id, amount) AS (",
                        ") UPDATE accounts SET credits_posted = v.amount FROM v WHERE accounts.id = v.id",
                    ) {
                        query.build().execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                written += batch;
            }
        }
        Backend::Postgres => {
            let mut options = sqlx::postgres::PgConnectOptions::from_str(&target.url)?;
            if let Some(schema) = &target.schema {
                options = options.options([("search_path", schema.as_str())]);
            }
            let mut conn = sqlx::PgConnection::connect_with(&options).await?;
            while started.elapsed() < run_for {
                let rows = raw_rows(&mut rng, accounts, batch, run_id);
                let mut tx = conn.begin().await?;
                for chunk in rows.chunks(RAW_CHUNK) {
                    for mut query in raw_insert::<sqlx::Postgres>(
                        chunk,
                        "::numeric",
                        "UPDATE accounts SET credits_posted = v.amount FROM (",
                        ") AS v(id, amount) WHERE accounts.id = v.id",
                    ) {
                        query.build().execute(&mut *tx).await?;
                    }
                }
                tx.commit().await.context("raw commit")?;
                written += batch;
            }
        }
    }
    Ok(written as f64 / started.elapsed().as_secs_f64())
}

struct RawTransfer {
    id: String,
    from: String,
    to: String,
    amount: String,
}

fn raw_rows(
    rng: &mut impl Rng,
    accounts: &[AccountId],
    batch: usize,
    run_id: u32,
) -> Vec<RawTransfer> {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    (0..batch)
        .map(|_| {
            let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
            let (from, to) = pick_pair(rng, accounts.len());
            RawTransfer {
                id: format!("txn_raw_{run_id}_{serial}"),
                from: accounts[from].to_string(),
                to: accounts[to].to_string(),
                amount: (1 + rng.random_range(0..1000)).to_string(),
            }
        })
        .collect()
}

/// The three statements of a raw batch: insert transactions, insert entries, update balances.
fn raw_insert<DB>(
    rows: &[RawTransfer],
    cast: &'static str,
    update_head: &str,
    update_tail: &str,
) -> Vec<QueryBuilder<DB>>
where
    DB: sqlx::Database,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut txns = QueryBuilder::<DB>::new(
        "INSERT INTO transactions (id, body_hash, kind, entries, effective_at, created_at, metadata) ",
    );
    txns.push_values(rows, |mut row, r| {
        row.push_bind(r.id.clone())
            .push_bind(String::from("raw"))
            .push_bind(String::from("posted"))
            .push_bind(format!(
                "[{{\"account\":\"{}\",\"amount\":{}}}]",
                r.from, r.amount
            ))
            .push_bind(0i64)
            .push_bind(0i64)
            .push_bind(String::from("{}"));
    });
    let mut entries = QueryBuilder::<DB>::new(
        "INSERT INTO entries (transaction_id, account_id, direction, amount, asset, effective_at, created_at) ",
    );
    let legs: Vec<(&RawTransfer, &str, &str)> = rows
        .iter()
        .flat_map(|r| [(r, r.from.as_str(), "debit"), (r, r.to.as_str(), "credit")])
        .collect();
    entries.push_values(legs.iter(), |mut row, (r, account, direction)| {
        row.push_bind(r.id.clone())
            .push_bind(account.to_string())
            .push_bind(direction.to_string())
            .push_bind(r.amount.clone())
            .push_unseparated(cast)
            .push_bind(String::from("USD"))
            .push_bind(0i64)
            .push_bind(0i64);
    });
    let mut update = QueryBuilder::<DB>::new(update_head);
    let mut touched: Vec<&str> = legs.iter().map(|(_, a, _)| *a).collect();
    touched.sort();
    touched.dedup();
    update.push_values(touched, |mut row, account| {
        row.push_bind(account.to_string())
            .push_bind(String::from("1"))
            .push_unseparated(cast);
    });
    update.push(update_tail);
    vec![txns, entries, update]
}
