//! A tenant's users and API keys. Nobody grants what it does not hold: a new user's or
//! key's scopes are at most the caller's, and only a live-mode caller grants live mode.

use std::sync::Mutex;

use zeroize::Zeroizing;

use super::Tenant;
use super::keys::Operation;
use crate::auth::user::User;
use crate::auth::{
    ApiKey, ApiKeyView, CreateApiKey, CreateUser, NewApiKey, NewUser, Profile, Scope, UserView,
};
use crate::error::{Error, Result};
use crate::id::{ApiKeyId, UserId};
use crate::mode::Mode;

impl Tenant {
    /// Creates a user in the tenant.
    pub async fn create_user(&self, key: Option<&str>, request: CreateUser) -> Result<UserView> {
        self.require(Scope::UsersAdmin)?;
        if request.email.trim_matches(crate::auth::user::is_space) != request.email {
            return Err(Error::InvalidUser {
                reason: "the email address is not valid".into(),
            });
        }
        let live = if request.live { Mode::Live } else { Mode::Test };
        self.principal.may_grant(&request.scopes, live)?;
        // The request hash covers the password only through a keyed hash: the stored
        // fingerprint cannot be turned back into the password, even by guessing.
        let fingerprint = (
            &request.email,
            self.auth.secret_fingerprint(request.password.expose())?,
            &request.profile,
            &request.scopes,
            request.live,
        );
        self.once(Operation::CreateUser, key, &fingerprint, |_| async {
            let user = self
                .auth
                .create_user(NewUser {
                    merchant: self.merchant().clone(),
                    email: request.email.clone(),
                    password: request.password.clone(),
                    profile: request.profile.clone(),
                    scopes: request.scopes.clone(),
                    live: request.live,
                })
                .await?;
            Ok(UserView::from(user))
        })
        .await
    }

    /// A user of the tenant (a user may always read itself; a user allowed into live mode is
    /// unknown to other test-mode callers).
    pub async fn user(&self, id: &UserId) -> Result<UserView> {
        self.require_self_or_admin(id)?;
        Ok(self.visible_user(id).await?.into())
    }

    /// Replaces a user's profile (a user may always edit its own).
    pub async fn update_profile(&self, id: &UserId, profile: Profile) -> Result<UserView> {
        self.require_self_or_admin(id)?;
        self.visible_user(id).await?;
        let user = self
            .auth
            .update_profile(self.merchant(), id, profile)
            .await?;
        Ok(user.into())
    }

    /// Issues an API key; the answer carries its secret this once (a replay of the same
    /// request under the same key answers without it: the secret is never stored).
    pub async fn issue_api_key(
        &self,
        key: Option<&str>,
        request: CreateApiKey,
    ) -> Result<NewApiKey> {
        self.require(Scope::UsersAdmin)?;
        self.principal.may_grant(&request.scopes, request.mode)?;
        let fresh = Mutex::new(None);
        let issued: ApiKeyView = self
            .once(Operation::IssueApiKey, key, &request, |_| async {
                let (key, secret) = self
                    .auth
                    .issue_api_key(
                        self.merchant(),
                        &request.name,
                        request.mode,
                        request.scopes.clone(),
                        request.expires_at,
                    )
                    .await?;
                if let Ok(mut slot) = fresh.lock() {
                    *slot = Some(Zeroizing::new(secret.expose().to_owned()));
                }
                Ok(ApiKeyView::from(key))
            })
            .await?;
        Ok(NewApiKey {
            key: issued,
            secret: fresh.into_inner().ok().flatten(),
        })
    }

    /// The tenant's API keys (no secrets): a test-mode caller sees test keys only.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyView>> {
        self.require(Scope::UsersAdmin)?;
        let keys = self.visible_api_keys().await?;
        Ok(keys.into_iter().map(ApiKeyView::from).collect())
    }

    /// Revokes one of the tenant's API keys; it stops authenticating at once. A live key is
    /// as good as unknown to a test-mode caller.
    pub async fn revoke_api_key(&self, id: &ApiKeyId) -> Result<ApiKeyView> {
        self.require(Scope::UsersAdmin)?;
        if !self
            .visible_api_keys()
            .await?
            .iter()
            .any(|key| key.id == *id)
        {
            return Err(Error::ApiKeyNotFound { id: id.to_string() });
        }
        Ok(self.auth.revoke_api_key(self.merchant(), id).await?.into())
    }

    /// The merchant's keys this caller may manage: all of them in live mode, the test keys
    /// in test mode (test mode never reaches live).
    async fn visible_api_keys(&self) -> Result<Vec<ApiKey>> {
        let mut keys = self.auth.api_keys(self.merchant()).await?;
        if self.mode() == Mode::Test {
            keys.retain(|key| key.mode == Mode::Test);
        }
        Ok(keys)
    }

    /// A user this caller may manage: itself, or in live mode any, in test mode those who
    /// may not sign in to live mode (test mode never reaches live).
    async fn visible_user(&self, id: &UserId) -> Result<User> {
        let user = self.auth.user(self.merchant(), id).await?;
        let itself = self.principal.user() == Some(id);
        if user.live && self.mode() == Mode::Test && !itself {
            return Err(Error::UserNotFound { id: id.to_string() });
        }
        Ok(user)
    }

    /// Users may read and edit themselves; anything else about users needs `users:admin`.
    fn require_self_or_admin(&self, id: &UserId) -> Result<()> {
        match self.principal.user() {
            Some(user) if user == id => Ok(()),
            _ => self.require(Scope::UsersAdmin),
        }
    }
}
