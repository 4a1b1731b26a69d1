//! `/v1/payments`: create (and optionally confirm in one call), confirm, capture, cancel,
//! complete a customer action, refund, get, list, and a payment's refunds and events.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use obol::payments::{
    CancellationReason, Child, CreateRefund, EventQuery, Payment, PaymentQuery, PaymentRequest,
    PaymentStatus, StoredEvent,
};
use obol::{CustomerId, PaymentId, Timestamp};
use serde::{Deserialize, Serialize};

use super::error::ApiResult;
use super::extract::{Body, Caller, IdempotencyKey, Params};
use super::{AppState, List, parse_id};
use crate::services::{CreatePayment, MethodInput};

/// Creates a payment (201).
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Body(request): Body<CreatePayment>,
) -> ApiResult<(StatusCode, Json<Payment>)> {
    let result = state
        .services
        .payments
        .create_payment(&who, key.get(), request)
        .await;
    state.metrics.payment("create", &result);
    Ok((StatusCode::CREATED, Json(result?)))
}

/// The body of a confirmation.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    /// A method to attach first.
    #[serde(default)]
    pub payment_method: Option<MethodInput>,
}

/// Confirms a payment.
pub async fn confirm(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    Body(body): Body<Confirm>,
) -> ApiResult<Json<Payment>> {
    let id = parse_id(&id, PaymentId::parse)?;
    let result = state
        .services
        .payments
        .confirm_payment(&who, key.get(), &id, body.payment_method)
        .await;
    state.metrics.payment("confirm", &result);
    Ok(Json(result?))
}

/// The body of a capture.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    /// Minor units; everything capturable when absent.
    #[serde(default, with = "obol::money::OptionalPositiveMinorUnits")]
    pub amount: Option<i128>,
    /// Release the rest after this capture (default true, as Stripe).
    #[serde(default = "yes")]
    pub final_capture: bool,
}

fn yes() -> bool {
    true
}

/// Captures authorized funds.
pub async fn capture(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    Body(body): Body<Capture>,
) -> ApiResult<Json<Payment>> {
    let payment = parse_id(&id, PaymentId::parse)?;
    let request = PaymentRequest::Capture {
        payment,
        amount: body.amount,
        final_capture: body.final_capture,
    };
    execute(&state, &who, key, request).await
}

/// The body of a cancellation.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cancel {
    /// Why (default: requested by the customer).
    #[serde(default = "requested")]
    pub reason: CancellationReason,
}

fn requested() -> CancellationReason {
    CancellationReason::RequestedByCustomer
}

/// Cancels a payment.
pub async fn cancel(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    Body(body): Body<Cancel>,
) -> ApiResult<Json<Payment>> {
    let payment = parse_id(&id, PaymentId::parse)?;
    let request = PaymentRequest::Cancel {
        payment,
        reason: body.reason,
    };
    execute(&state, &who, key, request).await
}

