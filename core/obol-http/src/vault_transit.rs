//! The key-encryption key inside Vault (or OpenBao): secrets are sealed and opened by Vault's
//! Transit engine, whose key never leaves Vault.
//!
//! - Seal: `POST /v1/{mount}/encrypt/{key}`; open: `POST …/decrypt/{key}`; move onto the
//!   newest key version: `POST …/rewrap/{key}`; new version: `POST …/keys/{key}/rotate`.
//! - The context is sealed inside the plaintext (`obol1` ‖ length ‖ context ‖ secret) and
//!   checked on opening. Transit's `associated_data` would bind it too, but its rewrap does
//!   not take associated data, so such texts could never be rewrapped.
//! - The engine's derived secrets (token keys, fingerprints) need a stable secret of their
//!   own: Transit's HMAC of a fixed label under version 1 of a second key (`derivation_key`,
//!   never rotated or trimmed), so the sealing key can rotate and retire old versions freely.
//!   Whoever may HMAC with that key can compute the secret, and the engine holds it in memory.
//! - Plain `http://` only to a loopback address (a development server); anything else is
//!   `https://`, checked against the webpki roots (Mozilla's) or the given CA.
//! - Signing in: a token from configuration, or a JWT login (Vault's `kubernetes` or `jwt`
//!   auth method: the pod's ServiceAccount token, read again at each login since the kubelet
//!   rotates it); a login's token is used for three quarters of its lease, and a refusal of
//!   it signs in again once.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use obol_core::auth::{KeyEncryptionKey, KeySealer};
use obol_core::{Error, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroizing;

/// How long one call to Vault may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What every sealed plaintext starts with (the format's version).
const FRAME: &[u8] = b"obol1";

/// The label whose HMAC is the engine's derivation key.
const DERIVATION_LABEL: &str = "obol:key-encryption-key:derivations";

/// Largest JWT file read for a login (a ServiceAccount token is about a kilobyte).
const JWT_FILE_LIMIT: u64 = 64 * 1024;

/// How Obol signs in to Vault. Debug shows no secret.
#[derive(Clone)]
pub enum VaultAuth {
    /// A token allowed to encrypt, decrypt, rewrap and HMAC with the key (and rotate it, for
    /// `obol keys rotate-kek`); whoever issued it renews it.
    Token(SecretString),
    /// `POST /v1/auth/{mount}/login` with `role` and the JWT in `jwt_file`: Vault's
    /// `kubernetes` auth method (the pod's ServiceAccount token) or its `jwt` method.
    Jwt {
        /// Where the auth method is mounted (`kubernetes`).
        mount: String,
        /// The Vault role to sign in as.
        role: String,
        /// The JWT's file (`/var/run/secrets/kubernetes.io/serviceaccount/token`).
        jwt_file: PathBuf,
    },
}

impl fmt::Debug for VaultAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultAuth::Token(_) => f.write_str("VaultAuth::Token(…)"),
            VaultAuth::Jwt {
                mount,
                role,
                jwt_file,
            } => f
                .debug_struct("VaultAuth::Jwt")
                .field("mount", mount)
                .field("role", role)
                .field("jwt_file", jwt_file)
                .finish(),
        }
    }
}

