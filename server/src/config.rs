//! Configuration: defaults, then a TOML file, then `OBOL_*` environment variables (the
//! environment wins). Unknown keys in the file are refused; every problem is reported with
//! the key it concerns.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Everything the server reads at start. Debug shows no secret (the key-encryption key, the
/// sandbox's webhook secret, the database password).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded database, the development key and credentials live.
    pub data_dir: PathBuf,
    /// The store; the embedded SQLite file in `data_dir` when absent.
    pub database_url: Option<String>,
    /// PostgreSQL: the most connections this process holds (16 when unset).
    pub database_max_connections: Option<u32>,
    /// REST API and web UI.
    pub http_addr: SocketAddr,
    /// gRPC services.
    pub grpc_addr: SocketAddr,
    /// A gRPC role's health, readiness and metrics over HTTP (`/healthz`, `/readyz`,
    /// `/metrics`); off when unset. (The gateway and all-in-one serve them with REST.)
    pub ops_addr: Option<SocketAddr>,
    /// A plaintext gRPC listener serving only `grpc.health.v1`, for probes that cannot speak
    /// mutual TLS (Kubernetes' gRPC probe); off when unset.
    pub grpc_health_addr: Option<SocketAddr>,
    /// Development mode: a generated key-encryption key and a development user.
    pub dev: bool,
    /// Base64 of 32 bytes sealing signing keys at rest (required outside dev mode).
    pub key_encryption_key: Option<SecretString>,
    /// Vault's address (`https://vault.example:8200`), for `vault_transit_key`.
    pub vault_addr: Option<String>,
    /// A Vault token allowed to use the Transit key (`OBOL_VAULT_TOKEN_FILE` for a mounted one).
    pub vault_token: Option<SecretString>,
    /// Instead of a token, sign in to Vault as this role with a JWT (the `kubernetes` or
    /// `jwt` auth method).
    pub vault_auth_role: Option<String>,
    /// Where that auth method is mounted.
    pub vault_auth_mount: String,
    /// The JWT to sign in with, read at each login (the pod's ServiceAccount token).
    pub vault_jwt_file: PathBuf,
    /// Where Vault's Transit engine is mounted.
    pub vault_transit_mount: String,
    /// Without a local key: the Transit key whose HMAC roots derived secrets (never rotate or
    /// trim it).
    pub vault_derivation_key: String,
    /// The Transit key that seals signing keys in Vault: set, the key-encryption key lives in
    /// Vault (`key_encryption_key`, if also set, still opens what it sealed before).
    pub vault_transit_key: Option<String>,
    /// The CA of Vault's certificate (PEM), when the system roots do not hold it.
    pub vault_ca: Option<PathBuf>,
    /// `whsec_…`: the secret the sandbox provider signs and verifies its webhooks with. In
    /// dev mode one is made and kept in `data_dir`; otherwise, without it, sandbox webhooks
    /// are refused.
    pub sandbox_webhook_secret: Option<SecretString>,
    /// The `iss` of access tokens.
    pub issuer: String,
    /// The `aud` of access tokens.
    pub audience: String,
    /// Origins allowed by CORS (`*` for any).
    pub cors_origins: Vec<String>,
    /// Largest request body, in bytes.
    pub body_limit_bytes: usize,
    /// Longest a request may take, in seconds.
    pub request_timeout_seconds: u64,
    /// Requests per second allowed per API key, user or IP address.
    pub rate_limit_per_second: u32,
    /// Requests allowed in a burst above the rate.
    pub rate_limit_burst: u32,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Which part of a deployment this process runs (`serve --role` overrides it).
    pub role: Role,
    /// This process's TLS certificate for the gRPC services (PEM).
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// The CA whose certificates the gRPC services accept (PEM).
    pub tls_ca: Option<PathBuf>,
    /// Where the gateway finds the payments service (`https://host:port`).
    pub payments_url: Option<String>,
    /// Where the gateway finds the ledger service.
    pub ledger_url: Option<String>,
    /// Where the gateway finds the auth service.
    pub auth_url: Option<String>,
    /// Names a gRPC peer's certificate must carry for the services to believe the caller it
    /// names (every peer needs a certificate from the CA; only these may act for users).
    pub trusted_callers: Vec<String>,
    /// Whether webhooks may go to private, loopback and link-local addresses (always in dev
    /// mode); otherwise only public addresses receive them.
    pub webhook_private_targets: bool,
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client: the
    /// ingress or load balancer in front of the server. Empty: the peer is the client.
    pub trusted_proxies: Vec<String>,
    /// The payment rails besides the sandbox (`[providers.stripe]`, `[providers.paypal]`).
    pub providers: Providers,
}

/// The rails a deployment switches on, each in its own table.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Providers {
    /// `[providers.stripe]`: card payments through Stripe.
    pub stripe: Option<StripeSettings>,
    /// `[providers.paypal]`: PayPal checkouts.
    pub paypal: Option<PayPalSettings>,
}

/// `[providers.paypal]` (`OBOL_PAYPAL_*`). Debug shows no secret.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayPalSettings {
    /// The REST app's client id.
    pub client_id: String,
    /// The REST app's secret.
    pub client_secret: SecretString,
    /// The id of the webhook PayPal posts to `/webhooks/paypal`.
    pub webhook_id: String,
    /// Where payers return after approving at PayPal.
    pub return_url: String,
    /// Live payments; PayPal's sandbox when false (the default).
    #[serde(default)]
    pub live: bool,
    /// Another PayPal-compatible API (a local fake, test mode only); PayPal's own when absent.
    #[serde(default)]
    pub api_base: Option<String>,
    /// Currencies routed to PayPal; PayPal's common ones when absent.
    #[serde(default)]
    pub currencies: Option<Vec<String>>,
}

