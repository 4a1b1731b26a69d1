//! Customers and their saved payment methods. A saved method is a provider token with what
//! may be shown (brand, last 4, expiry): never card data.

use serde::{Deserialize, Serialize};

use super::model::default_merchant;
use super::provider::MethodToken;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{CustomerId, MerchantId, PaymentMethodId};
use crate::ledger::model::Metadata;
use crate::ledger::validate;
use crate::mode::Mode;

/// What a customer's email takes, as a JSON Schema (ECMA 262) pattern: one `@` with text on
/// both sides, no whitespace.
pub const CUSTOMER_EMAIL_PATTERN: &str = r"^[^@\s\u0085\uFEFF]+@[^@\s\u0085\uFEFF]+$";

/// What a caller gives to create a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct NewCustomer {
    /// The id (callers may supply it, so a retry reuses it).
    pub id: CustomerId,
    /// Email address.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// The merchant whose customer this is.
    #[serde(default = "default_merchant")]
    pub merchant: MerchantId,
    /// The mode it belongs to (test and live keep separate customers). Left out when test,
    /// so a test-mode request hashes as it did before modes existed and a retry across the
    /// upgrade still matches its first answer.
    #[serde(default, skip_serializing_if = "Mode::is_test")]
    pub mode: Mode,
    /// Free-form metadata.
    pub metadata: Metadata,
}

impl NewCustomer {
    /// A customer of the default merchant with nothing but an id.
    pub fn new(id: CustomerId) -> Self {
        NewCustomer {
            id,
            email: None,
            name: None,
            merchant: default_merchant(),
            mode: Mode::Test,
            metadata: Metadata::new(),
        }
    }

    /// A customer of `merchant`.
    pub fn for_merchant(mut self, merchant: MerchantId) -> Self {
        self.merchant = merchant;
        self
    }

    /// A customer of `mode`.
    pub fn in_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// With an email address.
    pub fn with_email(mut self, email: &str) -> Self {
        self.email = Some(email.to_owned());
        self
    }

    /// Checks the fields: an email has one `@` with text on both sides and at most 254
    /// characters; a name at most 256; metadata within the usual limits.
    pub fn validate(&self) -> Result<()> {
        if let Some(email) = &self.email {
            let parts: Vec<&str> = email.split('@').collect();
            let plausible = parts.len() == 2
                && parts.iter().all(|p| !p.is_empty())
                && email.chars().count() <= crate::auth::user::MAX_EMAIL_LEN
                && !email.chars().any(crate::auth::user::is_space);
            if !plausible {
                return Err(Error::InvalidCustomer {
                    reason: "the email address is not valid".into(),
                });
            }
        }
        if self.name.as_ref().is_some_and(|n| n.chars().count() > 256) {
            return Err(Error::InvalidCustomer {
                reason: "the name is longer than 256 characters".into(),
            });
        }
        validate::metadata(&self.metadata)
    }
}

/// A customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Customer {
    /// The id.
    pub id: CustomerId,
    /// Email address.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// The merchant whose customer this is.
    #[serde(default = "default_merchant")]
    pub merchant: MerchantId,
    /// The mode it belongs to (customers from before modes existed are test mode).
    #[serde(default)]
    pub mode: Mode,
    /// Free-form metadata.
    pub metadata: Metadata,
    /// When created.
    pub created_at: Timestamp,
}

impl Customer {
    /// True when `new` describes this customer (for idempotent creation).
    pub fn matches(&self, new: &NewCustomer) -> bool {
        self.id == new.id
            && self.email == new.email
            && self.name == new.name
            && self.merchant == new.merchant
            && self.mode == new.mode
            && self.metadata == new.metadata
    }
}

/// A payment method saved for a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SavedMethod {
    /// The id.
    pub id: PaymentMethodId,
    /// The owner.
    pub customer: CustomerId,
    /// The provider token and its displayable details.
    pub token: MethodToken,
    /// Detached methods can no longer be used.
    pub detached: bool,
    /// When saved.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_mode_requests_hash_as_before_modes_existed() {
        let new = NewCustomer::new(CustomerId::derived("c")).with_email("a@b.c");
        let json = serde_json::to_value(&new).unwrap();
        assert!(json.get("mode").is_none(), "{json}");
        let live = serde_json::to_value(new.clone().in_mode(Mode::Live)).unwrap();
        assert_eq!(live["mode"], "live");
        // A customer stored before modes existed reads as test mode.
        let stored = r#"{"id":"cus_01JD3Q4V5X6Y7Z8A9B0C1D2E3F","email":null,"name":null,
            "merchant":"mer_01JD3Q4V5X6Y7Z8A9B0C1D2E3F","metadata":{},"created_at":0}"#;
        let customer: Customer = serde_json::from_str(stored).unwrap();
        assert_eq!(customer.mode, Mode::Test);
    }
}
