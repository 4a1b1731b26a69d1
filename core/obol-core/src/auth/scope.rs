//! Scopes and the one authorization check every caller of the engine goes through:
//! principal (a user's session or an API key) × scope × tenant (the merchant).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::{ApiKeyId, MerchantId, UserId};
use crate::mode::Mode;

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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

    /// Scopes from their names: every scope when `names` is absent, none for an empty list.
    pub fn named(names: Option<&[String]>) -> Result<BTreeSet<Scope>> {
        match names {
            Some(names) => names.iter().map(|name| Scope::parse(name)).collect(),
            None => Ok(Scope::ALL.into_iter().collect()),
        }
    }
}

/// Who acts: a signed-in user, an API key, or the host program itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A user with a verified session.
    User {
        /// The user.
        user: UserId,
    },
    /// A merchant's or service's API key.
    ApiKey {
        /// The key.
        key: ApiKeyId,
    },
    /// The program that embeds the engine, acting for one of its tenants (an app's own
    /// merchant, say). Only code holding the engine can make one; no credential turns into
    /// it.
    Host,
}

/// Who is calling and for whom: an actor, the tenant it acts for, what it may do there, and
/// whether it acts in test or live mode. Established by a verified session token or API key,
/// or made by the host for itself ([`Principal::host`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Who acts.
    pub actor: Actor,
    /// The tenant it acts for.
    pub merchant: MerchantId,
    /// What it may do there.
    pub scopes: BTreeSet<Scope>,
    /// Test or live.
    pub mode: Mode,
}

impl Principal {
    /// The host acting for `merchant` with `scopes` in `mode`.
    pub fn host(merchant: MerchantId, scopes: BTreeSet<Scope>, mode: Mode) -> Self {
        Principal {
            actor: Actor::Host,
            merchant,
            scopes,
            mode,
        }
    }

    /// The host acting for a merchant given as text (the default merchant when absent), with
    /// the named scopes (every scope when absent), in the named mode: what a binding's caller
    /// passes. An empty list grants nothing; a malformed merchant id, an unknown scope or mode is
    /// refused.
    pub fn host_named(
        merchant: Option<&str>,
        scopes: Option<&[String]>,
        mode: &str,
    ) -> Result<Self> {
        Ok(Principal::host(
            crate::payments::merchant_named(merchant)?,
            Scope::named(scopes)?,
            Mode::parse(mode)?,
        ))
    }

    /// The tenant the principal acts for.
    pub fn merchant(&self) -> &MerchantId {
        &self.merchant
    }

    /// What the principal may do.
    pub fn scopes(&self) -> &BTreeSet<Scope> {
        &self.scopes
    }

    /// Test or live.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The user, when a user acts.
    pub fn user(&self) -> Option<&UserId> {
        match &self.actor {
            Actor::User { user } => Some(user),
            _ => None,
        }
    }

    /// Refuses unless the principal holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<()> {
        authorize(self, scope, &self.merchant)
    }

    /// Refuses unless the principal holds every one of `scopes` and may act in `mode`: what
    /// it hands to a new user or key (nobody grants what it does not hold, and a test-mode
    /// principal makes nothing live).
    pub fn may_grant(&self, scopes: &BTreeSet<Scope>, mode: Mode) -> Result<()> {
        if let Some(missing) = scopes.iter().find(|s| !self.scopes.contains(s)) {
            return Err(Error::Forbidden {
                reason: format!(
                    "cannot grant {}, which the caller does not hold",
                    missing.as_str()
                ),
            });
        }
        if mode == Mode::Live && self.mode != Mode::Live {
            return Err(Error::Forbidden {
                reason: "a test-mode caller cannot grant live mode".into(),
            });
        }
        Ok(())
    }
}

/// The check: the principal holds `scope` and acts for `tenant`. (The tenant API finds
/// resources within the caller's merchant only, so another tenant's answer `*_not_found`
/// before this check is reached.)
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
    fn a_host_named_in_text_gets_what_it_names_and_no_more() {
        let every = Principal::host_named(None, None, "test").unwrap();
        assert_eq!(every.merchant, crate::payments::default_merchant());
        assert_eq!(every.scopes.len(), Scope::ALL.len());
        assert_eq!(every.mode, Mode::Test);
        let none = Principal::host_named(None, Some(&[]), "live").unwrap();
        assert!(none.scopes.is_empty(), "an empty list grants nothing");
        assert_eq!(none.mode, Mode::Live);
        let acme = MerchantId::derived("acme").to_string();
        let read = ["payments:read".to_owned()];
        let reader = Principal::host_named(Some(&acme), Some(&read), "test").unwrap();
        assert_eq!(reader.merchant.to_string(), acme);
        assert_eq!(reader.scopes, [Scope::PaymentsRead].into());
        for (merchant, scopes, mode) in [
            (Some("acme"), None, "test"),
            (Some("mer_\u{0}"), None, "test"),
            (None, Some(&["payments:*".to_owned()][..]), "test"),
            (None, None, "Live"),
            (None, None, ""),
        ] {
            assert!(Principal::host_named(merchant, scopes, mode).is_err());
        }
    }

    #[test]
    fn scope_and_tenant_both_required() {
        let acme = MerchantId::derived("acme");
        let other = MerchantId::derived("other");
        let key = Principal {
            actor: Actor::ApiKey {
                key: ApiKeyId::derived("k"),
            },
            merchant: acme.clone(),
            scopes: [Scope::PaymentsRead, Scope::PaymentsWrite].into(),
            mode: Mode::Test,
        };
        assert!(authorize(&key, Scope::PaymentsWrite, &acme).is_ok());
        let missing = authorize(&key, Scope::RefundsWrite, &acme).unwrap_err();
        assert_eq!(missing.code(), "forbidden");
        assert!(missing.to_string().contains("refunds:write"));
        let foreign = authorize(&key, Scope::PaymentsRead, &other).unwrap_err();
        assert_eq!(foreign.code(), "forbidden");
        let user = Principal {
            actor: Actor::User {
                user: UserId::derived("u"),
            },
            merchant: other.clone(),
            scopes: Scope::ALL.into(),
            mode: Mode::Live,
        };
        assert!(authorize(&user, Scope::UsersAdmin, &other).is_ok());
        assert!(authorize(&user, Scope::UsersAdmin, &acme).is_err());
    }

    #[test]
    fn nobody_grants_what_it_does_not_hold() {
        let acme = MerchantId::derived("acme");
        let admin = Principal::host(
            acme,
            [Scope::UsersAdmin, Scope::PaymentsRead].into(),
            Mode::Test,
        );
        assert!(
            admin
                .may_grant(&[Scope::PaymentsRead].into(), Mode::Test)
                .is_ok()
        );
        let more = admin
            .may_grant(&[Scope::LedgerWrite].into(), Mode::Test)
            .unwrap_err();
        assert!(more.to_string().contains("ledger:write"), "{more}");
        assert_eq!(
            admin
                .may_grant(&BTreeSet::new(), Mode::Live)
                .unwrap_err()
                .code(),
            "forbidden"
        );
        let live = Principal {
            mode: Mode::Live,
            ..admin
        };
        assert!(
            live.may_grant(&[Scope::UsersAdmin].into(), Mode::Test)
                .is_ok()
        );
        assert!(
            live.may_grant(&[Scope::UsersAdmin].into(), Mode::Live)
                .is_ok()
        );
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
