//! Typed ids: a readable prefix and a time-ordered 128-bit body (48-bit milliseconds, then 80
//! random bits) in Crockford base32, e.g. `acct_01JD3Q4V5X6Y7Z8A9B0C1D2E3F`.

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;

use rand::{RngExt, SeedableRng, rngs::StdRng};

use crate::clock::Clock;
use crate::error::{Error, Result};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const BODY_LEN: usize = 26;

/// Makes id bodies. Inject a seeded one for deterministic runs.
pub trait IdGen: Send + Sync + fmt::Debug {
    /// A new 128-bit body: milliseconds in the top 48 bits, randomness below.
    fn next_body(&self) -> u128;
}

/// Time-ordered bodies from a clock and a random number generator. Bodies from one
/// generator strictly increase, even within a millisecond (the last one plus one, as ULID's
/// monotonic mode), so listings by id follow creation order.
#[derive(Debug)]
pub struct RandomIdGen {
    clock: Arc<dyn Clock>,
    state: Mutex<(StdRng, u128)>,
}

impl RandomIdGen {
    /// Bodies seeded from the operating system's randomness.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let seed: u64 = rand::rng().random();
        Self::seeded(clock, seed)
    }

    /// Bodies from a fixed seed: the same seed and clock give the same ids.
    pub fn seeded(clock: Arc<dyn Clock>, seed: u64) -> Self {
        RandomIdGen {
            clock,
            state: Mutex::new((StdRng::seed_from_u64(seed), 0)),
        }
    }
}

impl IdGen for RandomIdGen {
    fn next_body(&self) -> u128 {
        let millis = u128::from(self.clock.now().as_millis().max(0).unsigned_abs());
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (rng, last) = &mut *state;
        let random: u128 = rng.random();
        let fresh = ((millis & 0xFFFF_FFFF_FFFF) << 80) | (random & ((1u128 << 80) - 1));
        let body = fresh.max(last.saturating_add(1));
        *last = body;
        body
    }
}

fn encode_body(body: u128) -> String {
    (0..BODY_LEN)
        .rev()
        .map(|i| {
            let index = usize::try_from((body >> (i * 5)) & 31).unwrap_or(0);
            char::from(ALPHABET[index])
        })
        .collect()
}

/// A body with `at`'s milliseconds on top (as a generated one) and the seed's hash below.
fn derived_body(at: crate::clock::Timestamp, seed: &str) -> u128 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(seed.as_bytes());
    let mut low = [0u8; 16];
    low[6..].copy_from_slice(&digest[..10]);
    let millis = u128::from(at.as_millis().max(0).unsigned_abs());
    ((millis & 0xFFFF_FFFF_FFFF) << 80) | u128::from_be_bytes(low)
}

fn decode_body(text: &str) -> Option<u128> {
    if text.len() != BODY_LEN {
        return None;
    }
    // The first character carries only 3 bits (26 × 5 = 130 > 128).
    let mut body: u128 = 0;
    for (i, c) in text.bytes().enumerate() {
        let value = ALPHABET.iter().position(|a| *a == c)?;
        if i == 0 && value > 7 {
            return None;
        }
        body = (body << 5) | u128::try_from(value).ok()?;
    }
    Some(body)
}

