//! Users: creation, profile, email and password changes, disabling and deletion.

use super::*;

impl Auth {
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
            password_hash: self.hash_password(&new.password).await?,
            profile: new.profile,
            scopes: new.scopes,
            disabled: false,
            created_at: now,
            updated_at: now,
            password_changed_at: now,
            version: 1,
            live: new.live,
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
        if !self
            .verify_password(current, Some(user.password_hash.clone()))
            .await?
        {
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
        next.password_hash = self.hash_password(new).await?;
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
}
