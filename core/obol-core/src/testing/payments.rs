//! Payment conformance cases every Store must pass: flows through the sandbox provider, the
//! ledger agreeing with the payments, refusals changing nothing, and recovery after a process
//! dies around a provider call. Each takes a fresh, empty store.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::faulty::{Fault, Faulty};
use super::test_ledger;
use crate::clock::ManualClock;
use crate::error::Error;
use crate::id::PaymentId;
use crate::idempotency::Claim;
use crate::ledger::model::Direction;
use crate::money::AssetCode;
use crate::payments::model::default_merchant;
use crate::payments::provider::{
    Authorizer, Provider, ProviderEvent, ProviderEventKind, RefundOutcome,
};
use crate::payments::{
    CancellationReason, CardDetails, Child, DisputeStatus, IdOrigin, NewCustomer, NewPayment,
    Payment, PaymentRequest, PaymentStatus, Payments, ProviderRegistry, RefundStatus, Sandbox,
};
use crate::store::Store;

fn usd() -> AssetCode {
    AssetCode::new("USD").unwrap()
}

async fn engine(
    store: Arc<dyn Store>,
    provider: Arc<dyn Provider>,
    seed: u64,
) -> (Payments, Arc<ManualClock>) {
    let (ledger, clock) = test_ledger(store, seed).await;
    let mut providers = ProviderRegistry::new();
    providers.register(provider);
    (Payments::new(Arc::new(ledger), providers), clock)
}

/// Creates a payment and attaches a sandbox card.
async fn with_card(payments: &Payments, number: &str, amount: i128, manual: bool) -> Payment {
    let id = PaymentId::generate(payments.ledger().ids().as_ref());
    let mut new = NewPayment::new(id.clone(), amount, usd());
    if manual {
        new = new.manual_capture();
    }
    payments.create(new).await.unwrap();
    let card = CardDetails::new(number, 12, 2030, "123", payments.ledger().now()).unwrap();
    let token = payments
        .tokenize_card("sandbox", &crate::payments::default_merchant(), &card)
        .await
        .unwrap();
    payments.attach_method(&id, token).await.unwrap()
}

/// The merchant's (posted, pending) balance in USD.
async fn merchant(payments: &Payments) -> (i128, i128) {
    let accounts = payments
        .accounts(&default_merchant(), crate::mode::Mode::Test, &usd())
        .await
        .unwrap();
    let balance = payments.ledger().balance(&accounts.merchant).await.unwrap();
    (
        balance.posted(Direction::Credit),
        balance.credits_pending - balance.debits_pending,
    )
}

async fn event_kinds(payments: &Payments, id: &PaymentId) -> Vec<String> {
    payments
        .events_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| &e.event.payment_id == id)
        .map(|e| e.event.kind)
        .collect()
}

pub async fn manual_capture_in_parts_and_refund(store: Arc<dyn Store>) {
    let sandbox = Arc::new(Sandbox::ephemeral());
    let (payments, _) = engine(store.clone(), sandbox.clone(), 31).await;
    let payment = with_card(&payments, "4242424242424242", 1000, true).await;
    let id = payment.id.clone();
    let method = payment.method.clone().unwrap();
    assert_eq!(method.card.unwrap().last4, "4242");
    let held = payments.confirm(&id).await.unwrap();
    assert_eq!(held.state.status, PaymentStatus::RequiresCapture);
    assert_eq!(merchant(&payments).await, (0, 1000));
    let part = payments.capture(&id, Some(300), false).await.unwrap();
    assert_eq!(part.state.status, PaymentStatus::RequiresCapture);
    assert_eq!(merchant(&payments).await, (300, 700));
    let over = payments.capture(&id, Some(701), false).await.unwrap_err();
    assert_eq!(over.code(), "exceeds_authorized");
    let done = payments.capture(&id, None, false).await.unwrap();
    assert_eq!(done.state.status, PaymentStatus::Succeeded);
    assert_eq!(merchant(&payments).await, (1000, 0));
    let first = payments.refund(&id, 250, None).await.unwrap();
    assert_eq!(first.status, RefundStatus::Succeeded);
    payments
        .refund(&id, 150, Some("requested_by_customer".into()))
        .await
        .unwrap();
    let refunded = payments.payment(&id).await.unwrap();
    assert_eq!(refunded.state.refunded, 400);
    assert_eq!(payments.children(&id).await.unwrap().len(), 2);
    let too_much = payments.refund(&id, 601, None).await.unwrap_err();
    assert_eq!(too_much.code(), "exceeds_refundable");
    assert_eq!(merchant(&payments).await, (600, 0));
    assert_eq!(sandbox.net_captured().unwrap(), 600);
    // The provider kept 2.9 % + 30 of each capture: 38 of 300 and 50 of 700, as its own leg.
    assert_eq!(payments.payment(&id).await.unwrap().fees, 88);
    let accounts = payments
        .accounts(&default_merchant(), crate::mode::Mode::Test, &usd())
        .await
        .unwrap();
    let fees = payments.ledger().balance(&accounts.fees).await.unwrap();
    assert_eq!(fees.posted(Direction::Debit), 88);
    let clearing = payments
        .ledger()
        .balance(&accounts.provider_clearing)
        .await
        .unwrap();
    assert_eq!(clearing.posted(Direction::Debit), 600 - 88);
    assert_eq!(
        event_kinds(&payments, &id).await,
        [
            "payment.created",
            "payment.requires_confirmation",
            "payment.processing",
            "payment.amount_capturable_updated",
            "payment.captured",
            "payment.succeeded",
            "refund.created",
            "refund.succeeded",
            "refund.created",
            "refund.succeeded",
        ]
    );
    super::conformance::assert_balanced(store.as_ref()).await;
}

pub async fn declines_then_another_card_succeeds(store: Arc<dyn Store>) {
    let sandbox = Arc::new(Sandbox::ephemeral());
    let (payments, _) = engine(store.clone(), sandbox.clone(), 32).await;
    let payment = with_card(&payments, "4000000000009995", 500, false).await;
    let declined = payments.confirm(&payment.id).await.unwrap();
    assert_eq!(declined.state.status, PaymentStatus::RequiresPaymentMethod);
    assert_eq!(declined.last_decline.as_deref(), Some("insufficient_funds"));
    assert_eq!(merchant(&payments).await, (0, 0));
    let card =
        CardDetails::new("4242424242424242", 1, 2031, "999", payments.ledger().now()).unwrap();
    let token = payments
        .tokenize_card("sandbox", &crate::payments::default_merchant(), &card)
        .await
        .unwrap();
    payments.attach_method(&payment.id, token).await.unwrap();
    let paid = payments.confirm(&payment.id).await.unwrap();
    assert_eq!(paid.state.status, PaymentStatus::Succeeded);
    assert_eq!(paid.attempt, 2);
    assert_eq!(paid.state.captured, 500);
    assert_eq!(merchant(&payments).await, (500, 0));
    super::conformance::assert_balanced(store.as_ref()).await;
}