/// Where Obol's key lives in Vault. Debug shows no token.
#[derive(Clone)]
pub struct TransitConfig {
    /// Vault's address, `https://vault.example:8200` (`http://` for a loopback dev server).
    pub address: String,
    /// How to sign in.
    pub auth: VaultAuth,
    /// Where the Transit engine is mounted (`transit`).
    pub mount: String,
    /// The key's name (`obol`): an AEAD key, `aes256-gcm96` (Transit's default).
    pub key: String,
    /// The key whose HMAC roots derived secrets (`obol-derivation`), never rotated or trimmed.
    pub derivation_key: String,
    /// PEM of the CA that signed Vault's certificate, when the system roots do not hold it.
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for TransitConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransitConfig")
            .field("address", &self.address)
            .field("auth", &self.auth)
            .field("mount", &self.mount)
            .field("key", &self.key)
            .field("derivation_key", &self.derivation_key)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

/// A token a login answered, and until when to use it.
struct Session {
    token: SecretString,
    renew_at: Instant,
}

/// Seals through Vault's Transit engine (see the module docs).
#[derive(Clone)]
pub struct VaultTransit {
    client: reqwest::Client,
    /// `{address}/v1`.
    api: String,
    /// `{address}/v1/{mount}`.
    base: String,
    key: String,
    derivation_key: String,
    auth: VaultAuth,
    /// The current login's token (JWT logins only).
    session: Arc<tokio::sync::Mutex<Option<Session>>>,
}

impl fmt::Debug for VaultTransit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultTransit")
            .field("base", &self.base)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn config_error(reason: impl Into<String>) -> Error {
    Error::Config {
        reason: reason.into(),
    }
}

/// A mount path or key name: letters, digits, `-`, `_`, and `/` between parts of a mount.
fn check_name(what: &str, name: &str, slashes: bool) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (slashes && c == '/'));
    if ok {
        Ok(())
    } else {
        Err(config_error(format!(
            "the Vault Transit {what} is letters, digits, - and _{}",
            if slashes { " (parts joined by /)" } else { "" }
        )))
    }
}

