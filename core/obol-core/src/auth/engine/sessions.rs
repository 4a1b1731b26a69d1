//! Sessions: refresh-token rotation with reuse detection, logout, and the principal an access token stands for.

use super::*;

impl Auth {
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

    /// The principal of a session (the `sid` of an access token), checked now: the session is
    /// not revoked or expired (a password change revokes the user's sessions), and the user
    /// still exists and is enabled.
    pub async fn session_principal(&self, id: &SessionId) -> Result<Principal> {
        let session = self
            .store
            .session(id)
            .await?
            .filter(|s| s.revoked_at.is_none() && self.clock.now() < s.expires_at)
            .ok_or(Error::Unauthenticated)?;
        let user = self.live_user(&session).await?;
        Ok(Principal {
            actor: Actor::User { user: user.id },
            merchant: user.merchant,
            scopes: user.scopes,
            mode: session.mode,
        })
    }

    async fn live_user(&self, session: &Session) -> Result<User> {
        self.store
            .user(&session.merchant, &session.user)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(Error::Unauthenticated)
    }
}