pub async fn three_d_secure_then_success(store: Arc<dyn Store>) {
    let (payments, _) = engine(store, Arc::new(Sandbox::ephemeral()), 33).await;
    let payment = with_card(&payments, "4000002500003155", 700, false).await;
    let waiting = payments.confirm(&payment.id).await.unwrap();
    assert_eq!(waiting.state.status, PaymentStatus::RequiresAction);
    assert!(waiting.next_action_url.unwrap().contains("3ds"));
    let paid = payments.complete_action(&payment.id).await.unwrap();
    assert_eq!(paid.state.status, PaymentStatus::Succeeded);
    assert_eq!(merchant(&payments).await, (700, 0));
}

pub async fn refusals_change_nothing(store: Arc<dyn Store>) {
    let (payments, _) = engine(store, Arc::new(Sandbox::ephemeral()), 34).await;
    let payment = with_card(&payments, "4242424242424242", 100, true).await;
    payments.confirm(&payment.id).await.unwrap();
    let canceled = payments
        .cancel(&payment.id, CancellationReason::RequestedByCustomer)
        .await
        .unwrap();
    assert_eq!(canceled.state.status, PaymentStatus::Canceled);
    assert_eq!(merchant(&payments).await, (0, 0));
    for error in [
        payments
            .capture(&payment.id, Some(10), false)
            .await
            .unwrap_err(),
        payments.confirm(&payment.id).await.unwrap_err(),
        payments.refund(&payment.id, 10, None).await.unwrap_err(),
        payments
            .cancel(&payment.id, CancellationReason::Duplicate)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(error.code(), "invalid_transition", "{error}");
    }
    assert_eq!(payments.payment(&payment.id).await.unwrap(), canceled);
    let unknown = PaymentId::generate(payments.ledger().ids().as_ref());
    assert_eq!(
        payments.confirm(&unknown).await.unwrap_err().code(),
        "payment_not_found"
    );
    let zero = NewPayment::new(unknown.clone(), 0, usd());
    assert_eq!(
        payments.create(zero).await.unwrap_err().code(),
        "invalid_amount"
    );
    let bad_asset = NewPayment::new(unknown.clone(), 5, AssetCode::new("NOPE").unwrap());
    assert_eq!(
        payments.create(bad_asset).await.unwrap_err().code(),
        "unknown_asset"
    );
    assert_eq!(
        payments.payment(&unknown).await.unwrap_err().code(),
        "payment_not_found"
    );
}

pub async fn create_is_idempotent(store: Arc<dyn Store>) {
    let (payments, _) = engine(store, Arc::new(Sandbox::ephemeral()), 35).await;
    let id = PaymentId::generate(payments.ledger().ids().as_ref());
    let new = NewPayment::new(id.clone(), 42, usd());
    let first = payments.create(new.clone()).await.unwrap();
    assert_eq!(payments.create(new.clone()).await.unwrap(), first);
    let other = NewPayment {
        amount: 43,
        ..new.clone()
    };
    assert_eq!(
        payments.create(other.clone()).await.unwrap_err().code(),
        "idempotency_conflict"
    );
    // An id said to be fresh that a payment has after all: the write refuses it and the call
    // answers as a replay would, never with a second payment.
    let fresh = |new| payments.create_with_method_from(new, None, IdOrigin::Fresh);
    assert_eq!(fresh(new).await.unwrap(), first);
    assert_eq!(
        fresh(other).await.unwrap_err().code(),
        "idempotency_conflict"
    );
}

pub async fn expiry_releases_the_authorization(store: Arc<dyn Store>) {
    let (payments, _) = engine(store, Arc::new(Sandbox::ephemeral()), 36).await;
    let untouched = with_card(&payments, "4242424242424242", 100, true).await;
    payments.confirm(&untouched.id).await.unwrap();
    let partly = with_card(&payments, "4242424242424242", 100, true).await;
    payments.confirm(&partly.id).await.unwrap();
    payments.capture(&partly.id, Some(40), false).await.unwrap();
    assert_eq!(merchant(&payments).await, (40, 160));
    let expired = payments.expire(&untouched.id).await.unwrap();
    assert_eq!(expired.state.status, PaymentStatus::Canceled);
    assert_eq!(
        expired.state.cancellation,
        Some(CancellationReason::Expired)
    );
    let kept = payments.expire(&partly.id).await.unwrap();
    assert_eq!(kept.state.status, PaymentStatus::Succeeded);
    assert_eq!(merchant(&payments).await, (40, 0));
}

pub async fn timeouts_settle_by_status_sync(store: Arc<dyn Store>) {
    let sandbox = Arc::new(Sandbox::ephemeral());
    let (payments, clock) = engine(store, sandbox.clone(), 37).await;
    let lost = with_card(&payments, "4000000000000085", 900, false).await;
    let slow = with_card(&payments, "4000000000000044", 100, false).await;
    for id in [&lost.id, &slow.id] {
        let left = payments.confirm(id).await.unwrap();
        assert_eq!(left.state.status, PaymentStatus::Processing);
    }
    // Too recent to sync: a call may still be in flight.
    assert_eq!(
        payments
            .sync_processing(Duration::from_secs(60))
            .await
            .unwrap(),
        0
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        payments
            .sync_processing(Duration::from_secs(60))
            .await
            .unwrap(),
        2
    );
    for id in [&lost.id, &slow.id] {
        let settled = payments.payment(id).await.unwrap();
        assert_eq!(settled.state.status, PaymentStatus::Succeeded);
    }
    assert_eq!(sandbox.charge_count().unwrap(), 2);
    assert_eq!(merchant(&payments).await, (1000, 0));
}

async fn killed<T>(work: Pin<Box<dyn Future<Output = T> + Send + '_>>) {
    let outcome = tokio::time::timeout(Duration::from_millis(50), work).await;
    assert!(outcome.is_err(), "the call was meant to hang");
}

