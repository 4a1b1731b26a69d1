//! Load over REST against the real binary: payments created and confirmed in one call
//! (sandbox card, automatic capture) by concurrent clients with an API key, on SQLite and
//! PostgreSQL, all services in one process and then split (gateway + payments, ledger and
//! auth services over gRPC with mutual TLS), and on PostgreSQL two all-in-one replicas on one
//! database with the load spread over both. Prints payments/s, p50/p99 latency, the latency
//! the gateway hop adds and, where PostgreSQL has `pg_stat_statements` loaded, the statements
//! (each one round trip) per payment and the busiest ones. Each deployment starts on an empty
//! store, so none runs on the rows (and the vacuuming) an earlier one left.
//!
//! `cargo bench -p obol-server --bench rest_load -- [--seconds 60] [--clients 64]
//! [--only sqlite|postgres]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    seconds: u64,
    clients: usize,
    only: Option<String>,
}

fn options() -> Options {
    let mut options = Options {
        seconds: 60,
        clients: 64,
        only: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--seconds" => options.seconds = value.parse().expect("--seconds N"),
            "--clients" => options.clients = value.parse().expect("--clients N"),
            "--only" => options.only = Some(value),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    options
}

/// The binary with a clean environment.
fn obol(env: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_obol"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OBOL_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

struct Server {
    child: Child,
    /// `http://…` for REST, `https://…` for a gRPC service.
    base: String,
}

impl Server {
    fn start(env: &[(String, String)], role: &str) -> Self {
        let mut child = obol(env)
            .env("OBOL_HTTP_ADDR", "127.0.0.1:0")
            .env("OBOL_GRPC_ADDR", "127.0.0.1:0")
            .env("OBOL_RATE_LIMIT_PER_SECOND", "10000000")
            .env("OBOL_RATE_LIMIT_BURST", "10000000")
            .args(["serve", "--role", role])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let banner = lines.next().unwrap().unwrap();
        let base = match banner.strip_prefix("Obol is running: ") {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://{}", banner.rsplit_once(" on ").unwrap().1),
        };
        // Keep reading so the pipe never fills.
        std::thread::spawn(move || for _ in lines {});
        Server { child, base }
    }

    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
    }
}

struct Outcome {
    done: usize,
    errors: usize,
    latencies: Vec<u64>,
}

async fn load(bases: &[String], key: &str, clients: usize, seconds: u64) -> (Outcome, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let urls: Vec<Arc<String>> = bases
        .iter()
        .map(|base| Arc::new(format!("{base}/v1/payments")))
        .collect();
    let body = serde_json::json!({
        "amount": "1999", "asset": "USD", "confirm": true,
        "payment_method": {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
    })
    .to_string();
    let body = Arc::new(body);
    // Keys never repeat across runs on the same database: a repeated key would be an
    // idempotent replay, not a payment.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    // One second of warm-up, not counted.
    let warm = Instant::now() + Duration::from_secs(1);
    let started = warm;
    let deadline = warm + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..clients {
        // Clients are spread over the servers in turn.
        let url = urls[worker % urls.len()].clone();
        let (client, body, key) = (client.clone(), body.clone(), key.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut outcome = Outcome {
                done: 0,
                errors: 0,
                latencies: Vec::new(),
            };
            let mut n = 0u64;
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                n += 1;
                let sent = Instant::now();
                let response = client
                    .post(url.as_str())
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .header("idempotency-key", format!("load-{run}-{worker}-{n}"))
                    .body(body.as_str().to_owned())
                    .send()
                    .await;
                let ok = match response {
                    Ok(response) => {
                        let status = response.status();
                        let text = response.text().await.unwrap_or_default();
                        status.as_u16() == 201 && text.contains("\"status\":\"succeeded\"")
                    }
                    Err(_) => false,
                };
                if sent < warm {
                    continue;
                }
                if ok {
                    outcome.done += 1;
                    outcome
                        .latencies
                        .push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                } else {
                    outcome.errors += 1;
                }
            }
            outcome
        }));
    }
    let mut total = Outcome {
        done: 0,
        errors: 0,
        latencies: Vec::new(),
    };
    for task in tasks {
        let outcome = task.await.unwrap();
        total.done += outcome.done;
        total.errors += outcome.errors;
        total.latencies.extend(outcome.latencies);
    }
    (total, started.elapsed())
}