/// Continues after the customer's action (3-D Secure).
pub async fn complete_action(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> ApiResult<Json<Payment>> {
    let payment = parse_id(&id, PaymentId::parse)?;
    execute(
        &state,
        &who,
        key,
        PaymentRequest::CompleteAction { payment },
    )
    .await
}

/// Refunds captured funds; answers with the payment (its refunds are listed beside it).
pub async fn refund(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    Body(body): Body<CreateRefund>,
) -> ApiResult<(StatusCode, Json<Payment>)> {
    let payment = parse_id(&id, PaymentId::parse)?;
    let request = PaymentRequest::Refund {
        payment,
        amount: body.amount,
        reason: body.reason,
    };
    let (status, payment) = (
        StatusCode::CREATED,
        execute(&state, &who, key, request).await?,
    );
    Ok((status, payment))
}

async fn execute(
    state: &AppState,
    who: &obol::auth::Principal,
    key: IdempotencyKey,
    request: PaymentRequest,
) -> ApiResult<Json<Payment>> {
    let operation = match &request {
        PaymentRequest::Capture { .. } => "capture",
        PaymentRequest::Cancel { .. } => "cancel",
        PaymentRequest::CompleteAction { .. } => "complete_action",
        PaymentRequest::Refund { .. } => "refund",
        _ => "other",
    };
    let result = state
        .services
        .payments
        .execute(who, key.get(), request)
        .await;
    state.metrics.payment(operation, &result);
    Ok(Json(result?))
}

/// One payment.
pub async fn get(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Payment>> {
    let id = parse_id(&id, PaymentId::parse)?;
    Ok(Json(state.services.payments.payment(&who, &id).await?))
}

/// Filters of a payment listing.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this status.
    pub status: Option<PaymentStatus>,
    /// Only this customer's.
    pub customer: Option<CustomerId>,
    /// Created at or after (microseconds since the epoch).
    #[schemars(with = "Option<Timestamp>")]
    pub created_gte: Option<i64>,
    /// Created before (microseconds since the epoch).
    #[schemars(with = "Option<Timestamp>")]
    pub created_lt: Option<i64>,
    /// The last id of the previous page.
    pub starting_after: Option<PaymentId>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

/// Lists the caller's payments, newest first.
pub async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<List<Payment>>> {
    let limit = super::page_size(params.limit)?;
    let query = PaymentQuery {
        status: params.status,
        customer: params.customer,
        created_from: params.created_gte.map(Timestamp::from_micros),
        created_before: params.created_lt.map(Timestamp::from_micros),
        starting_after: params.starting_after,
        // One more than asked tells whether another page follows.
        limit: limit + 1,
        ..PaymentQuery::merchant(who.merchant().clone(), limit)
    };
    let found = state.services.payments.list(&who, query).await?;
    Ok(Json(List::page(found, limit, |p| p.id.to_string())))
}

/// A payment's refunds and disputes.
pub async fn children(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<List<Child>>> {
    let id = parse_id(&id, PaymentId::parse)?;
    let children = state.services.payments.children(&who, &id).await?;
    Ok(Json(List::all(children)))
}

/// An event as listed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct EventView {
    /// Position in the outbox (pass as `after` to read on).
    pub sequence: i64,
    /// The event.
    #[serde(flatten)]
    pub event: obol::payments::Event,
}

impl From<StoredEvent> for EventView {
    fn from(stored: StoredEvent) -> Self {
        EventView {
            sequence: stored.sequence,
            event: stored.event,
        }
    }
}

/// Filters of an event listing.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Only events after this position.
    pub after: Option<i64>,
    /// Only this payment's.
    pub payment: Option<PaymentId>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

/// The caller's events, oldest first, after a position.
pub async fn events(
    State(state): State<AppState>,
    Caller(who): Caller,
    Params(params): Params<EventParams>,
) -> ApiResult<Json<List<EventView>>> {
    let limit = super::page_size(params.limit)?;
    list_events(
        &state,
        &who,
        params.payment,
        params.after.unwrap_or(0),
        limit,
    )
    .await
}

/// One payment's events.
pub async fn payment_events(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<List<EventView>>> {
    let id = parse_id(&id, PaymentId::parse)?;
    state.services.payments.payment(&who, &id).await?;
    list_events(&state, &who, Some(id), 0, super::MAX_PAGE).await
}

async fn list_events(
    state: &AppState,
    who: &obol::auth::Principal,
    payment: Option<PaymentId>,
    after: i64,
    limit: u32,
) -> ApiResult<Json<List<EventView>>> {
    let query = EventQuery {
        merchant: who.merchant().clone(),
        mode: Some(who.mode()),
        payment,
        after,
        limit: limit + 1,
    };
    let found = state.services.payments.events(who, query).await?;
    let views: Vec<EventView> = found.into_iter().map(EventView::from).collect();
    Ok(Json(List::page(views, limit, |e| e.sequence.to_string())))
}
