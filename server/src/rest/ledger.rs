//! `/v1/ledger`: accounts, balances (now and at a time), history, transactions, holds (post,
//! void) and reversals. A ledger write's id is its idempotency key; with an
//! `Idempotency-Key` header and no id, the id is derived from the key, so a retry is the same
//! write.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use obol::tenant::keys::Operation;
use obol::{
    Account, AccountFlags, AccountId, AssetCode, Balance, CreateTransaction, Direction, Entry,
    HistoryEntry, Hold, LedgerCommand, Metadata, NewAccount, NewHold, NewTransaction, Page,
    PostAmount, PostHold, Reverse, Timestamp, Transaction, TransactionId, VoidHold,
};
use serde::{Deserialize, Serialize};

use super::error::ApiResult;
use super::extract::{Body, Caller, IdempotencyKey, Params};
use super::{AppState, parse_id};

/// A new account.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// The id (a retry reuses it); generated when absent.
    #[serde(default)]
    pub id: Option<AccountId>,
    /// The asset it holds.
    pub asset: AssetCode,
    /// `debit` or `credit`.
    pub normal_balance: Direction,
    /// Balance constraints.
    #[serde(default)]
    pub flags: AccountFlags,
    /// How far past zero a flagged side may go, in minor units.
    #[serde(default, with = "obol::money::OptionalNonNegativeMinorUnits")]
    pub limit: Option<i128>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// An account with its balance.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AccountView {
    /// The account.
    pub account: Account,
    /// Its balance.
    pub balance: Balance,
}

