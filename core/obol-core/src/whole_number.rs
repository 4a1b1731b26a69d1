//! Whole numbers as JSON Schema counts them: `12` and `12.0` are the same integer (a number
//! with no fraction). serde reads `12.0` as a float and refuses it for an integer field; the
//! forms here take it, and still refuse `12.5`, strings and numbers out of range. Use with
//! `#[serde(deserialize_with = "crate::whole_number::u8")]` and the like.
//!
//! For counts and times only (timestamps, card expiry month and year): money never comes here,
//! it travels as decimal strings of minor units (`crate::money::MinorUnits`), and a float read
//! here becomes an integer through its text, never through float arithmetic.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

struct Whole;

impl Visitor<'_> for Whole {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
        Ok(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
        i64::try_from(value).map_err(|_| E::custom("the number is out of range"))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<i64, E> {
        // A float prints without a fraction exactly when it is whole (`4887360277620`); the
        // text then reads as an integer, with no float arithmetic on the way.
        value
            .to_string()
            .parse()
            .map_err(|_| E::custom("the number is not whole, or out of range"))
    }
}

/// Reads a whole number into an `i64`.
pub fn i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(Whole)
}

/// Reads a whole number into a `u8`.
pub fn u8<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    let value = i64(deserializer)?;
    ::core::primitive::u8::try_from(value)
        .map_err(|_| de::Error::custom("the number is out of range"))
}

/// Reads a whole number into a `u16`.
pub fn u16<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    let value = i64(deserializer)?;
    ::core::primitive::u16::try_from(value)
        .map_err(|_| de::Error::custom("the number is out of range"))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Expiry {
        #[serde(deserialize_with = "super::u8")]
        month: u8,
        #[serde(deserialize_with = "super::i64")]
        at: i64,
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_not() {
        let read = |json: &str| serde_json::from_str::<Expiry>(json);
        let expiry = read(r#"{"month": 12.0, "at": -730568.0}"#).unwrap();
        assert_eq!((expiry.month, expiry.at), (12, -730_568));
        assert_eq!(
            read(r#"{"month": 3, "at": 4887360277620}"#).unwrap().at,
            4_887_360_277_620
        );
        for bad in [
            r#"{"month": 12.5, "at": 0}"#,
            r#"{"month": 256, "at": 0}"#,
            r#"{"month": -1, "at": 0}"#,
            r#"{"month": "12", "at": 0}"#,
            r#"{"month": 1, "at": 1e300}"#,
            r#"{"month": 1, "at": 9223372036854775808}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
