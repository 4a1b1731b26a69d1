//! How amounts travel in JSON: `i128` minor units as decimal strings (`"1250"`), because
//! JavaScript numbers lose precision past 2^53 and serde's buffering of tagged enums has no
//! 128-bit integers. Reading also accepts plain JSON integers.
//!
//! Each shape is one type that carries both its serde form and its JSON Schema, so an amount
//! field says it once: `#[serde(with = "MinorUnits")] amount: i128` (schemars reads the same
//! attribute). [`OptionalMinorUnits`] is for `Option<i128>`, [`MinorUnitsList`] for
//! `Vec<i128>`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serializer};

/// The JSON Schema pattern of an amount: an optional minus and 1 to 39 digits (`i128`).
pub const AMOUNT_PATTERN: &str = "^-?[0-9]{1,39}$";

/// An `i128` amount in minor units, written as a decimal string.
#[derive(Debug, Clone, Copy)]
pub struct MinorUnits;

/// An `Option<i128>` amount: a decimal string, or null/absent for `None`.
#[derive(Debug, Clone, Copy)]
pub struct OptionalMinorUnits;

/// A `Vec<i128>` of amounts: a list of decimal strings.
#[derive(Debug, Clone, Copy)]
pub struct MinorUnitsList;

impl MinorUnits {
    /// Writes the amount as a decimal string.
    pub fn serialize<S: Serializer>(amount: &i128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(amount)
    }

    /// Reads a decimal string or an integer.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i128, D::Error> {
        deserializer.deserialize_any(AmountVisitor)
    }
}

/// One amount, as the list and option forms read their items.
struct Wrapped(i128);

impl<'de> Deserialize<'de> for Wrapped {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        MinorUnits::deserialize(deserializer).map(Wrapped)
    }
}

impl OptionalMinorUnits {
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

    /// Reads null, a decimal string or an integer.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i128>, D::Error> {
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(amount)| amount))
    }
}

impl MinorUnitsList {
    /// Writes each amount as a decimal string.
    pub fn serialize<S: Serializer>(amounts: &[i128], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(amounts.iter().map(ToString::to_string))
    }

    /// Reads a list of decimal strings or integers.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i128>, D::Error> {
        Ok(Vec::<Wrapped>::deserialize(deserializer)?
            .into_iter()
            .map(|Wrapped(amount)| amount)
            .collect())
    }
}

struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = i128;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer amount in minor units, as a string or a number")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<i128, E> {
        // Digits only (and one leading minus): `+5`, ` 5` and `5_0` are not amounts.
        let digits = text.strip_prefix('-').unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom("not an integer amount"));
        }
        text.parse().map_err(|_| E::custom("not an integer amount"))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<i128, E> {
        Ok(i128::from(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<i128, E> {
        Ok(i128::from(value))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<i128, E> {
        Ok(value)
    }
}

#[cfg(feature = "schemars")]
mod schema {
    use std::borrow::Cow;

    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

    use super::{AMOUNT_PATTERN, MinorUnits, MinorUnitsList, OptionalMinorUnits};

    impl JsonSchema for MinorUnits {
        fn schema_name() -> Cow<'static, str> {
            "MinorUnits".into()
        }

        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "type": "string",
                "pattern": AMOUNT_PATTERN,
                "description": "An amount in minor units of its asset, as a decimal string.",
                "examples": ["1250"],
            })
        }
    }

    impl JsonSchema for OptionalMinorUnits {
        fn schema_name() -> Cow<'static, str> {
            "OptionalMinorUnits".into()
        }

        fn inline_schema() -> bool {
            true
        }

        fn json_schema(generator: &mut SchemaGenerator) -> Schema {
            let amount = generator.subschema_for::<MinorUnits>();
            json_schema!({ "anyOf": [amount, { "type": "null" }] })
        }
    }

    impl JsonSchema for MinorUnitsList {
        fn schema_name() -> Cow<'static, str> {
            "MinorUnitsList".into()
        }

        fn inline_schema() -> bool {
            true
        }

        fn json_schema(generator: &mut SchemaGenerator) -> Schema {
            let amount = generator.subschema_for::<MinorUnits>();
            json_schema!({ "type": "array", "items": amount })
        }
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
        let plain: Tagged = serde_json::from_str(r#"{"kind":"Pay","amount":12}"#).unwrap();
        assert_eq!(
            plain,
            Tagged::Pay {
                amount: 12,
                limit: None
            }
        );
        for bad in [
            "\"1.5\"", "\"+5\"", "\" 5\"", "\"\"", "\"-\"", "\"5_0\"", "1.5",
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
        let mixed: Posted = serde_json::from_str(r#"[3, "4"]"#).unwrap();
        assert_eq!(mixed, Posted(vec![3, 4]));
    }
}