/// Opens an account (201).
pub async fn create_account(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Body(body): Body<CreateAccount>,
) -> ApiResult<(StatusCode, Json<Account>)> {
    let id = body.id.unwrap_or_else(|| {
        state.id_for(
            &who,
            Operation::CreateAccount,
            &key,
            AccountId::derived,
            AccountId::generate,
        )
    });
    let new = NewAccount {
        flags: body.flags,
        limit: body.limit.unwrap_or(0),
        metadata: body.metadata,
        ..NewAccount::new(id, body.asset, body.normal_balance)
    };
    let account = state
        .services
        .ledger
        .create_account(&who, key.get(), new)
        .await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// An account and its balance.
pub async fn account(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountView>> {
    let id = parse_id(&id, AccountId::parse)?;
    let (account, balance) = state.services.ledger.account(&who, &id).await?;
    Ok(Json(AccountView { account, balance }))
}

/// Closes an account.
pub async fn close_account(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Account>> {
    let id = parse_id(&id, AccountId::parse)?;
    Ok(Json(state.services.ledger.close_account(&who, &id).await?))
}

/// When a balance is read.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceParams {
    /// Microseconds since the epoch; now when absent.
    #[schemars(with = "Option<Timestamp>")]
    pub at: Option<i64>,
}

/// An account's balance, now or as of `at`.
pub async fn balance(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Params(params): Params<BalanceParams>,
) -> ApiResult<Json<Balance>> {
    let id = parse_id(&id, AccountId::parse)?;
    let ledger = &state.services.ledger;
    let balance = match params.at {
        Some(at) => {
            ledger
                .balance_at(&who, &id, Timestamp::from_micros(at))
                .await?
        }
        None => ledger.account(&who, &id).await?.1,
    };
    Ok(Json(balance))
}

/// A page of history.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// The `next_cursor` of the previous page.
    #[schemars(regex(pattern = r"^seq_[0-9]{1,19}$"))]
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

/// An account's posted entries, oldest first.
pub async fn history(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Params(params): Params<HistoryParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    let id = parse_id(&id, AccountId::parse)?;
    let limit = super::page_size(params.limit)?;
    let page = state
        .services
        .ledger
        .history(&who, &id, params.cursor.as_deref(), limit)
        .await?;
    Ok(Json(page))
}

/// Posts a transaction (201).
pub async fn create_transaction(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Body(body): Body<CreateTransaction>,
) -> ApiResult<(StatusCode, Json<Transaction>)> {
    let id = state.transaction_id(&who, Operation::Transfer, &key, body.id);
    let command = LedgerCommand::Transfer(NewTransaction {
        id,
        entries: body.entries,
        effective_at: body.effective_at,
        metadata: body.metadata,
    });
    submit(&state, &who, command).await
}

/// A transaction.
pub async fn transaction(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Transaction>> {
    let id = parse_id(&id, TransactionId::parse)?;
    Ok(Json(state.services.ledger.transaction(&who, &id).await?))
}

/// A reversal.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseBody {
    /// The reversal's id; derived or generated when absent.
    #[serde(default)]
    pub id: Option<TransactionId>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Reverses a posted transaction (201).
pub async fn reverse(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    Body(body): Body<ReverseBody>,
) -> ApiResult<(StatusCode, Json<Transaction>)> {
    let transaction_id = parse_id(&id, TransactionId::parse)?;
    let id = state.transaction_id(&who, Operation::Reverse, &key, body.id);
    let command = LedgerCommand::Reverse(Reverse {
        id,
        transaction_id,
        effective_at: None,
        metadata: body.metadata,
    });
    submit(&state, &who, command).await
}

/// A hold.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHold {
    /// The id; derived or generated when absent.
    #[serde(default)]
    pub id: Option<TransactionId>,
    /// Entries that balance per asset (2 to 256).
    #[schemars(length(min = 2, max = 256))]
    pub entries: Vec<Entry>,
    /// When it lapses (microseconds since the epoch).
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Places a hold (201).
pub async fn create_hold(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Body(body): Body<CreateHold>,
) -> ApiResult<(StatusCode, Json<Transaction>)> {
    let id = state.transaction_id(&who, Operation::Hold, &key, body.id);
    let command = LedgerCommand::Hold(NewHold {
        id,
        entries: body.entries,
        expires_at: body.expires_at,
        metadata: body.metadata,
    });
    submit(&state, &who, command).await
}

/// A hold and what has been posted of it.
pub async fn hold(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Hold>> {
    let id = parse_id(&id, TransactionId::parse)?;
    Ok(Json(state.services.ledger.hold(&who, &id).await?))
}

/// Posting a hold.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostBody {
    /// The post's id; derived or generated when absent.
    #[serde(default)]
    pub id: Option<TransactionId>,
    /// One amount (a two-entry hold); everything still held when absent.
    #[serde(default, with = "obol::money::OptionalPositiveMinorUnits")]
    pub amount: Option<i128>,
    /// Release what stays held and close the hold (default true).
    #[serde(default = "yes")]
    pub release_remainder: bool,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

fn yes() -> bool {
    true
}

/// Posts all or part of a hold (201).
pub async fn post_hold(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    Body(body): Body<PostBody>,
) -> ApiResult<(StatusCode, Json<Transaction>)> {
    let hold_id = parse_id(&id, TransactionId::parse)?;
    let id = state.transaction_id(&who, Operation::PostHold, &key, body.id);
    let command = LedgerCommand::PostHold(PostHold {
        id,
        hold_id,
        amount: body
            .amount
            .map_or(PostAmount::Remaining, PostAmount::Amount),
        release_remainder: body.release_remainder,
        effective_at: None,
        metadata: body.metadata,
    });
    submit(&state, &who, command).await
}

/// Voiding a hold.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidBody {
    /// The void's id; derived or generated when absent.
    #[serde(default)]
    pub id: Option<TransactionId>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Releases everything a hold still holds (201).
pub async fn void_hold(
    State(state): State<AppState>,
    Caller(who): Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    Body(body): Body<VoidBody>,
) -> ApiResult<(StatusCode, Json<Transaction>)> {
    let hold_id = parse_id(&id, TransactionId::parse)?;
    let id = state.transaction_id(&who, Operation::VoidHold, &key, body.id);
    let command = LedgerCommand::VoidHold(VoidHold {
        id,
        hold_id,
        metadata: body.metadata,
    });
    submit(&state, &who, command).await
}

async fn submit(
    state: &AppState,
    who: &obol::auth::Principal,
    command: LedgerCommand,
) -> ApiResult<(StatusCode, Json<Transaction>)> {
    let transaction = state.services.ledger.submit(who, command).await?;
    Ok((StatusCode::CREATED, Json(transaction)))
}
