//! How a tenant's idempotency keys are kept and how they name what they make: the one rule
//! every host follows (REST, gRPC, the bindings), here and nowhere else.
//!
//! - A key is stored scoped by tenant and operation, hashed ([`scoped_key`]): two tenants,
//!   or two operations, never share a key, and a long key stays short.
//! - A payment created under a key is named by the scoped key and the time the key was first
//!   claimed ([`payment_id`]): a request that takes over a lapsed claim names the payment its
//!   first attempt made, and new payments sort by time.
//! - A ledger account or transaction written under a key, without an id of its own, is named
//!   by the tenant, the operation and the key ([`ledger_id_seed`]): there the id is the
//!   idempotency (the ledger replays a known id), so it must not depend on when it ran.
//!
//! Ids named from keys are as guessable as the keys: use unguessable keys (UUIDs), as for
//! any idempotency key.

use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::id::{IdGen, MerchantId, PaymentId};

/// The key as stored: tenant and operation keep callers' keys apart, and the caller's key
/// (up to 255 characters) is hashed to keep the stored key short.
pub fn scoped_key(merchant: &MerchantId, operation: &str, key: &str) -> String {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!("{merchant}:{operation}:{digest}")
}

/// The operation name of payment creation.
pub const CREATE_PAYMENT: &str = "payments.create";

/// The id of a payment a tenant creates: named by its key and the key's first claim, or new
/// without a key (a key claimed before claim times were kept names it by the key alone).
pub fn payment_id(
    merchant: &MerchantId,
    key: Option<&str>,
    claimed_at: Option<Timestamp>,
    ids: &dyn IdGen,
) -> PaymentId {
    match (key, claimed_at) {
        (Some(key), Some(at)) => {
            PaymentId::derived_at(at, &scoped_key(merchant, CREATE_PAYMENT, key))
        }
        (Some(key), None) => PaymentId::derived(&scoped_key(merchant, CREATE_PAYMENT, key)),
        (None, _) => PaymentId::generate(ids),
    }
}

/// The seed a ledger id written under `key` is derived from (`AccountId::derived`,
/// `TransactionId::derived`).
pub fn ledger_id_seed(merchant: &MerchantId, operation: &str, key: &str) -> String {
    format!("{merchant}:{operation}:{key}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::id::RandomIdGen;

    #[test]
    fn keys_are_scoped_by_tenant_and_operation() {
        let a = MerchantId::derived("a");
        let b = MerchantId::derived("b");
        assert_ne!(scoped_key(&a, "x", "k"), scoped_key(&b, "x", "k"));
        assert_ne!(scoped_key(&a, "x", "k"), scoped_key(&a, "y", "k"));
        let long = "k".repeat(255);
        assert!(scoped_key(&a, "x", &long).len() < 120);
    }

    #[test]
    fn keyed_payment_ids_repeat_per_tenant_and_sort_by_claim_time() {
        let clock = Arc::new(crate::clock::SystemClock);
        let ids = RandomIdGen::seeded(clock, 7);
        let (a, b) = (MerchantId::derived("a"), MerchantId::derived("b"));
        let early = Timestamp::from_micros(1_700_000_000_000_000);
        let late = Timestamp::from_micros(1_700_000_001_000_000);
        let first = payment_id(&a, Some("z"), Some(early), &ids);
        assert_eq!(payment_id(&a, Some("z"), Some(early), &ids), first);
        assert_ne!(payment_id(&b, Some("z"), Some(early), &ids), first);
        assert!(payment_id(&a, Some("a"), Some(late), &ids) > first);
        assert_ne!(
            payment_id(&a, None, None, &ids),
            payment_id(&a, None, None, &ids)
        );
    }
}
