//! Checks that need no stored state: run before a request reaches the writer, so bad input is
//! refused at once and never touches the database.

use std::collections::BTreeMap;

use super::model::{Direction, Entry, LedgerCommand, Metadata, NewAccount, PostAmount};
use crate::error::{Error, Result};
use crate::money::AssetCode;

/// At most this many metadata keys (Stripe's limit).
pub const MAX_METADATA_KEYS: usize = 50;
/// At most this many characters in a metadata key.
pub const MAX_METADATA_KEY_LEN: usize = 40;
/// At most this many characters in a metadata value.
pub const MAX_METADATA_VALUE_LEN: usize = 500;
/// At most this many entries in one transaction.
pub const MAX_ENTRIES: usize = 256;

/// Checks metadata against the limits.
pub fn metadata(metadata: &Metadata) -> Result<()> {
    let invalid = |reason: String| Err(Error::InvalidMetadata { reason });
    if metadata.len() > MAX_METADATA_KEYS {
        return invalid(format!("at most {MAX_METADATA_KEYS} keys"));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_LEN {
            return invalid(format!(
                "keys must be 1 to {MAX_METADATA_KEY_LEN} characters"
            ));
        }
        if value.chars().count() > MAX_METADATA_VALUE_LEN {
            return invalid(format!(
                "value of {key:?} is longer than {MAX_METADATA_VALUE_LEN} characters"
            ));
        }
    }
    Ok(())
}

/// Checks an account definition.
pub fn account(new: &NewAccount) -> Result<()> {
    metadata(&new.metadata)?;
    if new.limit < 0 {
        return Err(Error::InvalidAccount {
            reason: "limit must not be negative".into(),
        });
    }
    if new.flags.debits_must_not_exceed_credits && new.flags.credits_must_not_exceed_debits {
        return Err(Error::InvalidAccount {
            reason: "an account cannot constrain both sides".into(),
        });
    }
    Ok(())
}

/// Checks a command's shape: entries, amounts, balance per asset, metadata.
pub fn command(command: &LedgerCommand) -> Result<()> {
    match command {
        LedgerCommand::Transfer(c) => {
            metadata(&c.metadata)?;
            entries(&c.entries)
        }
        LedgerCommand::Hold(c) => {
            metadata(&c.metadata)?;
            entries(&c.entries)
        }
        LedgerCommand::PostHold(c) => {
            metadata(&c.metadata)?;
            match &c.amount {
                PostAmount::Remaining => Ok(()),
                PostAmount::Amount(a) => positive(*a),
                PostAmount::PerEntry(amounts) => {
                    if amounts.iter().any(|a| *a < 0) {
                        return Err(Error::InvalidAmount {
                            reason: "post amounts must not be negative".into(),
                        });
                    }
                    if amounts.iter().all(|a| *a == 0) {
                        return Err(Error::InvalidAmount {
                            reason: "a post must move something".into(),
                        });
                    }
                    Ok(())
                }
            }
        }
        LedgerCommand::VoidHold(c) => metadata(&c.metadata),
        LedgerCommand::Reverse(c) => metadata(&c.metadata),
        LedgerCommand::ExpireHold(_) => Ok(()),
    }
}

fn positive(amount: i128) -> Result<()> {
    if amount <= 0 {
        return Err(Error::InvalidAmount {
            reason: format!("{amount} must be greater than zero"),
        });
    }
    Ok(())
}

/// Checks entries: 2 to [`MAX_ENTRIES`], positive amounts, debits = credits per asset.
pub fn entries(entries: &[Entry]) -> Result<()> {
    if entries.len() < 2 || entries.len() > MAX_ENTRIES {
        return Err(Error::InvalidTransaction {
            reason: format!("a transaction needs 2 to {MAX_ENTRIES} entries"),
        });
    }
    for entry in entries {
        positive(entry.amount)?;
    }
    balanced(entries.iter().map(|e| (&e.asset, e.direction, e.amount)))
}

/// Checks that (asset, side, amount) triples balance per asset.
pub fn balanced<'a>(legs: impl Iterator<Item = (&'a AssetCode, Direction, i128)>) -> Result<()> {
    let mut sums: BTreeMap<&AssetCode, (i128, i128)> = BTreeMap::new();
    for (asset, direction, amount) in legs {
        let sum = sums.entry(asset).or_default();
        let side = match direction {
            Direction::Debit => &mut sum.0,
            Direction::Credit => &mut sum.1,
        };
        *side = side.checked_add(amount).ok_or(Error::Overflow)?;
    }
    for (asset, (debits, credits)) in sums {
        if debits != credits {
            return Err(Error::Unbalanced {
                asset: asset.to_string(),
                debits: debits.to_string(),
                credits: credits.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{AccountId, TransactionId};
    use crate::ledger::model::NewTransaction;

    fn acct(n: u8) -> AccountId {
        AccountId::parse(&format!("acct_{:0>26}", n)).unwrap()
    }

    fn usd() -> AssetCode {
        AssetCode::new("USD").unwrap()
    }

    fn transfer(entries: Vec<Entry>) -> LedgerCommand {
        let id = TransactionId::parse("txn_00000000000000000000000001").unwrap();
        LedgerCommand::Transfer(NewTransaction::new(id, entries))
    }

    #[test]
    fn refuses_unbalanced_zero_negative_and_single_entries() {
        let (a, b) = (acct(1), acct(2));
        let unbalanced = transfer(vec![
            Entry::debit(&a, 5, &usd()),
            Entry::credit(&b, 4, &usd()),
        ]);
        assert_eq!(command(&unbalanced).unwrap_err().code(), "unbalanced");
        let eur = AssetCode::new("EUR").unwrap();
        let mixed = transfer(vec![
            Entry::debit(&a, 5, &usd()),
            Entry::credit(&b, 5, &eur),
        ]);
        assert_eq!(command(&mixed).unwrap_err().code(), "unbalanced");
        let zero = transfer(Entry::transfer(&a, &b, 0, &usd()).to_vec());
        assert_eq!(command(&zero).unwrap_err().code(), "invalid_amount");
        let negative = transfer(Entry::transfer(&a, &b, -3, &usd()).to_vec());
        assert_eq!(command(&negative).unwrap_err().code(), "invalid_amount");
        let single = transfer(vec![Entry::debit(&a, 5, &usd())]);
        assert_eq!(command(&single).unwrap_err().code(), "invalid_transaction");
        let huge = transfer(vec![
            Entry::debit(&a, i128::MAX, &usd()),
            Entry::debit(&a, i128::MAX, &usd()),
            Entry::credit(&b, 1, &usd()),
        ]);
        assert_eq!(command(&huge).unwrap_err().code(), "overflow");
    }

    #[test]
    fn refuses_oversize_metadata() {
        let mut m = Metadata::new();
        m.insert("k".repeat(41), "v".into());
        assert_eq!(metadata(&m).unwrap_err().code(), "invalid_metadata");
        let mut m = Metadata::new();
        m.insert("k".into(), "v".repeat(501));
        assert_eq!(metadata(&m).unwrap_err().code(), "invalid_metadata");
        let m: Metadata = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(metadata(&m).unwrap_err().code(), "invalid_metadata");
    }
}
