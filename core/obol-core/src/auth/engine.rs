//! The auth engine: API keys, users and sign-in (sessions and signing keys join here), over
//! the Store with the injected clock and ids.

use std::collections::BTreeSet;
use std::sync::Arc;

use std::time::Duration;

use super::api_key::{ApiKey, ApiKeyMode, ApiKeySecret};
use super::jwt::{AccessTokenVerifier, Algorithm, Expectations, Jwks, SigningKey};
use super::keyring::{
    KeyEncryptionKey, KeyRecord, RotationPolicy, published, rotation_due, signing_record,
};
use super::password::{Password, PasswordHasher};
use super::scope::{Principal, Scope};
use super::session::{RefreshToken, Session};
use super::user::{Profile, User, normalise_email};
use crate::clock::{Clock, Timestamp};
use crate::error::{Error, Result};
use crate::id::{ApiKeyId, EventId, IdGen, MerchantId, SessionId, UserId};
use crate::periodic::Periodic;
use crate::store::Store;
use rand::Rng;

/// Longest API key label.
const MAX_NAME: usize = 100;

/// How many failed sign-ins are allowed within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// The sliding window.
    pub window: Duration,
    /// Failures allowed per account (tenant + email) within the window.
    pub per_account: usize,
    /// Failures allowed per source (say, an IP address) within the window.
    pub per_source: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            window: Duration::from_secs(15 * 60),
            per_account: 10,
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
    /// Seals signing keys at rest.
    pub kek: KeyEncryptionKey,
    /// Clock skew tolerated when verifying, in seconds.
    pub leeway_seconds: i64,
}

