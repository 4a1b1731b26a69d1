//! The auth engine over the Store with the injected clock and ids: its configuration and
//! state here, each area in its own file.

mod api_keys;
mod sessions;
mod sign_in;
mod signing;
mod users;

use std::collections::BTreeSet;
use std::sync::Arc;

use std::time::Duration;

use super::api_key::{ApiKey, ApiKeySecret};
use super::jwt::{AccessTokenVerifier, Algorithm, Expectations, Jwks, SigningKey};
use super::keyring::{
    KeyEncryptionKey, KeyRecord, RotationPolicy, published, rotation_due, signing_record,
};
use super::password::{Password, PasswordHasher};
use super::scope::{Actor, Principal, Scope};
use super::sealer::{KeySealer, LocalSealer, Rewrapped};
use super::session::{RefreshToken, Session};
use super::user::{Profile, User, normalise_email};
use crate::clock::{Clock, Timestamp};
use crate::error::{Error, Result};
use crate::id::{ApiKeyId, EventId, IdGen, MerchantId, SessionId, UserId};
use crate::mode::Mode;
use crate::periodic::Periodic;
use crate::store::Store;
use rand::Rng;

/// Longest API key label.
const MAX_NAME: usize = 100;

/// How many failed sign-ins are allowed within a window (see [`Auth::sign_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// The sliding window.
    pub window: Duration,
    /// Failures allowed per account (tenant + email) from one source within the window.
    pub per_account_and_source: u32,
    /// Failures allowed per source (say, an IP address) within the window, across accounts.
    pub per_source: u32,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            window: Duration::from_secs(15 * 60),
            per_account_and_source: 10,
            per_source: 100,
        }
    }
}

/// Access-token settings.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The `iss` of every token.
    pub issuer: String,
    /// The `aud` of every token.
    pub audience: String,
    /// Access-token lifetime (15 minutes).
    pub access_lifetime: Duration,
    /// The algorithm of new signing keys (RS256 by default).
    pub algorithm: Algorithm,
    /// When keys rotate.
    pub rotation: RotationPolicy,
    /// The deployment's own secret behind derived keys ([`KeyEncryptionKey::derive`]); with
    /// the local sealer, also the key that seals (one copy, shared).
    pub kek: Arc<KeyEncryptionKey>,
    /// Seals signing keys at rest ([`LocalSealer`] over `kek` unless another is set).
    pub sealer: Arc<dyn KeySealer>,
    /// Clock skew tolerated when verifying, in seconds.
    pub leeway_seconds: i64,
}

impl TokenConfig {
    /// RS256, 15-minute tokens, 30-day rotation, 30 s leeway.
    pub fn new(issuer: &str, audience: &str, kek: KeyEncryptionKey) -> Self {
        let kek = Arc::new(kek);
        TokenConfig {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_lifetime: Duration::from_secs(15 * 60),
            algorithm: Algorithm::RS256,
            rotation: RotationPolicy::default(),
            sealer: Arc::new(LocalSealer::shared(kek.clone())),
            kek,
            leeway_seconds: 30,
        }
    }

    /// Sealing with `sealer` (Vault Transit, say) instead of the local key.
    pub fn with_sealer(mut self, sealer: Arc<dyn KeySealer>) -> Self {
        self.sealer = sealer;
        self
    }
}

/// Auth tuning.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Password hashing.
    pub hasher: PasswordHasher,
    /// Failed sign-in limits.
    pub limits: LoginLimits,
    /// How long a sign-in lasts, refreshes included (7 days).
    pub session_lifetime: Duration,
    /// Access tokens and signing keys.
    pub tokens: TokenConfig,
}

impl AuthConfig {
    /// OWASP argon2id parameters, the default limits, 7-day sessions, `tokens`.
    pub fn standard(tokens: TokenConfig) -> Result<Self> {
        Ok(AuthConfig {
            hasher: PasswordHasher::new()?,
            limits: LoginLimits::default(),
            session_lifetime: Duration::from_secs(7 * 24 * 3600),
            tokens,
        })
    }
}

/// What a login or a refresh hands the client. Debug shows neither token.
pub struct Tokens {
    /// The session link.
    pub session: Session,
    /// The refresh token (shown once).
    pub refresh: RefreshToken,
    /// The access token (JWT, `typ: at+jwt`).
    pub access: String,
}

/// A new user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The tenant.
    pub merchant: MerchantId,
    /// Email (normalised on creation).
    pub email: String,
    /// The initial password.
    pub password: Password,
    /// Profile and settings.
    pub profile: Profile,
    /// What the user may do.
    pub scopes: BTreeSet<Scope>,
    /// May sign in to live mode (else test mode only).
    pub live: bool,
}

/// Auth over a store.
#[derive(Debug, Clone)]
pub struct Auth {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    config: AuthConfig,
    keys: Arc<std::sync::Mutex<KeyCache>>,
    /// One permit per core: password hashes computed at once (see [`Auth::verify_password`]).
    hashing: Arc<tokio::sync::Semaphore>,
}

/// How long a verifier built from the stored JWKS is reused. New keys are published an hour
/// before they sign and retired keys stay published while their tokens live, so a minute-old
/// copy verifies the same tokens (a miss rebuilds it once, in case of a shorter lead).
const VERIFIER_TTL: Duration = Duration::from_secs(60);

/// What token work would otherwise redo on every call: the opened signing key and a verifier
/// over the published keys.
#[derive(Debug, Default)]
struct KeyCache {
    signer: Option<Arc<SigningKey>>,
    verifier: Option<(Timestamp, Arc<AccessTokenVerifier>)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("session", &self.session.id)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Auth writing through `store`, reading time and ids from the given sources.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        config: AuthConfig,
    ) -> Self {
        Auth {
            store,
            clock,
            ids,
            config,
            keys: Arc::default(),
            hashing: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, usize::from),
            )),
        }
    }

    /// What seals this engine's secrets at rest (signing keys, webhook secrets).
    pub fn sealer(&self) -> &Arc<dyn KeySealer> {
        &self.config.tokens.sealer
    }

    /// How long an access token lives.
    pub fn access_lifetime(&self) -> Duration {
        self.config.tokens.access_lifetime
    }

    /// A keyed hash of a secret (a password in an idempotency fingerprint): the same secret
    /// gives the same text, and without the deployment's key-encryption key the text tells
    /// nothing, not even to someone guessing passwords against a copy of the database.
    pub fn secret_fingerprint(&self, secret: &str) -> Result<String> {
        use hmac::{Hmac, KeyInit, Mac};
        let key = self
            .config
            .tokens
            .kek
            .derive("obol:idempotency:secret-fingerprints")?;
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_ref())
            .map_err(|_| Error::corrupt("HMAC refused a derived key"))?;
        mac.update(secret.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: T) {}

    /// Servers spawn these futures on a multi-threaded runtime: no lock may be held across an
    /// await.
    #[allow(dead_code)]
    fn futures_are_send(auth: &Auth, merchant: &MerchantId, password: &Password) {
        assert_send(auth.verify_access_token("token"));
        assert_send(auth.login(merchant, "a@b.io", password, None, Mode::Test));
        assert_send(auth.refresh("token"));
        assert_send(auth.rotate_keys());
    }
}
