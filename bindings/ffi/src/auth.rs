//! Auth: sign up, log in, refresh, log out, the JWKS, offline access-token checks and API
//! keys. The app's own set-up (a first user, a first key) belongs to the default merchant in
//! test mode; a tenant manages its own users and keys within what it holds itself.

use std::time::SystemTime;

use obol::auth::{
    ApiKeyView, CreateApiKey, CreateUser, Expectations, NewUser, Password, Profile, Scope, Tokens,
    User, UserView, verify_offline,
};
use obol::payments::{default_merchant, merchant_named};
use obol::{Error, Mode, Result};

use crate::convert::timestamp;
use crate::error::AuthError;
use crate::object::Obol;
use crate::tenant::{PrincipalRecord, Tenant, scope_names};

/// A user.
#[derive(Debug, Clone, uniffi::Record)]
pub struct UserRecord {
    /// `usr_…`.
    pub id: String,
    /// The normalised email.
    pub email: String,
    /// What the user may do (`payments:read`, `ledger:write`, …).
    pub scopes: Vec<String>,
}

impl From<User> for UserRecord {
    fn from(user: User) -> Self {
        UserView::from(user).into()
    }
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

/// What a log-in or a refresh hands the app.
#[derive(Clone, uniffi::Record)]
pub struct TokensRecord {
    /// The access token (a JWT), for calls and offline checks.
    pub access_token: String,
    /// The refresh token: keep it secret, trade it for new tokens, send it to log out.
    pub refresh_token: String,
    /// Seconds the access token lasts.
    pub expires_in: u64,
}

impl std::fmt::Debug for TokensRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokensRecord(expires_in: {})", self.expires_in)
    }
}

/// An API key: its secret only in the answer that made it.
#[derive(Clone, uniffi::Record)]
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

impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeyRecord({})", self.id)
    }
}

fn tokens_record(tokens: Tokens, lifetime: u64) -> TokensRecord {
    TokensRecord {
        access_token: tokens.access,
        refresh_token: tokens.refresh.expose().to_owned(),
        expires_in: lifetime,
    }
}

/// Checks an access token offline against a JWKS document (JSON) and the expected issuer
/// and audience: signature, expiry and claims, at the system clock's time. It cannot see a
/// logout; [`Obol::verify_access_token`] does.
#[uniffi::export]
pub fn verify_access_token_offline(
    jwks: String,
    token: String,
    issuer: String,
    audience: String,
) -> std::result::Result<PrincipalRecord, AuthError> {
    let expect = Expectations {
        issuer,
        audience,
        leeway_seconds: 60,
    };
    let verify = || -> Result<PrincipalRecord> {
        let claims = verify_offline(&jwks, &token, expect, timestamp(SystemTime::now())?)?;
        Ok(PrincipalRecord {
            kind: "user".into(),
            id: claims.user,
            merchant: claims.merchant,
            scopes: claims.scopes,
            mode: claims.mode.as_str().into(),
        })
    };
    verify().map_err(AuthError::from)
}

#[uniffi::export]
impl Obol {
    /// Creates a user of the default merchant with `scopes` (every scope when absent), who may
    /// sign in to test mode.
    pub async fn sign_up(
        &self,
        email: String,
        password: String,
        scopes: Option<Vec<String>>,
    ) -> std::result::Result<UserRecord, AuthError> {
        self.call(|engine| async move {
            let scopes = Scope::named(scopes.as_deref())?;
            let new = NewUser {
                merchant: default_merchant(),
                email,
                password: Password::from(password),
                profile: Profile::default(),
                scopes,
                live: false,
            };
            engine.auth().create_user(new).await
        })
        .await
        .map(UserRecord::from)
    }

    /// Logs in to `merchant` (the default merchant when absent): tokens for a new session in
    /// `mode` (`test`, or `live` for users allowed it). `source` says where the attempt comes
    /// from (a server embedding Obol passes its client's address): failed sign-ins are
    /// limited per account and source and per source, so without it every attempt shares
    /// one source, `local`.
    #[uniffi::method(default(merchant = None, source = None))]
    pub async fn log_in(
        &self,
        email: String,
        password: String,
        mode: String,
        merchant: Option<String>,
        source: Option<String>,
    ) -> std::result::Result<TokensRecord, AuthError> {
        self.call(|engine| async move {
            let auth = engine.auth();
            let password = Password::from(password);
            let mode = Mode::parse(&mode)?;
            let merchant = merchant_named(merchant.as_deref())?;
            let tokens = auth
                .login(&merchant, &email, &password, source.as_deref(), mode)
                .await?;
            Ok(tokens_record(tokens, auth.access_lifetime().as_secs()))
        })
        .await
    }