/// `http://` is for a development server on this machine only.
fn check_address(address: &str) -> Result<String> {
    let url =
        url::Url::parse(address).map_err(|_| config_error("the Vault address is not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    let plain_ok = url.scheme() == "http" && loopback;
    if !(url.scheme() == "https" || plain_ok)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || !matches!(url.path(), "" | "/")
    {
        return Err(config_error(
            "the Vault address is https://host[:port] (http:// only to a loopback address)",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[derive(Deserialize)]
struct Reply<T> {
    data: T,
}

#[derive(Deserialize)]
struct Ciphertext {
    ciphertext: String,
}

#[derive(Deserialize)]
struct Plaintext {
    plaintext: String,
}

#[derive(Deserialize)]
struct Hmac {
    hmac: String,
}

#[derive(Deserialize)]
struct Login {
    auth: LoginAuth,
}

#[derive(Deserialize)]
struct LoginAuth {
    client_token: String,
    lease_duration: u64,
}

/// How long a login's token is used: three quarters of its lease, so no call goes out with a
/// token about to end; a lease past a day (or a hostile answer) counts as a day.
fn renew_after(lease_seconds: u64) -> Duration {
    Duration::from_secs(lease_seconds.min(24 * 3600)) * 3 / 4
}

/// The JWT in `path` (a regular file of at most 64 KiB), its whitespace trimmed.
fn read_jwt(path: &std::path::Path) -> Result<Zeroizing<String>> {
    let unreadable = || config_error(format!("cannot read the Vault JWT file {}", path.display()));
    let meta = std::fs::metadata(path).map_err(|_| unreadable())?;
    if !meta.is_file() || meta.len() > JWT_FILE_LIMIT {
        return Err(config_error(format!(
            "the Vault JWT file {} is not a regular file of at most 64 KiB",
            path.display()
        )));
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|_| unreadable())?);
    Ok(Zeroizing::new(text.trim().to_owned()))
}

/// The version a Transit text was sealed under (`vault:v3:…` is 3).
fn version_of(sealed: &str) -> Option<u32> {
    sealed
        .strip_prefix("vault:v")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

/// `obol1` ‖ context length (2 bytes, big-endian) ‖ context ‖ secret.
fn frame(context: &str, secret: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let length = u16::try_from(context.len())
        .map_err(|_| Error::corrupt("a sealing context is longer than 65535 bytes"))?;
    let mut framed = Zeroizing::new(Vec::with_capacity(
        FRAME.len() + 2 + context.len() + secret.len(),
    ));
    framed.extend_from_slice(FRAME);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(context.as_bytes());
    framed.extend_from_slice(secret);
    Ok(framed)
}

/// The secret inside a framed plaintext, if it was sealed for `context`.
fn unframe(context: &str, framed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let wrong = || Error::corrupt("a sealed secret belongs to another record");
    let rest = framed.strip_prefix(FRAME).ok_or_else(wrong)?;
    let (length, rest) = rest.split_first_chunk::<2>().ok_or_else(wrong)?;
    let length = usize::from(u16::from_be_bytes(*length));
    if rest.len() < length || &rest[..length] != context.as_bytes() {
        return Err(wrong());
    }
    Ok(Zeroizing::new(rest[length..].to_vec()))
}

impl VaultTransit {
    /// A client of the Transit key `config` names; checks the key is there and can encrypt.
    pub async fn connect(config: TransitConfig) -> Result<Self> {
        let address = check_address(&config.address)?;
        check_name("mount", &config.mount, true)?;
        check_name("key name", &config.key, false)?;
        check_name("derivation key name", &config.derivation_key, false)?;
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &config.ca_pem {
            // reqwest parses lazily: a file without a certificate would pass here and fail
            // every call later as an unreachable Vault.
            let has_certificate = std::str::from_utf8(pem)
                .is_ok_and(|text| text.contains("-----BEGIN CERTIFICATE-----"));
            let ca = reqwest::Certificate::from_pem(pem)
                .ok()
                .filter(|_| has_certificate)
                .ok_or_else(|| config_error("the Vault CA is not a PEM certificate"))?;
            builder = builder.add_root_certificate(ca);
        }
        let client = builder
            .build()
            .map_err(|e| config_error(format!("cannot build the Vault client: {e}")))?;
        if let VaultAuth::Jwt { mount, role, .. } = &config.auth {
            check_name("auth mount", mount, true)?;
            if role.is_empty() || role.len() > 256 || role.chars().any(char::is_control) {
                return Err(config_error(
                    "the Vault role is 1 to 256 characters, none of them control characters",
                ));
            }
        }
        let transit = VaultTransit {
            client,
            api: format!("{address}/v1"),
            base: format!("{address}/v1/{}", config.mount),
            key: config.key,
            derivation_key: config.derivation_key,
            auth: config.auth,
            session: Arc::default(),
        };
        let key: serde_json::Value = transit
            .call(reqwest::Method::GET, &format!("keys/{}", transit.key), None)
            .await?;
        if key.get("supports_encryption") != Some(&serde_json::Value::Bool(true)) {
            return Err(config_error(format!(
                "the Vault Transit key {} cannot encrypt",
                transit.key
            )));
        }
        Ok(transit)
    }

    /// The engine's derivation key: Transit's HMAC (SHA-256) of a fixed label under version 1
    /// of the derivation key, the same however the sealing key rotates.
    pub async fn derivation_key(&self) -> Result<KeyEncryptionKey> {
        let body = serde_json::json!({
            "input": BASE64.encode(DERIVATION_LABEL),
            "key_version": 1,
        });
        let reply: Hmac = self
            .call(
                reqwest::Method::POST,
                &format!("hmac/{}/sha2-256", self.derivation_key),
                Some(body),
            )
            .await?;
        let tag = reply
            .hmac
            .strip_prefix("vault:v1:")
            .ok_or_else(|| Error::unavailable("Vault answered an HMAC of another key version"))?;
        KeyEncryptionKey::from_base64(tag)
    }

    /// The token to call with: the configured one, or the current login's (signing in when
    /// there is none or it is due for renewal).
    async fn token(&self) -> Result<SecretString> {
        let (mount, role, jwt_file) = match &self.auth {
            VaultAuth::Token(token) => return Ok(token.clone()),
            VaultAuth::Jwt {
                mount,
                role,
                jwt_file,
            } => (mount, role, jwt_file),
        };
        let mut session = self.session.lock().await;
        if let Some(current) = session.as_ref()
            && Instant::now() < current.renew_at
        {
            return Ok(current.token.clone());
        }
        let jwt = read_jwt(jwt_file)?;
        let body = serde_json::json!({ "role": role, "jwt": jwt.as_str() });
        let (status, text) = self
            .send(
                reqwest::Method::POST,
                &format!("{}/auth/{mount}/login", self.api),
                None,
                Some(body),
            )
            .await?;
        if !(200..300).contains(&status) {
            tracing::warn!(status, mount, role, "Vault refused the login");
            return Err(config_error(format!(
                "Vault refused the login as role {role} at auth/{mount} (answered {status})"
            )));
        }
        let login: Login = serde_json::from_str(&text)
            .map_err(|_| Error::unavailable("Vault's login answer is not what Vault answers"))?;
        let token = SecretString::from(login.auth.client_token);
        let renew_at = Instant::now() + renew_after(login.auth.lease_duration);
        *session = Some(Session {
            token: token.clone(),
            renew_at,
        });
        tracing::info!(mount, role, "signed in to Vault");
        Ok(token)
    }

    /// One request to Vault; the status and the answer's text.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        token: Option<&SecretString>,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, Zeroizing<String>)> {
        let mut request = self.client.request(method, url);
        if let Some(token) = token {
            let mut header = reqwest::header::HeaderValue::from_str(token.expose_secret())
                .map_err(|_| config_error("the Vault token is not a valid header value"))?;
            header.set_sensitive(true);
            request = request.header("X-Vault-Token", header);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| {
            tracing::warn!(error = %e, "Vault did not answer");
            Error::unavailable("Vault did not answer")
        })?;
        let status = response.status().as_u16();
        let text = Zeroizing::new(
            response
                .text()
                .await
                .map_err(|_| Error::unavailable("Vault's answer was cut short"))?,
        );
        Ok((status, text))
    }

    /// One call to Transit: `path` under the mount, with the token; the `data` of the
    /// answer. Refusals of the token are configuration errors (a login's token refused is
    /// signed in again once first); a ciphertext Vault cannot open is corrupt; anything else
    /// is Vault being unavailable.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let url = format!("{}/{path}", self.base);
        let token = self.token().await?;
        let (mut status, mut text) = self
            .send(method.clone(), &url, Some(&token), body.clone())
            .await?;
        if matches!(status, 401 | 403) && matches!(self.auth, VaultAuth::Jwt { .. }) {
            // The login may have been revoked or ended early: sign in again, once.
            *self.session.lock().await = None;
            let token = self.token().await?;
            (status, text) = self.send(method, &url, Some(&token), body).await?;
        }
        match status {
            200..=299 => serde_json::from_str::<Reply<T>>(&text)
                .map(|reply| reply.data)
                .map_err(|_| Error::unavailable("Vault's answer is not what Transit answers")),
            401 | 403 => Err(config_error(
                "Vault refused the token for the Transit key (its policy must allow update \
                 on encrypt, decrypt and rewrap of the sealing key and on hmac of the \
                 derivation key, and read on the sealing key)",
            )),
            404 => Err(config_error(format!(
                "Vault has no Transit key {} at {}",
                self.key, self.base
            ))),
            400 if path.starts_with("decrypt/") || path.starts_with("rewrap/") => {
                // Vault's reason (never holds the secret) goes to the log, not the caller.
                tracing::warn!(path, reason = %text.as_str(), "Vault refused a Transit request");
                Err(Error::corrupt("Vault could not open a sealed secret"))
            }
            400 => {
                tracing::warn!(path, reason = %text.as_str(), "Vault refused a Transit request");
                Err(config_error(format!(
                    "Vault refused {path} (see the log for its reason: a key that does not \
                     exist, a retired key version, or a key of the wrong type?)"
                )))
            }
            _ => {
                tracing::warn!(path, status, "Vault failed");
                Err(Error::unavailable(format!("Vault answered {status}")))
            }
        }
    }
}

#[async_trait]
impl KeySealer for VaultTransit {
    async fn seal(&self, context: &str, secret: &[u8]) -> Result<String> {
        let framed = frame(context, secret)?;
        let plaintext = Zeroizing::new(BASE64.encode(framed.as_slice()));
        let body = serde_json::json!({ "plaintext": plaintext.as_str() });
        let reply: Ciphertext = self
            .call(
                reqwest::Method::POST,
                &format!("encrypt/{}", self.key),
                Some(body),
            )
            .await?;
        Ok(reply.ciphertext)
    }

    async fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>> {
        if !self.recognises(sealed) {
            return Err(Error::corrupt(
                "a sealed secret is not a Transit ciphertext",
            ));
        }
        let body = serde_json::json!({ "ciphertext": sealed });
        let reply: Plaintext = self
            .call(
                reqwest::Method::POST,
                &format!("decrypt/{}", self.key),
                Some(body),
            )
            .await?;
        let plaintext = Zeroizing::new(reply.plaintext);
        let framed = Zeroizing::new(
            BASE64
                .decode(plaintext.as_bytes())
                .map_err(|_| Error::corrupt("Vault answered a plaintext that is not base64"))?,
        );
        unframe(context, &framed)
    }

    async fn rewrap(&self, context: &str, sealed: &str) -> Result<Option<String>> {
        // Opening first proves the text is this record's: a rewrap moves only what belongs.
        self.open(context, sealed).await?;
        let body = serde_json::json!({ "ciphertext": sealed });
        let reply: Ciphertext = self
            .call(
                reqwest::Method::POST,
                &format!("rewrap/{}", self.key),
                Some(body),
            )
            .await?;
        Ok((version_of(&reply.ciphertext) != version_of(sealed)).then_some(reply.ciphertext))
    }

    async fn rotate(&self) -> Result<()> {
        let _: serde_json::Value = self
            .call(
                reqwest::Method::POST,
                &format!("keys/{}/rotate", self.key),
                None,
            )
            .await?;
        tracing::info!(key = %self.key, "Vault Transit key rotated");
        Ok(())
    }

    fn recognises(&self, sealed: &str) -> bool {
        version_of(sealed).is_some()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn frames_bind_their_context() {
        let framed = frame("sig_1", b"secret").unwrap();
        assert_eq!(unframe("sig_1", &framed).unwrap().as_slice(), b"secret");
        for (context, text) in [
            ("sig_2", framed.to_vec()),
            ("sig_", framed.to_vec()),
            ("sig_1", framed[..7].to_vec()),
            ("sig_1", b"obol2\x00\x05sig_1secret".to_vec()),
            ("sig_1", Vec::new()),
        ] {
            assert_eq!(unframe(context, &text).unwrap_err().code(), "corrupt");
        }
        assert!(frame(&"x".repeat(70_000), b"").is_err());
    }

    #[test]
    fn addresses_and_names_are_checked() {
        assert_eq!(
            check_address("https://vault.example:8200/").unwrap(),
            "https://vault.example:8200"
        );
        assert!(check_address("http://127.0.0.1:8200").is_ok());
        assert!(check_address("http://[::1]:8200").is_ok());
        for bad in [
            "http://vault.example:8200",
            "ftp://127.0.0.1",
            "https://user:pw@vault.example",
            "https://vault.example/v1/transit",
            "https://vault.example?x=1",
            "vault.example",
            "",
        ] {
            assert_eq!(check_address(bad).unwrap_err().code(), "config", "{bad}");
        }
        assert!(check_name("mount", "team/transit", true).is_ok());
        for bad in ["", "../sys", "a//b", "k/ey", "key?x", "ké"] {
            assert!(check_name("key name", bad, false).is_err(), "{bad}");
        }
        assert!(check_name("mount", "../sys", true).is_err());
        assert_eq!(version_of("vault:v12:abc"), Some(12));
        assert_eq!(version_of("vault:vx:abc"), None);
        assert_eq!(version_of("abc"), None);
    }

    #[test]
    fn a_hostile_lease_is_renewed_after_a_day_at_most() {
        assert_eq!(renew_after(3600), Duration::from_secs(2700));
        assert_eq!(renew_after(0), Duration::ZERO);
        assert_eq!(renew_after(u64::MAX), Duration::from_secs(18 * 3600));
    }

    #[test]
    fn debug_shows_no_token() {
        let config = TransitConfig {
            address: "http://127.0.0.1:8200".into(),
            auth: VaultAuth::Token("hvs.very-secret".into()),
            mount: "transit".into(),
            key: "obol".into(),
            derivation_key: "obol-derivation".into(),
            ca_pem: None,
        };
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