pub async fn a_crash_around_the_provider_call_never_charges_twice(store: Arc<dyn Store>) {
    for (seed, crash) in [
        (38, Fault::HangBeforeAuthorize),
        (39, Fault::HangAfterAuthorize),
    ] {
        let sandbox = Arc::new(Sandbox::ephemeral());
        let dying = Arc::new(Faulty::new(sandbox.clone(), &[crash]));
        let (payments, _) = engine(store.clone(), dying, seed).await;
        let payment = with_card(&payments, "4242424242424242", 250, false).await;
        killed(Box::pin(payments.confirm(&payment.id))).await;
        assert_eq!(
            payments.payment(&payment.id).await.unwrap().state.status,
            PaymentStatus::Processing
        );
        // A new engine instance (the restarted process) over the same store and provider.
        let (restarted, clock) = engine(store.clone(), sandbox.clone(), seed + 100).await;
        clock.advance(Duration::from_secs(120));
        let changed = restarted
            .sync_processing(Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(changed, 1);
        let after = restarted.payment(&payment.id).await.unwrap();
        match crash {
            Fault::HangBeforeAuthorize => {
                assert_eq!(after.state.status, PaymentStatus::RequiresConfirmation);
                assert_eq!(sandbox.charge_count().unwrap(), 0);
                let paid = restarted.confirm(&payment.id).await.unwrap();
                assert_eq!(paid.state.status, PaymentStatus::Succeeded);
            }
            _ => assert_eq!(after.state.status, PaymentStatus::Succeeded),
        }
        assert_eq!(sandbox.charge_count().unwrap(), 1);
        assert_eq!(sandbox.net_captured().unwrap(), 250);
    }
    let (payments, _) = engine(store.clone(), Arc::new(Sandbox::ephemeral()), 40).await;
    assert_eq!(merchant(&payments).await, (500, 0));
    super::conformance::assert_balanced(store.as_ref()).await;
}

pub async fn concurrent_captures_never_overcapture(store: Arc<dyn Store>) {
    let sandbox = Arc::new(Sandbox::ephemeral());
    let (payments, _) = engine(store, sandbox.clone(), 41).await;
    let payments = Arc::new(payments);
    let payment = with_card(&payments, "4242424242424242", 1000, true).await;
    payments.confirm(&payment.id).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (payments, id) = (payments.clone(), payment.id.clone());
            tokio::spawn(async move { payments.capture(&id, Some(100), false).await })
        })
        .collect();
    let mut ok = 0i128;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(error) => assert!(
                matches!(error, Error::Contention { .. }),
                "unexpected {error}"
            ),
        }
    }
    let after = payments.payment(&payment.id).await.unwrap();
    assert!(ok >= 1);
    assert_eq!(after.state.captured, ok * 100);
    assert_eq!(merchant(&payments).await.0, ok * 100);
    assert_eq!(sandbox.net_captured().unwrap(), ok * 100);
}

pub async fn idempotency_keys_follow_the_contract(store: Arc<dyn Store>) {
    let (ledger, clock) = test_ledger(store.clone(), 42).await;
    let now = ledger.now();
    let lease = now.plus(Duration::from_secs(60));
    let first = Claim::first(now);
    assert_eq!(
        store.claim_key("k1", "h1", now, lease).await.unwrap(),
        first
    );
    assert_eq!(
        store.claim_key("k1", "h1", now, lease).await.unwrap(),
        Claim::InProgress
    );
    assert_eq!(
        store.claim_key("k1", "h2", now, lease).await.unwrap(),
        Claim::Conflict
    );
    // The holder died: once its lease ran out, a retry takes the key over, and learns when
    // the key was first claimed (not now).
    clock.advance(Duration::from_secs(61));
    let later = ledger.now();
    let relet = later.plus(Duration::from_secs(60));
    assert_eq!(
        store.claim_key("k1", "h1", later, relet).await.unwrap(),
        Claim::Started {
            claimed_at: Some(now),
            taken_over: true,
        }
    );
    store.complete_key("k1", "{\"Ok\":1}").await.unwrap();
    assert_eq!(
        store.claim_key("k1", "h1", later, relet).await.unwrap(),
        Claim::Completed("{\"Ok\":1}".into())
    );
    // A released claim (retryable failure) lapses at once: a retry takes it over, first
    // claimed when it was; a completed one stays.
    let fresh = Claim::first(later);
    assert_eq!(
        store.claim_key("k2", "h", later, relet).await.unwrap(),
        fresh
    );
    store.release_key("k2").await.unwrap();
    store.release_key("k1").await.unwrap();
    let again = later.plus(Duration::from_secs(1));
    assert_eq!(
        store
            .claim_key("k2", "h", again, again.plus(Duration::from_secs(60)))
            .await
            .unwrap(),
        Claim::Started {
            claimed_at: Some(later),
            taken_over: true,
        }
    );
    assert_eq!(
        store.claim_key("k2", "h", again, relet).await.unwrap(),
        Claim::InProgress
    );
    assert!(matches!(
        store.claim_key("k1", "h1", later, relet).await.unwrap(),
        Claim::Completed(_)
    ));
}

pub async fn idempotency_claims_at_once_keep_the_contract(store: Arc<dyn Store>) {
    let (ledger, _) = test_ledger(store.clone(), 43).await;
    let now = ledger.now();
    let lease = now.plus(Duration::from_secs(60));
    // Eighty racers on one new key, beside forty distinct keys: the shared key is started
    // exactly once, the other racers see it in progress, and every distinct key is started.
    let claims = (0..120).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let key = if n % 3 == 1 {
                format!("own-{n}")
            } else {
                "shared".to_owned()
            };
            (n, store.claim_key(&key, "h", now, lease).await.unwrap())
        })
    });
    let mut started_shared = 0;
    for claim in futures::future::join_all(claims).await {
        let (n, claim) = claim.unwrap();
        match (n % 3, claim) {
            (1, claim) => assert!(matches!(claim, Claim::Started { .. }), "{n}: {claim:?}"),
            (_, Claim::Started { .. }) => started_shared += 1,
            (_, claim) => assert_eq!(claim, Claim::InProgress, "{n}"),
        }
    }
    assert_eq!(started_shared, 1);
    assert_eq!(
        store
            .claim_key("shared", "other", now, lease)
            .await
            .unwrap(),
        Claim::Conflict
    );
    // Completions at once, each readable afterwards; a key with a NUL byte (which a store may
    // refuse) fails alone, never its neighbours.
    let completions = (0..40).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let key = format!("own-{}", 3 * n + 1);
            store
                .complete_key(&key, &format!("{{\"Ok\":{n}}}"))
                .await
                .unwrap();
        })
    });
    let hostile = store.claim_key("bad\0key", "h", now, lease);
    let (done, _) = futures::join!(futures::future::join_all(completions), hostile);
    assert!(done.into_iter().all(|d| d.is_ok()));
    for n in 0..40 {
        assert_eq!(
            store
                .claim_key(&format!("own-{}", 3 * n + 1), "h", now, lease)
                .await
                .unwrap(),
            Claim::Completed(format!("{{\"Ok\":{n}}}"))
        );
    }
}