fn api_key(env: &[(String, String)]) -> String {
    let output = obol(env)
        .args([
            "api-keys",
            "create",
            "--name",
            "load",
            "--scopes",
            "payments:read,payments:write",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Figures of one load run.
struct Figures {
    rate: u64,
    p50: u64,
    p99: u64,
    errors: usize,
}

fn measure(
    bases: &[String],
    key: &str,
    options: &Options,
    runtime: &tokio::runtime::Runtime,
) -> Figures {
    let (outcome, elapsed) = runtime.block_on(load(bases, key, options.clients, options.seconds));
    let mut latencies = outcome.latencies;
    latencies.sort_unstable();
    let millis = u64::try_from(elapsed.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let at = |per_mille: usize| match latencies.is_empty() {
        true => 0,
        false => latencies[(latencies.len() * per_mille / 1000).min(latencies.len() - 1)],
    };
    Figures {
        rate: u64::try_from(outcome.done).unwrap_or(0) * 1000 / millis,
        p50: at(500),
        p99: at(990),
        errors: outcome.errors,
    }
}

fn millis(micros: u64) -> String {
    format!("{}.{:02} ms", micros / 1000, (micros % 1000) / 10)
}

fn print(label: &str, deployment: &str, options: &Options, figures: &Figures) {
    println!(
        "rest     {label:<8} {deployment:<10} clients={:<3} payments/s {:>6}  p50 {:>10}  p99 {:>10}  errors {}",
        options.clients,
        figures.rate,
        millis(figures.p50),
        millis(figures.p99),
        figures.errors
    );
}

/// Latency of a cheap authenticated read (`GET /v1/payments?limit=1`), one request at a time: what
/// the gateway's hops cost without queueing or disk in the way. Returns (p50, p99) in µs.
fn read_latency(base: &str, key: &str, runtime: &tokio::runtime::Runtime) -> (u64, u64) {
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{base}/v1/payments?limit=1");
        let mut latencies = Vec::new();
        for i in 0..2200 {
            let sent = Instant::now();
            let response = client.get(&url).bearer_auth(key).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            response.bytes().await.unwrap();
            // The first 200 warm connections and caches.
            if i >= 200 {
                latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
        }
        latencies.sort_unstable();
        let at = |per_mille: usize| latencies[latencies.len() * per_mille / 1000];
        (at(500), at(990))
    })
}

/// Certificates for the split deployment, made in `dir` by the binary's own commands.
fn certificates(dir: &std::path::Path) {
    let dir = dir.display().to_string();
    let made = obol(&[])
        .args(["certs", "init", "--dir", &dir])
        .status()
        .unwrap();
    assert!(made.success());
    for name in ["gateway", "payments", "ledger", "auth"] {
        let made = obol(&[])
            .args(["certs", "issue", name, "--dir", &dir])
            .status()
            .unwrap();
        assert!(made.success());
    }
}

fn with(env: &[(String, String)], more: &[(&str, String)]) -> Vec<(String, String)> {
    let mut all = env.to_vec();
    all.extend(more.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    all
}

/// Statements PostgreSQL ran for the bench database, from `pg_stat_statements` (when the
/// server loads it): reset before a run, read after, and divided by the payments the run
/// stored.
struct Statements {
    url: String,
    database: String,
}

impl Statements {
    fn psql(&self, sql: &str) -> Option<String> {
        let output = Command::new("psql")
            .args([self.url.as_str(), "-Atq", "-F", "|", "-c", sql])
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Resets the counters; the payments stored so far.
    fn start(&self) -> Option<u64> {
        self.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")?;
        self.psql("SELECT pg_stat_statements_reset()")?;
        self.psql("SELECT count(*) FROM payments")?.parse().ok()
    }

    /// Prints statements per payment since `start` and the five busiest statements.
    fn report(&self, label: &str, deployment: &str, before: Option<u64>) {
        let Some(before) = before else {
            println!(
                "rest     {label:<8} {deployment:<10} statements: pg_stat_statements is not loaded (shared_preload_libraries)"
            );
            return;
        };
        let after: u64 = self
            .psql("SELECT count(*) FROM payments")
            .and_then(|n| n.parse().ok())
            .unwrap_or(before);
        let scope = format!(
            "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{}') \
             AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE 'SELECT count(*) FROM payments%'",
            self.database
        );
        let calls: u64 = self
            .psql(&format!("SELECT coalesce(sum(calls), 0) {scope}"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let payments = after.saturating_sub(before).max(1);
        println!(
            "rest     {label:<8} {deployment:<10} statements/payment {}.{:02} ({calls} statements, {payments} payments; each statement one round trip)",
            calls / payments,
            calls % payments * 100 / payments,
        );
        let top = self
            .psql(&format!(
                "SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) {scope} ORDER BY calls DESC LIMIT 6"
            ))
            .unwrap_or_default();
        for line in top.lines() {
            let (calls, query) = line.split_once('|').unwrap_or((line, ""));
            let per: u64 = calls.parse().unwrap_or(0);
            println!(
                "           {:>3}.{:02}/payment  {query}",
                per / payments,
                per % payments * 100 / payments
            );
        }
    }
}

fn run(
    label: &str,
    env: Vec<(String, String)>,
    options: &Options,
    runtime: &tokio::runtime::Runtime,
    statements: Option<&Statements>,
    empty_store: &dyn Fn(),
) {
    empty_store();
    let key = api_key(&env);
    let server = Server::start(&env, "all");
    let counted = statements.and_then(Statements::start);
    let together = measure(std::slice::from_ref(&server.base), &key, options, runtime);
    print(label, "all-in-one", options, &together);
    if let Some(statements) = statements {
        statements.report(label, "all-in-one", counted);
    }
    let together_read = read_latency(&server.base, &key, runtime);
    server.stop();
    if let Some(statements) = statements {
        // Two replicas on one database, as a Kubernetes deployment runs them.
        empty_store();
        let key = api_key(&env);
        let replicas = [Server::start(&env, "all"), Server::start(&env, "all")];
        let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
        let counted = statements.start();
        let both = measure(&bases, &key, options, runtime);
        for replica in replicas {
            replica.stop();
        }
        print(label, "2 replicas", options, &both);
        statements.report(label, "2 replicas", counted);
    }

    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let tls = |name: &str| {
        let path = |file: String| certs.path().join(file).display().to_string();
        vec![
            ("OBOL_TLS_CERT", path(format!("{name}.pem"))),
            ("OBOL_TLS_KEY", path(format!("{name}-key.pem"))),
            ("OBOL_TLS_CA", path("ca.pem".to_owned())),
        ]
    };
    let roles = [
        ("payments", "OBOL_PAYMENTS_URL"),
        ("ledger", "OBOL_LEDGER_URL"),
        ("auth", "OBOL_AUTH_URL"),
    ];
    empty_store();
    let key = api_key(&env);
    let mut gateway_env = tls("gateway");
    let mut services = Vec::new();
    for (role, url) in roles {
        let service = Server::start(&with(&env, &tls(role)), role);
        gateway_env.push((url, service.base.clone()));
        services.push(service);
    }
    let gateway = Server::start(&with(&env, &gateway_env), "gateway");
    let split = measure(std::slice::from_ref(&gateway.base), &key, options, runtime);
    let split_read = read_latency(&gateway.base, &key, runtime);
    gateway.stop();
    for service in services {
        service.stop();
    }
    print(label, "split", options, &split);
    // The hops' own cost shows on an idle system: one client, a read with no disk write.
    println!(
        "rest     {label:<8} gateway hop adds p50 {:>10}  p99 {:>10}  (GET /v1/payments?limit=1 one at a time: split p50 {}, all-in-one p50 {})",
        millis(split_read.0.saturating_sub(together_read.0)),
        millis(split_read.1.saturating_sub(together_read.1)),
        millis(split_read.0),
        millis(together_read.0),
    );
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let kek = {
        let output = obol(&[]).args(["keys", "kek"]).output().unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    if options.only.as_deref().is_none_or(|o| o == "sqlite") {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![
            ("OBOL_DATA_DIR".to_owned(), dir.path().display().to_string()),
            ("OBOL_KEY_ENCRYPTION_KEY".to_owned(), kek.clone()),
        ];
        let empty_store = || {
            let _ = std::fs::remove_dir_all(dir.path());
            std::fs::create_dir_all(dir.path()).unwrap();
        };
        run("sqlite", env, &options, &runtime, None, &empty_store);
    }
    if options.only.as_deref().is_none_or(|o| o == "postgres") {
        let database = format!("obol_load_{}", std::process::id());
        let admin = std::env::var("OBOL_BENCH_POSTGRES_ADMIN")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let psql = |sql: &str| {
            let status = Command::new("psql")
                .args([admin.as_str(), "-q", "-c", sql])
                .status()
                .unwrap();
            assert!(status.success(), "psql {sql}");
        };
        let dir = tempfile::tempdir().unwrap();
        let url = admin.rsplit_once('/').unwrap().0.to_owned() + "/" + &database;
        let statements = Statements {
            url: url.clone(),
            database: database.clone(),
        };
        let env = vec![
            ("OBOL_DATA_DIR".to_owned(), dir.path().display().to_string()),
            ("OBOL_KEY_ENCRYPTION_KEY".to_owned(), kek.clone()),
            ("OBOL_DATABASE_URL".to_owned(), url),
        ];
        let empty_store = || {
            psql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
            psql(&format!("CREATE DATABASE {database}"));
        };
        run(
            "postgres",
            env,
            &options,
            &runtime,
            Some(&statements),
            &empty_store,
        );
        psql(&format!("DROP DATABASE {database}"));
    }
}
