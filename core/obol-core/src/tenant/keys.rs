//! How a tenant's idempotency keys are kept and how they name what they make: the one rule
//! every host follows (REST, gRPC, the bindings), here and nowhere else.
//!
//! - A key belongs to a tenant (merchant and mode) and an [`Operation`], and is stored hashed
//!   ([`scoped_key`]): two tenants, the two modes of one merchant, or two operations never
//!   share a key, and a long key stays short.
//! - A payment created under a key is named by the scoped key and the time the key was first
//!   claimed ([`payment_id`]): a request that takes over a lapsed claim names the payment its
//!   first attempt made, and new payments sort by time.
//! - A ledger account or transaction, or a customer, written under a key without an id of its
//!   own is named by the tenant, the operation and the key ([`named_by_key`]): there the id is
//!   the idempotency (the ledger replays a known id), so it must not depend on when it ran.
//!
//! Test mode keeps the names keys had before modes existed (everything then was test mode),
//! so a retry across an upgrade still finds its first answer; live mode's are apart.
//!
//! Ids named from keys are as guessable as the keys: use unguessable keys (UUIDs), as for
//! any idempotency key.

use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::clock::Timestamp;
use crate::id::{IdGen, MerchantId, PaymentId};
use crate::mode::Mode;

/// What a keyed request does: each operation keeps its keys apart from every other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Create a payment (and maybe confirm it).
    CreatePayment,
    /// Attach a method to a payment.
    AttachMethod,
    /// Confirm a payment.
    ConfirmPayment,
    /// Capture, cancel, refund or complete an action on a payment.
    PaymentAction,
    /// Create a customer.
    CreateCustomer,
    /// Save a customer's payment method.
    SaveMethod,
    /// Open a ledger account.
    CreateAccount,
    /// Post a ledger transaction.
    Transfer,
    /// Reverse a ledger transaction.
    Reverse,
    /// Place a hold.
    Hold,
    /// Post a hold.
    PostHold,
    /// Void a hold.
    VoidHold,
    /// Create a user.
    CreateUser,
    /// Issue an API key.
    IssueApiKey,
    /// Add a webhook endpoint.
    AddEndpoint,
}

impl Operation {
    /// The name stored in keys (kept from before this type existed: stored keys stay valid).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::CreatePayment => "payments.create",
            Operation::AttachMethod => "payments.attach",
            Operation::ConfirmPayment => "payments.confirm",
            Operation::PaymentAction => "payments",
            Operation::CreateCustomer => "customers",
            Operation::SaveMethod => "payment_methods",
            Operation::CreateAccount => "accounts",
            Operation::Transfer => "transactions",
            Operation::Reverse => "reversals",
            Operation::Hold => "holds",
            Operation::PostHold => "hold_posts",
            Operation::VoidHold => "hold_voids",
            Operation::CreateUser => "users",
            Operation::IssueApiKey => "api_keys",
            Operation::AddEndpoint => "webhook_endpoints",
        }
    }
}

/// Whose keys: the merchant in its mode.
fn owner(merchant: &MerchantId, mode: Mode) -> String {
    crate::mode::tenant_label(merchant, mode)
}

/// The key as stored: tenant, mode and operation keep callers' keys apart, and the caller's
/// key (up to 255 characters) is hashed to keep the stored key short.
pub fn scoped_key(merchant: &MerchantId, mode: Mode, operation: Operation, key: &str) -> String {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!("{}:{}:{digest}", owner(merchant, mode), operation.as_str())
}

/// The id of a payment a tenant creates: named by its key and the key's first claim, or new
/// without a key (a key claimed before claim times were kept names it by the key alone).
pub fn payment_id(
    merchant: &MerchantId,
    mode: Mode,
    key: Option<&str>,
    claimed_at: Option<Timestamp>,
    ids: &dyn IdGen,
) -> PaymentId {
    let scoped = |key| scoped_key(merchant, mode, Operation::CreatePayment, key);
    match (key, claimed_at) {
        (Some(key), Some(at)) => PaymentId::derived_at(at, &scoped(key)),
        (Some(key), None) => PaymentId::derived(&scoped(key)),
        (None, _) => PaymentId::generate(ids),
    }
}