impl std::fmt::Debug for PayPalSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayPalSettings")
            .field("client_id", &self.client_id)
            .field("webhook_id", &self.webhook_id)
            .field("return_url", &self.return_url)
            .field("live", &self.live)
            .field("api_base", &self.api_base)
            .field("currencies", &self.currencies)
            .finish_non_exhaustive()
    }
}

/// `[providers.stripe]` (`OBOL_STRIPE_*`). Debug shows no secret.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeSettings {
    /// `sk_test_…` or `sk_live_…` (a restricted `rk_` key works too).
    pub secret_key: SecretString,
    /// The webhook endpoint's signing secret (`whsec_…`); Stripe posts to `/webhooks/stripe`.
    pub webhook_secret: SecretString,
    /// Where customers return after 3-D Secure.
    pub return_url: String,
    /// Another Stripe-compatible API (localstripe); Stripe's own when absent.
    #[serde(default)]
    pub api_base: Option<String>,
    /// Several captures per authorization (the Stripe account must have multicapture).
    #[serde(default)]
    pub multicapture: bool,
    /// Currencies routed to Stripe; Stripe's common ones when absent.
    #[serde(default)]
    pub currencies: Option<Vec<String>>,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("return_url", &self.return_url)
            .field("api_base", &self.api_base)
            .field("multicapture", &self.multicapture)
            .field("currencies", &self.currencies)
            .finish_non_exhaustive()
    }
}

/// The part of a deployment a process runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything in one process: engine, REST, web UI (and gRPC in dev mode or when TLS is
    /// configured).
    #[default]
    All,
    /// REST and web UI, calling the services over gRPC.
    Gateway,
    /// The payments service (gRPC).
    Payments,
    /// The ledger service (gRPC).
    Ledger,
    /// The auth service (gRPC).
    Auth,
}

impl Role {
    /// The role's name, as `--role` and `OBOL_ROLE` take it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Gateway => "gateway",
            Role::Payments => "payments",
            Role::Ledger => "ledger",
            Role::Auth => "auth",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("obol-data"),
            database_url: None,
            database_max_connections: None,
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            ops_addr: None,
            grpc_health_addr: None,
            dev: false,
            key_encryption_key: None,
            vault_addr: None,
            vault_token: None,
            vault_auth_role: None,
            vault_auth_mount: "kubernetes".to_owned(),
            vault_jwt_file: PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount/token"),
            vault_transit_mount: "transit".to_owned(),
            vault_derivation_key: "obol-derivation".to_owned(),
            vault_transit_key: None,
            vault_ca: None,
            sandbox_webhook_secret: None,
            issuer: "obol".to_owned(),
            audience: "obol-api".to_owned(),
            cors_origins: Vec::new(),
            body_limit_bytes: 64 * 1024,
            request_timeout_seconds: 30,
            rate_limit_per_second: 200,
            rate_limit_burst: 400,
            log_format: "text".to_owned(),
            role: Role::All,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            payments_url: None,
            ledger_url: None,
            auth_url: None,
            trusted_callers: vec!["gateway".to_owned()],
            webhook_private_targets: false,
            trusted_proxies: Vec::new(),
            providers: Providers::default(),
        }
    }
}

/// How an environment variable's text becomes a value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Bool,
    List,
}

/// Every key, with its type: `OBOL_` + the key in capitals is its environment variable.
const KEYS: &[(&str, Kind)] = &[
    ("data_dir", Kind::Text),
    ("database_url", Kind::Text),
    ("database_max_connections", Kind::Integer),
    ("http_addr", Kind::Text),
    ("grpc_addr", Kind::Text),
    ("ops_addr", Kind::Text),
    ("grpc_health_addr", Kind::Text),
    ("dev", Kind::Bool),
    ("key_encryption_key", Kind::Text),
    ("vault_addr", Kind::Text),
    ("vault_token", Kind::Text),
    ("vault_auth_role", Kind::Text),
    ("vault_auth_mount", Kind::Text),
    ("vault_jwt_file", Kind::Text),
    ("vault_transit_mount", Kind::Text),
    ("vault_derivation_key", Kind::Text),
    ("vault_transit_key", Kind::Text),
    ("vault_ca", Kind::Text),
    ("sandbox_webhook_secret", Kind::Text),
    ("issuer", Kind::Text),
    ("audience", Kind::Text),
    ("cors_origins", Kind::List),
    ("body_limit_bytes", Kind::Integer),
    ("request_timeout_seconds", Kind::Integer),
    ("rate_limit_per_second", Kind::Integer),
    ("rate_limit_burst", Kind::Integer),
    ("log_format", Kind::Text),
    ("role", Kind::Text),
    ("tls_cert", Kind::Text),
    ("tls_key", Kind::Text),
    ("tls_ca", Kind::Text),
    ("payments_url", Kind::Text),
    ("ledger_url", Kind::Text),
    ("auth_url", Kind::Text),
    ("trusted_callers", Kind::List),
    ("webhook_private_targets", Kind::Bool),
    ("trusted_proxies", Kind::List),
];

/// Settings inside a rail's table: `OBOL_` + the env name is its variable, the path its place
/// in the file (`OBOL_STRIPE_SECRET_KEY` is `[providers.stripe] secret_key`).
const PROVIDER_KEYS: &[(&str, [&str; 3], Kind)] = &[
    (
        "stripe_secret_key",
        ["providers", "stripe", "secret_key"],
        Kind::Text,
    ),
    (
        "stripe_webhook_secret",
        ["providers", "stripe", "webhook_secret"],
        Kind::Text,
    ),
    (
        "stripe_return_url",
        ["providers", "stripe", "return_url"],
        Kind::Text,
    ),
    (
        "stripe_api_base",
        ["providers", "stripe", "api_base"],
        Kind::Text,
    ),
    (
        "stripe_multicapture",
        ["providers", "stripe", "multicapture"],
        Kind::Bool,
    ),
    (
        "stripe_currencies",
        ["providers", "stripe", "currencies"],
        Kind::List,
    ),
    (
        "paypal_client_id",
        ["providers", "paypal", "client_id"],
        Kind::Text,
    ),
    (
        "paypal_client_secret",
        ["providers", "paypal", "client_secret"],
        Kind::Text,
    ),
    (
        "paypal_webhook_id",
        ["providers", "paypal", "webhook_id"],
        Kind::Text,
    ),
    (
        "paypal_return_url",
        ["providers", "paypal", "return_url"],
        Kind::Text,
    ),
    ("paypal_live", ["providers", "paypal", "live"], Kind::Bool),
    (
        "paypal_api_base",
        ["providers", "paypal", "api_base"],
        Kind::Text,
    ),
    (
        "paypal_currencies",
        ["providers", "paypal", "currencies"],
        Kind::List,
    ),
];