impl TokenConfig {
    /// RS256, 15-minute tokens, 30-day rotation, 30 s leeway.
    pub fn new(issuer: &str, audience: &str, kek: KeyEncryptionKey) -> Self {
        TokenConfig {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_lifetime: Duration::from_secs(15 * 60),
            algorithm: Algorithm::RS256,
            rotation: RotationPolicy::default(),
            kek,
            leeway_seconds: 30,
        }
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
#[derive(Clone)]
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
}

/// Auth over a store.
#[derive(Debug, Clone)]
pub struct Auth {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    config: AuthConfig,
    keys: Arc<std::sync::Mutex<KeyCache>>,
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
        }
    }

    /// How long an access token lives.
    pub fn access_lifetime(&self) -> Duration {
        self.config.tokens.access_lifetime
    }

    /// Creates a user: email normalised and unique in the tenant, password checked and hashed.
    pub async fn create_user(&self, new: NewUser) -> Result<User> {
        let email = normalise_email(&new.email)?;
        new.password.check_strength()?;
        new.profile.validate()?;
        let now = self.clock.now();
        let user = User {
            id: UserId::generate(self.ids.as_ref()),
            merchant: new.merchant,
            email,
            password_hash: self.config.hasher.hash(&new.password)?,
            profile: new.profile,
            scopes: new.scopes,
            disabled: false,
            created_at: now,
            updated_at: now,
            password_changed_at: now,
            version: 1,
        };
        self.store.insert_user(&user).await?;
        tracing::info!(user = %user.id, merchant = %user.merchant, "user created");
        Ok(user)
    }

    /// A tenant's user.
    pub async fn user(&self, merchant: &MerchantId, id: &UserId) -> Result<User> {
        self.store
            .user(merchant, id)
            .await?
            .ok_or_else(|| Error::UserNotFound { id: id.to_string() })
    }

    /// Loads a user, applies `change` and saves it (version checked).
    async fn modify(
        &self,
        merchant: &MerchantId,
        id: &UserId,
        change: impl FnOnce(&mut User),
    ) -> Result<User> {
        let user = self.user(merchant, id).await?;
        let mut next = user.clone();
        change(&mut next);
        self.save(&user, next).await
    }

    async fn save(&self, before: &User, mut after: User) -> Result<User> {
        after.version = before.version + 1;
        after.updated_at = self.clock.now();
        self.store.update_user(&after, before.version).await?;
        Ok(after)
    }

    /// Replaces a user's profile and settings.
    pub async fn update_profile(
        &self,
        merchant: &MerchantId,
        id: &UserId,
        profile: Profile,
    ) -> Result<User> {
        profile.validate()?;
        self.modify(merchant, id, |user| user.profile = profile)
            .await
    }

    /// Changes the email (normalised, unique in the tenant).
    pub async fn change_email(
        &self,
        merchant: &MerchantId,
        id: &UserId,
        email: &str,
    ) -> Result<User> {
        let email = normalise_email(email)?;
        self.modify(merchant, id, |user| user.email = email).await
    }

    /// Changes the password after checking the current one, and ends the user's other
    /// sessions: all of them, or all but the family of `keep` (the session asking).
    pub async fn change_password(
        &self,
        merchant: &MerchantId,
        id: &UserId,
        current: &Password,
        new: &Password,
        keep: Option<&SessionId>,
    ) -> Result<User> {
        let user = self.user(merchant, id).await?;
        if !self.config.hasher.verify(current, &user.password_hash)? {
            return Err(Error::Unauthenticated);
        }
        new.check_strength()?;
        let keep_family = match keep {
            Some(sid) => {
                let session = self
                    .store
                    .session(sid)
                    .await?
                    .filter(|s| &s.user == id && &s.merchant == merchant)
                    .ok_or(Error::Unauthenticated)?;
                Some(session.family)
            }
            None => None,
        };
        let mut next = user.clone();
        next.password_hash = self.config.hasher.hash(new)?;
        next.password_changed_at = self.clock.now();
        // Sessions end first: a crash before the save leaves the old password and no sessions,
        // never the new password with old sessions alive.
        self.store
            .revoke_user_sessions(merchant, id, keep_family.as_ref(), self.clock.now())
            .await?;
        self.save(&user, next).await
    }

    /// Disables a user: no more sign-ins, and their sessions end.
    pub async fn disable_user(&self, merchant: &MerchantId, id: &UserId) -> Result<User> {
        let disabled = self
            .modify(merchant, id, |user| user.disabled = true)
            .await?;
        self.store
            .revoke_user_sessions(merchant, id, None, self.clock.now())
            .await?;
        Ok(disabled)
    }

    /// Deletes a user. Their sessions end with them; API keys belong to the tenant, not the
    /// user, and stay.
    pub async fn delete_user(&self, merchant: &MerchantId, id: &UserId) -> Result<()> {
        self.store
            .revoke_user_sessions(merchant, id, None, self.clock.now())
            .await?;
        if self.store.delete_user(merchant, id).await? {
            tracing::info!(user = %id, merchant = %merchant, "user deleted");
            Ok(())
        } else {
            Err(Error::UserNotFound { id: id.to_string() })
        }
    }

    /// Checks a sign-in. Unknown email, wrong password and disabled user all answer
    /// `unauthenticated` after the same hashing work; past the failure limits for the account
    /// or the source, `too_many_attempts` before any work.
    pub async fn sign_in(
        &self,
        merchant: &MerchantId,
        email: &str,
        password: &Password,
        source: Option<&str>,
    ) -> Result<User> {
        let email = normalise_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
        let account_key = format!("account:{merchant}:{email}");
        let source_key = source.map(|s| format!("source:{s}"));
        let limits = self.config.limits;
        self.check_limit(&account_key, limits.per_account).await?;
        if let Some(key) = &source_key {
            self.check_limit(key, limits.per_source).await?;
        }
        let user = self.store.user_by_email(merchant, &email).await?;
        let accepted = match &user {
            Some(user) => {
                self.config.hasher.verify(password, &user.password_hash)? && !user.disabled
            }
            None => self.config.hasher.verify_dummy(password)?,
        };
        match user {
            Some(user) if accepted => {
                self.store.clear_login_failures(&account_key).await?;
                Ok(user)
            }
            _ => {
                let now = self.clock.now();
                self.store.record_login_failure(&account_key, now).await?;
                if let Some(key) = &source_key {
                    self.store.record_login_failure(key, now).await?;
                }
                Err(Error::Unauthenticated)
            }
        }
    }

    /// Signs in and starts a session family: returns the session and its refresh token (shown
    /// once).
    pub async fn login(
        &self,
        merchant: &MerchantId,
        email: &str,
        password: &Password,
        source: Option<&str>,
    ) -> Result<Tokens> {
        let user = self.sign_in(merchant, email, password, source).await?;
        let now = self.clock.now();
        let id = SessionId::generate(self.ids.as_ref());
        let token = RefreshToken::generate(&mut rand::rng());
        let session = Session {
            family: id.clone(),
            id,
            user: user.id,
            merchant: user.merchant,
            refresh_hash: token.hash(),
            signed_in_at: now,
            created_at: now,
            expires_at: now.plus(self.config.session_lifetime),
            rotated_at: None,
            revoked_at: None,
        };
        self.store.insert_session(&session).await?;
        let access = self.access_token(&session, &user.scopes).await?;
        Ok(Tokens {
            session,
            refresh: token,
            access,
        })
    }

    /// Exchanges a refresh token for a new one (rotation). A token that was already rotated
    /// away, or is raced by another refresh, revokes its whole family.
    pub async fn refresh(&self, presented: &str) -> Result<Tokens> {
        let token = RefreshToken::parse(presented)?;
        let session = self
            .store
            .session_by_refresh_hash(&token.hash())
            .await?
            .ok_or(Error::Unauthenticated)?;
        let now = self.clock.now();
        if session.rotated_at.is_some() && session.revoked_at.is_none() {
            tracing::warn!(family = %session.family, "refresh token reused; session family revoked");
            self.store.revoke_family(&session.family, now).await?;
            return Err(Error::Unauthenticated);
        }
        if !session.is_live(now) {
            return Err(Error::Unauthenticated);
        }
        let Ok(user) = self.live_user(&session).await else {
            self.store.revoke_family(&session.family, now).await?;
            return Err(Error::Unauthenticated);
        };
        let next_token = RefreshToken::generate(&mut rand::rng());
        let next = Session {
            id: SessionId::generate(self.ids.as_ref()),
            refresh_hash: next_token.hash(),
            created_at: now,
            rotated_at: None,
            revoked_at: None,
            ..session.clone()
        };
        if !self.store.rotate_session(&session.id, &next, now).await? {
            tracing::warn!(family = %session.family, "concurrent refresh; session family revoked");
            self.store.revoke_family(&session.family, now).await?;
            return Err(Error::Unauthenticated);
        }
        let access = self.access_token(&next, &user.scopes).await?;
        Ok(Tokens {
            session: next,
            refresh: next_token,
            access,
        })
    }

    /// Creates a signing key if none signs or the current one is due (the new key is
    /// published `publish_lead` before it signs; the old one retires then). Returns whether a
    /// key was created. The server exposes this as `obol keys rotate`.
    pub async fn rotate_keys(&self) -> Result<bool> {
        let tokens = &self.config.tokens;
        let now = self.clock.now();
        let keys = self.store.signing_keys().await?;
        if !rotation_due(&keys, now, &tokens.rotation) {
            return Ok(false);
        }
        self.add_signing_key(&keys, now).await?;
        Ok(true)
    }

    /// Creates a signing key now, due or not (`obol keys rotate`): it is published at once
    /// and signs after the publication lead; returns its `kid`.
    pub async fn rotate_keys_now(&self) -> Result<String> {
        let keys = self.store.signing_keys().await?;
        self.add_signing_key(&keys, self.clock.now()).await
    }

    async fn add_signing_key(&self, keys: &[KeyRecord], now: Timestamp) -> Result<String> {
        let tokens = &self.config.tokens;
        let current = signing_record(keys, now).map(|k| k.kid.clone());
        let activates_at = if current.is_some() {
            now.plus(tokens.rotation.publish_lead)
        } else {
            now
        };
        let kid = format!(
            "sig_{}",
            EventId::generate(self.ids.as_ref())
                .as_str()
                .trim_start_matches("evt_")
        );
        let key = match tokens.algorithm {
            Algorithm::RS256 => SigningKey::generate_rs256(&kid)?,
            Algorithm::EdDSA => SigningKey::generate_eddsa(&kid),
        };
        let record = KeyRecord {
            kid: kid.clone(),
            algorithm: tokens.algorithm,
            created_at: now,
            activates_at,
            retired_at: None,
            public: key.verifying_key().to_jwk(),
            sealed: tokens.kek.seal(&key)?,
        };
        self.store
            .add_signing_key(&record, current.as_deref())
            .await?;
        tracing::info!(kid, "signing key created");
        Ok(kid)
    }

    /// Checks for due key rotations every `every` in the background (the first check runs at
    /// once, so a fresh installation gets its first key).
    pub fn spawn_key_rotation(&self, every: Duration) -> Periodic {
        let auth = self.clone();
        Periodic::spawn(every, move || {
            let auth = auth.clone();
            async move {
                match auth.rotate_keys().await {
                    Ok(true) => tracing::info!("signing keys rotated"),
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(code = error.code(), %error, "key rotation failed")
                    }
                }
            }
        })
    }

    /// The JWKS document: upcoming, signing and recently retired public keys.
    pub async fn jwks(&self) -> Result<Jwks> {
        let keys = self.store.signing_keys().await?;
        let now = self.clock.now();
        Ok(Jwks {
            keys: published(&keys, now, &self.config.tokens.rotation)
                .into_iter()
                .map(|k| k.public.clone())
                .collect(),
        })
    }

    /// Signs an access token for a session.
    async fn access_token(&self, session: &Session, scopes: &BTreeSet<Scope>) -> Result<String> {
        let tokens = &self.config.tokens;
        let now = self.clock.now();
        let mut keys = self.store.signing_keys().await?;
        if signing_record(&keys, now).is_none() {
            self.rotate_keys().await?;
            keys = self.store.signing_keys().await?;
        }
        let record = signing_record(&keys, now)
            .ok_or_else(|| Error::unavailable("no signing key is active"))?;
        let cached = self
            .key_cache()?
            .signer
            .clone()
            .filter(|key| key.kid() == record.kid);
        let key = match cached {
            Some(key) => key,
            None => {
                let opened = Arc::new(tokens.kek.open(
                    &record.kid,
                    record.algorithm,
                    &record.sealed,
                )?);
                self.key_cache()?.signer = Some(opened.clone());
                opened
            }
        };
        let seconds = now.as_micros().div_euclid(1_000_000);
        let lifetime = i64::try_from(tokens.access_lifetime.as_secs()).unwrap_or(900);
        let scope: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        key.sign(&serde_json::json!({
            "iss": tokens.issuer,
            "aud": tokens.audience,
            "sub": session.user.as_str(),
            "sid": session.id.as_str(),
            "mer": session.merchant.as_str(),
            "scope": scope.join(" "),
            "iat": seconds,
            "nbf": seconds,
            "exp": seconds + lifetime,
            "jti": hex::encode(jti),
        }))
    }

    /// Verifies an access token and checks its session now (logout, disable and password
    /// change take effect on the next call).
    pub async fn verify_access_token(&self, token: &str) -> Result<Principal> {
        let now = self.clock.now();
        let claims = match self.verifier(false).await?.verify(token, now) {
            Ok(claims) => claims,
            Err(_) => self.verifier(true).await?.verify(token, now)?,
        };
        let sid = claims
            .get("sid")
            .and_then(serde_json::Value::as_str)
            .ok_or(Error::Unauthenticated)?;
        let sid = SessionId::parse(sid).map_err(|_| Error::Unauthenticated)?;
        self.session_principal(&sid).await
    }

    /// A verifier over the published keys: the cached one unless it is older than
    /// [`VERIFIER_TTL`] or `rebuild` is asked.
    async fn verifier(&self, rebuild: bool) -> Result<Arc<AccessTokenVerifier>> {
        let now = self.clock.now();
        if !rebuild
            && let Some((built, verifier)) = &self.key_cache()?.verifier
            && now < built.plus(VERIFIER_TTL)
        {
            return Ok(verifier.clone());
        }
        let verifier = Arc::new(AccessTokenVerifier::from_jwks(
            &self.jwks().await?,
            self.expectations(),
        )?);
        self.key_cache()?.verifier = Some((now, verifier.clone()));
        Ok(verifier)
    }

    fn key_cache(&self) -> Result<std::sync::MutexGuard<'_, KeyCache>> {
        self.keys
            .lock()
            .map_err(|_| Error::unavailable("auth key cache lock poisoned"))
    }

    /// What tokens of this issuer must carry.
    pub fn expectations(&self) -> Expectations {
        let tokens = &self.config.tokens;
        Expectations {
            issuer: tokens.issuer.clone(),
            audience: tokens.audience.clone(),
            leeway_seconds: tokens.leeway_seconds,
        }
    }

    /// Ends the session family a refresh token belongs to.
    pub async fn logout(&self, presented: &str) -> Result<()> {
        let token = RefreshToken::parse(presented)?;
        if let Some(session) = self.store.session_by_refresh_hash(&token.hash()).await? {
            self.store
                .revoke_family(&session.family, self.clock.now())
                .await?;
        }
        Ok(())
    }

    /// The principal of a session (the `sid` of an access token), checked now: the family is
    /// not revoked or expired, and the user still exists, is enabled and has not changed
    /// password since signing in.
    pub async fn session_principal(&self, id: &SessionId) -> Result<Principal> {
        let session = self
            .store
            .session(id)
            .await?
            .filter(|s| s.revoked_at.is_none() && self.clock.now() < s.expires_at)
            .ok_or(Error::Unauthenticated)?;
        let user = self.live_user(&session).await?;
        Ok(Principal::User {
            user: user.id,
            merchant: user.merchant,
            scopes: user.scopes,
        })
    }

    async fn live_user(&self, session: &Session) -> Result<User> {
        self.store
            .user(&session.merchant, &session.user)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(Error::Unauthenticated)
    }

    async fn check_limit(&self, key: &str, allowed: usize) -> Result<()> {
        let window = self.config.limits.window;
        let now = self.clock.now();
        let since = Timestamp::from_micros(
            now.as_micros() - i64::try_from(window.as_micros()).unwrap_or(i64::MAX),
        );
        let failures = self.store.login_failures_since(key, since).await?;
        if failures.len() < allowed {
            return Ok(());
        }
        // The window frees a slot when its oldest counted failure ages out.
        let oldest = failures.first().copied().unwrap_or(now);
        let frees_at = oldest.plus(window).as_micros();
        let wait = u64::try_from((frees_at - now.as_micros()).max(0) / 1_000_000).unwrap_or(0);
        Err(Error::TooManyAttempts {
            retry_after_seconds: wait.max(1),
        })
    }

    /// Issues an API key for `merchant`; the returned secret is the only time the key is
    /// shown.
    pub async fn issue_api_key(
        &self,
        merchant: &MerchantId,
        name: &str,
        mode: ApiKeyMode,
        scopes: BTreeSet<Scope>,
        expires_at: Option<Timestamp>,
    ) -> Result<(ApiKey, ApiKeySecret)> {
        if name.trim().is_empty() || name.chars().count() > MAX_NAME {
            return Err(Error::Config {
                reason: format!("an API key name is 1 to {MAX_NAME} characters"),
            });
        }
        if scopes.is_empty() {
            return Err(Error::Forbidden {
                reason: "an API key needs at least one scope".into(),
            });
        }
        let now = self.clock.now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(Error::Config {
                reason: "an API key cannot expire in the past".into(),
            });
        }
        let issued = ApiKeySecret::generate(mode, &mut rand::rng());
        let key = ApiKey {
            id: ApiKeyId::generate(self.ids.as_ref()),
            merchant: merchant.clone(),
            name: name.to_owned(),
            mode,
            last4: issued.last4,
            hash: issued.hash,
            scopes,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        self.store.insert_api_key(&key).await?;
        tracing::info!(key = %key.id, merchant = %merchant, "API key issued");
        Ok((key, issued.secret))
    }

    /// The principal a presented key stands for; malformed, unknown, expired and revoked keys
    /// are all `unauthenticated`.
    pub async fn authenticate_api_key(&self, presented: &str) -> Result<Principal> {
        let (_, secret) = ApiKeySecret::parse(presented)?;
        let key = self
            .store
            .api_key_by_hash(&secret.hash())
            .await?
            .filter(|key| key.is_usable(self.clock.now()))
            .ok_or(Error::Unauthenticated)?;
        Ok(Principal::ApiKey {
            key: key.id,
            merchant: key.merchant,
            scopes: key.scopes,
        })
    }

    /// A tenant's API keys (without their secrets).
    pub async fn api_keys(&self, merchant: &MerchantId) -> Result<Vec<ApiKey>> {
        self.store.api_keys(merchant).await
    }

    /// Revokes one of a tenant's keys; it stops authenticating at once.
    pub async fn revoke_api_key(&self, merchant: &MerchantId, id: &ApiKeyId) -> Result<ApiKey> {
        let key = self
            .store
            .revoke_api_key(merchant, id, self.clock.now())
            .await?
            .ok_or_else(|| Error::Forbidden {
                reason: "no such key for this tenant".into(),
            })?;
        tracing::info!(key = %key.id, merchant = %merchant, "API key revoked");
        Ok(key)
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
        assert_send(auth.login(merchant, "a@b.io", password, None));
        assert_send(auth.refresh("token"));
        assert_send(auth.rotate_keys());
    }
}
