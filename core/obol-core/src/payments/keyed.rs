//! Payments created under an idempotency key and named by it: one naming rule for every host
//! (the servers scope the key by tenant first; the bindings use it as given, so Kotlin, Swift,
//! Python and Node name the same payment for the same key on one store).

use serde::Serialize;

use super::engine::Payments;
use super::model::{NewPayment, Payment};
use crate::clock::Timestamp;
use crate::error::Result;
use crate::id::{IdGen, PaymentId};
use crate::idempotency::run_once;
use crate::money::AssetCode;

/// The id of a payment created under an idempotency key. Named by `seed` (the key, scoped as
/// its host keeps keys apart), so a request that takes over a lapsed claim reaches the payment
/// its first attempt made; sorted by the key's first claim, so new payments are written next to
/// each other. A key claimed before claim times were kept names its payment by the seed alone;
/// without a key the id is new.
pub fn keyed_payment_id(
    seed: Option<&str>,
    claimed_at: Option<Timestamp>,
    ids: &dyn IdGen,
) -> PaymentId {
    match (seed, claimed_at) {
        (Some(seed), Some(at)) => PaymentId::derived_at(at, seed),
        (Some(seed), None) => PaymentId::derived(seed),
        (None, _) => PaymentId::generate(ids),
    }
}

/// What a keyed creation is compared by: everything the caller chose, not the id the engine
/// picks after the claim.
#[derive(Serialize)]
struct CreateFingerprint<'a> {
    operation: &'static str,
    id: Option<&'a PaymentId>,
    terms: &'a NewPayment,
}

/// The id slot of terms whose payment [`Payments::create_once`] names.
fn unnamed() -> PaymentId {
    PaymentId::derived("obol:payments:unnamed")
}

impl NewPayment {
    /// Terms for [`Payments::create_once`], which names the payment.
    pub fn unnamed(amount: i128, asset: AssetCode) -> Self {
        NewPayment::new(unnamed(), amount, asset)
    }
}

impl Payments {
    /// Creates a payment, at most once per idempotency key: the same key and terms answer the
    /// first result, other terms `idempotency_conflict`. The payment is `id` when given; else,
    /// with a key, it is named by the key and the key's first claim ([`keyed_payment_id`]),
    /// and without one it gets a new id. `terms.id` is replaced by that id.
    pub async fn create_once(
        &self,
        key: Option<&str>,
        id: Option<PaymentId>,
        mut terms: NewPayment,
    ) -> Result<Payment> {
        let ids = self.ledger().ids().clone();
        let Some(key) = key else {
            terms.id = id.unwrap_or_else(|| PaymentId::generate(ids.as_ref()));
            return self.create(terms).await;
        };
        // The id slot holds a fixed name while hashing, so the hash is the terms'.
        terms.id = unnamed();
        let fingerprint = CreateFingerprint {
            operation: "payments.create",
            id: id.as_ref(),
            terms: &terms,
        };
        let seed = format!("obol:payments.create:{}:{key}", terms.merchant);
        let store = self.ledger().store().as_ref();
        let now = self.ledger().now();
        run_once(store, key, &fingerprint, now, |claimed_at| {
            let mut terms = terms.clone();
            terms.id = match &id {
                Some(given) => given.clone(),
                None => keyed_payment_id(Some(&seed), claimed_at, ids.as_ref()),
            };
            self.create(terms)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::id::RandomIdGen;
    use crate::memory::MemoryStore;
    use crate::payments::routing::ProviderRegistry;
    use crate::testing::test_ledger;

    async fn payments() -> Payments {
        let (ledger, _) = test_ledger(Arc::new(MemoryStore::new()), 91).await;
        Payments::new(Arc::new(ledger), ProviderRegistry::new())
    }

    fn terms(amount: i128) -> NewPayment {
        NewPayment::unnamed(amount, AssetCode::new("USD").unwrap())
    }

    #[tokio::test]
    async fn a_key_names_one_payment_and_other_terms_conflict() {
        let payments = payments().await;
        let first = payments
            .create_once(Some("k-1"), None, terms(500))
            .await
            .unwrap();
        let again = payments
            .create_once(Some("k-1"), None, terms(500))
            .await
            .unwrap();
        assert_eq!(again.id, first.id);
        assert_ne!(first.id, unnamed());
        let other = payments.create_once(Some("k-1"), None, terms(600)).await;
        assert_eq!(other.unwrap_err().code(), "idempotency_conflict");
        let second = payments
            .create_once(Some("k-2"), None, terms(500))
            .await
            .unwrap();
        assert_ne!(second.id, first.id);
    }

    #[tokio::test]
    async fn a_given_id_is_kept_and_no_key_gives_a_new_id() {
        let payments = payments().await;
        let given = PaymentId::derived("given");
        let made = payments
            .create_once(Some("k-3"), Some(given.clone()), terms(500))
            .await
            .unwrap();
        assert_eq!(made.id, given);
        let a = payments.create_once(None, None, terms(500)).await.unwrap();
        let b = payments.create_once(None, None, terms(500)).await.unwrap();
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn keyed_ids_sort_by_claim_time() {
        let clock = Arc::new(crate::clock::SystemClock);
        let ids = RandomIdGen::seeded(clock, 7);
        let early = Timestamp::from_micros(1_700_000_000_000_000);
        let late = Timestamp::from_micros(1_700_000_001_000_000);
        let a = keyed_payment_id(Some("z"), Some(early), &ids);
        let b = keyed_payment_id(Some("a"), Some(late), &ids);
        assert!(a < b);
        assert_eq!(keyed_payment_id(Some("z"), Some(early), &ids), a);
        assert_eq!(
            keyed_payment_id(Some("z"), None, &ids),
            PaymentId::derived("z")
        );
    }
}