/// Puts `value` at `path` in `table`, making the tables on the way.
fn insert_at(table: &mut toml::Table, path: &[&str], value: toml::Value) -> anyhow::Result<()> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut here = table;
    for part in parents {
        let entry = here
            .entry((*part).to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        here = match entry {
            toml::Value::Table(inner) => inner,
            _ => bail!("bad configuration: {} must be a table", path.join(".")),
        };
    }
    here.insert((*last).to_owned(), value);
    Ok(())
}

/// The variable naming a configuration file.
pub const CONFIG_FILE_VAR: &str = "OBOL_CONFIG";

/// `OBOL_*` variables that are not settings: the file's name, the log filter, a command's
/// input, and those of tests, benchmarks and tools.
const OTHER_VARS: &[&str] = &[
    "CONFIG",
    "LOG",
    "NEW_USER_PASSWORD",
    // CI's tools (.ci/deny, .ci/fuzz): a server started beside them must not refuse them.
    "TOOLS",
    "ADVISORY_DB",
    "ADVISORY_DBS",
];
const OTHER_PREFIXES: &[&str] = &[
    "TEST_", "BENCH_", "MODEL_", "CRASH_", "WRITE_", "E2E_", "FUZZ_",
];

impl Config {
    /// Reads the file (if any) and the process environment, for a command that opens the
    /// engine.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let config = Self::load_settings(file)?;
        config.check()?;
        Ok(config)
    }

    /// Reads the file and the environment without the engine's requirements (the
    /// key-encryption key), for commands that only need the data directory.
    pub fn load_settings(file: Option<&Path>) -> anyhow::Result<Self> {
        let env_file = std::env::var_os(CONFIG_FILE_VAR).map(PathBuf::from);
        let file = file.map(Path::to_path_buf).or(env_file);
        let text = match &file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config file {}", path.display()))?,
            ),
            None => None,
        };
        Self::parse_sources(text.as_deref(), std::env::vars())
    }

    /// Builds the configuration from a file's text and environment pairs, checked for a
    /// command that opens the engine.
    pub fn from_sources(
        file: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let config = Self::parse_sources(file, env)?;
        config.check()?;
        Ok(config)
    }

    /// Builds the configuration from a file's text and environment pairs: types and keys
    /// checked, the engine's requirements not.
    pub fn parse_sources(
        file: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut table: toml::Table = match file {
            Some(text) => toml::from_str(text).context("the config file is not valid TOML")?,
            None => toml::Table::new(),
        };
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("OBOL_") else {
                continue;
            };
            // `OBOL_<SETTING>_FILE` names a file holding the setting (a mounted secret); not
            // for settings that are paths already (their file would be read as a path).
            let (key, value) = match key.strip_suffix("_FILE") {
                Some(setting) if is_setting(setting) && !is_path_setting(setting) => {
                    (setting.to_owned(), read_setting_file(&name, &value)?)
                }
                _ => (key.to_owned(), value),
            };
            if !seen.insert(key.clone()) {
                bail!("OBOL_{key} is set twice: set OBOL_{key} or OBOL_{key}_FILE, not both");
            }
            let name = format!("OBOL_{key}");
            let key = key.as_str();
            let lower = key.to_ascii_lowercase();
            if let Some((known, kind)) = KEYS.iter().find(|(k, _)| *k == lower) {
                table.insert((*known).to_owned(), env_value(&name, &value, *kind)?);
            } else if let Some((_, path, kind)) = PROVIDER_KEYS.iter().find(|(k, _, _)| *k == lower)
            {
                insert_at(&mut table, path, env_value(&name, &value, *kind)?)?;
            } else if !OTHER_VARS.contains(&key)
                && !OTHER_PREFIXES.iter().any(|p| key.starts_with(p))
            {
                // A misspelt setting would otherwise be ignored in silence.
                bail!(
                    "unknown setting {name}; the settings are OBOL_ + {}",
                    setting_names()
                );
            }
        }
        let config: Config = table
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("bad configuration: {}", e.message()))?;
        Ok(config)
    }

    /// Refuses settings that cannot work.
    fn check(&self) -> anyhow::Result<()> {
        let tls_set = [&self.tls_cert, &self.tls_key, &self.tls_ca]
            .iter()
            .filter(|f| f.is_some())
            .count();
        if tls_set != 0 && tls_set != 3 {
            bail!("OBOL_TLS_CERT, OBOL_TLS_KEY and OBOL_TLS_CA go together: set all three or none");
        }
        if self.role != Role::All && tls_set == 0 {
            bail!(
                "the {:?} role talks to the other services over mutual TLS: set OBOL_TLS_CERT, \
                 OBOL_TLS_KEY and OBOL_TLS_CA (`obol certs init` and `obol certs issue` make \
                 development ones)",
                self.role
            );
        }
        if self.ops_addr.is_some() && matches!(self.role, Role::All | Role::Gateway) {
            bail!(
                "OBOL_OPS_ADDR is for the payments, ledger and auth roles; the {:?} role serves \
                 /healthz, /readyz and /metrics on OBOL_HTTP_ADDR",
                self.role
            );
        }
        if self.grpc_health_addr.is_some() && self.role == Role::Gateway {
            bail!("OBOL_GRPC_HEALTH_ADDR is for roles that serve gRPC; the gateway serves none");
        }
        if self.role == Role::Gateway {
            for (name, url) in [
                ("OBOL_PAYMENTS_URL", &self.payments_url),
                ("OBOL_LEDGER_URL", &self.ledger_url),
                ("OBOL_AUTH_URL", &self.auth_url),
            ] {
                if url.is_none() {
                    bail!("the gateway needs {name} (https://host:port of that service)");
                }
            }
            return self.check_http();
        }
        self.check_vault()?;
        if let Some(max) = self.database_max_connections {
            let postgres = self
                .database_url
                .as_deref()
                .is_some_and(|url| url.starts_with("postgres"));
            if !postgres {
                bail!("OBOL_DATABASE_MAX_CONNECTIONS is for a PostgreSQL OBOL_DATABASE_URL");
            }
            if !(4..=1000).contains(&max) {
                bail!("OBOL_DATABASE_MAX_CONNECTIONS is 4 to 1000 (each writer holds one)");
            }
        }
        if !self.dev && self.key_encryption_key.is_none() && self.vault_transit_key.is_none() {
            bail!(
                "OBOL_KEY_ENCRYPTION_KEY is required outside dev mode (base64 of 32 random bytes; \
                 `obol keys kek` prints one), unless the key lives in Vault \
                 (OBOL_VAULT_TRANSIT_KEY), or run with --dev"
            );
        }
        if let Some(kek) = &self.key_encryption_key {
            obol::auth::KeyEncryptionKey::from_base64(kek.expose_secret()).map_err(|_| {
                anyhow::anyhow!("OBOL_KEY_ENCRYPTION_KEY is not base64 of 32 bytes")
            })?;
        }
        if let Some(secret) = &self.sandbox_webhook_secret {
            obol::webhooks::WebhookSecret::parse(secret.expose_secret()).map_err(|_| {
                anyhow::anyhow!(
                    "OBOL_SANDBOX_WEBHOOK_SECRET is whsec_ followed by base64 of 24 to 64 bytes"
                )
            })?;
        }
        if self.dev {
            self.check_dev()?;
        }
        self.check_http()
    }

    /// Vault's settings go together: a Transit key needs Vault's address and one way to
    /// sign in (a token or a role), and those are for a Transit key only.
    fn check_vault(&self) -> anyhow::Result<()> {
        let sign_ins =
            usize::from(self.vault_token.is_some()) + usize::from(self.vault_auth_role.is_some());
        let vault_set = self.vault_addr.is_some() || sign_ins > 0 || self.vault_ca.is_some();
        match &self.vault_transit_key {
            Some(_) if self.vault_addr.is_none() || sign_ins != 1 => bail!(
                "OBOL_VAULT_TRANSIT_KEY needs OBOL_VAULT_ADDR and one way to sign in to Vault, \
                 not both: OBOL_VAULT_TOKEN (or OBOL_VAULT_TOKEN_FILE), or OBOL_VAULT_AUTH_ROLE \
                 (a JWT login, the pod's ServiceAccount token by default)"
            ),
            None if vault_set => bail!(
                "OBOL_VAULT_ADDR, OBOL_VAULT_TOKEN, OBOL_VAULT_AUTH_ROLE and OBOL_VAULT_CA are \
                 for a Vault Transit key: set OBOL_VAULT_TRANSIT_KEY too, or none of them"
            ),
            _ => Ok(()),
        }
    }

    /// Where the key-encryption key lives in Vault, when it does (the CA file read).
    pub fn transit(&self) -> anyhow::Result<Option<obol_http::TransitConfig>> {
        let (Some(key), Some(address)) = (&self.vault_transit_key, &self.vault_addr) else {
            return Ok(None);
        };
        let auth = match (&self.vault_token, &self.vault_auth_role) {
            (Some(token), _) => obol_http::VaultAuth::Token(token.clone()),
            (None, Some(role)) => obol_http::VaultAuth::Jwt {
                mount: self.vault_auth_mount.clone(),
                role: role.clone(),
                jwt_file: self.vault_jwt_file.clone(),
            },
            (None, None) => return Ok(None),
        };
        let ca_pem = match &self.vault_ca {
            Some(path) => Some(
                std::fs::read(path)
                    .with_context(|| format!("cannot read OBOL_VAULT_CA {}", path.display()))?,
            ),
            None => None,
        };
        Ok(Some(obol_http::TransitConfig {
            address: address.clone(),
            auth,
            mount: self.vault_transit_mount.clone(),
            key: key.clone(),
            derivation_key: self.vault_derivation_key.clone(),
            ca_pem,
        }))
    }

    /// Dev mode makes a user with every scope and prints its password, and keeps its keys in
    /// files: only on this machine, against its own embedded database.
    fn check_dev(&self) -> anyhow::Result<()> {
        let optional = [
            ("OBOL_OPS_ADDR", self.ops_addr),
            ("OBOL_GRPC_HEALTH_ADDR", self.grpc_health_addr),
        ];
        let set = optional
            .into_iter()
            .filter_map(|(name, addr)| addr.map(|addr| (name, addr)));
        for (name, addr) in [
            ("OBOL_HTTP_ADDR", self.http_addr),
            ("OBOL_GRPC_ADDR", self.grpc_addr),
        ]
        .into_iter()
        .chain(set)
        {
            if !addr.ip().is_loopback() {
                bail!(
                    "dev mode listens on this machine only, but {name} is {addr}; use a \
                     loopback address (127.0.0.1 or ::1), or run without --dev"
                );
            }
        }
        if let Some(url) = &self.database_url
            && !is_local_database(url)
        {
            bail!(
                "dev mode runs on the embedded database or one on this machine, but \
                 OBOL_DATABASE_URL names {}; run without --dev (with OBOL_KEY_ENCRYPTION_KEY \
                 and `obol users create`)",
                crate::engine::redact(url)
            );
        }
        Ok(())
    }

    fn check_http(&self) -> anyhow::Result<()> {
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("OBOL_LOG_FORMAT is text or json");
        }
        if self.body_limit_bytes == 0 || self.request_timeout_seconds == 0 {
            bail!("OBOL_BODY_LIMIT_BYTES and OBOL_REQUEST_TIMEOUT_SECONDS must be above zero");
        }
        if self.rate_limit_per_second == 0 {
            bail!("OBOL_RATE_LIMIT_PER_SECOND must be above zero");
        }
        for proxy in &self.trusted_proxies {
            if parse_net(proxy).is_none() {
                bail!(
                    "OBOL_TRUSTED_PROXIES lists {proxy:?}, which is neither an address nor a \
                     CIDR block (10.0.0.0/8)"
                );
            }
        }
        Ok(())
    }

    /// The trusted proxies as networks (checked at start, so none is dropped here).
    pub fn trusted_proxy_nets(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|text| parse_net(text))
            .collect()
    }

    /// Where webhooks may be delivered: anywhere in dev mode or when configured so, else
    /// public addresses only.
    pub fn webhook_targets(&self) -> obol::webhooks::TargetPolicy {
        if self.dev || self.webhook_private_targets {
            obol::webhooks::TargetPolicy::Any
        } else {
            obol::webhooks::TargetPolicy::PublicOnly
        }
    }

    /// The TLS files, when configured.
    pub fn tls(&self) -> Option<crate::grpc::tls::TlsFiles> {
        match (&self.tls_cert, &self.tls_key, &self.tls_ca) {
            (Some(cert), Some(key), Some(ca)) => Some(crate::grpc::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                ca: ca.clone(),
            }),
            _ => None,
        }
    }

    /// The store URL: the configured one, or the SQLite file in the data directory.
    pub fn store_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("obol.db").display()),
        }
    }
}

