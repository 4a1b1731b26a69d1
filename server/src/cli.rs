//! The `obol` command line: `serve`, and the admin commands (`migrate`, `keys`, `api-keys`,
//! `users`). Every command reads the same configuration (file, then environment).
#![allow(clippy::print_stdout, reason = "a command line prints its answers")]

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use obol::MerchantId;
use obol::auth::{Mode, NewUser, Password, Profile, Scope};
use obol::payments::default_merchant;

use crate::config::{Config, Role};
use crate::engine::Engine;

/// Obol: a payment engine's reference server and admin tool.
#[derive(Debug, Parser)]
#[command(name = "obol", version, about)]
pub struct Cli {
    /// A TOML configuration file (environment variables OBOL_* override it).
    #[arg(long, global = true, env = "OBOL_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: everything in one process, or one role of a split deployment.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Signing keys and the key-encryption key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Merchant API keys.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(ApiKeysCommand),
    /// Users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// A development CA and service certificates for mutual TLS.
    #[command(subcommand)]
    Certs(CertsCommand),
}

/// `obol certs …`
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Create the development CA (ca.pem, ca-key.pem).
    Init(CertsDir),
    /// Issue a certificate for a service, signed by the CA (<name>.pem, <name>-key.pem).
    Issue(IssueArgs),
}

/// Where certificates live.
#[derive(Debug, Args)]
pub struct CertsDir {
    /// The directory (default: `certs` in the data directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `obol certs issue` options.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The service name (also its first DNS name), e.g. payments.
    pub name: String,
    /// More DNS names, comma-separated (e.g. payments.obol.svc.cluster.local).
    #[arg(long, value_delimiter = ',')]
    pub dns: Vec<String>,
    /// Where the CA is and the certificate goes.
    #[command(flatten)]
    pub dir: CertsDir,
}

/// `obol serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Development mode: a generated key-encryption key and a development user.
    #[arg(long)]
    pub dev: bool,
    /// Which part to run: all (default), or gateway|payments|ledger|auth of a split
    /// deployment (the services speak gRPC over mutual TLS). Overrides OBOL_ROLE.
    #[arg(long, value_enum)]
    pub role: Option<Role>,
}

/// `obol keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new signing key now (published at once, signing after the lead time).
    Rotate,
    /// Print a new random key-encryption key (for OBOL_KEY_ENCRYPTION_KEY).
    Kek,
    /// Make a new version of the Vault Transit key that seals signing keys (new keys are
    /// sealed under it; run `obol keys rewrap` to move the others).
    RotateKek,
    /// Seal every signing key again under the newest version of the key-encryption key:
    /// after `rotate-kek`, or to move keys sealed by OBOL_KEY_ENCRYPTION_KEY into Vault.
    Rewrap,
}

/// `obol api-keys …`
#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Issue an API key and print it (shown this once).
    Create(CreateApiKeyArgs),
}

/// `obol api-keys create` options.
#[derive(Debug, Args)]
pub struct CreateApiKeyArgs {
    /// A label.
    #[arg(long)]
    pub name: String,
    /// Comma-separated scopes, e.g. payments:read,payments:write.
    #[arg(long, value_delimiter = ',', required = true)]
    pub scopes: Vec<String>,
    /// The tenant (the default merchant when absent).
    #[arg(long)]
    pub merchant: Option<String>,
    /// A live key (obol_sk_live_…) instead of a test key.
    #[arg(long)]
    pub live: bool,
}

/// `obol users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user; the password is read from OBOL_NEW_USER_PASSWORD or the first line
    /// of standard input.
    Create(CreateUserArgs),
}

/// `obol users create` options.
#[derive(Debug, Args)]
pub struct CreateUserArgs {
    /// Email.
    #[arg(long)]
    pub email: String,
    /// Comma-separated scopes (every scope when absent).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// The tenant (the default merchant when absent).
    #[arg(long)]
    pub merchant: Option<String>,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// The user may sign in to live mode too (test mode only without it).
    #[arg(long)]
    pub live: bool,
}

