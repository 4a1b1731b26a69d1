//! Sign-in: the password check behind failure limits, and the session family it starts.
//!
//! Limits follow OWASP's guidance against both guessing and lockout: failures count per
//! account *and source* (a stranger elsewhere cannot lock a user out) and per source (one
//! address guessing across many accounts is stopped), in a sliding window. Each attempt is
//! reserved, atomically with the check, *before* any hashing: a burst of concurrent guesses
//! gets no more tries than a sequence would. A success gives its reservation back. Counters
//! are keyed by hashes (fixed size, whatever the caller sent) and forgotten once they leave
//! the window, so the table stays bounded. An IPv6 source counts by its /64
//! ([`crate::auth::source`]).

use sha2::{Digest, Sha256};

use super::*;
use crate::store::{AttemptLimit, LoginReservation};

/// Where a sign-in comes from when its host names no source (an app calling the engine in
/// process).
const LOCAL_SOURCE: &str = "local";

impl Auth {
    /// Checks a sign-in. Unknown email, wrong password and disabled user all answer
    /// `unauthenticated` after the same hashing work; past the failure limits for the account
    /// from this source, or for the source, `too_many_attempts` before any work.
    pub async fn sign_in(
        &self,
        merchant: &MerchantId,
        email: &str,
        password: &Password,
        source: Option<&str>,
    ) -> Result<User> {
        let email = normalise_email(email).ok();
        let source = crate::auth::source::source_group(source.unwrap_or(LOCAL_SOURCE));
        let source = source.as_ref();
        let limits = self.config.limits;
        // An address that is not an email cannot belong to a user; it still costs its
        // caller an attempt (against a fixed name, so it cannot grow the table).
        let account = email.as_deref().unwrap_or("(not an email)");
        let pair = limit_key(&["account", merchant.as_str(), account, source]);
        let attempt = format!("{:032x}", self.ids.next_body());
        self.reserve_attempt(
            &attempt,
            &[
                AttemptLimit {
                    key: pair.clone(),
                    allowed: limits.per_account_and_source,
                },
                AttemptLimit {
                    key: limit_key(&["source", source]),
                    allowed: limits.per_source,
                },
            ],
        )
        .await?;
        let user = match &email {
            Some(email) => self.store.user_by_email(merchant, email).await?,
            None => None,
        };
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let matches = self.verify_password(password, stored).await?;
        match user {
            Some(user) if matches && !user.disabled => {
                // A success is not a failure: its reservation is given back, and the account's
                // count from this source starts again.
                self.store.release_login_attempt(&attempt, &pair).await?;
                Ok(user)
            }
            _ => Err(Error::Unauthenticated),
        }
    }

    /// Reserves one attempt under every limit, or says how long until one frees.
    async fn reserve_attempt(&self, attempt: &str, limits: &[AttemptLimit]) -> Result<()> {
        let window = self.config.limits.window;
        let now = self.clock.now();
        let since = Timestamp::from_micros(
            now.as_micros()
                .saturating_sub(i64::try_from(window.as_micros()).unwrap_or(i64::MAX)),
        );
        match self
            .store
            .reserve_login_attempt(attempt, limits, since, now)
            .await?
        {
            LoginReservation::Reserved => Ok(()),
            LoginReservation::Refused { oldest } => {
                // The window frees a slot when its oldest counted attempt ages out.
                let frees_at = oldest.plus(window).as_micros();
                let wait = u64::try_from(frees_at.saturating_sub(now.as_micros()) / 1_000_000)
                    .unwrap_or(0);
                Err(Error::TooManyAttempts {
                    retry_after_seconds: wait.max(1),
                })
            }
        }
    }

    /// Checks `password` against a stored hash (or, with none, does the same work against a
    /// dummy so unknown accounts take as long), off the async workers: argon2id takes tens
    /// of milliseconds of CPU, which would stall every other request on a worker. At most
    /// one hashing per core runs at once; the rest wait their turn.
    pub(super) async fn verify_password(
        &self,
        password: &Password,
        stored: Option<String>,
    ) -> Result<bool> {
        let hasher = self.config.hasher.clone();
        let password = password.clone();
        self.hashing(move || match stored {
            Some(stored) => hasher.verify(&password, &stored),
            None => hasher.verify_dummy(&password),
        })
        .await
    }

    /// Hashes a new password off the async workers (see [`Auth::verify_password`]).
    pub(super) async fn hash_password(&self, password: &Password) -> Result<String> {
        let hasher = self.config.hasher.clone();
        let password = password.clone();
        self.hashing(move || hasher.hash(&password)).await
    }

    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self.hashing.acquire().await.map_err(|_| Error::ShutDown)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| Error::unavailable("password hashing stopped"))?
    }

    /// Signs in and starts a session family in `mode`: returns the session and its refresh
    /// token (shown once).
    pub async fn login(
        &self,
        merchant: &MerchantId,
        email: &str,
        password: &Password,
        source: Option<&str>,
        mode: Mode,
    ) -> Result<Tokens> {
        let user = self.sign_in(merchant, email, password, source).await?;
        if mode == Mode::Live && !user.live {
            return Err(Error::Forbidden {
                reason: "this user may sign in to test mode only".into(),
            });
        }
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
            mode,
        };
        self.store.insert_session(&session).await?;
        let access = self.access_token(&session, &user.scopes).await?;
        Ok(Tokens {
            session,
            refresh: token,
            access,
        })
    }
}

/// A limit's counter name: a hash of its parts, so its size is fixed whatever was sent.
fn limit_key(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        // Length-prefixed, so no two part lists hash alike.
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}