pub async fn identical_requests_with_one_key_run_once(store: Arc<dyn Store>) {
    let sandbox = Arc::new(Sandbox::ephemeral());
    let slow = Faulty::new(
        sandbox.clone(),
        &[Fault::SlowAuthorize(Duration::from_millis(100))],
    );
    let (payments, _) = engine(store, Arc::new(slow), 43).await;
    let payments = Arc::new(payments);
    let payment = with_card(&payments, "4242424242424242", 800, false).await;
    let request = PaymentRequest::Confirm {
        payment: payment.id.clone(),
    };
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (payments, request) = (payments.clone(), request.clone());
            tokio::spawn(async move { payments.execute(Some("confirm-1"), request).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(paid) => answers.push(paid),
            Err(error) => assert_eq!(error.code(), "idempotency_in_progress", "{error}"),
        }
    }
    assert_eq!(sandbox.charge_count().unwrap(), 1);
    assert!(!answers.is_empty());
    let replay = payments.execute(Some("confirm-1"), request).await.unwrap();
    assert_eq!(replay.state.status, PaymentStatus::Succeeded);
    for answer in &answers {
        assert_eq!(answer, &replay);
    }
    assert_eq!(sandbox.charge_count().unwrap(), 1);
    assert_eq!(merchant(&payments).await, (800, 0));
    // The same key with other parameters is refused and runs nothing.
    let other = PaymentRequest::Refund {
        payment: payment.id.clone(),
        amount: Some(1),
        reason: None,
    };
    let err = payments
        .execute(Some("confirm-1"), other.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "idempotency_conflict");
    // A failure that is not retryable is stored and replayed like a success.
    let bad = PaymentRequest::Refund {
        payment: payment.id.clone(),
        amount: Some(801),
        reason: None,
    };
    let first = payments
        .execute(Some("refund-1"), bad.clone())
        .await
        .unwrap_err();
    assert_eq!(first.code(), "exceeds_refundable");
    assert_eq!(
        payments.execute(Some("refund-1"), bad).await.unwrap_err(),
        first
    );
    let bad_key = payments.execute(Some(""), other).await.unwrap_err();
    assert_eq!(bad_key.code(), "invalid_id");
}

pub async fn disputes_hold_then_return_or_take_the_money(store: Arc<dyn Store>) {
    let (payments, _) = engine(store.clone(), Arc::new(Sandbox::ephemeral()), 44).await;
    let payment = with_card(&payments, "4000000000000259", 1000, false).await;
    let id = payments.confirm(&payment.id).await.unwrap().id;
    payments.refund(&id, 300, None).await.unwrap();
    let won = payments.open_dispute(&id, 200, "fraudulent").await.unwrap();
    assert_eq!(won.status, DisputeStatus::NeedsResponse);
    assert_eq!(merchant(&payments).await, (700, -200));
    let err = payments.refund(&id, 501, None).await.unwrap_err();
    assert_eq!(err.code(), "exceeds_refundable");
    payments
        .update_dispute(&won.id, DisputeStatus::UnderReview)
        .await
        .unwrap();
    payments
        .update_dispute(&won.id, DisputeStatus::Won)
        .await
        .unwrap();
    assert_eq!(merchant(&payments).await, (700, 0));
    assert_eq!(payments.payment(&id).await.unwrap().state.disputed, 0);

    let lost = payments
        .open_dispute(&id, 100, "product_not_received")
        .await
        .unwrap();
    let decided = payments
        .update_dispute(&lost.id, DisputeStatus::Lost)
        .await
        .unwrap();
    assert_eq!(decided.status, DisputeStatus::Lost);
    assert_eq!(merchant(&payments).await, (600, 0));
    let after = payments.payment(&id).await.unwrap();
    assert_eq!((after.state.refunded, after.state.disputed), (300, 100));
    assert_eq!(after.state.refundable(), 600);
    let again = payments
        .update_dispute(&lost.id, DisputeStatus::Won)
        .await
        .unwrap_err();
    assert_eq!(again.code(), "invalid_transition");
    let unknown = crate::id::DisputeId::generate(payments.ledger().ids().as_ref());
    let missing = payments
        .update_dispute(&unknown, DisputeStatus::Won)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), "dispute_not_found");
    let kinds = event_kinds(&payments, &id).await;
    assert!(kinds.ends_with(&["dispute.created".into(), "dispute.lost".into()]));
    let children = payments.children(&id).await.unwrap();
    assert_eq!(children.len(), 3);
    assert!(matches!(&children[2], Child::Dispute(d) if d.status == DisputeStatus::Lost));
    super::conformance::assert_balanced(store.as_ref()).await;
}

pub async fn refunds_fail_cancel_or_settle_later(store: Arc<dyn Store>) {
    let sandbox = Arc::new(Sandbox::ephemeral());
    let scripted = Arc::new(Faulty::new(sandbox.clone(), &[]).with_refunds(vec![
        Some(Ok(RefundOutcome::Failed)),
        Some(Err(Error::ProviderUnavailable {
            provider: "sandbox".into(),
            reason: "connection refused".into(),
        })),
        None,
    ]));
    let (payments, clock) = engine(store.clone(), scripted, 45).await;
    let payment = with_card(&payments, "4242424242424242", 500, false).await;
    let id = payments.confirm(&payment.id).await.unwrap().id;

    let failed = payments.refund(&id, 100, None).await.unwrap();
    assert_eq!(failed.status, RefundStatus::Failed);
    let err = payments.refund(&id, 100, None).await.unwrap_err();
    assert_eq!(err.code(), "provider_unavailable");
    assert_eq!(payments.payment(&id).await.unwrap().state.refunded, 0);
    assert_eq!(merchant(&payments).await, (500, 0));

    // Made at the provider, but the answer was lost: pending, money held back.
    let unknown = payments.refund(&id, 120, None).await.unwrap();
    assert_eq!(unknown.status, RefundStatus::Pending);
    assert_eq!(merchant(&payments).await, (500, -120));
    assert_eq!(
        payments
            .sync_refunds(Duration::from_secs(60))
            .await
            .unwrap(),
        0
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        payments
            .sync_refunds(Duration::from_secs(60))
            .await
            .unwrap(),
        1
    );
    assert_eq!(merchant(&payments).await, (380, 0));
    assert_eq!(sandbox.net_captured().unwrap(), 380);
    let statuses: Vec<&str> = payments
        .children(&id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.status())
        .collect();
    assert_eq!(statuses, ["failed", "canceled", "succeeded"]);
    super::conformance::assert_balanced(store.as_ref()).await;
}

