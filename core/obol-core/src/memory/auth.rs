//! Auth: API keys, users, sign-in attempts, sessions and signing keys.

use super::*;

#[async_trait]
impl AuthStore for MemoryStore {
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        let mut state = self.lock()?;
        if state
            .api_keys
            .iter()
            .any(|k| k.hash == key.hash || k.id == key.id)
        {
            return Err(Error::Contention {
                reason: "an API key with this id or hash exists".into(),
            });
        }
        state.api_keys.push(key.clone());
        Ok(())
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        Ok(self
            .lock()?
            .api_keys
            .iter()
            .find(|k| k.hash == hash)
            .cloned())
    }

    async fn api_keys(&self, merchant: &MerchantId) -> Result<Vec<ApiKey>> {
        Ok(self
            .lock()?
            .api_keys
            .iter()
            .filter(|k| &k.merchant == merchant)
            .cloned()
            .collect())
    }

    async fn revoke_api_key(
        &self,
        merchant: &MerchantId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<Option<ApiKey>> {
        let mut state = self.lock()?;
        Ok(state
            .api_keys
            .iter_mut()
            .find(|k| &k.id == id && &k.merchant == merchant)
            .map(|key| {
                key.revoked_at.get_or_insert(at);
                key.clone()
            }))
    }

    async fn insert_user(&self, user: &User) -> Result<()> {
        let mut state = self.lock()?;
        if state
            .users
            .iter()
            .any(|u| u.merchant == user.merchant && u.email == user.email)
        {
            return Err(Error::EmailTaken);
        }
        if state.users.iter().any(|u| u.id == user.id) {
            return Err(Error::Contention {
                reason: "a user with this id exists".into(),
            });
        }
        state.users.push(user.clone());
        Ok(())
    }

    async fn user(&self, merchant: &MerchantId, id: &UserId) -> Result<Option<User>> {
        Ok(self
            .lock()?
            .users
            .iter()
            .find(|u| &u.merchant == merchant && &u.id == id)
            .cloned())
    }

    async fn user_by_email(&self, merchant: &MerchantId, email: &str) -> Result<Option<User>> {
        Ok(self
            .lock()?
            .users
            .iter()
            .find(|u| &u.merchant == merchant && u.email == email)
            .cloned())
    }

    async fn update_user(&self, user: &User, expected_version: i64) -> Result<()> {
        let mut state = self.lock()?;
        if state
            .users
            .iter()
            .any(|u| u.merchant == user.merchant && u.email == user.email && u.id != user.id)
        {
            return Err(Error::EmailTaken);
        }
        let stored = state
            .users
            .iter_mut()
            .find(|u| {
                u.merchant == user.merchant && u.id == user.id && u.version == expected_version
            })
            .ok_or_else(|| Error::Contention {
                reason: "the user changed concurrently".into(),
            })?;
        *stored = user.clone();
        Ok(())
    }

    async fn delete_user(&self, merchant: &MerchantId, id: &UserId) -> Result<bool> {
        let mut state = self.lock()?;
        let before = state.users.len();
        state
            .users
            .retain(|u| !(&u.merchant == merchant && &u.id == id));
        Ok(state.users.len() < before)
    }

    async fn reserve_login_attempt(
        &self,
        attempt: &str,
        limits: &[AttemptLimit],
        since: Timestamp,
        at: Timestamp,
    ) -> Result<LoginReservation> {
        let mut state = self.lock()?;
        state.login_attempts.retain(|(_, _, when)| *when >= since);
        for limit in limits {
            let counted: Vec<Timestamp> = state
                .login_attempts
                .iter()
                .filter(|(_, key, _)| *key == limit.key)
                .map(|(_, _, when)| *when)
                .collect();
            if counted.len() >= usize::try_from(limit.allowed).unwrap_or(usize::MAX) {
                let oldest = counted.iter().min().copied().unwrap_or(at);
                return Ok(LoginReservation::Refused { oldest });
            }
        }
        for limit in limits {
            state
                .login_attempts
                .push((attempt.to_owned(), limit.key.clone(), at));
        }
        Ok(LoginReservation::Reserved)
    }

    async fn release_login_attempt(&self, attempt: &str, clear: &str) -> Result<()> {
        self.lock()?
            .login_attempts
            .retain(|(id, key, _)| id != attempt && key != clear);
        Ok(())
    }

    async fn insert_session(&self, session: &Session) -> Result<()> {
        let mut state = self.lock()?;
        if state
            .sessions
            .iter()
            .any(|s| s.id == session.id || s.refresh_hash == session.refresh_hash)
        {
            return Err(Error::Contention {
                reason: "a session with this id or token exists".into(),
            });
        }
        state.sessions.push(session.clone());
        Ok(())
    }

    async fn session_by_refresh_hash(&self, hash: &str) -> Result<Option<Session>> {
        Ok(self
            .lock()?
            .sessions
            .iter()
            .find(|s| s.refresh_hash == hash)
            .cloned())
    }

    async fn session(&self, id: &SessionId) -> Result<Option<Session>> {
        Ok(self.lock()?.sessions.iter().find(|s| &s.id == id).cloned())
    }

    async fn rotate_session(&self, old: &SessionId, new: &Session, at: Timestamp) -> Result<bool> {
        let mut state = self.lock()?;
        let Some(current) = state
            .sessions
            .iter_mut()
            .find(|s| &s.id == old && s.rotated_at.is_none() && s.revoked_at.is_none())
        else {
            return Ok(false);
        };
        current.rotated_at = Some(at);
        state.sessions.push(new.clone());
        Ok(true)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        Ok(self.lock()?.signing_keys.clone())
    }

    async fn add_signing_key(&self, record: &SigningKeyRecord, retire: Option<&str>) -> Result<()> {
        let mut state = self.lock()?;
        if state.signing_keys.iter().any(|k| k.kid == record.kid) {
            return Err(Error::Contention {
                reason: "a signing key with this kid exists".into(),
            });
        }
        if let Some(old) = retire {
            for key in state.signing_keys.iter_mut().filter(|k| k.kid == old) {
                key.retired_at.get_or_insert(record.activates_at);
            }
        }
        state.signing_keys.push(record.clone());
        Ok(())
    }

    async fn reseal_signing_key(&self, kid: &str, before: &str, sealed: &str) -> Result<bool> {
        let mut state = self.lock()?;
        let Some(key) = state
            .signing_keys
            .iter_mut()
            .find(|k| k.kid == kid && k.sealed == before)
        else {
            return Ok(false);
        };
        key.sealed = sealed.to_owned();
        Ok(true)
    }

    async fn revoke_family(&self, family: &SessionId, at: Timestamp) -> Result<()> {
        for session in self
            .lock()?
            .sessions
            .iter_mut()
            .filter(|s| &s.family == family)
        {
            session.revoked_at.get_or_insert(at);
        }
        Ok(())
    }

    async fn revoke_user_sessions(
        &self,
        merchant: &MerchantId,
        user: &UserId,
        except: Option<&SessionId>,
        at: Timestamp,
    ) -> Result<()> {
        for session in self
            .lock()?
            .sessions
            .iter_mut()
            .filter(|s| &s.merchant == merchant && &s.user == user && Some(&s.family) != except)
        {
            session.revoked_at.get_or_insert(at);
        }
        Ok(())
    }
}
