//! JSON request bodies, read one way by every host: the body must be a JSON object (serde
//! would otherwise read a struct from an array of its fields, so `[null, null]` would pass
//! for a request), trailing bytes are refused, and a data error names the field it concerns.

use serde::de::{DeserializeOwned, IgnoredAny};

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON at all (syntax, truncation, trailing bytes).
    NotJson,
    /// JSON, but not an object.
    NotAnObject,
    /// An object that does not fit the request: `detail` says why, `field` names the field
    /// when serde does.
    Invalid {
        /// serde's message, prefixed with the path to the offending value.
        detail: String,
        /// The field concerned, when known.
        field: Option<String>,
    },
}

/// Reads a request of type `T` from a JSON object.
pub fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => BodyError::NotAnObject,
            Err(_) => BodyError::NotJson,
        });
    }
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(|error| {
        if !error.inner().is_data() {
            return BodyError::NotJson;
        }
        let detail = error.to_string();
        BodyError::Invalid {
            field: field_in(&detail),
            detail,
        }
    })?;
    reader.end().map_err(|_| BodyError::NotJson)?;
    Ok(value)
}

/// The field a serde message names: "unknown field `x`…", or "amount: invalid…".
pub fn field_in(text: &str) -> Option<String> {
    if let Some(start) = text.find("field `") {
        let rest = text.get(start + 7..)?;
        return rest
            .find('`')
            .and_then(|end| rest.get(..end))
            .map(str::to_owned);
    }
    let (path, _) = text.split_once(": ")?;
    (!path.contains(' ')).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Request {
        amount: u32,
        #[serde(default)]
        note: Option<String>,
    }

    #[test]
    fn only_objects_that_fit_are_read() {
        assert_eq!(
            json_object::<Request>(b" {\"amount\": 5}\n"),
            Ok(Request {
                amount: 5,
                note: None
            })
        );
        let refused: Vec<(&[u8], BodyError)> = vec![
            (b"[5, null]", BodyError::NotAnObject),
            (b"null", BodyError::NotAnObject),
            (b"\"{\"", BodyError::NotAnObject),
            (b"", BodyError::NotJson),
            (b"{\"amount\": 5", BodyError::NotJson),
            (b"{\"amount\": 5} {}", BodyError::NotJson),
            (b"{\"amount\": 5}]", BodyError::NotJson),
            (b"\xff\xfe", BodyError::NotJson),
        ];
        for (body, expected) in refused {
            assert_eq!(json_object::<Request>(body), Err(expected), "{body:?}");
        }
        let field = |body: &[u8]| match json_object::<Request>(body) {
            Err(BodyError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(b"{\"amount\": -1}"), Some("amount".into()));
        assert_eq!(field(b"{\"amount\": 1, \"evil\": 2}"), Some("evil".into()));
        assert_eq!(field(b"{\"note\": \"x\"}"), Some("amount".into()));
    }
}