pub async fn provider_webhooks_apply_once(store: Arc<dyn Store>) {
    let sandbox = Arc::new(Sandbox::ephemeral());
    let (payments, _) = engine(store.clone(), sandbox.clone(), 46).await;
    let now = payments.ledger().now();

    // A processing charge settles by webhook; a redelivery changes nothing.
    let slow = with_card(&payments, "4000000000000044", 300, false).await;
    let waiting = payments.confirm(&slow.id).await.unwrap();
    let reference = waiting.provider_reference.clone().unwrap();
    let outcome = sandbox.settle_processing(&reference).unwrap();
    let settled = ProviderEvent {
        id: "evt_sandbox_settle_1".into(),
        reference: reference.clone(),
        kind: ProviderEventKind::ChargeSettled(outcome),
    };
    let (headers, body) = sandbox.signed_webhook(&settled, now).unwrap();
    let paid = payments
        .handle_provider_webhook("sandbox", &headers, &body)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paid.state.status, PaymentStatus::Succeeded);
    let again = payments
        .handle_provider_webhook("sandbox", &headers, &body)
        .await
        .unwrap();
    assert_eq!(again, Some(paid));
    assert_eq!(merchant(&payments).await, (300, 0));

    // A customer action completed at the provider settles by webhook.
    let challenged = with_card(&payments, "4000002500003155", 120, false).await;
    let waiting = payments.confirm(&challenged.id).await.unwrap();
    assert_eq!(waiting.state.status, PaymentStatus::RequiresAction);
    let reference = waiting.provider_reference.clone().unwrap();
    let outcome = sandbox.complete_action(&reference).await.unwrap();
    let settled = ProviderEvent {
        id: "evt_sandbox_action_1".into(),
        reference,
        kind: ProviderEventKind::ChargeSettled(outcome),
    };
    let (headers, body) = sandbox.signed_webhook(&settled, now).unwrap();
    for _ in 0..2 {
        let after = payments
            .handle_provider_webhook("sandbox", &headers, &body)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.state.status, PaymentStatus::Succeeded);
        assert_eq!(after.next_action_url, None);
    }
    assert_eq!(merchant(&payments).await, (420, 0));

    // Tampering, a foreign signature or an unknown charge change nothing.
    let mut tampered = body.clone();
    tampered[0] = b' ';
    let err = payments
        .handle_provider_webhook("sandbox", &headers, &tampered)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "webhook_signature_invalid");
    let stranger = ProviderEvent {
        id: "evt_sandbox_unknown".into(),
        reference: "ch_sandbox_nope".into(),
        kind: ProviderEventKind::DisputeWon,
    };
    let (h, b) = sandbox.signed_webhook(&stranger, now).unwrap();
    let ignored = payments
        .handle_provider_webhook("sandbox", &h, &b)
        .await
        .unwrap();
    assert_eq!(
        ignored, None,
        "a genuine event for a charge Obol did not make is ignored"
    );

    // A dispute opened and lost by webhook, each applied once.
    let disputed = with_card(&payments, "4000000000000259", 200, false).await;
    let paid = payments.confirm(&disputed.id).await.unwrap();
    let reference = paid.provider_reference.clone().unwrap();
    assert!(sandbox.will_dispute(&reference).unwrap());
    for (id, kind) in [
        (
            "evt_sandbox_dispute_1",
            ProviderEventKind::DisputeOpened {
                amount: 200,
                reason: "fraudulent".into(),
            },
        ),
        ("evt_sandbox_dispute_2", ProviderEventKind::DisputeLost),
    ] {
        let event = ProviderEvent {
            id: id.into(),
            reference: reference.clone(),
            kind,
        };
        let (headers, body) = sandbox.signed_webhook(&event, now).unwrap();
        for _ in 0..2 {
            payments
                .handle_provider_webhook("sandbox", &headers, &body)
                .await
                .unwrap();
        }
    }
    let children = payments.children(&disputed.id).await.unwrap();
    assert_eq!(children.len(), 1);
    assert!(matches!(&children[0], Child::Dispute(d) if d.status == DisputeStatus::Lost));
    assert_eq!(merchant(&payments).await, (420, 0));
    super::conformance::assert_balanced(store.as_ref()).await;
}

pub async fn customers_keep_tokens_only_and_pay_with_them(store: Arc<dyn Store>) {
    let sandbox = Arc::new(Sandbox::ephemeral());
    let (payments, _) = engine(store.clone(), sandbox, 47).await;
    let ids = payments.ledger().ids().clone();
    let alice = NewCustomer::new(crate::id::CustomerId::generate(ids.as_ref()))
        .with_email("alice@example.com");
    let created = payments.create_customer(alice.clone()).await.unwrap();
    assert_eq!(
        payments.create_customer(alice.clone()).await.unwrap(),
        created
    );
    let renamed = NewCustomer {
        name: Some("Al".into()),
        ..alice.clone()
    };
    assert_eq!(
        payments.create_customer(renamed).await.unwrap_err().code(),
        "idempotency_conflict"
    );
    let bad = NewCustomer::new(crate::id::CustomerId::generate(ids.as_ref())).with_email("nope");
    assert_eq!(
        payments
            .create_customer(bad.clone())
            .await
            .unwrap_err()
            .code(),
        "invalid_customer"
    );
    assert_eq!(
        payments.customer(&bad.id).await.unwrap_err().code(),
        "customer_not_found"
    );

    let card =
        CardDetails::new("4242424242424242", 9, 2031, "321", payments.ledger().now()).unwrap();
    assert_eq!(
        payments
            .save_card(&bad.id, "sandbox", &card)
            .await
            .unwrap_err()
            .code(),
        "customer_not_found"
    );
    let saved = payments
        .save_card(&alice.id, "sandbox", &card)
        .await
        .unwrap();
    let listed = payments.saved_methods(&alice.id).await.unwrap();
    assert_eq!(listed, vec![saved.clone()]);
    // Only the summary is kept: never the number, never a CVC field (three digits alone can
    // turn up by chance in a random token or timestamp, so the CVC is looked for by name).
    let stored = format!("{listed:?}");
    assert!(!stored.contains("4242424242424242") && !stored.to_lowercase().contains("cvc"));
    assert_eq!(saved.token.card.as_ref().unwrap().last4, "4242");

    // Alice pays with her saved card.
    let id = PaymentId::generate(ids.as_ref());
    let new = NewPayment {
        customer: Some(alice.id.clone()),
        ..NewPayment::new(id.clone(), 900, usd())
    };
    payments.create(new).await.unwrap();
    payments.attach_saved_method(&id, &saved.id).await.unwrap();
    let paid = payments.confirm(&id).await.unwrap();
    assert_eq!(paid.state.status, PaymentStatus::Succeeded);

    // Nobody else may use it, and once detached nobody can.
    let other = PaymentId::generate(ids.as_ref());
    payments
        .create(NewPayment::new(other.clone(), 5, usd()))
        .await
        .unwrap();
    let err = payments
        .attach_saved_method(&other, &saved.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "payment_method_not_found");
    payments.detach_method(&saved.id).await.unwrap();
    assert!(payments.saved_methods(&alice.id).await.unwrap().is_empty());
    let again = PaymentId::generate(ids.as_ref());
    let new = NewPayment {
        customer: Some(alice.id.clone()),
        ..NewPayment::new(again.clone(), 5, usd())
    };
    payments.create(new).await.unwrap();
    let err = payments
        .attach_saved_method(&again, &saved.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "payment_method_not_found");
    let orphan = NewPayment {
        customer: Some(bad.id.clone()),
        ..NewPayment::new(PaymentId::generate(ids.as_ref()), 5, usd())
    };
    assert_eq!(
        payments.create(orphan).await.unwrap_err().code(),
        "customer_not_found"
    );
}

