//! Auth: sign up, log in, refresh, log out, the JWKS, offline access-token checks and
//! API keys. Users and keys belong to the embedded engine's default merchant.

use std::collections::BTreeSet;
use std::time::SystemTime;

use obol::auth::{
    ApiKeyMode, Expectations, NewUser, Password, Principal, Profile, Scope, Tokens, User,
    verify_offline,
};
use obol::payments::default_merchant;
use obol::{Error, Result};

use crate::convert::timestamp;
use crate::error::AuthError;
use crate::object::Obol;

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

/// Who a token or key speaks for.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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
        match principal {
            Principal::User {
                user,
                merchant,
                scopes,
            } => PrincipalRecord {
                kind: "user".into(),
                id: user.to_string(),
                merchant: merchant.to_string(),
                scopes: scope_names(&scopes),
            },
            Principal::ApiKey {
                key,
                merchant,
                scopes,
            } => PrincipalRecord {
                kind: "api_key".into(),
                id: key.to_string(),
                merchant: merchant.to_string(),
                scopes: scope_names(&scopes),
            },
        }
    }
}

/// A new API key and its secret (shown this once).
#[derive(Clone, uniffi::Record)]
pub struct ApiKeyRecord {
    /// `key_…`.
    pub id: String,
    /// `obol_sk_…`: keep it secret.
    pub secret: String,
}

impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeyRecord({})", self.id)
    }
}

fn scope_names(scopes: &BTreeSet<Scope>) -> Vec<String> {
    scopes
        .iter()
        .map(|scope| scope.as_str().to_owned())
        .collect()
}

fn scopes(names: &[String]) -> Result<BTreeSet<Scope>> {
    names.iter().map(|name| Scope::parse(name)).collect()
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
        })
    };
    verify().map_err(AuthError::from)
}

#[uniffi::export]
impl Obol {
    /// Creates a user with `scopes` (every scope when empty).
    pub async fn sign_up(
        &self,
        email: String,
        password: String,
        scopes: Vec<String>,
    ) -> std::result::Result<UserRecord, AuthError> {
        self.call(|engine| async move {
            let scopes = match scopes.is_empty() {
                true => Scope::ALL.into_iter().collect(),
                false => self::scopes(&scopes)?,
            };
            let new = NewUser {
                merchant: default_merchant(),
                email,
                password: Password::new(&password),
                profile: Profile::default(),
                scopes,
            };
            engine.auth().create_user(new).await
        })
        .await
        .map(UserRecord::from)
    }

    /// Logs in: tokens for a new session.
    pub async fn log_in(
        &self,
        email: String,
        password: String,
    ) -> std::result::Result<TokensRecord, AuthError> {
        self.call(|engine| async move {
            let auth = engine.auth();
            let password = Password::new(&password);
            let tokens = auth
                .login(&default_merchant(), &email, &password, None)
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

    /// Issues an API key with `scopes`; its secret is shown this once.
    pub async fn issue_api_key(
        &self,
        name: String,
        scopes: Vec<String>,
    ) -> std::result::Result<ApiKeyRecord, AuthError> {
        self.call(|engine| async move {
            let scopes = self::scopes(&scopes)?;
            let (key, secret) = engine
                .auth()
                .issue_api_key(&default_merchant(), &name, ApiKeyMode::Test, scopes, None)
                .await?;
            Ok(ApiKeyRecord {
                id: key.id.to_string(),
                secret: secret.expose().to_owned(),
            })
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
