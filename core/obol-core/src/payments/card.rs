//! Card data at the edge. Full card numbers and CVCs exist only in [`CardDetails`], which goes
//! straight to a provider's tokenizer and is never stored, logged or shown in a Debug string
//! (PCI DSS); the engine keeps a [`CardSummary`] (brand, last 4, expiry) and a token.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// Raw card details, as typed by the customer. Debug shows only the last 4 digits.
#[derive(Clone, PartialEq, Eq)]
pub struct CardDetails {
    number: String,
    exp_month: u8,
    exp_year: u16,
    cvc: String,
}

impl fmt::Debug for CardDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardDetails")
            .field("last4", &last4(&self.number))
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: &str) -> Error {
    Error::InvalidCard {
        reason: reason.to_owned(),
    }
}

fn last4(digits: &str) -> String {
    digits[digits.len().saturating_sub(4)..].to_owned()
}

/// True when the digits pass the Luhn check.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl CardDetails {
    /// Checks and keeps card details: 12–19 digits (spaces and dashes allowed) passing the
    /// Luhn check, a month 1–12, a year not in the past at `now`, a CVC of 3 or 4 digits.
    pub fn new(
        number: &str,
        exp_month: u8,
        exp_year: u16,
        cvc: &str,
        now: Timestamp,
    ) -> Result<Self> {
        let digits: String = number.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) || !(12..=19).contains(&digits.len()) {
            return Err(invalid("the number must be 12 to 19 digits"));
        }
        if !luhn(&digits) {
            return Err(invalid("the number fails the Luhn check"));
        }
        if !(1..=12).contains(&exp_month) {
            return Err(invalid("the expiry month must be 1 to 12"));
        }
        let (year, month) = now.year_month();
        if (i64::from(exp_year), exp_month) < (year, month) {
            return Err(invalid("the card has expired"));
        }
        if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("the CVC must be 3 or 4 digits"));
        }
        Ok(CardDetails {
            number: digits,
            exp_month,
            exp_year,
            cvc: cvc.to_owned(),
        })
    }

    /// The digits, for a tokenizer only.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The CVC, for a tokenizer only.
    pub fn cvc(&self) -> &str {
        &self.cvc
    }

    /// What the engine may keep.
    pub fn summary(&self) -> CardSummary {
        CardSummary {
            brand: CardBrand::of(&self.number),
            last4: last4(&self.number),
            exp_month: self.exp_month,
            exp_year: self.exp_year,
        }
    }
}

/// A card network, from the number's leading digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    /// Visa (4…).
    Visa,
    /// Mastercard (51–55, 2221–2720).
    Mastercard,
    /// American Express (34, 37).
    Amex,
    /// Discover (6011, 65).
    Discover,
    /// Anything else.
    Unknown,
}

impl CardBrand {
    /// The brand's name as it is serialized (`visa`, `mastercard`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
            CardBrand::Unknown => "unknown",
        }
    }

    fn of(digits: &str) -> Self {
        let prefix = |n: usize| {
            digits
                .get(..n)
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(0)
        };
        match (prefix(1), prefix(2), prefix(4)) {
            (4, _, _) => CardBrand::Visa,
            (_, 51..=55, _) | (_, _, 2221..=2720) => CardBrand::Mastercard,
            (_, 34 | 37, _) => CardBrand::Amex,
            (_, 65, _) | (_, _, 6011) => CardBrand::Discover,
            _ => CardBrand::Unknown,
        }
    }
}

/// The card data the engine stores: never the number or CVC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CardSummary {
    /// The network.
    pub brand: CardBrand,
    /// The last four digits.
    pub last4: String,
    /// Expiry month (1–12).
    #[serde(deserialize_with = "crate::whole_number::u8")]
    pub exp_month: u8,
    /// Expiry year.
    #[serde(deserialize_with = "crate::whole_number::u16")]
    pub exp_year: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-25 00:00 UTC.
    const NOW: Timestamp = Timestamp::from_micros(1_795_564_800_000_000);

    #[test]
    fn calendar_month_of_a_timestamp() {
        assert_eq!(NOW.year_month(), (2026, 11));
        assert_eq!(Timestamp::EPOCH.year_month(), (1970, 1));
        assert_eq!(
            Timestamp::from_micros(951_782_400_000_000).year_month(),
            (2000, 2)
        );
    }

    #[test]
    fn valid_cards_keep_only_a_summary() {
        let card = CardDetails::new("4242 4242 4242 4242", 12, 2030, "123", NOW).unwrap();
        let summary = card.summary();
        assert_eq!(summary.brand, CardBrand::Visa);
        assert_eq!(summary.last4, "4242");
        let debug = format!("{card:?} {summary:?}");
        assert!(!debug.contains("42424242"), "{debug}");
        assert!(!debug.contains("123"), "{debug}");
        let brand = |n| {
            CardDetails::new(n, 1, 2030, "1234", NOW)
                .unwrap()
                .summary()
                .brand
        };
        assert_eq!(brand("5555555555554444"), CardBrand::Mastercard);
        assert_eq!(brand("2223003122003222"), CardBrand::Mastercard);
        assert_eq!(brand("378282246310005"), CardBrand::Amex);
        assert_eq!(brand("6011111111111117"), CardBrand::Discover);
    }

    #[test]
    fn brand_names_are_their_serialized_names() {
        for brand in [
            CardBrand::Visa,
            CardBrand::Mastercard,
            CardBrand::Amex,
            CardBrand::Discover,
            CardBrand::Unknown,
        ] {
            let json = serde_json::to_value(brand).unwrap();
            assert_eq!(json.as_str(), Some(brand.as_str()));
        }
    }

    #[test]
    fn bad_cards_are_refused_without_echoing_the_number() {
        for (number, month, year, cvc) in [
            ("4242424242424241", 12, 2030, "123"),
            ("4242", 12, 2030, "123"),
            ("4242-4242-4242-424x", 12, 2030, "123"),
            ("4242424242424242", 13, 2030, "123"),
            ("4242424242424242", 10, 2026, "123"),
            ("4242424242424242", 12, 2030, "12"),
        ] {
            let err = CardDetails::new(number, month, year, cvc, NOW).unwrap_err();
            assert_eq!(err.code(), "invalid_card");
            assert!(!err.to_string().contains("424242"));
        }
        assert!(CardDetails::new("4242424242424242", 11, 2026, "123", NOW).is_ok());
    }
}
