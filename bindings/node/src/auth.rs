//! Auth: sign up, log in, refresh, log out, the JWKS, offline access-token checks and API
//! keys. The app's own set-up (a first user, a first key) belongs to the default merchant in
//! test mode; a tenant manages its own users and keys within what it holds itself.

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, Result};
use napi_derive::napi;
use obol::auth::{
    ApiKeyView, CreateApiKey, CreateUser, Expectations, NewUser, Password, Profile, Scope, Tokens,
    UserView, verify_offline,
};
use obol::payments::{default_merchant, merchant_named};
use obol::{Error, Mode, Timestamp};

use crate::convert::{promise, sync_error};
use crate::object::Obol;
use crate::tenant::{PrincipalRecord, Tenant, scope_names};

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

impl From<UserView> for UserRecord {
    fn from(user: UserView) -> Self {
        UserRecord {
            id: user.id.to_string(),
            email: user.email,
            scopes: scope_names(&user.scopes),
        }
    }
}

/// An API key: its secret only in the answer that made it.
#[napi(object)]
pub struct ApiKeyRecord {
    /// `key_…`.
    pub id: String,
    /// A label.
    pub name: String,
    /// `test` or `live`.
    pub mode: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// Set once revoked.
    pub revoked: bool,
    /// `obol_sk_…`: keep it secret. Shown once: absent in listings and replays.
    pub secret: Option<String>,
}

impl ApiKeyRecord {
    fn of(key: ApiKeyView, secret: Option<String>) -> Self {
        ApiKeyRecord {
            id: key.id.to_string(),
            name: key.name,
            mode: key.mode.as_str().into(),
            scopes: scope_names(&key.scopes),
            revoked: key.revoked_at.is_some(),
            secret,
        }
    }
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
        mode: claims.mode.as_str().into(),
    })
}

#[napi]
impl Obol {
    /// Creates a user of the default merchant with `scopes` (every scope when absent), who may
    /// sign in to test mode.
    #[napi]
    pub fn sign_up<'env>(
        &self,
        env: &'env Env,
        email: String,
        password: String,
        scopes: Option<Vec<String>>,
    ) -> Result<PromiseRaw<'env, UserRecord>> {
        let engine = self.engine();
        promise(env, async move {
            let scopes = Scope::named(scopes.as_deref())?;
            let new = NewUser {
                merchant: default_merchant(),
                email,
                password: Password::from(password),
                profile: Profile::default(),
                scopes,
                live: false,
            };
            let user = engine?.auth().create_user(new).await?;
            Ok(UserRecord {
                id: user.id.to_string(),
                email: user.email,
                scopes: scope_names(&user.scopes),
            })
        })
    }

    /// Logs in to `merchant` (the default merchant when absent): tokens for a new session in
    /// `mode` (`test` by default, or `live` for users allowed it). `source` says where the
    /// attempt comes from (a server passes its client's address): failed sign-ins are
    /// limited per account and source and per source, so without it every attempt shares
    /// one source, `local`.
    #[napi]
    pub fn log_in<'env>(
        &self,
        env: &'env Env,
        email: String,
        password: String,
        mode: Option<String>,
        merchant: Option<String>,
        source: Option<String>,
    ) -> Result<PromiseRaw<'env, TokensRecord>> {
        let engine = self.engine();
        promise(env, async move {
            let engine = engine?;
            let auth = engine.auth();
            let password = Password::from(password);
            let mode = Mode::parse(mode.as_deref().unwrap_or("test"))?;
            let merchant = merchant_named(merchant.as_deref())?;
            let tokens = auth
                .login(&merchant, &email, &password, source.as_deref(), mode)
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

    /// Issues a test-mode API key of the default merchant with `scopes`; its secret is
    /// shown this once.
    #[napi]
    pub fn issue_api_key<'env>(
        &self,
        env: &'env Env,
        name: String,
        scopes: Vec<String>,
    ) -> Result<PromiseRaw<'env, ApiKeyRecord>> {
        let engine = self.engine();
        promise(env, async move {
            let scopes = Scope::named(Some(&scopes))?;
            let (key, secret) = engine?
                .auth()
                .issue_api_key(&default_merchant(), &name, Mode::Test, scopes, None)
                .await?;
            Ok(ApiKeyRecord::of(
                key.into(),
                Some(secret.expose().to_owned()),
            ))
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

#[napi]
impl Tenant {
    /// Creates a user of the tenant with `scopes` (at most the tenant's own); `live` lets
    /// them sign in to live mode (only a live-mode tenant grants it).
    #[napi]
    pub fn create_user<'env>(
        &self,
        env: &'env Env,
        email: String,
        password: String,
        scopes: Vec<String>,
        live: Option<bool>,
        idempotency_key: Option<String>,
    ) -> Result<PromiseRaw<'env, UserRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let request = CreateUser {
                email,
                password: password.into(),
                profile: Profile::default(),
                scopes: Scope::named(Some(&scopes))?,
                live: live.unwrap_or(false),
            };
            let user = tenant?
                .create_user(idempotency_key.as_deref(), request)
                .await?;
            Ok(UserRecord::from(user))
        })
    }

    /// Issues an API key of the tenant with `scopes` (at most its own) in `mode` (`test` by
    /// default, or `live` from a live-mode tenant); its secret is in this answer only.
    #[napi]
    pub fn issue_api_key<'env>(
        &self,
        env: &'env Env,
        name: String,
        scopes: Vec<String>,
        mode: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<PromiseRaw<'env, ApiKeyRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let request = CreateApiKey {
                name,
                mode: Mode::parse(mode.as_deref().unwrap_or("test"))?,
                scopes: Scope::named(Some(&scopes))?,
                expires_at: None,
            };
            let issued = tenant?
                .issue_api_key(idempotency_key.as_deref(), request)
                .await?;
            // The host language gets its own copy; the engine's is wiped when `issued` drops.
            let secret = issued.secret.as_ref().map(|s| s.as_str().to_owned());
            Ok(ApiKeyRecord::of(issued.key, secret))
        })
    }

    /// The tenant's API keys (no secrets).
    #[napi]
    pub fn api_keys<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Vec<ApiKeyRecord>>> {
        let tenant = self.scoped();
        promise(env, async move {
            let keys = tenant?.api_keys().await?;
            Ok(keys
                .into_iter()
                .map(|k| ApiKeyRecord::of(k, None))
                .collect())
        })
    }

    /// Revokes one of the tenant's API keys; it stops working at once.
    #[napi]
    pub fn revoke_api_key<'env>(
        &self,
        env: &'env Env,
        key_id: String,
    ) -> Result<PromiseRaw<'env, ApiKeyRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let key = tenant?.revoke_api_key(&key_id.parse()?).await?;
            Ok(ApiKeyRecord::of(key, None))
        })
    }
}
