//! Auth: sign up, log in, refresh, log out, the JWKS, offline access-token checks and API
//! keys, for the engine's default merchant.

use std::collections::BTreeSet;

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, Result};
use napi_derive::napi;
use obol::auth::{
    ApiKeyMode, Expectations, NewUser, Password, Principal, Profile, Scope, Tokens, verify_offline,
};
use obol::payments::default_merchant;
use obol::{Error, Timestamp};

use crate::convert::{promise, sync_error};
use crate::object::Obol;

/// What a log-in or a refresh hands the app.
#[napi(object)]
pub struct TokensRecord {
    /// The access token (a JWT).
    pub access_token: String,
    /// The refresh token: keep it secret.
    pub refresh_token: String,
    /// Seconds the access token lasts.
    pub expires_in: u32,
}

/// Who a token or key speaks for.
#[napi(object)]
pub struct PrincipalRecord {
    /// `user` or `api_key`.
    pub kind: String,
    /// The user (`usr_…`) or key (`key_…`).
    pub id: String,
    /// The tenant.
    pub merchant: String,
    /// What it may do.
    pub scopes: Vec<String>,
}

impl From<Principal> for PrincipalRecord {
    fn from(principal: Principal) -> Self {
        let (kind, id, merchant, scopes) = match principal {
            Principal::User {
                user,
                merchant,
                scopes,
            } => ("user", user.to_string(), merchant, scopes),
            Principal::ApiKey {
                key,
                merchant,
                scopes,
            } => ("api_key", key.to_string(), merchant, scopes),
        };
        PrincipalRecord {
            kind: kind.into(),
            id,
            merchant: merchant.to_string(),
            scopes: scope_names(&scopes),
        }
    }
}

/// A new user.
#[napi(object)]
pub struct UserRecord {
    /// `usr_…`.
    pub id: String,
    /// The normalised email.
    pub email: String,
    /// What the user may do.
    pub scopes: Vec<String>,
}

/// A new API key and its secret (shown this once).
#[napi(object)]
pub struct ApiKeyRecord {
    /// `key_…`.
    pub id: String,
    /// `obol_sk_…`: keep it secret.
    pub secret: String,
}

fn scope_names(scopes: &BTreeSet<Scope>) -> Vec<String> {
    scopes
        .iter()
        .map(|scope| scope.as_str().to_owned())
        .collect()
}

fn tokens_record(tokens: Tokens, lifetime: u64) -> TokensRecord {
    TokensRecord {
        access_token: tokens.access,
        refresh_token: tokens.refresh.expose().to_owned(),
        expires_in: u32::try_from(lifetime).unwrap_or(u32::MAX),
    }
}

/// Checks an access token offline against a JWKS document (JSON) and the expected issuer
/// and audience, at `nowMs` (milliseconds since 1970, e.g. `Date.now()`). It cannot see a
/// logout; `Obol.verifyAccessToken` does.
#[napi]
pub fn verify_access_token_offline(
    jwks: String,
    token: String,
    issuer: String,
    audience: String,
    now_ms: i64,
) -> napi::Result<PrincipalRecord, String> {
    let expect = Expectations {
        issuer,
        audience,
        leeway_seconds: 60,
    };
    let now = Timestamp::from_micros(now_ms.saturating_mul(1000));
    let claims = verify_offline(&jwks, &token, expect, now).map_err(sync_error)?;
    Ok(PrincipalRecord {
        kind: "user".into(),
        id: claims.user,
        merchant: claims.merchant,
        scopes: claims.scopes,
    })
}

fn parse_scopes(names: &[String]) -> obol::Result<BTreeSet<Scope>> {
    names.iter().map(|name| Scope::parse(name)).collect()
}

