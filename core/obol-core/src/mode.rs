//! Test and live mode (as Stripe's): every principal acts in one of them, every payment
//! belongs to one, and every provider serves one. Test mode reaches only test rails (the
//! sandbox); live mode only live ones, so a live key never reaches the sandbox and a test key
//! never moves real money.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::MerchantId;

/// Test or live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Sandbox rails and test keys: no real money.
    #[default]
    Test,
    /// Real rails and live keys.
    Live,
}

impl Mode {
    /// True in test mode (for `skip_serializing_if`).
    pub fn is_test(&self) -> bool {
        *self == Mode::Test
    }

    /// The stable name: `test` or `live`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }

    /// Reads the stable name.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "test" => Ok(Mode::Test),
            "live" => Ok(Mode::Live),
            other => Err(Error::InvalidRequest {
                reason: format!("{other:?} is not a mode (test or live)"),
            }),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A merchant in one mode, as idempotency keys and account owners spell it: the id in test
/// mode (as everything was spelled before modes existed), the id and `:live` in live mode.
pub fn tenant_label(merchant: &MerchantId, mode: Mode) -> String {
    match mode {
        Mode::Test => merchant.to_string(),
        Mode::Live => format!("{merchant}:live"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for mode in [Mode::Test, Mode::Live] {
            assert_eq!(Mode::parse(mode.as_str()).unwrap(), mode);
            assert_eq!(serde_json::to_string(&mode).unwrap(), format!("\"{mode}\""));
        }
        assert!(Mode::parse("LIVE").is_err());
    }
}