    /// Trades a refresh token for new tokens (the old refresh token stops working).
    pub async fn refresh(
        &self,
        refresh_token: String,
    ) -> std::result::Result<TokensRecord, AuthError> {
        self.call(|engine| async move {
            let auth = engine.auth();
            let tokens = auth.refresh(&refresh_token).await?;
            Ok(tokens_record(tokens, auth.access_lifetime().as_secs()))
        })
        .await
    }

    /// Ends the session a refresh token belongs to.
    pub async fn log_out(&self, refresh_token: String) -> std::result::Result<(), AuthError> {
        self.call(|engine| async move { engine.auth().logout(&refresh_token).await })
            .await
    }

    /// The public keys access tokens are signed with, as a JWKS document (JSON).
    pub async fn jwks(&self) -> std::result::Result<String, AuthError> {
        self.call(|engine| async move {
            let jwks = engine.auth().jwks().await?;
            serde_json::to_string(&jwks).map_err(|e| Error::corrupt(e.to_string()))
        })
        .await
    }

    /// Checks an access token online: signature, expiry and that its session is still live.
    pub async fn verify_access_token(
        &self,
        token: String,
    ) -> std::result::Result<PrincipalRecord, AuthError> {
        self.call(|engine| async move { engine.auth().verify_access_token(&token).await })
            .await
            .map(PrincipalRecord::from)
    }

    /// Issues a test-mode API key of the default merchant with `scopes`; its secret is
    /// shown this once.
    pub async fn issue_api_key(
        &self,
        name: String,
        scopes: Vec<String>,
    ) -> std::result::Result<ApiKeyRecord, AuthError> {
        self.call(|engine| async move {
            let scopes = Scope::named(Some(&scopes))?;
            let (key, secret) = engine
                .auth()
                .issue_api_key(&default_merchant(), &name, Mode::Test, scopes, None)
                .await?;
            Ok(ApiKeyRecord::of(
                key.into(),
                Some(secret.expose().to_owned()),
            ))
        })
        .await
    }

    /// Checks an API key's secret: who it speaks for, or `unauthenticated`.
    pub async fn authenticate_api_key(
        &self,
        secret: String,
    ) -> std::result::Result<PrincipalRecord, AuthError> {
        self.call(|engine| async move { engine.auth().authenticate_api_key(&secret).await })
            .await
            .map(PrincipalRecord::from)
    }
}

#[uniffi::export]
impl Tenant {
    /// Creates a user of the tenant with `scopes` (at most the tenant's own); `live` lets
    /// them sign in to live mode (only a live-mode tenant grants it).
    pub async fn create_user(
        &self,
        email: String,
        password: String,
        scopes: Vec<String>,
        live: bool,
        idempotency_key: Option<String>,
    ) -> std::result::Result<UserRecord, AuthError> {
        self.call(|tenant| async move {
            let request = CreateUser {
                email,
                password: password.into(),
                profile: Profile::default(),
                scopes: Scope::named(Some(&scopes))?,
                live,
            };
            tenant
                .create_user(idempotency_key.as_deref(), request)
                .await
        })
        .await
        .map(UserRecord::from)
    }

    /// Issues an API key of the tenant with `scopes` (at most its own) in `mode` (`test`, or
    /// `live` from a live-mode tenant); its secret is in this answer only.
    pub async fn issue_api_key(
        &self,
        name: String,
        scopes: Vec<String>,
        mode: String,
        idempotency_key: Option<String>,
    ) -> std::result::Result<ApiKeyRecord, AuthError> {
        self.call(|tenant| async move {
            let request = CreateApiKey {
                name,
                mode: Mode::parse(&mode)?,
                scopes: Scope::named(Some(&scopes))?,
                expires_at: None,
            };
            let issued = tenant
                .issue_api_key(idempotency_key.as_deref(), request)
                .await?;
            // The host language gets its own copy; the engine's is wiped when `issued` drops.
            let secret = issued.secret.as_ref().map(|s| s.as_str().to_owned());
            Ok(ApiKeyRecord::of(issued.key, secret))
        })
        .await
    }

    /// The tenant's API keys (no secrets).
    pub async fn api_keys(&self) -> std::result::Result<Vec<ApiKeyRecord>, AuthError> {
        self.call(|tenant| async move { tenant.api_keys().await })
            .await
            .map(|keys| {
                keys.into_iter()
                    .map(|k| ApiKeyRecord::of(k, None))
                    .collect()
            })
    }

    /// Revokes one of the tenant's API keys; it stops working at once.
    pub async fn revoke_api_key(
        &self,
        key_id: String,
    ) -> std::result::Result<ApiKeyRecord, AuthError> {
        self.call(|tenant| async move { tenant.revoke_api_key(&key_id.parse()?).await })
            .await
            .map(|key| ApiKeyRecord::of(key, None))
    }
}