#[napi]
impl Obol {
    /// Creates a user with `scopes` (every scope when empty).
    #[napi]
    pub fn sign_up<'env>(
        &self,
        env: &'env Env,
        email: String,
        password: String,
        scopes: Vec<String>,
    ) -> Result<PromiseRaw<'env, UserRecord>> {
        let engine = self.engine();
        promise(env, async move {
            let scopes = match scopes.is_empty() {
                true => Scope::ALL.into_iter().collect(),
                false => parse_scopes(&scopes)?,
            };
            let new = NewUser {
                merchant: default_merchant(),
                email,
                password: Password::new(&password),
                profile: Profile::default(),
                scopes,
            };
            let user = engine?.auth().create_user(new).await?;
            Ok(UserRecord {
                id: user.id.to_string(),
                email: user.email,
                scopes: scope_names(&user.scopes),
            })
        })
    }

    /// Logs in: tokens for a new session.
    #[napi]
    pub fn log_in<'env>(
        &self,
        env: &'env Env,
        email: String,
        password: String,
    ) -> Result<PromiseRaw<'env, TokensRecord>> {
        let engine = self.engine();
        promise(env, async move {
            let engine = engine?;
            let auth = engine.auth();
            let password = Password::new(&password);
            let tokens = auth
                .login(&default_merchant(), &email, &password, None)
                .await?;
            Ok(tokens_record(tokens, auth.access_lifetime().as_secs()))
        })
    }

    /// Trades a refresh token for new tokens (the old one stops working).
    #[napi]
    pub fn refresh<'env>(
        &self,
        env: &'env Env,
        refresh_token: String,
    ) -> Result<PromiseRaw<'env, TokensRecord>> {
        let engine = self.engine();
        promise(env, async move {
            let engine = engine?;
            let auth = engine.auth();
            let tokens = auth.refresh(&refresh_token).await?;
            Ok(tokens_record(tokens, auth.access_lifetime().as_secs()))
        })
    }

    /// Ends the session a refresh token belongs to.
    #[napi]
    pub fn log_out<'env>(
        &self,
        env: &'env Env,
        refresh_token: String,
    ) -> Result<PromiseRaw<'env, ()>> {
        let engine = self.engine();
        promise(
            env,
            async move { engine?.auth().logout(&refresh_token).await },
        )
    }

    /// The public keys access tokens are signed with, as a JWKS document (JSON).
    #[napi]
    pub fn jwks<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, String>> {
        let engine = self.engine();
        promise(env, async move {
            let jwks = engine?.auth().jwks().await?;
            serde_json::to_string(&jwks).map_err(|e| Error::corrupt(e.to_string()))
        })
    }

    /// Checks an access token online: signature, expiry and that its session is still live.
    #[napi]
    pub fn verify_access_token<'env>(
        &self,
        env: &'env Env,
        token: String,
    ) -> Result<PromiseRaw<'env, PrincipalRecord>> {
        let engine = self.engine();
        promise(env, async move {
            let principal = engine?.auth().verify_access_token(&token).await?;
            Ok(PrincipalRecord::from(principal))
        })
    }

    /// Issues an API key with `scopes`; its secret is shown this once.
    #[napi]
    pub fn issue_api_key<'env>(
        &self,
        env: &'env Env,
        name: String,
        scopes: Vec<String>,
    ) -> Result<PromiseRaw<'env, ApiKeyRecord>> {
        let engine = self.engine();
        promise(env, async move {
            let scopes = parse_scopes(&scopes)?;
            let (key, secret) = engine?
                .auth()
                .issue_api_key(&default_merchant(), &name, ApiKeyMode::Test, scopes, None)
                .await?;
            Ok(ApiKeyRecord {
                id: key.id.to_string(),
                secret: secret.expose().to_owned(),
            })
        })
    }

    /// Checks an API key's secret: who it speaks for, or `unauthenticated`.
    #[napi]
    pub fn authenticate_api_key<'env>(
        &self,
        env: &'env Env,
        secret: String,
    ) -> Result<PromiseRaw<'env, PrincipalRecord>> {
        let engine = self.engine();
        promise(env, async move {
            let principal = engine?.auth().authenticate_api_key(&secret).await?;
            Ok(PrincipalRecord::from(principal))
        })
    }
}
