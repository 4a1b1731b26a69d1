//! Sign-in, tokens, users and API keys, in process: sign-in is the engine's auth; everything
//! a signed-in caller does is the tenant API.

use async_trait::async_trait;
use obol::auth::{Jwks, Principal, Profile};
use obol::{ApiKeyId, Result, UserId};
use zeroize::Zeroizing;

use super::Local;
use crate::services::{
    ApiKeyView, AuthService, CreateApiKey, CreateUser, IssuedTokens, LoginRequest, NewApiKey,
    UserView,
};

#[async_trait]
impl AuthService for Local {
    async fn ready(&self) -> Result<()> {
        self.engine.store().ready().await
    }

    async fn authenticate(&self, credential: &str) -> Result<Principal> {
        self.engine.auth().authenticate(credential).await
    }

    async fn login(&self, request: LoginRequest, source: Option<&str>) -> Result<IssuedTokens> {
        let merchant = request
            .merchant
            .unwrap_or_else(obol::payments::default_merchant);
        let tokens = self
            .engine
            .auth()
            .login(
                &merchant,
                &request.email,
                &request.password,
                source,
                request.mode,
            )
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
        self.tenant(who).create_user(key, request).await
    }

    async fn user(&self, who: &Principal, id: &UserId) -> Result<UserView> {
        self.tenant(who).user(id).await
    }

    async fn update_profile(
        &self,
        who: &Principal,
        id: &UserId,
        profile: Profile,
    ) -> Result<UserView> {
        self.tenant(who).update_profile(id, profile).await
    }

    async fn issue_api_key(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreateApiKey,
    ) -> Result<NewApiKey> {
        self.tenant(who).issue_api_key(key, request).await
    }

    async fn api_keys(&self, who: &Principal) -> Result<Vec<ApiKeyView>> {
        self.tenant(who).api_keys().await
    }

    async fn revoke_api_key(&self, who: &Principal, id: &ApiKeyId) -> Result<ApiKeyView> {
        self.tenant(who).revoke_api_key(id).await
    }
}

impl Local {
    fn issued(&self, tokens: obol::auth::Tokens) -> IssuedTokens {
        IssuedTokens {
            access_token: Zeroizing::new(tokens.access),
            token_type: "Bearer".to_owned(),
            expires_in: self.engine.auth().access_lifetime().as_secs(),
            refresh_token: Zeroizing::new(tokens.refresh.expose().to_owned()),
            user: tokens.session.user,
            merchant: tokens.session.merchant,
            mode: tokens.session.mode,
        }
    }
}
