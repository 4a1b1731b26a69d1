//! `/v1/customers` and their saved payment methods.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use obol::payments::{Customer, NewCustomer, SavedMethod};
use obol::tenant::keys::Operation;
use obol::{CustomerId, Metadata, PaymentMethodId};
use serde::Deserialize;

use super::error::ApiResult;
use super::extract::{Body, Caller, IdempotencyKey};
use super::{AppState, List, parse_id};
use crate::services::MethodInput;

/// A new customer.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    /// Email address: one `@` with text on both sides, at most 254 characters.
    #[serde(default)]
    #[schemars(length(max = 254), regex(pattern = obol::payments::CUSTOMER_EMAIL_PATTERN))]
    pub email: Option<String>,
    /// Display name, at most 256 characters.
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub name: Option<String>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Creates a customer (201).
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Body(body): Body<CreateCustomer>,
) -> ApiResult<(StatusCode, Json<Customer>)> {
    // A retry with the same key names the same customer.
    let id = state.id_for(
        &who,
        Operation::CreateCustomer,
        &key,
        CustomerId::derived,
        CustomerId::generate,
    );
    let new = NewCustomer {
        email: body.email,
        name: body.name,
        metadata: body.metadata,
        ..NewCustomer::new(id)
    };
    let customer = state
        .services
        .payments
        .create_customer(&who, key.get(), new)
        .await?;
    Ok((StatusCode::CREATED, Json(customer)))
}

/// One customer.
pub async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Customer>> {
    let id = parse_id(&id, CustomerId::parse)?;
    Ok(Json(state.services.payments.customer(&who, &id).await?))
}

/// A method to save.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveMethod {
    /// The method (a card is tokenized at once).
    pub payment_method: MethodInput,
}

/// Saves a payment method for a customer (201).
pub async fn save_method(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    Body(body): Body<SaveMethod>,
) -> ApiResult<(StatusCode, Json<SavedMethod>)> {
    let customer = parse_id(&id, CustomerId::parse)?;
    let saved = state
        .services
        .payments
        .save_method(&who, key.get(), &customer, body.payment_method)
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// A customer's saved methods.
pub async fn methods(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<List<SavedMethod>>> {
    let customer = parse_id(&id, CustomerId::parse)?;
    let methods = state
        .services
        .payments
        .saved_methods(&who, &customer)
        .await?;
    Ok(Json(List::all(methods)))
}

/// Detaches a saved method.
pub async fn detach(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SavedMethod>> {
    let id = parse_id(&id, PaymentMethodId::parse)?;
    Ok(Json(
        state.services.payments.detach_method(&who, &id).await?,
    ))
}
