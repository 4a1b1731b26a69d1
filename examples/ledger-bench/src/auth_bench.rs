//! Auth figures: JWT issue/s and verify/s (RS256 and EdDSA), argon2id password hashes/s (OWASP
//! parameters), API-key checks/s, and the sign-in timing of an unknown email against a wrong
//! password (the medians must not tell them apart).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use obol::auth::jwt::{Expectations, SigningKey, verify};
use obol::auth::{
    Algorithm, Auth, AuthConfig, KeyEncryptionKey, Mode, NewUser, Password, PasswordHasher,
    Profile, Scope, TokenConfig,
};
use obol::{MemoryStore, MerchantId, Store, SystemClock, Timestamp};

/// Runs `work` repeatedly for about `run_for`; returns operations per second.
fn rate(run_for: Duration, mut work: impl FnMut() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < run_for {
        work()?;
        done += 1;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Prints one line per auth case.
pub async fn run(run_for: Duration, tries: usize) -> Result<()> {
    let claims = serde_json::json!({"iss": "https://obol.bench", "aud": "obol-api",
        "sub": "usr_bench", "exp": 4_000_000_000i64, "nbf": 0, "iat": 0});
    let expect = Expectations {
        issuer: "https://obol.bench".into(),
        audience: "obol-api".into(),
        leeway_seconds: 30,
    };
    let now = Timestamp::from_micros(1_800_000_000_000_000);
    for key in [
        SigningKey::generate_rs256("rs")?,
        SigningKey::generate_eddsa("ed"),
    ] {
        let keys = vec![key.verifying_key()];
        let token = key.sign(&claims)?;
        let issue = rate(run_for, || {
            key.sign(&claims).map(|_| ()).map_err(Into::into)
        })?;
        let check = rate(run_for, || {
            verify(&token, &keys, &expect, now)
                .map(|_| ())
                .map_err(Into::into)
        })?;
        println!(
            "auth     jwt {:<6} issue {:>9.0} tokens/s | verify {:>9.0} tokens/s",
            format!("{:?}", key.algorithm()),
            issue,
            check
        );
    }

    let hasher = PasswordHasher::new()?;
    let password = Password::new("correct horse battery staple");
    let hashes = rate(run_for, || {
        hasher.hash(&password).map(|_| ()).map_err(Into::into)
    })?;
    println!(
        "auth     argon2id m=19456KiB t=2 p=1 {:>9.1} hashes/s",
        hashes
    );

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock: Arc<dyn obol::Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn obol::IdGen> = Arc::new(obol::RandomIdGen::new(clock.clone()));
    let mut tokens = TokenConfig::new("https://obol.bench", "obol-api", KeyEncryptionKey::random());
    tokens.algorithm = Algorithm::EdDSA;
    let mut config = AuthConfig::standard(tokens)?;
    // The timing comparison must not hit the failure limit.
    config.limits.per_account_and_source = u32::MAX;
    config.limits.per_source = u32::MAX;
    let auth = Auth::new(store, clock, ids, config);
    let merchant = MerchantId::derived("bench");
    let (_, key) = auth
        .issue_api_key(
            &merchant,
            "bench",
            Mode::Test,
            [Scope::LedgerRead].into(),
            None,
        )
        .await?;
    let started = Instant::now();
    let mut checks = 0u64;
    while started.elapsed() < run_for {
        auth.authenticate_api_key(key.expose()).await?;
        checks += 1;
    }
    println!(
        "auth     api-key checks {:>9.0} checks/s",
        checks as f64 / started.elapsed().as_secs_f64()
    );

    auth.create_user(NewUser {
        merchant: merchant.clone(),
        email: "timing@example.com".into(),
        password: password.clone(),
        profile: Profile::default(),
        scopes: [Scope::LedgerRead].into(),
        live: false,
    })
    .await?;
    let wrong = Password::new("not the password at all");
    let (mut unknown_times, mut wrong_times) = (Vec::new(), Vec::new());
    for _ in 0..tries {
        let sent = Instant::now();
        let _ = auth
            .sign_in(&merchant, "nobody@example.com", &wrong, None)
            .await;
        unknown_times.push(sent.elapsed());
        let sent = Instant::now();
        let _ = auth
            .sign_in(&merchant, "timing@example.com", &wrong, None)
            .await;
        wrong_times.push(sent.elapsed());
    }
    let (unknown, wrong) = (median_ms(unknown_times), median_ms(wrong_times));
    println!(
        "auth     sign-in timing over {tries} tries: unknown email median {unknown:.2} ms | wrong password median {wrong:.2} ms | difference {:.2} ms",
        (unknown - wrong).abs()
    );
    Ok(())
}
