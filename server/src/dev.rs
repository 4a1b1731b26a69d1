//! Development mode: a user to sign in with, made on first start and kept in the data
//! directory, so the printed credentials work on every later start too.

use anyhow::Context;
use obol::Error;
use obol::auth::{NewUser, Password, Profile, Scope};
use obol::payments::default_merchant;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::engine::Engine;

/// The development user's email.
pub const DEV_EMAIL: &str = "dev@obol.local";

/// Credentials of the development user (the password wiped on drop).
#[derive(Serialize, Deserialize)]
pub struct DevCredentials {
    /// Email.
    pub email: String,
    /// Password.
    pub password: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for DevCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCredentials")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Makes (or finds) the development user with every scope in the default tenant.
pub async fn ensure_dev_user(engine: &Engine, config: &Config) -> anyhow::Result<DevCredentials> {
    let path = config.data_dir.join("dev-credentials.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return serde_json::from_str(&text).context("dev-credentials.json is unreadable");
    }
    let credentials = DevCredentials {
        email: DEV_EMAIL.to_owned(),
        password: zeroize::Zeroizing::new(crate::secrets::random_password()),
    };
    let created = engine
        .auth()
        .create_user(NewUser {
            merchant: default_merchant(),
            email: credentials.email.clone(),
            password: Password::new(&credentials.password),
            profile: Profile {
                name: Some("Developer".to_owned()),
                ..Profile::default()
            },
            scopes: Scope::ALL.into(),
            // Development is test mode: the sandbox, no real money.
            live: false,
        })
        .await;
    match created {
        Ok(_) => {}
        Err(Error::EmailTaken) => anyhow::bail!(
            "{DEV_EMAIL} exists but {} is gone; use a fresh OBOL_DATA_DIR",
            path.display()
        ),
        Err(error) => return Err(error.into()),
    }
    crate::secrets::write_private(&path, &serde_json::to_string_pretty(&credentials)?)?;
    Ok(credentials)
}

/// Development certificates for gRPC in the data directory (a CA, the server's `obol`
/// certificate, and a `gateway` client certificate for local tools), made on first start.
pub fn dev_certificates(config: &Config) -> anyhow::Result<crate::grpc::tls::TlsFiles> {
    let dir = config.data_dir.join("certs");
    if !dir.join(crate::certs::CA_CERT).exists() {
        crate::certs::init(&dir)?;
    }
    for name in ["obol", "gateway"] {
        if !dir.join(format!("{name}.pem")).exists() {
            crate::certs::issue(&dir, name, &[])?;
        }
    }
    Ok(crate::grpc::tls::TlsFiles {
        cert: dir.join("obol.pem"),
        key: dir.join("obol-key.pem"),
        ca: dir.join(crate::certs::CA_CERT),
    })
}
