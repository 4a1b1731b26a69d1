//! Reading ledger rows back into engine types.

use obol_core::ledger::batch::Record;
use obol_core::ledger::codec::{RecordColumns, from_json, parse_amount};
use obol_core::{
    Account, AccountFlags, AccountId, AssetCode, Balance, Direction, HistoryEntry, Hold,
    HoldStatus, Result, Timestamp, TransactionId,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db_error;

/// Columns selected for an account with its balance.
pub(crate) const ACCOUNT_COLUMNS: &str = "id, asset, normal_balance, \
    debits_must_not_exceed_credits, credits_must_not_exceed_debits, balance_limit, metadata, \
    closed, created_at, debits_posted, credits_posted, debits_pending, credits_pending";

/// Columns selected for a transaction record.
pub(crate) const RECORD_COLUMNS: &str =
    "id, body_hash, kind, error, entries, related, reversed_by, effective_at, created_at, metadata";

/// Columns selected for a hold.
pub(crate) const HOLD_COLUMNS: &str = "id, entries, posted, status, expires_at, created_at";

fn text(row: &SqliteRow, column: &str) -> Result<String> {
    row.try_get::<String, _>(column).map_err(db_error)
}

fn optional_text(row: &SqliteRow, column: &str) -> Result<Option<String>> {
    row.try_get::<Option<String>, _>(column).map_err(db_error)
}

fn integer(row: &SqliteRow, column: &str) -> Result<i64> {
    row.try_get::<i64, _>(column).map_err(db_error)
}

fn amount(row: &SqliteRow, column: &str) -> Result<i128> {
    parse_amount(&text(row, column)?)
}

pub(crate) fn account(row: &SqliteRow) -> Result<(Account, Balance)> {
    let account = Account {
        id: AccountId::parse(&text(row, "id")?)?,
        asset: AssetCode::new(text(row, "asset")?)?,
        normal_balance: Direction::parse(&text(row, "normal_balance")?)?,
        flags: AccountFlags {
            debits_must_not_exceed_credits: integer(row, "debits_must_not_exceed_credits")? != 0,
            credits_must_not_exceed_debits: integer(row, "credits_must_not_exceed_debits")? != 0,
        },
        limit: amount(row, "balance_limit")?,
        metadata: from_json(&text(row, "metadata")?)?,
        closed: integer(row, "closed")? != 0,
        created_at: Timestamp::from_micros(integer(row, "created_at")?),
    };
    let balance = Balance {
        debits_posted: amount(row, "debits_posted")?,
        credits_posted: amount(row, "credits_posted")?,
        debits_pending: amount(row, "debits_pending")?,
        credits_pending: amount(row, "credits_pending")?,
    };
    Ok((account, balance))
}

pub(crate) fn record(row: &SqliteRow) -> Result<(TransactionId, Record)> {
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

pub(crate) fn hold(row: &SqliteRow) -> Result<Hold> {
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

pub(crate) fn history_entry(row: &SqliteRow) -> Result<HistoryEntry> {
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
