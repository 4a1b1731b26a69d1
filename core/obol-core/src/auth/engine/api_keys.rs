//! API keys: issuing (shown once), authenticating, listing and revoking.

use super::*;

impl Auth {
    /// Issues an API key for `merchant`; the returned secret is the only time the key is
    /// shown.
    pub async fn issue_api_key(
        &self,
        merchant: &MerchantId,
        name: &str,
        mode: Mode,
        scopes: BTreeSet<Scope>,
        expires_at: Option<Timestamp>,
    ) -> Result<(ApiKey, ApiKeySecret)> {
        if name.trim_matches(crate::auth::user::is_space).is_empty()
            || name.chars().count() > MAX_NAME
        {
            return Err(Error::InvalidRequest {
                reason: format!("an API key name is 1 to {MAX_NAME} characters, not all blank"),
            });
        }
        if scopes.is_empty() {
            return Err(Error::InvalidRequest {
                reason: "an API key needs at least one scope".into(),
            });
        }
        let now = self.clock.now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(Error::InThePast {
                what: "the API key's expiry".into(),
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

    /// The principal a presented credential stands for, whichever kind it is: an API key
    /// (`obol_sk_…`) or an access token. Anything that proves nothing is `unauthenticated`.
    pub async fn authenticate(&self, credential: &str) -> Result<Principal> {
        if credential.starts_with(crate::auth::api_key::SECRET_PREFIX) {
            self.authenticate_api_key(credential).await
        } else {
            self.verify_access_token(credential).await
        }
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
        Ok(Principal {
            actor: Actor::ApiKey { key: key.id },
            merchant: key.merchant,
            scopes: key.scopes,
            mode: key.mode,
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
            .ok_or_else(|| Error::ApiKeyNotFound { id: id.to_string() })?;
        tracing::info!(key = %key.id, merchant = %merchant, "API key revoked");
        Ok(key)
    }
}