/// True for the embedded SQLite store and for a PostgreSQL server on this machine (loopback
/// or a Unix socket).
/// An address (a /32 or /128) or a CIDR block.
fn parse_net(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

fn is_local_database(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("sqlite:") || lower.starts_with("memory:") {
        return true;
    }
    // Read the URL as the PostgreSQL driver does (the `url` crate), so no spelling of it
    // (a `#`, an `@` in odd places, percent-encoding) names one host here and another there.
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return false;
    }
    // The query may name the host again (`host=`, `hostaddr=`), and then it wins: each one
    // must be local too.
    let mut hosts = vec![parsed.host_str().unwrap_or_default().to_owned()];
    for (key, value) in parsed.query_pairs() {
        if key.contains("host") {
            hosts.push(value.into_owned());
        }
    }
    hosts.iter().all(|host| is_local_host(host))
}

/// A host a database URL may name in dev mode: none or a socket directory (a Unix socket),
/// `localhost`, or a loopback address.
fn is_local_host(host: &str) -> bool {
    host.is_empty()
        || host.starts_with('/')
        || host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |set: bool| if set { "Some(…)" } else { "None" };
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(crate::engine::redact),
            )
            .field("database_max_connections", &self.database_max_connections)
            .field("http_addr", &self.http_addr)
            .field("grpc_addr", &self.grpc_addr)
            .field("ops_addr", &self.ops_addr)
            .field("grpc_health_addr", &self.grpc_health_addr)
            .field("dev", &self.dev)
            .field(
                "key_encryption_key",
                &hidden(self.key_encryption_key.is_some()),
            )
            .field("vault_addr", &self.vault_addr)
            .field("vault_token", &hidden(self.vault_token.is_some()))
            .field("vault_auth_role", &self.vault_auth_role)
            .field("vault_auth_mount", &self.vault_auth_mount)
            .field("vault_jwt_file", &self.vault_jwt_file)
            .field("vault_transit_mount", &self.vault_transit_mount)
            .field("vault_transit_key", &self.vault_transit_key)
            .field("vault_derivation_key", &self.vault_derivation_key)
            .field("vault_ca", &self.vault_ca)
            .field(
                "sandbox_webhook_secret",
                &hidden(self.sandbox_webhook_secret.is_some()),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("role", &self.role)
            .field("webhook_private_targets", &self.webhook_private_targets)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("stripe", &self.providers.stripe)
            .field("paypal", &self.providers.paypal)
            .finish_non_exhaustive()
    }
}

