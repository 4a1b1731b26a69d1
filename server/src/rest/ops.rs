//! Health (`/healthz`: the process answers), readiness (`/readyz`: the database answers and
//! its migrations ran), the merchant's balances, and the answers for unknown routes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use obol::AssetCode;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::extract::{Caller, Params};
use super::{AppState, List};
use crate::services::MerchantBalance;

/// A health answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// The process is up.
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The store answers (it was opened, so its migrations ran).
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    // In a split deployment each is another process; all in one, the same store thrice.
    let services = &state.services;
    let (payments, ledger, auth) = tokio::join!(
        services.payments.ready(),
        services.ledger.ready(),
        services.auth.ready()
    );
    payments.and(ledger).and(auth).map_err(|error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!(
                "a service or its database does not answer ({})",
                error.code()
            ),
        )
    })?;
    Ok(Json(Health { status: "ok" }))
}

/// Most assets one balances request reads.
const MAX_ASSETS: usize = 20;

/// Which balances.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceParams {
    /// Comma-separated asset codes (default `USD`).
    #[schemars(regex(pattern = r"^[A-Z][A-Z0-9._-]{0,31}(,[A-Z][A-Z0-9._-]{0,31}){0,19}$"))]
    pub assets: Option<String>,
}

/// The caller's balances as a merchant, per asset.
pub async fn balances(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(params): Params<BalanceParams>,
) -> ApiResult<Json<List<MerchantBalance>>> {
    let assets = params
        .assets
        .as_deref()
        .unwrap_or("USD")
        .split(',')
        .map(|code| AssetCode::new(code.trim()))
        .collect::<obol::Result<Vec<_>>>()
        .map_err(|e| ApiError::from(e).with_param("assets"))?;
    if assets.len() > MAX_ASSETS {
        return Err(ApiError::invalid(
            "invalid_request",
            format!("at most {MAX_ASSETS} assets at once"),
        )
        .with_param("assets"));
    }
    let found = state.services.payments.balances(&who, &assets).await?;
    Ok(Json(List::all(found)))
}

/// Prometheus metrics.
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render_all().await,
    )
}

/// No such route.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// The route exists with other methods.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}
