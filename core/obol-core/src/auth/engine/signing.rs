//! Signing keys: rotation on a schedule, the published JWKS, and signing access tokens with the current key.

use super::*;

impl Auth {
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
            sealed: tokens.sealer.seal(&kid, &key.to_pkcs8_der()?).await?,
        };
        self.store
            .add_signing_key(&record, current.as_deref())
            .await?;
        tracing::info!(kid, "signing key created");
        Ok(kid)
    }

    /// Seals every signing key again under the newest version of the key-encryption key
    /// (`obol keys rewrap`: after a rotation of the Transit key, or a move from the local key
    /// to Transit). A key rotated meanwhile is left to the next run; one that cannot be
    /// sealed again is reported and the others go on.
    pub async fn rewrap_signing_keys(&self) -> Result<Rewrapped> {
        let sealer = &self.config.tokens.sealer;
        let mut rewrapped = Rewrapped::default();
        for record in self.store.signing_keys().await? {
            let moved = match sealer.rewrap(&record.kid, &record.sealed).await {
                Ok(Some(sealed)) => {
                    self.store
                        .reseal_signing_key(&record.kid, &record.sealed, &sealed)
                        .await
                }
                Ok(None) => Ok(false),
                Err(error) => Err(error),
            };
            rewrapped.count(&record.kid, moved)?;
        }
        tracing::info!(
            sealed = rewrapped.sealed,
            failed = rewrapped.failed.len(),
            "signing keys sealed again"
        );
        Ok(rewrapped)
    }

    /// Makes a new version of the key-encryption key (`obol keys rotate-kek`; Transit only):
    /// new seals use it, and [`Auth::rewrap_signing_keys`] moves the old ones onto it.
    pub async fn rotate_key_encryption_key(&self) -> Result<()> {
        self.config.tokens.sealer.rotate().await
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
    pub(super) async fn access_token(
        &self,
        session: &Session,
        scopes: &BTreeSet<Scope>,
    ) -> Result<String> {
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
                let der = tokens.sealer.open(&record.kid, &record.sealed).await?;
                let opened = Arc::new(SigningKey::from_pkcs8_der(
                    &record.kid,
                    record.algorithm,
                    &der,
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
            "mode": session.mode.as_str(),
            "scope": scope.join(" "),
            "iat": seconds,
            "nbf": seconds,
            "exp": seconds + lifetime,
            "jti": hex::encode(jti),
        }))
    }

    pub(super) fn key_cache(&self) -> Result<std::sync::MutexGuard<'_, KeyCache>> {
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
}