fn setting_names() -> String {
    KEYS.iter()
        .map(|(k, _)| k.to_ascii_uppercase())
        .chain(PROVIDER_KEYS.iter().map(|(k, _, _)| k.to_ascii_uppercase()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `key` (the part after `OBOL_`) names a setting, at the top or in a rail's table.
fn is_setting(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    KEYS.iter().any(|(k, _)| *k == lower) || PROVIDER_KEYS.iter().any(|(k, _, _)| *k == lower)
}

/// Whether `key` names a setting whose value is a file or directory path.
fn is_path_setting(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().as_str(),
        "data_dir" | "tls_cert" | "tls_key" | "tls_ca" | "vault_ca" | "vault_jwt_file"
    )
}

/// The largest file a setting is read from (a secret or a URL, never more).
const SETTING_FILE_LIMIT: u64 = 64 * 1024;

/// A setting's value from the file `path` names (the variable `name`): its text without the
/// trailing newline editors and secret stores add. The error names the variable and the path,
/// never the contents.
fn read_setting_file(name: &str, path: &str) -> anyhow::Result<String> {
    use std::io::Read;
    // A regular file only (symbolic links followed, as Kubernetes mounts secrets): a FIFO or
    // a device would block or never end.
    let regular = std::fs::metadata(path)
        .with_context(|| format!("{name}: cannot open {path}"))?
        .is_file();
    if !regular {
        bail!("{name}: {path} is not a regular file");
    }
    let file = std::fs::File::open(path).with_context(|| format!("{name}: cannot open {path}"))?;
    // The file's own buffer is wiped; the setting's copy lives as long as the configuration.
    let mut text = zeroize::Zeroizing::new(String::new());
    file.take(SETTING_FILE_LIMIT + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("{name}: {path} is not readable UTF-8 text"))?;
    if text.len() as u64 > SETTING_FILE_LIMIT {
        bail!("{name}: {path} is larger than {SETTING_FILE_LIMIT} bytes");
    }
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

fn env_value(name: &str, value: &str, kind: Kind) -> anyhow::Result<toml::Value> {
    Ok(match kind {
        Kind::Text => toml::Value::String(value.to_owned()),
        Kind::Integer => toml::Value::Integer(
            value
                .trim()
                .parse()
                .with_context(|| format!("{name} must be a whole number"))?,
        ),
        Kind::Bool => toml::Value::Boolean(match value.trim() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" | "" => false,
            _ => bail!("{name} must be true or false"),
        }),
        Kind::List => toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let file = "dev = true\nhttp_addr = \"127.0.0.1:9000\"\ncors_origins = [\"https://a\"]";
        let config = Config::from_sources(
            Some(file),
            env(&[
                ("OBOL_HTTP_ADDR", "127.0.0.2:7000"),
                ("OBOL_CORS_ORIGINS", "https://b, https://c"),
                ("OBOL_BODY_LIMIT_BYTES", "1024"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.http_addr.to_string(), "127.0.0.2:7000");
        assert_eq!(config.cors_origins, ["https://b", "https://c"]);
        assert_eq!(config.body_limit_bytes, 1024);
        assert_eq!(config.grpc_addr.to_string(), "127.0.0.1:50051");
        assert!(config.store_url().starts_with("sqlite://obol-data"));
    }

    #[test]
    fn settings_read_from_files_named_by_file_variables() {
        let dir = tempfile::tempdir().unwrap();
        let kek = obol::auth::KeyEncryptionKey::random().to_base64();
        let kek_file = dir.path().join("key-encryption-key");
        std::fs::write(&kek_file, format!("{kek}\n")).unwrap();
        let url_file = dir.path().join("database-url");
        std::fs::write(&url_file, "postgres://obol@db/obol\r\n").unwrap();
        let stripe_file = dir.path().join("stripe-secret-key");
        std::fs::write(&stripe_file, "sk_test_123").unwrap();
        let path = |p: &Path| p.to_str().unwrap().to_owned();
        let (kek_path, url_path, stripe_path) =
            (path(&kek_file), path(&url_file), path(&stripe_file));
        let config = Config::from_sources(
            None,
            env(&[
                ("OBOL_KEY_ENCRYPTION_KEY_FILE", &kek_path),
                ("OBOL_DATABASE_URL_FILE", &url_path),
                ("OBOL_STRIPE_SECRET_KEY_FILE", &stripe_path),
                ("OBOL_STRIPE_WEBHOOK_SECRET", "whsec_abc"),
                ("OBOL_STRIPE_RETURN_URL", "https://shop.example/back"),
            ]),
        )
        .unwrap();
        // The trailing newline a secret store adds is not part of the value.
        assert_eq!(config.key_encryption_key.unwrap().expose_secret(), kek);
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://obol@db/obol")
        );
        let stripe = config.providers.stripe.unwrap();
        assert_eq!(stripe.secret_key.expose_secret(), "sk_test_123");

        let refused = |pairs: &[(&str, &str)]| {
            Config::parse_sources(None, env(pairs))
                .unwrap_err()
                .to_string()
        };
        // Both ways at once is ambiguous.
        let both = refused(&[
            ("OBOL_KEY_ENCRYPTION_KEY", "x"),
            ("OBOL_KEY_ENCRYPTION_KEY_FILE", &kek_path),
        ]);
        assert!(both.contains("set twice"), "{both}");
        // A missing file names the variable and the path; a file's contents never show.
        let missing = refused(&[("OBOL_DATABASE_URL_FILE", "/nonexistent/obol-url")]);
        assert!(
            missing.contains("OBOL_DATABASE_URL_FILE") && missing.contains("/nonexistent"),
            "{missing}"
        );
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 70 * 1024]).unwrap();
        let big = path(&big);
        let too_big = refused(&[("OBOL_DATABASE_URL_FILE", &big)]);
        assert!(too_big.contains("larger than"), "{too_big}");
        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe, 0x00, b's', b'e', b'c']).unwrap();
        let binary = path(&binary);
        let not_text = refused(&[("OBOL_DATABASE_URL_FILE", &binary)]);
        assert!(not_text.contains("not readable UTF-8"), "{not_text}");
        assert!(!not_text.contains("sec"), "{not_text}");
        let typed = dir.path().join("limit");
        std::fs::write(&typed, "many").unwrap();
        let typed = path(&typed);
        let not_a_number = refused(&[("OBOL_BODY_LIMIT_BYTES_FILE", &typed)]);
        assert!(not_a_number.contains("whole number"), "{not_a_number}");
        // Only settings have a file variable: OBOL_CONFIG_FILE is not one, and settings that
        // are paths have none (their file would be read as a path, and a key printed).
        let unknown = refused(&[("OBOL_CONFIG_FILE", &kek_path)]);
        assert!(unknown.contains("unknown setting"), "{unknown}");
        let path_setting = refused(&[("OBOL_TLS_KEY_FILE", &kek_path)]);
        assert!(path_setting.contains("unknown setting"), "{path_setting}");
        assert!(!path_setting.contains(&kek), "{path_setting}");
        // Not a regular file: refused before anything is read (a FIFO would block).
        let directory = refused(&[("OBOL_DATABASE_URL_FILE", dir.path().to_str().unwrap())]);
        assert!(directory.contains("not a regular file"), "{directory}");
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap();
            assert!(made.success());
            let fifo = path(&fifo);
            let blocked = refused(&[("OBOL_DATABASE_URL_FILE", &fifo)]);
            assert!(blocked.contains("not a regular file"), "{blocked}");
        }
    }

    #[test]
    fn ops_and_plaintext_health_listeners_are_for_grpc_roles() {
        let message = |pairs: &[(&str, &str)]| {
            Config::from_sources(None, env(pairs))
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string())
        };
        let tls = [
            ("OBOL_TLS_CERT", "c.pem"),
            ("OBOL_TLS_KEY", "k.pem"),
            ("OBOL_TLS_CA", "ca.pem"),
        ];
        let kek = obol::auth::KeyEncryptionKey::random().to_base64();
        let ledger: Vec<(&str, &str)> = tls
            .iter()
            .copied()
            .chain([
                ("OBOL_ROLE", "ledger"),
                ("OBOL_KEY_ENCRYPTION_KEY", kek.as_str()),
                ("OBOL_OPS_ADDR", "0.0.0.0:8080"),
                ("OBOL_GRPC_HEALTH_ADDR", "0.0.0.0:50050"),
            ])
            .collect();
        assert_eq!(message(&ledger), "");
        let all = message(&[("OBOL_DEV", "1"), ("OBOL_OPS_ADDR", "127.0.0.1:9100")]);
        assert!(all.contains("OBOL_OPS_ADDR is for"), "{all}");
        let gateway: Vec<(&str, &str)> = tls
            .iter()
            .copied()
            .chain([
                ("OBOL_ROLE", "gateway"),
                ("OBOL_PAYMENTS_URL", "https://p:1"),
                ("OBOL_LEDGER_URL", "https://l:1"),
                ("OBOL_AUTH_URL", "https://a:1"),
                ("OBOL_GRPC_HEALTH_ADDR", "127.0.0.1:50050"),
            ])
            .collect();
        assert!(message(&gateway).contains("serves none"));
        // Dev mode keeps them on this machine too.
        let open = message(&[
            ("OBOL_DEV", "1"),
            ("OBOL_GRPC_HEALTH_ADDR", "0.0.0.0:50050"),
        ]);
        assert!(open.contains("OBOL_GRPC_HEALTH_ADDR"), "{open}");
    }

    #[test]
    fn split_roles_need_their_tls_files_and_the_gateway_its_services() {
        let message = |pairs: &[(&str, &str)]| {
            Config::from_sources(None, env(pairs))
                .unwrap_err()
                .to_string()
        };
        let dev = ("OBOL_DEV", "1");
        assert!(message(&[dev, ("OBOL_ROLE", "payments")]).contains("OBOL_TLS_CERT"));
        assert!(message(&[dev, ("OBOL_TLS_CERT", "c.pem")]).contains("go together"));
        let unknown = message(&[dev, ("OBOL_ROLE", "cashier")]);
        assert!(unknown.contains("cashier"), "{unknown}");
        let tls = [
            ("OBOL_TLS_CERT", "c.pem"),
            ("OBOL_TLS_KEY", "k.pem"),
            ("OBOL_TLS_CA", "ca.pem"),
        ];
        let gateway: Vec<_> = tls
            .iter()
            .copied()
            .chain([("OBOL_ROLE", "gateway")])
            .collect();
        assert!(message(&gateway).contains("OBOL_PAYMENTS_URL"));
        let urls = [
            ("OBOL_PAYMENTS_URL", "https://p:1"),
            ("OBOL_LEDGER_URL", "https://l:1"),
            ("OBOL_AUTH_URL", "https://a:1"),
        ];
        // The gateway opens no engine, so it needs no key-encryption key.
        let complete: Vec<_> = gateway.iter().copied().chain(urls).collect();
        let config = Config::from_sources(None, env(&complete)).unwrap();
        assert_eq!(config.role, Role::Gateway);
        assert_eq!(config.tls().unwrap().ca, PathBuf::from("ca.pem"));
    }

    #[test]
    fn dev_mode_stays_on_this_machine_and_its_own_database() {
        let dev = ("OBOL_DEV", "1");
        let refused = |pairs: &[(&str, &str)]| {
            Config::from_sources(None, env(pairs))
                .unwrap_err()
                .to_string()
        };
        assert!(refused(&[dev, ("OBOL_HTTP_ADDR", "0.0.0.0:8080")]).contains("OBOL_HTTP_ADDR"));
        assert!(refused(&[dev, ("OBOL_GRPC_ADDR", "[::]:50051")]).contains("OBOL_GRPC_ADDR"));
        for remote in [
            "postgres://obol:secret@db.example.com/obol",
            "postgresql://10.0.0.5:5432/obol",
            "postgres:///obol?host=db.example.com",
            "postgres://localhost/obol?host=db.example.com",
            "postgres://localhost/obol?sslmode=disable&hostaddr=10.0.0.5",
            "postgres://127.0.0.1/obol?host=%64b.example.com",
            "postgres://localhost/obol?host=%2Fsock&host=db.example.com",
            "postgres://db.example.invalid#@127.0.0.1/obol",
            "mysql://localhost/x",
        ] {
            let message = refused(&[dev, ("OBOL_DATABASE_URL", remote)]);
            assert!(message.contains("dev mode"), "{message}");
            assert!(!message.contains("secret"), "{message}");
        }
        for local in [
            "sqlite://obol.db",
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://localhost/test",
            "postgres://[::1]:5432/test",
            "postgres:///test?host=/var/run/postgresql",
            "postgres://localhost/test?host=%2Fvar%2Frun%2Fpostgresql&hostaddr=127.0.0.1",
        ] {
            let config = Config::from_sources(None, env(&[dev, ("OBOL_DATABASE_URL", local)]));
            assert!(config.is_ok(), "{local}: {:?}", config.err());
        }
        // Outside dev mode any address and database go (with a key-encryption key).
        let kek = obol::auth::KeyEncryptionKey::random().to_base64();
        let config = Config::from_sources(
            None,
            env(&[
                ("OBOL_KEY_ENCRYPTION_KEY", &kek),
                ("OBOL_HTTP_ADDR", "0.0.0.0:8080"),
                ("OBOL_DATABASE_URL", "postgres://db.example.com/obol"),
            ]),
        );
        assert!(config.is_ok());
    }

    #[test]
    fn debug_shows_no_secret() {
        let kek = obol::auth::KeyEncryptionKey::random().to_base64();
        let config = Config::from_sources(
            None,
            env(&[
                ("OBOL_KEY_ENCRYPTION_KEY", &kek),
                (
                    "OBOL_DATABASE_URL",
                    "postgres://obol:hunter22@db/obol?sslpassword=x9",
                ),
                (
                    "OBOL_SANDBOX_WEBHOOK_SECRET",
                    "whsec_dGVzdC1vbmx5LXNhbmRib3gtd2ViaG9vay1zZWNyZXQh",
                ),
            ]),
        )
        .unwrap();
        let shown = format!("{config:?}");
        for secret in [kek.as_str(), "hunter22", "x9", "dGVzdC1vbmx5"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("db/obol"), "{shown}");
    }

    #[test]
    fn bad_configuration_is_refused_with_the_key_named() {
        let unknown = Config::from_sources(Some("dev = true\nhttp_adr = \"x\""), env(&[]));
        assert!(unknown.unwrap_err().to_string().contains("http_adr"));
        let no_kek = Config::from_sources(None, env(&[])).unwrap_err();
        assert!(no_kek.to_string().contains("OBOL_KEY_ENCRYPTION_KEY"));
        let bad_kek = Config::from_sources(None, env(&[("OBOL_KEY_ENCRYPTION_KEY", "short")]));
        assert!(bad_kek.is_err());
        let bad_number = Config::from_sources(
            None,
            env(&[("OBOL_DEV", "1"), ("OBOL_BODY_LIMIT_BYTES", "lots")]),
        );
        assert!(
            bad_number
                .unwrap_err()
                .to_string()
                .contains("OBOL_BODY_LIMIT_BYTES")
        );
        let typo = Config::from_sources(None, env(&[("OBOL_DEV", "1"), ("OBOL_HTTP_ADRR", "x")]));
        assert!(typo.unwrap_err().to_string().contains("OBOL_HTTP_ADRR"));
        let others = env(&[
            ("OBOL_DEV", "1"),
            ("OBOL_LOG", "debug"),
            ("OBOL_TEST_POSTGRES_URL", "postgres://x"),
            ("OBOL_TOOLS", "/var/tmp/tools"),
            ("OBOL_FUZZ_TARGET_DIR", "/var/tmp/fuzz"),
            ("OBOL_ADVISORY_DBS", "/var/tmp/dbs"),
        ]);
        assert!(Config::from_sources(None, others).is_ok());
        // [providers.stripe] from the environment, and its table's keys checked.
        let stripe = Config::from_sources(
            None,
            env(&[
                ("OBOL_DEV", "1"),
                ("OBOL_STRIPE_SECRET_KEY", "sk_test_x"),
                ("OBOL_STRIPE_WEBHOOK_SECRET", "whsec_0123456789abcdef"),
                ("OBOL_STRIPE_RETURN_URL", "https://shop.example/"),
                ("OBOL_STRIPE_CURRENCIES", "EUR, USD"),
                ("OBOL_STRIPE_MULTICAPTURE", "true"),
            ]),
        )
        .unwrap();
        let settings = stripe.providers.stripe.as_ref().unwrap();
        assert_eq!(
            settings.currencies.as_deref(),
            Some(&["EUR".to_owned(), "USD".to_owned()][..])
        );
        assert!(settings.multicapture);
        assert!(
            !format!("{stripe:?}").contains("sk_test_x"),
            "Debug hides the key"
        );
        let missing = Config::from_sources(
            None,
            env(&[("OBOL_DEV", "1"), ("OBOL_STRIPE_SECRET_KEY", "sk_test_x")]),
        );
        assert!(missing.unwrap_err().to_string().contains("webhook_secret"));
        let misspelt = Config::from_sources(
            Some("[providers.stripe]\nsecret_kee = \"x\"\n"),
            env(&[("OBOL_DEV", "1")]),
        );
        assert!(misspelt.is_err());
        // [providers.paypal] likewise.
        let paypal = Config::from_sources(
            None,
            env(&[
                ("OBOL_DEV", "1"),
                ("OBOL_PAYPAL_CLIENT_ID", "AbcClient"),
                ("OBOL_PAYPAL_CLIENT_SECRET", "EpaypalSecretValue"),
                ("OBOL_PAYPAL_WEBHOOK_ID", "8PT597110X687430LKGECATA"),
                ("OBOL_PAYPAL_RETURN_URL", "https://shop.example/back"),
                ("OBOL_PAYPAL_LIVE", "false"),
                ("OBOL_PAYPAL_CURRENCIES", "EUR"),
            ]),
        )
        .unwrap();
        let settings = paypal.providers.paypal.as_ref().unwrap();
        assert_eq!(settings.client_id, "AbcClient");
        assert!(!settings.live);
        assert!(
            !format!("{paypal:?}").contains("EpaypalSecretValue"),
            "Debug hides the secret"
        );
        let missing = Config::from_sources(
            None,
            env(&[("OBOL_DEV", "1"), ("OBOL_PAYPAL_CLIENT_ID", "AbcClient")]),
        );
        assert!(missing.unwrap_err().to_string().contains("client_secret"));
        let bad_addr = Config::from_sources(
            None,
            env(&[("OBOL_DEV", "1"), ("OBOL_HTTP_ADDR", "nowhere")]),
        );
        assert!(bad_addr.is_err());
    }
}
