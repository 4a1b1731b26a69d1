//! How amounts travel in JSON: `i128` minor units as decimal strings (`"1250"`), because
//! JavaScript numbers lose precision past 2^53 and serde's buffering of tagged enums has no
//! 128-bit integers. JSON numbers are refused, so every amount has one form.
//!
//! Each form is one type that carries its serde form, the range it takes and its JSON Schema,
//! so an amount field says it once: `#[serde(with = "PositiveMinorUnits")] amount: i128`
//! (schemars reads the same attribute). The `Optional…` forms are for `Option<i128>`,
//! [`MinorUnitsList`] for `Vec<i128>`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serializer};

/// The JSON Schema pattern of an amount: an optional minus and 1 to 38 digits (what always
/// fits an `i128`; the reader takes up to `i128::MAX`).
pub const AMOUNT_PATTERN: &str = "^-?[0-9]{1,38}$";
/// The pattern of an amount above zero.
pub const POSITIVE_AMOUNT_PATTERN: &str = "^[1-9][0-9]{0,37}$";
/// The pattern of an amount of zero or more.
pub const NON_NEGATIVE_AMOUNT_PATTERN: &str = "^(0|[1-9][0-9]{0,37})$";

/// Which amounts a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    Any,
    Positive,
    NonNegative,
}

impl Range {
    fn check<E: de::Error>(self, amount: i128) -> Result<i128, E> {
        match self {
            Range::Positive if amount <= 0 => Err(E::custom("the amount must be above zero")),
            Range::NonNegative if amount < 0 => Err(E::custom("the amount must not be negative")),
            _ => Ok(amount),
        }
    }
}

/// Reads one amount: a decimal string of digits with an optional minus (JSON numbers are
/// refused: amounts travel as strings), within `range`.
fn read<'de, D: Deserializer<'de>>(deserializer: D, range: Range) -> Result<i128, D::Error> {
    let amount = deserializer.deserialize_str(AmountVisitor)?;
    range.check(amount)
}

/// One amount, as the list and option forms read their items.
struct Wrapped<const RANGE: u8>(i128);

const ANY: u8 = 0;
const POSITIVE: u8 = 1;
const NON_NEGATIVE: u8 = 2;

fn range_of(tag: u8) -> Range {
    match tag {
        POSITIVE => Range::Positive,
        NON_NEGATIVE => Range::NonNegative,
        _ => Range::Any,
    }
}

impl<'de, const RANGE: u8> Deserialize<'de> for Wrapped<RANGE> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        read(deserializer, range_of(RANGE)).map(Wrapped)
    }
}

/// Declares a field form of amounts: a type whose `serialize`/`deserialize` serde's `with`
/// calls and whose JSON Schema schemars reads from the same attribute.
macro_rules! amount_form {
    ($(#[$doc:meta])* $name:ident, one, $range:ident, $pattern:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $name {
            /// Writes the amount as a decimal string.
            pub fn serialize<S: Serializer>(amount: &i128, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(amount)
            }

            /// Reads a decimal string.
            pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i128, D::Error> {
                read(deserializer, range_of($range))
            }
        }

        #[cfg(feature = "schemars")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": "An amount in minor units of its asset, as a decimal string.",
                    "examples": ["1250"],
                })
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, optional, $range:ident, $one:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $name {
            /// Writes `Some` as a decimal string, `None` as null.
            pub fn serialize<S: Serializer>(
                amount: &Option<i128>,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                match amount {
                    Some(amount) => serializer.collect_str(amount),
                    None => serializer.serialize_none(),
                }
            }

            /// Reads null or a decimal string.
            pub fn deserialize<'de, D: Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Option<i128>, D::Error> {
                Ok(Option::<Wrapped<$range>>::deserialize(deserializer)?.map(|Wrapped(a)| a))
            }
        }

        #[cfg(feature = "schemars")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let amount = generator.subschema_for::<$one>();
                schemars::json_schema!({ "anyOf": [amount, { "type": "null" }] })
            }
        }
    };
}

