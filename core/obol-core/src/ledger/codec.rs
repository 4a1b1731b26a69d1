//! Text forms SQL stores use for ledger values, shared so every backend stores the same way.
//! Amounts are decimal integer text (exact for all of `i128`; never a float).

use serde::{Serialize, de::DeserializeOwned};

use super::model::{Entry, Metadata};
use crate::error::{Error, Result};

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