pub async fn stale_payments_expire(store: Arc<dyn Store>) {
    let (payments, clock) = engine(store.clone(), Arc::new(Sandbox::ephemeral()), 48).await;
    let day = Duration::from_secs(24 * 3600);
    let held = with_card(&payments, "4242424242424242", 100, true).await;
    payments.confirm(&held.id).await.unwrap();
    let abandoned = PaymentId::generate(payments.ledger().ids().as_ref());
    payments
        .create(NewPayment::new(abandoned.clone(), 10, usd()))
        .await
        .unwrap();
    assert_eq!(payments.expire_stale(7 * day, day).await.unwrap(), 0);
    clock.advance(2 * day);
    assert_eq!(payments.expire_stale(7 * day, day).await.unwrap(), 1);
    let abandoned = payments.payment(&abandoned).await.unwrap();
    assert_eq!(abandoned.state.status, PaymentStatus::Canceled);
    // The authorization is younger than its 7-day capture window.
    assert_eq!(
        payments.payment(&held.id).await.unwrap().state.status,
        PaymentStatus::RequiresCapture
    );
    clock.advance(6 * day);
    assert_eq!(payments.expire_stale(7 * day, day).await.unwrap(), 1);
    let expired = payments.payment(&held.id).await.unwrap();
    assert_eq!(expired.state.status, PaymentStatus::Canceled);
    assert_eq!(
        expired.state.cancellation,
        Some(CancellationReason::Expired)
    );
    assert_eq!(merchant(&payments).await, (0, 0));
}

pub async fn a_crash_after_a_provider_capture_never_captures_twice(store: Arc<dyn Store>) {
    let sandbox = Arc::new(Sandbox::ephemeral());
    let dying = Arc::new(Faulty::new(sandbox.clone(), &[Fault::HangAfterCapture]));
    let (payments, _) = engine(store.clone(), dying, 49).await;
    let payment = with_card(&payments, "4242424242424242", 1000, true).await;
    payments.confirm(&payment.id).await.unwrap();
    killed(Box::pin(payments.capture(&payment.id, Some(400), false))).await;
    assert_eq!(sandbox.net_captured().unwrap(), 400);
    assert_eq!(merchant(&payments).await, (0, 1000));
    // The restarted process retries the same capture: the provider sees the same key.
    let (restarted, _) = engine(store.clone(), sandbox.clone(), 149).await;
    let after = restarted
        .capture(&payment.id, Some(400), false)
        .await
        .unwrap();
    assert_eq!(after.state.captured, 400);
    assert_eq!(sandbox.net_captured().unwrap(), 400);
    let done = restarted.capture(&payment.id, None, true).await.unwrap();
    assert_eq!(done.state.status, PaymentStatus::Succeeded);
    assert_eq!(sandbox.net_captured().unwrap(), 1000);
    assert_eq!(merchant(&restarted).await, (1000, 0));
    super::conformance::assert_balanced(store.as_ref()).await;
}

pub async fn confirm_falls_back_when_a_provider_is_down(store: Arc<dyn Store>) {
    let sandbox = Arc::new(Sandbox::ephemeral());
    let (ledger, _) = test_ledger(store.clone(), 50).await;
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(
        Faulty::new(sandbox.clone(), &[Fault::Unavailable]).named("primary"),
    ));
    providers.register(Arc::new(Faulty::new(sandbox.clone(), &[]).named("backup")));
    let payments = Payments::new(Arc::new(ledger), providers);
    let id = PaymentId::generate(payments.ledger().ids().as_ref());
    payments
        .create(NewPayment::new(id.clone(), 640, usd()))
        .await
        .unwrap();
    let card =
        CardDetails::new("4242424242424242", 12, 2030, "123", payments.ledger().now()).unwrap();
    let token = payments
        .tokenize_card("primary", &crate::payments::default_merchant(), &card)
        .await
        .unwrap();
    payments.attach_method(&id, token).await.unwrap();
    let paid = payments.confirm(&id).await.unwrap();
    assert_eq!(paid.state.status, PaymentStatus::Succeeded);
    assert_eq!(paid.provider.as_deref(), Some("backup"));
    assert_eq!(paid.attempt, 2);
    assert_eq!(sandbox.charge_count().unwrap(), 1);
    let kinds = event_kinds(&payments, &id).await;
    assert_eq!(
        kinds[2..],
        [
            "payment.processing",
            "payment.requires_confirmation",
            "payment.processing",
            "payment.succeeded"
        ]
    );
    // With every provider down, confirm reports it and the payment can be confirmed later.
    let (ledger, _) = test_ledger(store.clone(), 51).await;
    let mut down = ProviderRegistry::new();
    down.register(Arc::new(
        Faulty::new(sandbox.clone(), &[Fault::Unavailable]).named("primary"),
    ));
    let payments = Payments::new(Arc::new(ledger), down);
    let id = PaymentId::generate(payments.ledger().ids().as_ref());
    payments
        .create(NewPayment::new(id.clone(), 5, usd()))
        .await
        .unwrap();
    let token = payments
        .tokenize_card("primary", &crate::payments::default_merchant(), &card)
        .await
        .unwrap();
    payments.attach_method(&id, token).await.unwrap();
    let err = payments.confirm(&id).await.unwrap_err();
    assert_eq!(err.code(), "provider_unavailable");
    assert_eq!(
        payments.payment(&id).await.unwrap().state.status,
        PaymentStatus::RequiresConfirmation
    );
}