amount_form!(
    /// An `i128` amount in minor units, written as a decimal string.
    MinorUnits, one, ANY, AMOUNT_PATTERN
);
amount_form!(
    /// An `i128` amount above zero (what a payment, an entry or a capture moves).
    PositiveMinorUnits, one, POSITIVE, POSITIVE_AMOUNT_PATTERN
);
amount_form!(
    /// An `i128` amount of zero or more (an overdraft limit).
    NonNegativeMinorUnits, one, NON_NEGATIVE, NON_NEGATIVE_AMOUNT_PATTERN
);
amount_form!(
    /// An `Option<i128>` amount: a decimal string, or null/absent for `None`.
    OptionalMinorUnits, optional, ANY, MinorUnits
);
amount_form!(
    /// An `Option<i128>` amount above zero when present.
    OptionalPositiveMinorUnits, optional, POSITIVE, PositiveMinorUnits
);
amount_form!(
    /// An `Option<i128>` amount of zero or more when present.
    OptionalNonNegativeMinorUnits, optional, NON_NEGATIVE, NonNegativeMinorUnits
);

/// A `Vec<i128>` of amounts of zero or more: a list of decimal strings.
#[derive(Debug, Clone, Copy)]
pub struct MinorUnitsList;

impl MinorUnitsList {
    /// Writes each amount as a decimal string.
    pub fn serialize<S: Serializer>(amounts: &[i128], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(amounts.iter().map(ToString::to_string))
    }

    /// Reads a list of decimal strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i128>, D::Error> {
        Ok(Vec::<Wrapped<NON_NEGATIVE>>::deserialize(deserializer)?
            .into_iter()
            .map(|Wrapped(amount)| amount)
            .collect())
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for MinorUnitsList {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MinorUnitsList".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let amount = generator.subschema_for::<NonNegativeMinorUnits>();
        schemars::json_schema!({ "type": "array", "items": amount })
    }
}

struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = i128;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer amount in minor units, as a decimal string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<i128, E> {
        // Digits only (and one leading minus): `+5`, ` 5` and `5_0` are not amounts.
        let digits = text.strip_prefix('-').unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom("not an integer amount"));
        }
        text.parse().map_err(|_| E::custom("not an integer amount"))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "kind")]
    enum Tagged {
        Pay {
            #[serde(with = "MinorUnits")]
            amount: i128,
            #[serde(with = "OptionalMinorUnits", default)]
            limit: Option<i128>,
        },
    }

    #[test]
    fn huge_amounts_survive_tagged_enums() {
        let value = Tagged::Pay {
            amount: i128::MAX,
            limit: Some(i128::MIN),
        };
        let json = serde_json::to_string(&value).unwrap();
        assert!(json.contains(&format!("\"{}\"", i128::MAX)));
        assert_eq!(serde_json::from_str::<Tagged>(&json).unwrap(), value);
        let plain: Tagged = serde_json::from_str(r#"{"kind":"Pay","amount":"12"}"#).unwrap();
        assert_eq!(
            plain,
            Tagged::Pay {
                amount: 12,
                limit: None
            }
        );
        for bad in [
            "\"1.5\"", "\"+5\"", "\" 5\"", "\"\"", "\"-\"", "\"5_0\"", "1.5", "12", "12.0", "1e3",
        ] {
            let json = format!(r#"{{"kind":"Pay","amount":{bad}}}"#);
            assert!(serde_json::from_str::<Tagged>(&json).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_of_amounts_travel_as_strings() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Posted(#[serde(with = "MinorUnitsList")] Vec<i128>);
        let json = serde_json::to_string(&Posted(vec![1, i128::MAX])).unwrap();
        assert_eq!(json, format!("[\"1\",\"{}\"]", i128::MAX));
        let read: Posted = serde_json::from_str(r#"["3", "4"]"#).unwrap();
        assert_eq!(read, Posted(vec![3, 4]));
        assert!(serde_json::from_str::<Posted>(r#"[3]"#).is_err());
        assert!(serde_json::from_str::<Posted>(r#"["-3"]"#).is_err());
    }

    #[test]
    fn ranges_are_checked_as_they_are_read() {
        #[derive(Debug, Deserialize)]
        struct Terms {
            #[serde(with = "PositiveMinorUnits")]
            amount: i128,
            #[serde(with = "OptionalNonNegativeMinorUnits", default)]
            limit: Option<i128>,
        }
        let read = |json: &str| serde_json::from_str::<Terms>(json);
        assert_eq!(read(r#"{"amount":"1","limit":"0"}"#).unwrap().amount, 1);
        assert!(read(r#"{"amount":"0"}"#).is_err());
        assert!(read(r#"{"amount":"-5"}"#).is_err());
        assert!(read(r#"{"amount":"5","limit":"-1"}"#).is_err());
        assert_eq!(read(r#"{"amount":"5","limit":null}"#).unwrap().limit, None);
    }
}
