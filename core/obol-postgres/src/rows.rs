//! Reading ledger rows back into engine types.

use obol_core::ledger::batch::Record;
use obol_core::ledger::codec::{RecordColumns, from_json, parse_amount};
use obol_core::{
    Account, AccountFlags, AccountId, AccountOwner, AssetCode, Balance, Direction, HistoryEntry,
    Hold, HoldStatus, Result, Timestamp, TransactionId,
};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::db_error;

/// Columns selected for an account with its balance.
pub(crate) const ACCOUNT_COLUMNS: &str = "id, asset, normal_balance, \
    debits_must_not_exceed_credits, credits_must_not_exceed_debits, \
    balance_limit::text AS balance_limit, metadata::text AS metadata, closed, created_at, \
    debits_posted::text AS debits_posted, credits_posted::text AS credits_posted, \
    debits_pending::text AS debits_pending, credits_pending::text AS credits_pending, owner";

/// Columns selected for a transaction record.
pub(crate) const RECORD_COLUMNS: &str =
    "id, body_hash, kind, error, entries, related, reversed_by, effective_at, created_at, metadata";

/// Columns selected for a hold.
pub(crate) const HOLD_COLUMNS: &str = "id, entries, posted, status, expires_at, created_at";

fn text(row: &PgRow, column: &str) -> Result<String> {
    row.try_get::<String, _>(column).map_err(db_error)
}

fn optional_text(row: &PgRow, column: &str) -> Result<Option<String>> {
    row.try_get::<Option<String>, _>(column).map_err(db_error)
}

fn integer(row: &PgRow, column: &str) -> Result<i64> {
    row.try_get::<i64, _>(column).map_err(db_error)
}

fn boolean(row: &PgRow, column: &str) -> Result<bool> {
    row.try_get::<bool, _>(column).map_err(db_error)
}

fn amount(row: &PgRow, column: &str) -> Result<i128> {
    parse_amount(&text(row, column)?)
}

pub(crate) fn account(row: &PgRow) -> Result<(Account, Balance)> {
    let account = Account {
        id: AccountId::parse(&text(row, "id")?)?,
        asset: AssetCode::new(text(row, "asset")?)?,
        normal_balance: Direction::parse(&text(row, "normal_balance")?)?,
        flags: AccountFlags {
            debits_must_not_exceed_credits: boolean(row, "debits_must_not_exceed_credits")?,
            credits_must_not_exceed_debits: boolean(row, "credits_must_not_exceed_debits")?,
        },
        limit: amount(row, "balance_limit")?,
        metadata: from_json(&text(row, "metadata")?)?,
        closed: boolean(row, "closed")?,
        created_at: Timestamp::from_micros(integer(row, "created_at")?),
        owner: AccountOwner::from_stored(optional_text(row, "owner")?.as_deref())?,
    };
    let balance = Balance {
        debits_posted: amount(row, "debits_posted")?,
        credits_posted: amount(row, "credits_posted")?,
        debits_pending: amount(row, "debits_pending")?,
        credits_pending: amount(row, "credits_pending")?,
    };
    Ok((account, balance))
}

pub(crate) fn record(row: &PgRow) -> Result<(TransactionId, Record)> {
    let time = |column: &str| row.try_get::<Option<i64>, _>(column).map_err(db_error);
    RecordColumns {
        id: text(row, "id")?,
        body_hash: text(row, "body_hash")?,
        kind: text(row, "kind")?,
        error: optional_text(row, "error")?,
        entries: optional_text(row, "entries")?,
        related: optional_text(row, "related")?,
        reversed_by: optional_text(row, "reversed_by")?,
        effective_at: time("effective_at")?,
        created_at: time("created_at")?,
        metadata: optional_text(row, "metadata")?,
    }
    .into_record()
}

pub(crate) fn hold(row: &PgRow) -> Result<Hold> {
    let expires_at: Option<i64> = row.try_get("expires_at").map_err(db_error)?;
    Ok(Hold {
        id: TransactionId::parse(&text(row, "id")?)?,
        entries: from_json(&text(row, "entries")?)?,
        posted: from_json(&text(row, "posted")?)?,
        status: HoldStatus::parse(&text(row, "status")?)?,
        expires_at: expires_at.map(Timestamp::from_micros),
        created_at: Timestamp::from_micros(integer(row, "created_at")?),
    })
}

pub(crate) fn history_entry(row: &PgRow) -> Result<HistoryEntry> {
    Ok(HistoryEntry {
        sequence: integer(row, "seq")?,
        transaction_id: TransactionId::parse(&text(row, "transaction_id")?)?,
        direction: Direction::parse(&text(row, "direction")?)?,
        amount: amount(row, "amount")?,
        asset: AssetCode::new(text(row, "asset")?)?,
        effective_at: Timestamp::from_micros(integer(row, "effective_at")?),
        created_at: Timestamp::from_micros(integer(row, "created_at")?),
    })
}
