//! Two `obol serve` processes on one PostgreSQL database, as replicas behind a load balancer:
//! concurrent clients pay, capture in part and refund through both, so both processes'
//! batching writers lock the same merchant, clearing and fee rows. (Follow-ups go to the
//! replica that made the payment: the sandbox keeps its charges in its own process.) Afterwards every acknowledged payment is stored once with
//! the state it was acknowledged with, the ledger balances per asset, and the merchant's
//! balance equals the sum of its payments. No caller ever sees a collision between writers.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::obol;

/// A database of its own on the test server, dropped afterwards.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn create() -> Self {
        let test = std::env::var("OBOL_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let server = test.rsplit_once('/').unwrap().0.to_owned();
        let admin = format!("{server}/postgres");
        let name = format!("obol_replicas_{}", std::process::id());
        let database = Database {
            url: format!("{server}/{name}"),
            admin,
            name,
        };
        database.psql_admin(&format!("DROP DATABASE IF EXISTS {}", database.name));
        database.psql_admin(&format!("CREATE DATABASE {}", database.name));
        database
    }

    fn psql_admin(&self, sql: &str) {
        let status = Command::new("psql")
            .args([self.admin.as_str(), "-q", "-c", sql])
            .status()
            .unwrap();
        assert!(status.success(), "psql {sql}");
    }

    /// One value from the database.
    fn query(&self, sql: &str) -> String {
        let output = Command::new("psql")
            .args([self.url.as_str(), "-Atq", "-c", sql])
            .output()
            .unwrap();
        assert!(output.status.success(), "psql {sql}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.admin.as_str(),
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .status();
    }
}

/// One replica, killed when dropped.
struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(data: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = obol(data);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn start(data: &Path, env: &[(&str, &str)]) -> Replica {
    let mut child = command(data, env)
        .env("OBOL_HTTP_ADDR", "127.0.0.1:0")
        .env("OBOL_RATE_LIMIT_PER_SECOND", "1000000")
        .env("OBOL_RATE_LIMIT_BURST", "1000000")
        .args(["serve"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next().unwrap().unwrap();
    let base = banner
        .strip_prefix("Obol is running: ")
        .unwrap_or_else(|| panic!("no banner: {banner}"))
        .trim_end_matches('/')
        .to_owned();
    std::thread::spawn(move || for _ in lines {});
    Replica { child, base }
}

/// What a client was told about one payment.
#[derive(Debug, Clone)]
struct Acknowledged {
    id: String,
    captured: i128,
    refunded: i128,
}

struct Client {
    http: reqwest::blocking::Client,
    key: String,
}

impl Client {
    fn post(&self, url: &str, key: &str, body: Value) -> (u16, Value) {
        let answer = self
            .http
            .post(url)
            .bearer_auth(&self.key)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().unwrap_or(Value::Null))
    }

    fn get(&self, url: &str) -> Value {
        self.http
            .get(url)
            .bearer_auth(&self.key)
            .send()
            .unwrap()
            .json()
            .unwrap()
    }
}

fn card() -> Value {
    json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}})
}

fn amount(value: &Value) -> i128 {
    value.as_str().unwrap().parse().unwrap()
}

/// One client's work until `deadline` through the replica at `here`. Every answer that is not
/// the expected one is an error.
fn work(
    client: &Client,
    here: &str,
    worker: usize,
    deadline: Instant,
) -> (Vec<Acknowledged>, Vec<String>) {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        let value = 100 + i128::from(n % 50);
        let key = format!("w{worker}-{n}");
        let manual = n % 3 == 1;
        let (status, created) = client.post(
            &format!("{here}/v1/payments"),
            &key,
            json!({"amount": value.to_string(), "asset": "USD", "confirm": true,
                   "capture_method": if manual { "manual" } else { "automatic" },
                   "payment_method": card()}),
        );
        let expected = if manual {
            "requires_capture"
        } else {
            "succeeded"
        };
        if status != 201 || created["state"]["status"] != expected {
            errors.push(format!("create {status}: {created}"));
            continue;
        }
        let id = created["id"].as_str().unwrap().to_owned();
        let mut payment = Acknowledged {
            id: id.clone(),
            captured: if manual { 0 } else { value },
            refunded: 0,
        };
        if manual {
            let (status, captured) = client.post(
                &format!("{here}/v1/payments/{id}/capture"),
                &format!("{key}-capture"),
                json!({"amount": (value - 10).to_string()}),
            );
            if status != 200 || captured["state"]["status"] != "succeeded" {
                errors.push(format!("capture {status}: {captured}"));
                continue;
            }
            payment.captured = amount(&captured["state"]["captured"]);
        } else if n % 3 == 2 {
            let (status, refund) = client.post(
                &format!("{here}/v1/payments/{id}/refunds"),
                &format!("{key}-refund"),
                json!({"amount": "30"}),
            );
            // The answer is the payment as the refund left it.
            if status != 201 || refund["state"]["refunded"] != "30" {
                errors.push(format!("refund {status}: {refund}"));
                continue;
            }
            payment.refunded = 30;
        }
        done.push(payment);
    }
    (done, errors)
}

