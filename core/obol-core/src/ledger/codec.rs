//! Text forms SQL stores use for ledger values, shared so every backend stores the same way.
//! Amounts are decimal integer text (exact for all of `i128`; never a float).

use serde::{Serialize, de::DeserializeOwned};

use super::batch::{Outcome, Record};
use super::model::{Entry, Metadata, Transaction, TransactionKind};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::TransactionId;

/// An amount as stored text.
pub fn amount_text(amount: i128) -> String {
    amount.to_string()
}

/// Reads a stored amount.
pub fn parse_amount(text: &str) -> Result<i128> {
    text.trim()
        .parse()
        .map_err(|_| Error::corrupt(format!("amount {text:?}")))
}

/// Any value as stored JSON.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(Error::corrupt)
}

/// Reads stored JSON.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(Error::corrupt)
}

/// Entries as stored JSON.
pub fn entries_json(entries: &[Entry]) -> Result<String> {
    to_json(entries)
}

/// Metadata as stored JSON.
pub fn metadata_json(metadata: &Metadata) -> Result<String> {
    to_json(metadata)
}

/// One stored id record (a `transactions` row) as plain column values, the same on every SQL
/// store: stores bind and read these columns; the mapping to engine types lives here once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordColumns {
    /// The id.
    pub id: String,
    /// Hex SHA-256 of the first request's body.
    pub body_hash: String,
    /// The transaction kind, or `failed`.
    pub kind: String,
    /// For failed ids: the error as JSON.
    pub error: Option<String>,
    /// Entries as JSON.
    pub entries: Option<String>,
    /// The related hold or reversed transaction.
    pub related: Option<String>,
    /// The reversal that undid it.
    pub reversed_by: Option<String>,
    /// Microseconds since the epoch.
    pub effective_at: Option<i64>,
    /// Microseconds since the epoch.
    pub created_at: Option<i64>,
    /// Metadata as JSON.
    pub metadata: Option<String>,
}

/// The `kind` column of a failed id.
pub const FAILED_KIND: &str = "failed";

impl RecordColumns {
    /// The columns for a record about to be inserted.
    pub fn from_record(id: &TransactionId, record: &Record) -> Result<Self> {
        let mut columns = RecordColumns {
            id: id.to_string(),
            body_hash: record.body_hash.clone(),
            kind: FAILED_KIND.to_string(),
            error: None,
            entries: None,
            related: None,
            reversed_by: None,
            effective_at: None,
            created_at: None,
            metadata: None,
        };
        match &record.outcome {
            Outcome::Committed(t) => {
                columns.kind = t.kind.as_str().to_string();
                columns.entries = Some(entries_json(&t.entries)?);
                columns.related = t.related.as_ref().map(|r| r.to_string());
                columns.reversed_by = t.reversed_by.as_ref().map(|r| r.to_string());
                columns.effective_at = Some(t.effective_at.as_micros());
                columns.created_at = Some(t.created_at.as_micros());
                columns.metadata = Some(metadata_json(&t.metadata)?);
            }
            Outcome::Failed(error) => columns.error = Some(to_json(error)?),
        }
        Ok(columns)
    }

    /// The record these stored columns describe.
    pub fn into_record(self) -> Result<(TransactionId, Record)> {
        let id = TransactionId::parse(&self.id)?;
        let missing = |column: &str| Error::corrupt(format!("{id} has no {column}"));
        let outcome = if self.kind == FAILED_KIND {
            Outcome::Failed(from_json(&self.error.ok_or_else(|| missing("error"))?)?)
        } else {
            let optional_id =
                |text: Option<String>| text.map(|t| TransactionId::parse(&t)).transpose();
            Outcome::Committed(Transaction {
                id: id.clone(),
                kind: TransactionKind::parse(&self.kind)?,
                entries: from_json(&self.entries.ok_or_else(|| missing("entries"))?)?,
                related: optional_id(self.related)?,
                reversed_by: optional_id(self.reversed_by)?,
                effective_at: Timestamp::from_micros(
                    self.effective_at.ok_or_else(|| missing("effective_at"))?,
                ),
                created_at: Timestamp::from_micros(
                    self.created_at.ok_or_else(|| missing("created_at"))?,
                ),
                metadata: from_json(&self.metadata.ok_or_else(|| missing("metadata"))?)?,
            })
        };
        Ok((
            id,
            Record {
                body_hash: self.body_hash,
                outcome,
            },
        ))
    }
}