/// Declares a typed id with a prefix.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this type starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new time-ordered id.
            pub fn generate(ids: &dyn IdGen) -> Self {
                $name(format!("{}_{}", $prefix, encode_body(ids.next_body())))
            }

            /// The id named by `seed`: the same seed always gives the same id (for records
            /// that must be found again after a crash, such as a retried refund).
            pub fn derived(seed: &str) -> Self {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(seed.as_bytes());
                let mut body = [0u8; 16];
                body.copy_from_slice(&digest[..16]);
                $name(format!("{}_{}", $prefix, encode_body(u128::from_be_bytes(body))))
            }

            /// The id named by `seed` that sorts at `at`: the same time and seed always give
            /// the same id. Its time prefix keeps a store's inserts near each other, as a
            /// generated id's does, where [`Self::derived`] scatters them.
            pub fn derived_at(at: crate::clock::Timestamp, seed: &str) -> Self {
                $name(format!("{}_{}", $prefix, encode_body(derived_body(at, seed))))
            }

            /// The id named by `seed` in the reserved range: a body whose 48-bit time part is
            /// zero (`{prefix}_0000000000…`), which no generated id has (its clock would read
            /// the Unix epoch's first millisecond). The engine names its own records there;
            /// callers may not ([`Self::is_reserved`]).
            pub fn reserved(seed: &str) -> Self {
                let at = crate::clock::Timestamp::from_micros(0);
                $name(format!("{}_{}", $prefix, encode_body(derived_body(at, seed))))
            }

            /// True when the id lies in the reserved range (see [`Self::reserved`]).
            pub fn is_reserved(&self) -> bool {
                self.0
                    .get($prefix.len() + 1..)
                    .and_then(decode_body)
                    .is_some_and(|body| body >> 80 == 0)
            }

            /// Reads an id, checking its prefix and body.
            pub fn parse(text: &str) -> Result<Self> {
                let body = text
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .ok_or_else(|| Error::InvalidId {
                        input: text.to_string(),
                        reason: format!("expected the prefix {}_", $prefix),
                    })?;
                decode_body(body).ok_or_else(|| Error::InvalidId {
                    input: text.to_string(),
                    reason: "the body must be 26 Crockford base32 characters".to_string(),
                })?;
                Ok($name(text.to_string()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
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
                    "pattern": concat!("^", $prefix, "_[0-7][0-9A-HJKMNP-TV-Z]{25}$"),
                    "examples": [concat!($prefix, "_01JD3Q4V5X6Y7Z8A9B0C1D2E3F")],
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                $name::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self> {
                $name::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

typed_id!(
    /// A ledger account id (`acct_…`).
    AccountId,
    "acct"
);
typed_id!(
    /// A ledger transaction id (`txn_…`); also the idempotency key of the request that made it.
    TransactionId,
    "txn"
);
typed_id!(
    /// A payment (intent) id (`pay_…`).
    PaymentId,
    "pay"
);
typed_id!(
    /// A refund id (`rfd_…`).
    RefundId,
    "rfd"
);
typed_id!(
    /// A merchant id (`mer_…`): whose balance a payment's money lands in.
    MerchantId,
    "mer"
);
typed_id!(
    /// An API key id (`key_…`).
    ApiKeyId,
    "key"
);
typed_id!(
    /// A session id (`ses_…`).
    SessionId,
    "ses"
);
typed_id!(
    /// A user id (`usr_…`).
    UserId,
    "usr"
);
typed_id!(
    /// A dispute id (`dp_…`).
    DisputeId,
    "dp"
);
typed_id!(
    /// A customer id (`cus_…`).
    CustomerId,
    "cus"
);
typed_id!(
    /// A saved payment method id (`pm_…`).
    PaymentMethodId,
    "pm"
);
typed_id!(
    /// A webhook endpoint id (`we_…`).
    EndpointId,
    "we"
);
typed_id!(
    /// A domain event id (`evt_…`); stable across webhook delivery retries.
    EventId,
    "evt"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, Timestamp};

    #[test]
    fn ids_round_trip_and_check_prefixes() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_micros(
            1_700_000_000_000_000,
        )));
        let ids = RandomIdGen::seeded(clock, 7);
        let id = AccountId::generate(&ids);
        assert!(id.as_str().starts_with("acct_"));
        assert_eq!(id.as_str().len(), 5 + BODY_LEN);
        assert_eq!(AccountId::parse(id.as_str()).unwrap(), id);
        assert_eq!(
            TransactionId::parse(id.as_str()).unwrap_err().code(),
            "invalid_id"
        );
        assert!(AccountId::parse("acct_").is_err());
        assert!(AccountId::parse("acct_ZZZZZZZZZZZZZZZZZZZZZZZZZZ").is_err());
        assert!(AccountId::parse("acct_0000000000000000000000000I").is_err());
    }

    #[test]
    fn ids_are_time_ordered_and_seeded_ids_repeat() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_micros(1_000_000)));
        let a = RandomIdGen::seeded(clock.clone(), 1);
        let first = TransactionId::generate(&a);
        clock.advance(std::time::Duration::from_millis(1));
        let second = TransactionId::generate(&a);
        assert!(first < second);
        clock.set(Timestamp::from_micros(1_000_000));
        let b = RandomIdGen::seeded(clock, 1);
        assert_eq!(TransactionId::generate(&b), first);
    }

    #[test]
    fn ids_within_one_millisecond_still_increase() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_micros(5_000_000)));
        let ids = RandomIdGen::seeded(clock.clone(), 9);
        let made: Vec<PaymentId> = (0..1000).map(|_| PaymentId::generate(&ids)).collect();
        assert!(made.windows(2).all(|w| w[0] < w[1]));
        // A clock that steps back does not break the order either.
        clock.set(Timestamp::from_micros(1_000_000));
        assert!(PaymentId::generate(&ids) > made[999]);
    }

    #[test]
    fn ids_derived_at_a_time_repeat_and_sort_by_that_time() {
        let at = Timestamp::from_micros(1_700_000_000_000_000);
        let later = Timestamp::from_micros(1_700_000_000_001_000);
        let id = PaymentId::derived_at(at, "key-1");
        assert_eq!(PaymentId::derived_at(at, "key-1"), id);
        assert_eq!(PaymentId::parse(id.as_str()).unwrap(), id);
        assert_ne!(PaymentId::derived_at(at, "key-2"), id);
        assert_ne!(PaymentId::derived("key-1"), id);
        // Whatever the seeds, a later time sorts after, as generated ids do.
        for seed in ["a", "b", "c", "d"] {
            assert!(PaymentId::derived_at(later, seed) > id);
        }
        let clock = Arc::new(ManualClock::new(at));
        let generated = PaymentId::generate(&RandomIdGen::seeded(clock, 3));
        assert_eq!(generated.as_str()[..14], id.as_str()[..14]);
    }

    #[test]
    fn reserved_ids_are_recognisable_and_never_generated() {
        let system = AccountId::reserved("obol:payments:fees:test:USD");
        assert!(system.as_str().starts_with("acct_0000000000"), "{system}");
        assert!(system.is_reserved());
        assert_eq!(AccountId::reserved("obol:payments:fees:test:USD"), system);
        assert_ne!(AccountId::reserved("obol:payments:fees:test:EUR"), system);
        assert_eq!(AccountId::parse(system.as_str()).unwrap(), system);
        // Generated ids carry their time: any clock past the epoch's first millisecond
        // makes ids outside the reserved range.
        let clock = Arc::new(ManualClock::new(Timestamp::from_micros(1_000)));
        let later = RandomIdGen::seeded(clock, 5);
        assert!(!AccountId::generate(&later).is_reserved());
        assert!(!AccountId::derived("obol:payments:fees:USD").is_reserved());
        assert!(!AccountId::derived_at(Timestamp::from_micros(1_000), "x").is_reserved());
    }
}