#[test]
fn two_replicas_on_one_database_stay_correct_under_load() {
    let database = Database::create();
    let data = tempfile::tempdir().unwrap();
    let kek = {
        let output = command(data.path(), &[])
            .args(["keys", "kek"])
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    let env = [
        ("OBOL_DATABASE_URL", database.url.as_str()),
        ("OBOL_KEY_ENCRYPTION_KEY", kek.as_str()),
    ];
    let migrated = command(data.path(), &env).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let key = {
        let output = command(data.path(), &env)
            .args([
                "api-keys",
                "create",
                "--name",
                "replicas",
                "--scopes",
                "payments:read,payments:write,refunds:write,ledger:read",
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        text.split_whitespace()
            .find(|word| word.starts_with("obol_sk_"))
            .unwrap()
            .to_owned()
    };
    let first = start(data.path(), &env);
    let second = start(data.path(), &env);
    let client = Arc::new(Client {
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        key,
    });

    let deadline = Instant::now() + Duration::from_secs(4);
    let results = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let workers: Vec<_> = (0..16)
        .map(|worker| {
            let here = if worker % 2 == 0 {
                first.base.clone()
            } else {
                second.base.clone()
            };
            let (client, results) = (client.clone(), results.clone());
            std::thread::spawn(move || {
                let (done, errors) = work(&client, &here, worker, deadline);
                let mut all = results.lock().unwrap();
                all.0.extend(done);
                all.1.extend(errors);
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let (acknowledged, errors): (Vec<Acknowledged>, Vec<String>) =
        std::mem::take(&mut *results.lock().unwrap());
    assert!(errors.is_empty(), "callers saw errors: {errors:#?}");
    assert!(
        acknowledged.len() > 50,
        "too little load: {}",
        acknowledged.len()
    );

    // Every acknowledged payment is stored once, as it was acknowledged (read through
    // either replica).
    assert_eq!(
        database.query("SELECT count(*) FROM payments"),
        acknowledged.len().to_string()
    );
    for (n, payment) in acknowledged.iter().enumerate() {
        let base = if n % 2 == 0 {
            &first.base
        } else {
            &second.base
        };
        let stored = client.get(&format!("{base}/v1/payments/{}", payment.id));
        assert_eq!(stored["state"]["status"], "succeeded", "{stored}");
        assert_eq!(amount(&stored["state"]["captured"]), payment.captured);
        assert_eq!(amount(&stored["state"]["refunded"]), payment.refunded);
    }
    // The ledger balances per asset, posted and pending.
    assert_eq!(
        database.query(
            "SELECT count(*) FROM (SELECT asset FROM accounts GROUP BY asset \
             HAVING sum(debits_posted) <> sum(credits_posted) \
             OR sum(debits_pending) <> sum(credits_pending)) unbalanced"
        ),
        "0"
    );
    // The merchant's balance is the sum of its payments.
    let expected: i128 = acknowledged.iter().map(|p| p.captured - p.refunded).sum();
    let balances = client.get(&format!("{}/v1/balances?assets=USD", first.base));
    let balance = &balances["data"][0]["balance"];
    assert!(balance["credits_posted"].is_string(), "{balances}");
    assert_eq!(
        amount(&balance["credits_posted"]) - amount(&balance["debits_posted"]),
        expected,
        "{balances}"
    );
    assert_eq!(amount(&balance["credits_pending"]), 0, "{balances}");
}
