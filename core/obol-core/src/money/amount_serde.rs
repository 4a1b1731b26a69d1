//! Serde for `i128` amounts as decimal strings (`"1250"`): JSON numbers lose precision past
//! 2^53 in JavaScript, and serde's buffering of tagged enums has no 128-bit integers. Reading
//! also accepts plain JSON integers. Use with `#[serde(with = "crate::money::amount_serde")]`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// Writes the amount as a decimal string.
pub fn serialize<S: Serializer>(amount: &i128, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(amount)
}

/// Reads a decimal string or an integer.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i128, D::Error> {
    deserializer.deserialize_any(AmountVisitor)
}

struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = i128;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer amount in minor units, as a string or a number")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<i128, E> {
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

/// The same for `Option<i128>` (`null` or absent is `None`).
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer};

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
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super")] i128);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(amount)| amount))
    }
}

/// The same for `Vec<i128>` (a list of decimal strings).
pub mod vec {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes each amount as a decimal string.
    pub fn serialize<S: Serializer>(amounts: &[i128], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(amounts.len()))?;
        for amount in amounts {
            seq.serialize_element(&amount.to_string())?;
        }
        seq.end()
    }

    /// Reads a list of decimal strings or integers.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i128>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super")] i128);
        Ok(Vec::<Wrapped>::deserialize(deserializer)?
            .into_iter()
            .map(|Wrapped(amount)| amount)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "kind")]
    enum Tagged {
        Pay {
            #[serde(with = "super")]
            amount: i128,
            #[serde(with = "super::option", default)]
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
        assert!(serde_json::from_str::<Tagged>(r#"{"kind":"Pay","amount":"1.5"}"#).is_err());
    }

    #[test]
    fn lists_of_amounts_travel_as_strings() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Posted(#[serde(with = "super::vec")] Vec<i128>);
        let json = serde_json::to_string(&Posted(vec![1, i128::MAX])).unwrap();
        assert_eq!(json, format!("[\"1\",\"{}\"]", i128::MAX));
        let mixed: Posted = serde_json::from_str(r#"[3, "4"]"#).unwrap();
        assert_eq!(mixed, Posted(vec![3, 4]));
    }
}
