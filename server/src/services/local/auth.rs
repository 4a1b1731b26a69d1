//! Sign-in, tokens, users and API keys, in process.

use async_trait::async_trait;
use obol::auth::{Jwks, NewUser, Password, Principal, Profile, Scope};
use obol::{ApiKeyId, Result, UserId};
use sha2::{Digest, Sha256};

use super::{Local, allow};
use crate::services::{
    ApiKeyView, AuthService, CreateApiKey, CreateUser, IssuedTokens, LoginRequest, NewApiKey,
    UserView,
};

/// Users may read and edit themselves; anything else about users needs `users:admin`.
fn allow_user(who: &Principal, id: &UserId) -> Result<()> {
    match who {
        Principal::User { user, .. } if user == id => Ok(()),
        _ => allow(who, Scope::UsersAdmin),
    }
}

#[async_trait]
impl AuthService for Local {
    async fn ready(&self) -> Result<()> {
        self.engine.store().ready().await
    }

    async fn authenticate(&self, credential: &str) -> Result<Principal> {
        let auth = self.engine.auth();
        if credential.starts_with("obol_sk_") {
            auth.authenticate_api_key(credential).await
        } else {
            auth.verify_access_token(credential).await
        }
    }

    async fn login(&self, request: LoginRequest, source: Option<&str>) -> Result<IssuedTokens> {
        let merchant = request
            .merchant
            .unwrap_or_else(obol::payments::default_merchant);
        let password = Password::new(&request.password);
        let tokens = self
            .engine
            .auth()
            .login(&merchant, &request.email, &password, source)
            .await?;
        Ok(self.issued(tokens))
    }

    async fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens> {
        let tokens = self.engine.auth().refresh(refresh_token).await?;
        Ok(self.issued(tokens))
    }

    async fn logout(&self, refresh_token: &str) -> Result<()> {
        self.engine.auth().logout(refresh_token).await
    }

    async fn jwks(&self) -> Result<Jwks> {
        self.engine.auth().jwks().await
    }

    async fn create_user(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreateUser,
    ) -> Result<UserView> {
        allow(who, Scope::UsersAdmin)?;
        let auth = self.engine.auth();
        // The request hash covers the password's hash-free fingerprint, not the password.
        let fingerprint = (
            &request.email,
            hex::encode(Sha256::digest(request.password.as_bytes())),
            &request.profile,
            &request.scopes,
        );
        self.once(who, "users", key, &fingerprint, |_| async {
            let user = auth
                .create_user(NewUser {
                    merchant: who.merchant().clone(),
                    email: request.email.clone(),
                    password: Password::new(&request.password),
                    profile: request.profile.clone(),
                    scopes: request.scopes.clone(),
                })
                .await?;
            Ok(UserView::from(user))
        })
        .await
    }

    async fn user(&self, who: &Principal, id: &UserId) -> Result<UserView> {
        allow_user(who, id)?;
        Ok(self.engine.auth().user(who.merchant(), id).await?.into())
    }

    async fn update_profile(
        &self,
        who: &Principal,
        id: &UserId,
        profile: Profile,
    ) -> Result<UserView> {
        allow_user(who, id)?;
        let user = self
            .engine
            .auth()
            .update_profile(who.merchant(), id, profile)
            .await?;
        Ok(user.into())
    }

    async fn issue_api_key(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreateApiKey,
    ) -> Result<NewApiKey> {
        allow(who, Scope::UsersAdmin)?;
        let auth = self.engine.auth();
        // The secret is never stored: a replay answers with the key's record only.
        let fresh = std::sync::Mutex::new(None);
        let issued: ApiKeyView = self
            .once(who, "api_keys", key, &request, |_| async {
                let (key, secret) = auth
                    .issue_api_key(
                        who.merchant(),
                        &request.name,
                        request.mode,
                        request.scopes.clone(),
                        request.expires_at,
                    )
                    .await?;
                if let Ok(mut slot) = fresh.lock() {
                    *slot = Some(secret.expose().to_owned());
                }
                Ok(ApiKeyView::from(key))
            })
            .await?;
        let secret = fresh.into_inner().ok().flatten();
        Ok(NewApiKey {
            key: issued,
            secret,
        })
    }

    async fn api_keys(&self, who: &Principal) -> Result<Vec<ApiKeyView>> {
        allow(who, Scope::UsersAdmin)?;
        let keys = self.engine.auth().api_keys(who.merchant()).await?;
        Ok(keys.into_iter().map(ApiKeyView::from).collect())
    }

    async fn revoke_api_key(&self, who: &Principal, id: &ApiKeyId) -> Result<ApiKeyView> {
        allow(who, Scope::UsersAdmin)?;
        let key = self
            .engine
            .auth()
            .revoke_api_key(who.merchant(), id)
            .await?;
        Ok(key.into())
    }
}

impl Local {
    fn issued(&self, tokens: obol::auth::Tokens) -> IssuedTokens {
        IssuedTokens {
            access_token: tokens.access,
            token_type: "Bearer".to_owned(),
            expires_in: self.engine.auth().access_lifetime().as_secs(),
            refresh_token: tokens.refresh.expose().to_owned(),
            user: tokens.session.user,
            merchant: tokens.session.merchant,
        }
    }
}
