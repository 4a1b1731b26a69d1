//! Conversions at the edge: strings to amounts and typed ids, engine times to `SystemTime`.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use obol::{Error, Metadata, Result, Timestamp};

/// An amount in minor units from its decimal string (`"1250"`).
pub(crate) use obol::money::parse_integer_amount as amount;

/// A typed id, its prefix checked.
pub(crate) fn id<T: FromStr<Err = Error>>(text: &str) -> Result<T> {
    text.parse()
}

/// An engine time as a `SystemTime` (times before 1970 do not occur in the engine).
pub(crate) fn time(at: Timestamp) -> SystemTime {
    let micros = u64::try_from(at.as_micros()).unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_micros(micros)
}

/// A `SystemTime` as an engine time.
pub(crate) fn timestamp(at: SystemTime) -> Result<Timestamp> {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| Error::InvalidRequest {
            reason: "times before 1970 are not accepted".into(),
        })?;
    let micros = i64::try_from(since.as_micros()).map_err(|_| Error::InvalidRequest {
        reason: "the time is out of range".into(),
    })?;
    Ok(Timestamp::from_micros(micros))
}

/// Metadata from the foreign map (kept sorted, as the engine keeps it).
pub(crate) fn metadata(map: std::collections::HashMap<String, String>) -> Metadata {
    map.into_iter().collect()
}

/// Metadata for the foreign side.
pub(crate) fn metadata_out(metadata: Metadata) -> std::collections::HashMap<String, String> {
    metadata.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_integers_and_bad_ones_are_typed_errors() {
        assert_eq!(amount("1250").unwrap(), 1250);
        assert_eq!(
            amount("170141183460469231731687303715884105727").unwrap(),
            i128::MAX
        );
        assert_eq!(amount("12.50").unwrap_err().code(), "invalid_amount");
        assert_eq!(amount("").unwrap_err().code(), "invalid_amount");
        assert_eq!(
            id::<obol::AccountId>("txn_01JD3Q4V5X6Y7Z8A9B0C1D2E3F")
                .unwrap_err()
                .code(),
            "invalid_id"
        );
    }

    #[test]
    fn times_round_trip() {
        let at = Timestamp::from_micros(1_700_000_000_123_456);
        assert_eq!(timestamp(time(at)).unwrap(), at);
    }
}
