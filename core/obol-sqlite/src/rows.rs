//! Reading ledger rows back into engine types, from either driver's rows (sqlx for reads,
//! rusqlite on the writer thread).

use obol_core::ledger::batch::Record;
use obol_core::ledger::codec::{RecordColumns, from_json, parse_amount};
use obol_core::{
    Account, AccountFlags, AccountId, AccountOwner, AssetCode, Balance, Direction, HistoryEntry,
    Hold, HoldStatus, Result, Timestamp, TransactionId,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db_error;

/// Columns selected for an account with its balance.
pub(crate) const ACCOUNT_COLUMNS: &str = "id, asset, normal_balance, \
    debits_must_not_exceed_credits, credits_must_not_exceed_debits, balance_limit, metadata, \
    closed, created_at, debits_posted, credits_posted, debits_pending, credits_pending, owner";

/// Columns selected for a transaction record.
pub(crate) const RECORD_COLUMNS: &str =
    "id, body_hash, kind, error, entries, related, reversed_by, effective_at, created_at, metadata";

/// Columns selected for a hold.
pub(crate) const HOLD_COLUMNS: &str = "id, entries, posted, status, expires_at, created_at";

/// A row of either driver, read by column name.
pub(crate) trait Columns {
    /// A text column that may be NULL.
    fn optional_text(&self, column: &str) -> Result<Option<String>>;
    /// An integer column that may be NULL.
    fn optional_integer(&self, column: &str) -> Result<Option<i64>>;
}

impl Columns for SqliteRow {
    fn optional_text(&self, column: &str) -> Result<Option<String>> {
        self.try_get::<Option<String>, _>(column).map_err(db_error)
    }

    fn optional_integer(&self, column: &str) -> Result<Option<i64>> {
        self.try_get::<Option<i64>, _>(column).map_err(db_error)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn optional_text(&self, column: &str) -> Result<Option<String>> {
        self.get::<_, Option<String>>(column)
            .map_err(crate::writer::sql_error)
    }

    fn optional_integer(&self, column: &str) -> Result<Option<i64>> {
        self.get::<_, Option<i64>>(column)
            .map_err(crate::writer::sql_error)
    }
}

fn missing(column: &str) -> obol_core::Error {
    obol_core::Error::Corrupt {
        reason: format!("column {column} is NULL"),
    }
}

/// A text column.
pub(crate) fn text(row: &impl Columns, column: &str) -> Result<String> {
    row.optional_text(column)?.ok_or_else(|| missing(column))
}

/// An integer column.
pub(crate) fn integer(row: &impl Columns, column: &str) -> Result<i64> {
    row.optional_integer(column)?.ok_or_else(|| missing(column))
}

fn amount(row: &impl Columns, column: &str) -> Result<i128> {
    parse_amount(&text(row, column)?)
}

pub(crate) fn account(row: &impl Columns) -> Result<(Account, Balance)> {
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
        owner: AccountOwner::from_stored(row.optional_text("owner")?.as_deref())?,
    };
    let balance = Balance {
        debits_posted: amount(row, "debits_posted")?,
        credits_posted: amount(row, "credits_posted")?,
        debits_pending: amount(row, "debits_pending")?,
        credits_pending: amount(row, "credits_pending")?,
    };
    Ok((account, balance))
}

pub(crate) fn record(row: &impl Columns) -> Result<(TransactionId, Record)> {
    let time = |column: &str| row.optional_integer(column);
    RecordColumns {
        id: text(row, "id")?,
        body_hash: text(row, "body_hash")?,
        kind: text(row, "kind")?,
        error: row.optional_text("error")?,
        entries: row.optional_text("entries")?,
        related: row.optional_text("related")?,
        reversed_by: row.optional_text("reversed_by")?,
        effective_at: time("effective_at")?,
        created_at: time("created_at")?,
        metadata: row.optional_text("metadata")?,
    }
    .into_record()
}

pub(crate) fn hold(row: &impl Columns) -> Result<Hold> {
    let expires_at = row.optional_integer("expires_at")?;
    Ok(Hold {
        id: TransactionId::parse(&text(row, "id")?)?,
        entries: from_json(&text(row, "entries")?)?,
        posted: from_json(&text(row, "posted")?)?,
        status: HoldStatus::parse(&text(row, "status")?)?,
        expires_at: expires_at.map(Timestamp::from_micros),
        created_at: Timestamp::from_micros(integer(row, "created_at")?),
    })
}

pub(crate) fn history_entry(row: &impl Columns) -> Result<HistoryEntry> {
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
