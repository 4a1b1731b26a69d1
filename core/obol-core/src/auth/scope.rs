//! Scopes and the one authorization check every caller of the engine goes through:
//! principal (a user's session or an API key) × scope × tenant (the merchant).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::{ApiKeyId, MerchantId, UserId};

/// What a principal may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum Scope {
    /// Read payments, refunds and disputes.
    #[serde(rename = "payments:read")]
    PaymentsRead,
    /// Create, confirm, capture and cancel payments.
    #[serde(rename = "payments:write")]
    PaymentsWrite,
    /// Refund payments.
    #[serde(rename = "refunds:write")]
    RefundsWrite,
    /// Read ledger accounts, balances and history.
    #[serde(rename = "ledger:read")]
    LedgerRead,
    /// Post ledger transactions.
    #[serde(rename = "ledger:write")]
    LedgerWrite,
    /// Manage webhook endpoints.
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    /// Manage the tenant's users and API keys.
    #[serde(rename = "users:admin")]
    UsersAdmin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 7] = [
        Scope::PaymentsRead,
        Scope::PaymentsWrite,
        Scope::RefundsWrite,
        Scope::LedgerRead,
        Scope::LedgerWrite,
        Scope::WebhooksWrite,
        Scope::UsersAdmin,
    ];

    /// The stable name (`payments:write`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PaymentsRead => "payments:read",
            Scope::PaymentsWrite => "payments:write",
            Scope::RefundsWrite => "refunds:write",
            Scope::LedgerRead => "ledger:read",
            Scope::LedgerWrite => "ledger:write",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::UsersAdmin => "users:admin",
        }
    }

    /// Reads a scope name.
    pub fn parse(text: &str) -> Result<Self> {
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| Error::Forbidden {
                reason: format!("unknown scope {text:?}"),
            })
    }
}

/// Who is calling, as established by a verified session token or API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Principal {
    /// A signed-in user.
    User {
        /// The user.
        user: UserId,
        /// The user's tenant.
        merchant: MerchantId,
        /// What the user may do.
        scopes: BTreeSet<Scope>,
    },
    /// A merchant's or service's API key.
    ApiKey {
        /// The key.
        key: ApiKeyId,
        /// The key's tenant.
        merchant: MerchantId,
        /// What the key may do.
        scopes: BTreeSet<Scope>,
    },
}

impl Principal {
    /// The tenant the principal acts for.
    pub fn merchant(&self) -> &MerchantId {
        match self {
            Principal::User { merchant, .. } | Principal::ApiKey { merchant, .. } => merchant,
        }
    }

    fn scopes(&self) -> &BTreeSet<Scope> {
        match self {
            Principal::User { scopes, .. } | Principal::ApiKey { scopes, .. } => scopes,
        }
    }
}

/// The check: the principal holds `scope` and acts for `tenant`. Another tenant's resources
/// are refused as forbidden without saying whether they exist.
pub fn authorize(principal: &Principal, scope: Scope, tenant: &MerchantId) -> Result<()> {
    if principal.merchant() != tenant {
        return Err(Error::Forbidden {
            reason: "not this tenant's principal".into(),
        });
    }
    if !principal.scopes().contains(&scope) {
        return Err(Error::Forbidden {
            reason: format!("missing scope {}", scope.as_str()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_and_tenant_both_required() {
        let acme = MerchantId::derived("acme");
        let other = MerchantId::derived("other");
        let key = Principal::ApiKey {
            key: ApiKeyId::derived("k"),
            merchant: acme.clone(),
            scopes: [Scope::PaymentsRead, Scope::PaymentsWrite].into(),
        };
        assert!(authorize(&key, Scope::PaymentsWrite, &acme).is_ok());
        let missing = authorize(&key, Scope::RefundsWrite, &acme).unwrap_err();
        assert_eq!(missing.code(), "forbidden");
        assert!(missing.to_string().contains("refunds:write"));
        let foreign = authorize(&key, Scope::PaymentsRead, &other).unwrap_err();
        assert_eq!(foreign.code(), "forbidden");
        let user = Principal::User {
            user: UserId::derived("u"),
            merchant: other.clone(),
            scopes: Scope::ALL.into(),
        };
        assert!(authorize(&user, Scope::UsersAdmin, &other).is_ok());
        assert!(authorize(&user, Scope::UsersAdmin, &acme).is_err());
    }

    #[test]
    fn scope_names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()).unwrap(), scope);
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
        }
        assert!(Scope::parse("payments:delete").is_err());
    }
}