/// Parses the command line and runs it.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Needs no configuration: it makes one of its values.
    if let Command::Keys(KeysCommand::Kek) = cli.command {
        println!("{}", crate::secrets::random_base64(32));
        return Ok(());
    }
    // Flags of `serve` stand in for their variables before the configuration is checked.
    let mut overrides = Vec::new();
    if let Command::Serve(args) = &cli.command {
        if args.dev {
            overrides.push(("OBOL_DEV".to_owned(), "1".to_owned()));
        }
        if let Some(role) = args.role {
            overrides.push(("OBOL_ROLE".to_owned(), role.as_str().to_owned()));
        }
    }
    let config = if !overrides.is_empty() {
        let mut env: Vec<(String, String)> = std::env::vars().collect();
        env.extend(overrides);
        let text = match &cli.config {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config file {}", path.display()))?,
            ),
            None => None,
        };
        Config::from_sources(text.as_deref(), env)?
    } else if matches!(cli.command, Command::Certs(_)) {
        Config::load_settings(cli.config.as_deref())?
    } else {
        Config::load(cli.config.as_deref())?
    };
    init_tracing(&config);
    match cli.command {
        Command::Serve(_) => {
            crate::serve::serve(config, print_started, crate::serve::shutdown_signal()).await
        }
        Command::Migrate => {
            let engine = Engine::open(&config).await?;
            println!(
                "migrations applied to {}",
                crate::engine::redact(&config.store_url())
            );
            engine.shutdown().await;
            Ok(())
        }
        Command::Keys(KeysCommand::Kek) => Ok(()),
        Command::Keys(KeysCommand::Rotate) => {
            let engine = Engine::open(&config).await?;
            let kid = engine.auth().rotate_keys_now().await?;
            println!("created signing key {kid}");
            engine.shutdown().await;
            Ok(())
        }
        Command::Keys(KeysCommand::RotateKek) => {
            let engine = Engine::open(&config).await?;
            engine.auth().rotate_key_encryption_key().await?;
            println!(
                "rotated the key-encryption key; run `obol keys rewrap` to move every key onto it"
            );
            engine.shutdown().await;
            Ok(())
        }
        Command::Keys(KeysCommand::Rewrap) => {
            let engine = Engine::open(&config).await?;
            let keys = engine.auth().rewrap_signing_keys().await?;
            let secrets = engine.webhooks.rewrap_secrets().await?;
            println!(
                "sealed again: {} signing keys, {} webhook secrets",
                keys.sealed, secrets.sealed
            );
            let failed: Vec<String> = keys
                .failed
                .iter()
                .chain(&secrets.failed)
                .map(|(record, why)| format!("{record}: {why}"))
                .collect();
            engine.shutdown().await;
            if !failed.is_empty() {
                anyhow::bail!(
                    "{} records could not be sealed again and were left as they were:\n{}",
                    failed.len(),
                    failed.join("\n")
                );
            }
            Ok(())
        }
        Command::ApiKeys(ApiKeysCommand::Create(args)) => create_api_key(&config, args).await,
        Command::Certs(CertsCommand::Init(dir)) => {
            let path = crate::certs::init(&certs_dir(&config, &dir))?;
            println!("created the development CA {}", path.display());
            Ok(())
        }
        Command::Certs(CertsCommand::Issue(args)) => {
            let issued =
                crate::certs::issue(&certs_dir(&config, &args.dir), &args.name, &args.dns)?;
            println!(
                "issued {} and {}",
                issued.cert.display(),
                issued.key.display()
            );
            Ok(())
        }
        Command::Users(UsersCommand::Create(args)) => create_user(&config, args).await,
    }
}

fn certs_dir(config: &Config, dir: &CertsDir) -> PathBuf {
    dir.dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("certs"))
}

/// The banner. Written without `println!`: a reader that stops reading (a closed pipe) must
/// not bring the server down.
fn print_started(started: &crate::serve::Started) {
    use std::io::Write;
    let mut text = String::new();
    if let Some(http) = started.http {
        text.push_str(&format!(
            "Obol is running: http://{http}/\n  REST API   http://{http}/v1/…\n  health     http://{http}/healthz\n"
        ));
    }
    match (started.grpc, started.http) {
        (Some(grpc), Some(_)) => {
            text.push_str(&format!("  gRPC       {grpc} (mutual TLS)\n"));
        }
        (Some(grpc), None) => text.push_str(&format!(
            "Obol {} service: gRPC (mutual TLS) on {grpc}\n",
            started.role.as_str()
        )),
        _ => {}
    }
    if let Some(ops) = started.ops {
        text.push_str(&format!(
            "  health     http://{ops}/healthz, /readyz, /metrics\n"
        ));
    }
    if let Some(health) = started.grpc_health {
        text.push_str(&format!(
            "  gRPC health {health} (plaintext, grpc.health.v1 only)\n"
        ));
    }
    if let Some(dev) = &started.dev {
        text.push_str(&format!(
            "  dev sign-in: {} / {}\n  sandbox cards: 4242 4242 4242 4242 (succeeds), \
             4000 0025 0000 3155 (3-D Secure), 4000 0000 0000 0002 (declined)\n",
            dev.email,
            dev.password.as_str()
        ));
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn merchant_of(text: Option<&str>) -> anyhow::Result<MerchantId> {
    match text {
        Some(text) => Ok(MerchantId::parse(text)?),
        None => Ok(default_merchant()),
    }
}

fn scopes_of(names: &[String]) -> anyhow::Result<BTreeSet<Scope>> {
    if names.is_empty() {
        return Ok(Scope::ALL.into());
    }
    names
        .iter()
        .map(|n| Scope::parse(n.trim()).map_err(anyhow::Error::from))
        .collect()
}

async fn create_api_key(config: &Config, args: CreateApiKeyArgs) -> anyhow::Result<()> {
    let engine = Engine::open(config).await?;
    let merchant = merchant_of(args.merchant.as_deref())?;
    let mode = if args.live { Mode::Live } else { Mode::Test };
    let (key, secret) = engine
        .auth()
        .issue_api_key(&merchant, &args.name, mode, scopes_of(&args.scopes)?, None)
        .await?;
    println!("{}", secret.expose());
    tracing::info!(key = %key.id, "API key created");
    engine.shutdown().await;
    Ok(())
}

async fn create_user(config: &Config, args: CreateUserArgs) -> anyhow::Result<()> {
    let password = match std::env::var("OBOL_NEW_USER_PASSWORD") {
        Ok(password) => Password::from(password),
        Err(_) => {
            let mut line = zeroize::Zeroizing::new(String::new());
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            Password::new(line.trim_end_matches(['\r', '\n']))
        }
    };
    let engine = Engine::open(config).await?;
    let user = engine
        .auth()
        .create_user(NewUser {
            merchant: merchant_of(args.merchant.as_deref())?,
            email: args.email,
            password,
            profile: Profile {
                name: args.name,
                ..Profile::default()
            },
            scopes: scopes_of(&args.scopes)?,
            live: args.live,
        })
        .await?;
    println!("created user {} ({})", user.id, user.email);
    engine.shutdown().await;
    Ok(())
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OBOL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
