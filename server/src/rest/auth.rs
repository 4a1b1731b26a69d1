//! Sign-in and tokens (`/v1/auth`), the JWKS, users and profiles (`/v1/users`) and API keys
//! (`/v1/api_keys`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use obol::auth::{Jwks, Profile};
use obol::{ApiKeyId, UserId};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::extract::{Body, Caller, IdempotencyKey, Peer};
use super::{AppState, List, parse_id};
use crate::services::{
    ApiKeyView, CreateApiKey, CreateUser, IssuedTokens, LoginRequest, NewApiKey, UserView,
};
use zeroize::Zeroizing;

/// Signs in with email and password.
pub async fn login(
    State(state): State<AppState>,
    Peer(peer): Peer,
    Body(request): Body<LoginRequest>,
) -> ApiResult<Json<IssuedTokens>> {
    let source = peer.map(|ip| ip.to_string());
    let tokens = state
        .services
        .auth
        .login(request, source.as_deref())
        .await?;
    Ok(Json(tokens))
}

/// A refresh token presented (wiped once the request is done).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token.
    #[schemars(with = "String")]
    pub refresh_token: Zeroizing<String>,
}

/// Exchanges a refresh token for new tokens (the old one stops working).
pub async fn refresh(
    State(state): State<AppState>,
    Body(body): Body<RefreshBody>,
) -> ApiResult<Json<IssuedTokens>> {
    Ok(Json(
        state.services.auth.refresh(&body.refresh_token).await?,
    ))
}

/// Ends the session family of a refresh token (204).
pub async fn logout(
    State(state): State<AppState>,
    Body(body): Body<RefreshBody>,
) -> ApiResult<StatusCode> {
    state.services.auth.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The published signing keys.
pub async fn jwks(State(state): State<AppState>) -> ApiResult<Json<Jwks>> {
    Ok(Json(state.services.auth.jwks().await?))
}

/// Creates a user in the caller's tenant (201).
pub async fn create_user(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Body(request): Body<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let user = state
        .services
        .auth
        .create_user(&who, key.get(), request)
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// The signed-in user.
pub async fn me(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Json<UserView>> {
    let Some(user) = who.user() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_a_user",
            "an API key has no user; use /v1/users/{id}",
        ));
    };
    Ok(Json(state.services.auth.user(&who, user).await?))
}

/// A user.
pub async fn user(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    let id = parse_id(&id, UserId::parse)?;
    Ok(Json(state.services.auth.user(&who, &id).await?))
}

/// Replaces a user's profile.
pub async fn update_profile(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Body(profile): Body<Profile>,
) -> ApiResult<Json<UserView>> {
    let id = parse_id(&id, UserId::parse)?;
    let user = state
        .services
        .auth
        .update_profile(&who, &id, profile)
        .await?;
    Ok(Json(user))
}

/// Issues an API key (201); the secret is in this answer only.
pub async fn create_api_key(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Body(request): Body<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<NewApiKey>)> {
    let issued = state
        .services
        .auth
        .issue_api_key(&who, key.get(), request)
        .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// The tenant's API keys, without secrets.
pub async fn api_keys(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<List<ApiKeyView>>> {
    Ok(Json(List::all(state.services.auth.api_keys(&who).await?)))
}

/// Revokes an API key.
pub async fn revoke_api_key(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKeyView>> {
    let id = parse_id(&id, ApiKeyId::parse)?;
    Ok(Json(state.services.auth.revoke_api_key(&who, &id).await?))
}