pub async fn payments_and_events_list_per_merchant_with_filters_and_pages(store: Arc<dyn Store>) {
    use crate::id::{CustomerId, MerchantId};
    use crate::payments::{EventQuery, PaymentQuery};
    let (payments, clock) = engine(store, Arc::new(Sandbox::ephemeral()), 23).await;
    let acme = MerchantId::derived("acme");
    let globex = MerchantId::derived("globex");
    let foreign = NewPayment::new(
        PaymentId::generate(payments.ledger().ids().as_ref()),
        100,
        usd(),
    );
    let alice = payments
        .create_customer(
            NewCustomer::new(CustomerId::generate(payments.ledger().ids().as_ref()))
                .for_merchant(acme.clone()),
        )
        .await
        .unwrap();
    let mut made = Vec::new();
    for i in 0..7 {
        clock.advance(Duration::from_secs(1));
        let merchant = if i == 3 { globex.clone() } else { acme.clone() };
        let mut new = NewPayment::new(
            PaymentId::generate(payments.ledger().ids().as_ref()),
            100 + i,
            usd(),
        )
        .for_merchant(merchant);
        if i % 2 == 0 {
            new.customer = Some(alice.id.clone());
        }
        made.push(payments.create(new).await.unwrap());
    }
    // Another merchant's customer is unknown to this one.
    let foreign = NewPayment {
        customer: Some(alice.id.clone()),
        ..foreign.for_merchant(globex.clone())
    };
    let refused = payments.create(foreign).await.unwrap_err();
    assert_eq!(refused.code(), "customer_not_found");
    payments
        .cancel(&made[6].id, CancellationReason::RequestedByCustomer)
        .await
        .unwrap();
    let acme_ids: Vec<PaymentId> = made
        .iter()
        .rev()
        .filter(|p| p.merchant == acme)
        .map(|p| p.id.clone())
        .collect();

    // Pages of two, newest first, until the cursor runs out.
    let mut seen = Vec::new();
    let mut query = PaymentQuery::merchant(acme.clone(), 2);
    loop {
        let page = payments.list(&query).await.unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        query.starting_after = page.last().map(|p| p.id.clone());
        seen.extend(page.into_iter().map(|p| p.id));
    }
    assert_eq!(seen, acme_ids);

    let canceled = PaymentQuery {
        status: Some(PaymentStatus::Canceled),
        ..PaymentQuery::merchant(acme.clone(), 10)
    };
    let found = payments.list(&canceled).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, made[6].id);

    let of_alice = PaymentQuery {
        customer: Some(alice.id.clone()),
        ..PaymentQuery::merchant(acme.clone(), 10)
    };
    let ids: Vec<_> = payments
        .list(&of_alice)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        ids,
        [
            made[6].id.clone(),
            made[4].id.clone(),
            made[2].id.clone(),
            made[0].id.clone()
        ]
    );

    let window = PaymentQuery {
        created_from: Some(made[1].created_at),
        created_before: Some(made[4].created_at),
        ..PaymentQuery::merchant(acme.clone(), 10)
    };
    let ids: Vec<_> = payments
        .list(&window)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, [made[2].id.clone(), made[1].id.clone()]);
    let theirs = payments
        .list(&PaymentQuery::merchant(globex.clone(), 10))
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);

    // Events: only the merchant's, in order, after a position, optionally one payment's.
    let all = payments
        .events(&EventQuery {
            mode: None,
            merchant: acme.clone(),
            payment: None,
            after: 0,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 7, "six payment.created and one payment.canceled");
    assert!(all.iter().all(|e| e.event.payment.merchant == acme));
    assert!(all.windows(2).all(|w| w[0].sequence < w[1].sequence));
    let rest = payments
        .events(&EventQuery {
            mode: None,
            merchant: acme.clone(),
            payment: None,
            after: all[4].sequence,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(rest, all[5..].to_vec());
    let of_last = payments
        .events(&EventQuery {
            mode: None,
            merchant: acme,
            payment: Some(made[6].id.clone()),
            after: 0,
            limit: 100,
        })
        .await
        .unwrap();
    let kinds: Vec<_> = of_last.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(kinds, ["payment.created", "payment.canceled"]);
}

pub async fn create_with_a_method_is_one_write(store: Arc<dyn Store>) {
    let (payments, _clock) = engine(store, Arc::new(Sandbox::ephemeral()), 29).await;
    let card =
        CardDetails::new("4242424242424242", 12, 2030, "123", payments.ledger().now()).unwrap();
    let token = payments
        .tokenize_card("sandbox", &crate::payments::default_merchant(), &card)
        .await
        .unwrap();
    let id = PaymentId::generate(payments.ledger().ids().as_ref());
    let new = NewPayment::new(id.clone(), 700, usd());
    let created = payments
        .create_with_method(new.clone(), Some(token.clone()))
        .await
        .unwrap();
    assert_eq!(created.state.status, PaymentStatus::RequiresConfirmation);
    assert_eq!(created.version, 1, "created and attached in one write");
    assert_eq!(
        event_kinds(&payments, &id).await,
        ["payment.created", "payment.requires_confirmation"]
    );
    let replay = payments
        .create_with_method(new, Some(token.clone()))
        .await
        .unwrap();
    assert_eq!(replay, created);
    let paid = payments.confirm(&id).await.unwrap();
    assert_eq!(paid.state.status, PaymentStatus::Succeeded);

    // A token of an unknown provider is refused before anything is written.
    let mut foreign = token;
    foreign.provider = "nobody".into();
    let other = PaymentId::generate(payments.ledger().ids().as_ref());
    let refused = payments
        .create_with_method(NewPayment::new(other.clone(), 5, usd()), Some(foreign))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "provider_not_found");
    assert!(payments.payment(&other).await.is_err());
}

pub async fn create_and_confirm_writes_the_creation_with_the_first_attempt(store: Arc<dyn Store>) {
    let sandbox = Arc::new(Sandbox::ephemeral());
    let (payments, _) = engine(store.clone(), sandbox.clone(), 41).await;
    let card =
        |number: &str| CardDetails::new(number, 12, 2030, "123", payments.ledger().now()).unwrap();
    let token = payments
        .tokenize_card(
            "sandbox",
            &crate::payments::default_merchant(),
            &card("4242424242424242"),
        )
        .await
        .unwrap();
    // The two-step way, for comparison.
    let two_step = PaymentId::generate(payments.ledger().ids().as_ref());
    payments
        .create_with_method(
            NewPayment::new(two_step.clone(), 700, usd()),
            Some(token.clone()),
        )
        .await
        .unwrap();
    let expected = payments.confirm(&two_step).await.unwrap();
    let (paid_once, _) = merchant(&payments).await;

    let id = PaymentId::generate(payments.ledger().ids().as_ref());
    let new = NewPayment::new(id.clone(), 700, usd());
    let paid = payments
        .create_and_confirm(new.clone(), token.clone())
        .await
        .unwrap();
    assert_eq!(paid.state.status, PaymentStatus::Succeeded);
    assert_eq!(
        (paid.version, paid.attempt),
        (expected.version, expected.attempt)
    );
    assert_eq!(
        event_kinds(&payments, &id).await,
        event_kinds(&payments, &two_step).await
    );
    assert_eq!(merchant(&payments).await, (2 * paid_once, 0));
    // A replay answers the stored payment and attempts nothing.
    let replay = payments.create_and_confirm(new, token).await.unwrap();
    assert_eq!(replay, paid);
    assert_eq!(sandbox.charge_count().unwrap(), 2);

    // A decline is recorded on the stored payment, as with confirm.
    let declined_id = PaymentId::generate(payments.ledger().ids().as_ref());
    let declining = payments
        .tokenize_card(
            "sandbox",
            &crate::payments::default_merchant(),
            &card("4000000000009995"),
        )
        .await
        .unwrap();
    let declined = payments
        .create_and_confirm(NewPayment::new(declined_id.clone(), 500, usd()), declining)
        .await
        .unwrap();
    assert_eq!(declined.state.status, PaymentStatus::RequiresPaymentMethod);
    assert_eq!(payments.payment(&declined_id).await.unwrap(), declined);

    // A process that dies during the provider call leaves the payment stored in
    // `processing`: the creation and the attempt were durable before the call.
    let dying = Arc::new(Faulty::new(sandbox.clone(), &[Fault::HangBeforeAuthorize]));
    let (crashing, _) = engine(store.clone(), dying, 42).await;
    let lost_id = PaymentId::generate(crashing.ledger().ids().as_ref());
    let token = crashing
        .tokenize_card(
            "sandbox",
            &crate::payments::default_merchant(),
            &card("4242424242424242"),
        )
        .await
        .unwrap();
    killed(Box::pin(crashing.create_and_confirm(
        NewPayment::new(lost_id.clone(), 300, usd()),
        token,
    )))
    .await;
    let stored = crashing.payment(&lost_id).await.unwrap();
    assert_eq!(stored.state.status, PaymentStatus::Processing);

    // With no provider for the token, the payment is stored and the error is confirm's.
    let mut foreign = payments
        .tokenize_card(
            "sandbox",
            &crate::payments::default_merchant(),
            &card("4242424242424242"),
        )
        .await
        .unwrap();
    foreign.provider = "nobody".into();
    let refused = payments
        .create_and_confirm(
            NewPayment::new(
                PaymentId::generate(payments.ledger().ids().as_ref()),
                5,
                usd(),
            ),
            foreign,
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "provider_not_found");
    super::conformance::assert_balanced(store.as_ref()).await;
}

pub async fn the_write_of_a_providers_answer_stores_the_requests_answer(store: Arc<dyn Store>) {
    use std::sync::Mutex;

    use crate::idempotency::{KeyAnswer, request_hash, run_once, run_payment_once};
    use crate::ledger::codec::to_json;
    use crate::payments::PaymentWrite;

    let (payments, _clock) = engine(store.clone(), Arc::new(Sandbox::ephemeral()), 53).await;
    let tokenize = |number: &'static str| {
        let payments = &payments;
        let card = CardDetails::new(number, 12, 2030, "123", payments.ledger().now()).unwrap();
        async move {
            payments
                .tokenize_card("sandbox", &default_merchant(), &card)
                .await
                .unwrap()
        }
    };
    let now = payments.ledger().now();
    let lease = now.plus(Duration::from_secs(60));
    // What a retry of `key` sees.
    let seen = |key: &'static str| {
        let store = store.clone();
        async move {
            let hash = request_hash(&key).unwrap();
            store.claim_key(key, &hash, now, lease).await.unwrap()
        }
    };
    // What a retry saw while the request ran: its stored answer, or `None` while it had none.
    let inside: Mutex<Option<Option<String>>> = Mutex::new(None);
    let look = |key: &'static str| {
        let inside = &inside;
        let seen = &seen;
        async move {
            let answer = match seen(key).await {
                Claim::Completed(answer) => Some(answer),
                Claim::InProgress => None,
                other => panic!("{key}: {other:?}"),
            };
            *inside.lock().unwrap() = Some(answer);
        }
    };
    let seen_inside = || inside.lock().unwrap().take().expect("looked inside");
    let answer = |payment: &Payment| to_json(&Ok::<_, Error>(payment)).unwrap();

    // Paid (and declined) in one call: once the provider's answer is written, the request's
    // answer is stored with it, before the request itself returns; the request, ending with
    // the same answer, leaves it.
    for (key, number, status) in [
        ("pays", "4242424242424242", PaymentStatus::Succeeded),
        (
            "declines",
            "4000000000009995",
            PaymentStatus::RequiresPaymentMethod,
        ),
    ] {
        let token = tokenize(number).await;
        let id = PaymentId::generate(payments.ledger().ids().as_ref());
        let paid = run_payment_once(store.as_ref(), key, &key, now, |_| async {
            let paid = payments
                .create_and_confirm(NewPayment::new(id.clone(), 900, usd()), token)
                .await?;
            look(key).await;
            Ok(paid)
        })
        .await
        .unwrap();
        assert_eq!(paid.state.status, status);
        assert_eq!(seen_inside(), Some(answer(&paid)), "{key}");
        assert_eq!(seen(key).await, Claim::Completed(answer(&paid)), "{key}");
    }

    // So does a capture, and a cancellation (one write after the provider's answer each).
    let authorized = with_card(&payments, "4242424242424242", 800, true).await;
    let authorized = payments.confirm(&authorized.id).await.unwrap();
    let captured = run_payment_once(store.as_ref(), "captures", &"captures", now, |_| async {
        let captured = payments.capture(&authorized.id, Some(500), true).await?;
        look("captures").await;
        Ok(captured)
    })
    .await
    .unwrap();
    assert_eq!(captured.state.captured, 500);
    assert_eq!(seen_inside(), Some(answer(&captured)));
    let authorized = with_card(&payments, "4242424242424242", 800, true).await;
    let authorized = payments.confirm(&authorized.id).await.unwrap();
    let canceled = run_payment_once(store.as_ref(), "cancels", &"cancels", now, |_| async {
        let canceled = payments
            .cancel(&authorized.id, CancellationReason::RequestedByCustomer)
            .await?;
        look("cancels").await;
        Ok(canceled)
    })
    .await
    .unwrap();
    assert_eq!(canceled.state.status, PaymentStatus::Canceled);
    assert_eq!(seen_inside(), Some(answer(&canceled)));

    // A request that ends with another answer (here an error after the write) replaces it.
    let token = tokenize("4242424242424242").await;
    let id = PaymentId::generate(payments.ledger().ids().as_ref());
    let failed = run_payment_once(store.as_ref(), "fails", &"fails", now, |_| async {
        payments
            .create_and_confirm(NewPayment::new(id.clone(), 300, usd()), token)
            .await?;
        Err(Error::InvalidRequest {
            reason: "refused after paying".into(),
        })
    })
    .await
    .unwrap_err();
    assert_eq!(
        seen("fails").await,
        Claim::Completed(to_json(&Err::<Payment, _>(&failed)).unwrap())
    );

    // A request that answers with something else than a payment stores nothing early, even
    // when it pays: its answer is stored when it ends.
    let token = tokenize("4242424242424242").await;
    let id = PaymentId::generate(payments.ledger().ids().as_ref());
    let status = run_once(store.as_ref(), "other", &"other", now, |_| async {
        let paid = payments
            .create_and_confirm(NewPayment::new(id.clone(), 300, usd()), token)
            .await?;
        look("other").await;
        Ok(paid.state.status)
    })
    .await
    .unwrap();
    assert_eq!(seen_inside(), None);
    assert_eq!(
        seen("other").await,
        Claim::Completed(to_json(&Ok::<_, Error>(status)).unwrap())
    );

    // Writes before the provider's answer store none: a retry meanwhile finds the request
    // still running.
    let id = PaymentId::generate(payments.ledger().ids().as_ref());
    let created = run_payment_once(store.as_ref(), "creates", &"creates", now, |_| async {
        let created = payments
            .create(NewPayment::new(id.clone(), 100, usd()))
            .await?;
        look("creates").await;
        Ok(created)
    })
    .await
    .unwrap();
    assert_eq!(seen_inside(), None);
    assert_eq!(created.state.status, PaymentStatus::RequiresPaymentMethod);

    // A write refused (its version moved) stores no answer either, and nothing else; a write
    // to a key answered already leaves that answer.
    let write = |version: i64, key: &str| {
        let mut next = created.clone();
        next.version += 1;
        next.last_decline = Some("changed".into());
        PaymentWrite {
            payment: next,
            expected_version: Some(version),
            ledger: Vec::new(),
            children: Vec::new(),
            events: Vec::new(),
            answer: Some(KeyAnswer {
                key: key.into(),
                response: "{\"Ok\":1}".into(),
            }),
        }
    };
    assert_eq!(seen("refused").await, Claim::first(now));
    let refused = store
        .write_payment(write(created.version + 7, "refused"), now)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "contention");
    assert_eq!(seen("refused").await, Claim::InProgress);
    assert_eq!(payments.payment(&id).await.unwrap(), created);
    store
        .write_payment(write(created.version, "creates"), now)
        .await
        .unwrap();
    assert_eq!(seen("creates").await, Claim::Completed(answer(&created)));
}