/// The id of something `principal` makes with `operation` under `key` and no id of its own:
/// derived (`derive`, say `AccountId::derived`) from the tenant, operation and key, so a retry
/// names the same thing; new (`generate`) without a key.
pub fn named_by_key<T>(
    principal: &Principal,
    operation: Operation,
    key: Option<&str>,
    derive: impl FnOnce(&str) -> T,
    generate: impl FnOnce() -> T,
) -> T {
    match key {
        Some(key) => {
            let merchant = principal.merchant();
            let seed = format!(
                "{}:{}:{key}",
                owner(merchant, principal.mode()),
                operation.as_str()
            );
            derive(&seed)
        }
        None => generate(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use super::*;
    use crate::id::{AccountId, RandomIdGen};

    #[test]
    fn keys_are_scoped_by_tenant_mode_and_operation() {
        let a = MerchantId::derived("a");
        let b = MerchantId::derived("b");
        let (test, live) = (Mode::Test, Mode::Live);
        let (create, attach) = (Operation::CreatePayment, Operation::AttachMethod);
        let first = scoped_key(&a, test, create, "k");
        assert_ne!(first, scoped_key(&b, test, create, "k"));
        assert_ne!(first, scoped_key(&a, test, attach, "k"));
        assert_ne!(first, scoped_key(&a, live, create, "k"));
        let long = "k".repeat(255);
        assert!(scoped_key(&a, live, create, &long).len() < 130);
        // Test mode's keys are named as before modes existed.
        let digest = hex::encode(Sha256::digest(b"k"));
        assert_eq!(first, format!("{a}:payments.create:{digest}"));
    }

    #[test]
    fn keyed_payment_ids_repeat_per_tenant_and_sort_by_claim_time() {
        let clock = Arc::new(crate::clock::SystemClock);
        let ids = RandomIdGen::seeded(clock, 7);
        let (a, b) = (MerchantId::derived("a"), MerchantId::derived("b"));
        let test = Mode::Test;
        let early = Timestamp::from_micros(1_700_000_000_000_000);
        let late = Timestamp::from_micros(1_700_000_001_000_000);
        let first = payment_id(&a, test, Some("z"), Some(early), &ids);
        assert_eq!(payment_id(&a, test, Some("z"), Some(early), &ids), first);
        assert_ne!(payment_id(&b, test, Some("z"), Some(early), &ids), first);
        assert_ne!(
            payment_id(&a, Mode::Live, Some("z"), Some(early), &ids),
            first
        );
        assert!(payment_id(&a, test, Some("a"), Some(late), &ids) > first);
        assert_ne!(
            payment_id(&a, test, None, None, &ids),
            payment_id(&a, test, None, None, &ids)
        );
    }

    #[test]
    fn ids_named_by_keys_repeat_per_tenant_and_mode() {
        let a = MerchantId::derived("a");
        let every: BTreeSet<_> = crate::auth::Scope::ALL.into();
        let test = Principal::host(a.clone(), every.clone(), Mode::Test);
        let live = Principal::host(a.clone(), every, Mode::Live);
        let named = |who: &Principal, key| {
            named_by_key(
                who,
                Operation::CreateAccount,
                key,
                AccountId::derived,
                || AccountId::derived("fresh"),
            )
        };
        assert_eq!(named(&test, Some("k")), named(&test, Some("k")));
        assert_ne!(named(&test, Some("k")), named(&live, Some("k")));
        assert_eq!(named(&test, None), AccountId::derived("fresh"));
        // As before modes existed, in test mode.
        assert_eq!(
            named(&test, Some("k")),
            AccountId::derived(&format!("{a}:accounts:k"))
        );
    }
}
