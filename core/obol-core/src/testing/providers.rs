//! The provider conformance suite: the same payment cases against every rail (the sandbox,
//! Stripe through localstripe, PayPal through its fake), each on a fresh store. A rail under
//! test comes with a [`RailHarness`]: what the suite needs beyond the provider traits (a
//! payment method that behaves as asked, a customer completing 3-D Secure or a PayPal
//! approval, a genuine dispute webhook, the rail's own view of a charge).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::faulty::{Fault, Faulty};
use super::test_ledger;
use crate::clock::{ManualClock, Timestamp};
use crate::id::PaymentId;
use crate::ledger::model::Direction;
use crate::money::AssetCode;
use crate::payments::model::default_merchant;
use crate::payments::provider::{MethodToken, Provider};
use crate::payments::{
    CardDetails, Child, NewPayment, Payment, PaymentStatus, Payments, ProviderRegistry,
    RefundStatus,
};
use crate::store::Store;

/// How a test payer's method behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestCard {
    /// Approved.
    Approved,
    /// Declined.
    Declined,
    /// Approved after the customer completes 3-D Secure (or the rail's approval step).
    ChallengedThenApproved,
}

/// What the rail itself holds for one charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RailView {
    /// Minor units captured.
    pub captured: i128,
    /// Minor units refunded.
    pub refunded: i128,
}

/// A rail under test.
#[async_trait]
pub trait RailHarness: Send + Sync {
    /// The rail, as the engine registers it.
    fn provider(&self) -> Arc<dyn Provider>;
    /// The asset the cases charge in.
    fn asset(&self) -> AssetCode;
    /// A method of the default merchant, issued through `provider` (the rail's name, or the
    /// name a test registered it under), that behaves as `payer` says.
    async fn method(&self, payments: &Payments, provider: &str, payer: TestCard) -> MethodToken;
    /// True when the payer approves every payment at the rail (PayPal's approval link), not
    /// only challenged ones: the cases then approve as the payer would and go on.
    fn approves_each_payment(&self) -> bool {
        false
    }
    /// Does at `redirect_url` what the customer's browser would (passes the challenge).
    async fn complete_customer_action(&self, redirect_url: &str);
    /// A genuine webhook delivery (headers, body) opening a dispute of `amount` on `reference`.
    fn dispute_opened(
        &self,
        reference: &str,
        amount: i128,
        now: Timestamp,
    ) -> (Vec<(String, String)>, Vec<u8>);
    /// What the rail holds for `reference`.
    async fn view(&self, reference: &str) -> RailView;
    /// How many charges the rail made for `payment` (every attempt counted).
    async fn charges_for(&self, payment: &PaymentId) -> usize;
}

async fn engine(
    store: Arc<dyn Store>,
    providers: Vec<Arc<dyn Provider>>,
    seed: u64,
) -> (Payments, Arc<ManualClock>) {
    let (ledger, clock) = test_ledger(store, seed).await;
    let mut registry = ProviderRegistry::new();
    for provider in providers {
        registry.register(provider);
    }
    (Payments::new(Arc::new(ledger), registry), clock)
}

/// A card of the default merchant tokenized through `provider`: the [`RailHarness::method`]
/// of card rails.
pub async fn card_method(payments: &Payments, provider: &str, number: &str) -> MethodToken {
    let details = CardDetails::new(number, 12, 2030, "123", payments.ledger().now()).unwrap();
    payments
        .tokenize_card(provider, &default_merchant(), &details)
        .await
        .unwrap()
}

async fn with_card(
    payments: &Payments,
    rail: &dyn RailHarness,
    provider: &str,
    card: TestCard,
    amount: i128,
    manual: bool,
) -> Payment {
    let id = PaymentId::generate(payments.ledger().ids().as_ref());
    let mut new = NewPayment::new(id.clone(), amount, rail.asset());
    if manual {
        new = new.manual_capture();
    }
    payments.create(new).await.unwrap();
    let token = rail.method(payments, provider, card).await;
    payments.attach_method(&id, token).await.unwrap()
}

/// Where a payment waits for the payer at a rail that asks every payer (PayPal), the payer
/// approves and the payment goes on; anything else is returned as it is.
async fn approved(payments: &Payments, rail: &dyn RailHarness, payment: Payment) -> Payment {
    if !rail.approves_each_payment() || payment.state.status != PaymentStatus::RequiresAction {
        return payment;
    }
    rail.complete_customer_action(payment.next_action_url.as_deref().unwrap())
        .await;
    payments.complete_action(&payment.id).await.unwrap()
}

/// Confirms, with the payer's approval where the rail asks for it.
async fn confirmed(payments: &Payments, rail: &dyn RailHarness, id: &PaymentId) -> Payment {
    let answer = payments.confirm(id).await.unwrap();
    approved(payments, rail, answer).await
}

/// The merchant's (posted, pending) balance in the rail's asset.
async fn merchant(payments: &Payments, asset: &AssetCode) -> (i128, i128) {
    let accounts = payments
        .accounts(&default_merchant(), crate::mode::Mode::Test, asset)
        .await
        .unwrap();
    let balance = payments.ledger().balance(&accounts.merchant).await.unwrap();
    (
        balance.posted(Direction::Credit),
        balance.credits_pending - balance.debits_pending,
    )
}

/// The ledger agrees with the rail: what the payment says it captured and refunded is what
/// the rail holds.
async fn agrees(payments: &Payments, rail: &dyn RailHarness, id: &PaymentId) {
    let payment = payments.payment(id).await.unwrap();
    let reference = payment.provider_reference.clone().unwrap();
    assert_eq!(
        rail.view(&reference).await,
        RailView {
            captured: payment.state.captured,
            refunded: payment.state.refunded,
        },
        "the ledger and the rail disagree about {id}"
    );
}

/// Manual capture in parts (several when the rail has multicapture, else one that releases
/// the rest), then two partial refunds: the ledger equals the rail's view.
pub async fn captures_in_parts_and_refunds(store: Arc<dyn Store>, rail: &dyn RailHarness) {
    let provider = rail.provider();
    let name = provider.name().to_owned();
    let multi = provider.capabilities().multi_capture;
    let (payments, _) = engine(store.clone(), vec![provider], 301).await;
    let asset = rail.asset();
    let payment = with_card(&payments, rail, &name, TestCard::Approved, 1000, true).await;
    let held = confirmed(&payments, rail, &payment.id).await;
    assert_eq!(held.state.status, PaymentStatus::RequiresCapture);
    assert_eq!(merchant(&payments, &asset).await, (0, 1000));
    // 800 of 1000 either way: 300 then 500 with multicapture, else one capture of 800.
    let captured = 800;
    let last = if multi {
        let part = payments
            .capture(&payment.id, Some(300), false)
            .await
            .unwrap();
        assert_eq!(part.state.status, PaymentStatus::RequiresCapture);
        500
    } else {
        let refused = payments
            .capture(&payment.id, Some(300), false)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "unsupported", "{refused}");
        captured
    };
    let done = payments
        .capture(&payment.id, Some(last), true)
        .await
        .unwrap();
    assert_eq!(done.state.status, PaymentStatus::Succeeded);
    assert_eq!(merchant(&payments, &asset).await, (captured, 0));
    let first = payments.refund(&payment.id, 250, None).await.unwrap();
    assert_eq!(first.status, RefundStatus::Succeeded);
    let second = payments.refund(&payment.id, 150, None).await.unwrap();
    assert_eq!(second.status, RefundStatus::Succeeded);
    let too_much = payments.refund(&payment.id, 401, None).await.unwrap_err();
    assert_eq!(too_much.code(), "exceeds_refundable");
    assert_eq!(merchant(&payments, &asset).await, (captured - 400, 0));
    agrees(&payments, rail, &payment.id).await;
    assert_eq!(rail.charges_for(&payment.id).await, 1);
    super::conformance::assert_balanced(store.as_ref()).await;
}

/// A declined card leaves the payment waiting for another method, and no money moves.
pub async fn a_decline(store: Arc<dyn Store>, rail: &dyn RailHarness) {
    let provider = rail.provider();
    let name = provider.name().to_owned();
    let (payments, _) = engine(store.clone(), vec![provider], 302).await;
    let payment = with_card(&payments, rail, &name, TestCard::Declined, 500, false).await;
    let declined = confirmed(&payments, rail, &payment.id).await;
    assert_eq!(declined.state.status, PaymentStatus::RequiresPaymentMethod);
    assert!(declined.last_decline.is_some());
    assert_eq!(merchant(&payments, &rail.asset()).await, (0, 0));
    super::conformance::assert_balanced(store.as_ref()).await;
}

/// A challenged card: the payment waits for the customer at a redirect URL, then succeeds.
pub async fn a_customer_action(store: Arc<dyn Store>, rail: &dyn RailHarness) {
    let provider = rail.provider();
    let name = provider.name().to_owned();
    let (payments, _) = engine(store.clone(), vec![provider], 303).await;
    let payment = with_card(
        &payments,
        rail,
        &name,
        TestCard::ChallengedThenApproved,
        700,
        false,
    )
    .await;
    let waiting = payments.confirm(&payment.id).await.unwrap();
    assert_eq!(waiting.state.status, PaymentStatus::RequiresAction);
    let url = waiting.next_action_url.clone().unwrap();
    assert!(url.starts_with("http"), "{url}");
    rail.complete_customer_action(&url).await;
    let paid = payments.complete_action(&payment.id).await.unwrap();
    assert_eq!(paid.state.status, PaymentStatus::Succeeded);
    assert_eq!(merchant(&payments, &rail.asset()).await, (700, 0));
    agrees(&payments, rail, &payment.id).await;
    super::conformance::assert_balanced(store.as_ref()).await;
}

async fn killed<T>(work: impl std::future::Future<Output = T>) {
    let outcome = tokio::time::timeout(Duration::from_millis(1500), work).await;
    assert!(outcome.is_err(), "the call was meant to hang");
}

/// The process dies before the rail is called, after it answered, and after a capture: the
/// restarted process settles each by status sync or by the same idempotency key, ending with
/// exactly one charge at the rail and a ledger equal to the rail's view.
pub async fn a_crash_at_each_recovery_point(store: Arc<dyn Store>, rail: &dyn RailHarness) {
    let name = rail.provider().name().to_owned();
    for (seed, crash) in [
        (304, Fault::HangBeforeAuthorize),
        (305, Fault::HangAfterAuthorize),
    ] {
        let dying: Arc<dyn Provider> = Arc::new(Faulty::new(rail.provider(), &[crash]));
        let (payments, _) = engine(store.clone(), vec![dying], seed).await;
        let payment = with_card(&payments, rail, &name, TestCard::Approved, 250, false).await;
        killed(payments.confirm(&payment.id)).await;
        assert_eq!(
            payments.payment(&payment.id).await.unwrap().state.status,
            PaymentStatus::Processing
        );
        let (restarted, clock) = engine(store.clone(), vec![rail.provider()], seed + 100).await;
        clock.advance(Duration::from_secs(600));
        let changed = restarted
            .sync_processing(Duration::from_secs(300))
            .await
            .unwrap();
        assert_eq!(changed, 1);
        let after = restarted.payment(&payment.id).await.unwrap();
        // A rail that cannot look an order up by key replays the call under the same key: the
        // payment then waits for the payer, and no money moved before the approval.
        let replayed =
            rail.approves_each_payment() && after.state.status == PaymentStatus::RequiresAction;
        let paid = if crash == Fault::HangBeforeAuthorize && !replayed {
            assert_eq!(after.state.status, PaymentStatus::RequiresConfirmation);
            assert_eq!(rail.charges_for(&payment.id).await, 0);
            confirmed(&restarted, rail, &payment.id).await
        } else {
            if replayed {
                assert_eq!(rail.charges_for(&payment.id).await, 0);
            }
            approved(&restarted, rail, after).await
        };
        assert_eq!(paid.state.status, PaymentStatus::Succeeded);
        assert_eq!(rail.charges_for(&payment.id).await, 1);
        agrees(&restarted, rail, &payment.id).await;
    }

    // Dead after the rail captured: the retry carries the same key and captures nothing more.
    let dying: Arc<dyn Provider> =
        Arc::new(Faulty::new(rail.provider(), &[Fault::HangAfterCapture]));
    let (payments, _) = engine(store.clone(), vec![dying], 306).await;
    let payment = with_card(&payments, rail, &name, TestCard::Approved, 1000, true).await;
    confirmed(&payments, rail, &payment.id).await;
    killed(payments.capture(&payment.id, Some(1000), true)).await;
    let (restarted, _) = engine(store.clone(), vec![rail.provider()], 307).await;
    let after = restarted
        .capture(&payment.id, Some(1000), true)
        .await
        .unwrap();
    assert_eq!(after.state.status, PaymentStatus::Succeeded);
    assert_eq!(rail.charges_for(&payment.id).await, 1);
    agrees(&restarted, rail, &payment.id).await;

    // Dead after the customer's action took effect (a PayPal order captured on approval):
    // status sync, told the charge's reference, finds the money taken.
    let dying: Arc<dyn Provider> = Arc::new(Faulty::new(
        rail.provider(),
        &[Fault::HangAfterCompleteAction],
    ));
    let (payments, _) = engine(store.clone(), vec![dying], 311).await;
    let payment = with_card(
        &payments,
        rail,
        &name,
        TestCard::ChallengedThenApproved,
        450,
        false,
    )
    .await;
    let waiting = payments.confirm(&payment.id).await.unwrap();
    assert_eq!(waiting.state.status, PaymentStatus::RequiresAction);
    rail.complete_customer_action(waiting.next_action_url.as_deref().unwrap())
        .await;
    killed(payments.complete_action(&payment.id)).await;
    let (restarted, clock) = engine(store.clone(), vec![rail.provider()], 312).await;
    clock.advance(Duration::from_secs(600));
    assert_eq!(
        restarted
            .sync_processing(Duration::from_secs(300))
            .await
            .unwrap(),
        1
    );
    let after = restarted.payment(&payment.id).await.unwrap();
    assert_eq!(after.state.status, PaymentStatus::Succeeded);
    assert_eq!(rail.charges_for(&payment.id).await, 1);
    agrees(&restarted, rail, &payment.id).await;
    super::conformance::assert_balanced(store.as_ref()).await;
}

/// An authorization left uncaptured past the capture window expires: the payment is
/// canceled, the hold released in the ledger, and the rail refuses to capture it any more.
pub async fn an_uncaptured_authorization_expires(store: Arc<dyn Store>, rail: &dyn RailHarness) {
    let provider = rail.provider();
    let name = provider.name().to_owned();
    let (payments, clock) = engine(store.clone(), vec![provider.clone()], 313).await;
    let payment = with_card(&payments, rail, &name, TestCard::Approved, 900, true).await;
    let held = confirmed(&payments, rail, &payment.id).await;
    assert_eq!(held.state.status, PaymentStatus::RequiresCapture);
    assert_eq!(merchant(&payments, &rail.asset()).await, (0, 900));
    let window = Duration::from_secs(7 * 24 * 3600);
    clock.advance(window + Duration::from_secs(60));
    let expired = payments
        .expire_stale(window, Duration::from_secs(24 * 3600))
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let after = payments.payment(&payment.id).await.unwrap();
    assert_eq!(after.state.status, PaymentStatus::Canceled);
    assert_eq!(merchant(&payments, &rail.asset()).await, (0, 0));
    let reference = after.provider_reference.clone().unwrap();
    let late = provider
        .capturer()
        .unwrap()
        .capture(&reference, "after-expiry", 900, true)
        .await;
    assert!(late.is_err(), "the rail still held the authorization");
    agrees(&payments, rail, &payment.id).await;
    super::conformance::assert_balanced(store.as_ref()).await;
}

/// A dispute opened by the rail's webhook holds the money once, however often it is sent.
pub async fn a_webhook_dispute(store: Arc<dyn Store>, rail: &dyn RailHarness) {
    let provider = rail.provider();
    let name = provider.name().to_owned();
    let (payments, _) = engine(store.clone(), vec![provider], 308).await;
    let payment = with_card(&payments, rail, &name, TestCard::Approved, 600, false).await;
    let paid = confirmed(&payments, rail, &payment.id).await;
    assert_eq!(paid.state.status, PaymentStatus::Succeeded);
    let reference = paid.provider_reference.clone().unwrap();
    let (headers, body) = rail.dispute_opened(&reference, 600, payments.ledger().now());
    for _ in 0..2 {
        let after = payments
            .handle_provider_webhook(&name, &headers, &body)
            .await
            .unwrap()
            .expect("a dispute is about a payment");
        assert_eq!(after.id, payment.id);
    }
    let children = payments.children(&payment.id).await.unwrap();
    assert_eq!(children.len(), 1, "one dispute, applied once");
    assert!(matches!(&children[0], Child::Dispute(d) if d.amount == 600));
    // A body changed after signing is refused and changes nothing.
    let mut tampered = body.clone();
    let last = tampered.len() - 1;
    tampered[last] = b' ';
    let refused = payments
        .handle_provider_webhook(&name, &headers, &tampered)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "webhook_signature_invalid");
    assert_eq!(payments.children(&payment.id).await.unwrap().len(), 1);
    super::conformance::assert_balanced(store.as_ref()).await;
}

/// A rail that is down (`provider_unavailable`) falls back to the next; one whose answer was
/// lost (a timeout) does not, and status sync settles it.
pub async fn fallback_on_unavailable_only(store: Arc<dyn Store>, rail: &dyn RailHarness) {
    let down: Arc<dyn Provider> =
        Arc::new(Faulty::new(rail.provider(), &[Fault::Unavailable]).named("primary"));
    let backup: Arc<dyn Provider> = Arc::new(Faulty::new(rail.provider(), &[]).named("backup"));
    let (payments, _) = engine(store.clone(), vec![down, backup], 309).await;
    let payment = with_card(&payments, rail, "primary", TestCard::Approved, 640, false).await;
    let paid = confirmed(&payments, rail, &payment.id).await;
    assert_eq!(paid.state.status, PaymentStatus::Succeeded);
    assert_eq!(paid.provider.as_deref(), Some("backup"));
    assert_eq!(rail.charges_for(&payment.id).await, 1);

    let lost: Arc<dyn Provider> =
        Arc::new(Faulty::new(rail.provider(), &[Fault::TimeoutAfterAuthorize]).named("primary"));
    let backup: Arc<dyn Provider> = Arc::new(Faulty::new(rail.provider(), &[]).named("backup"));
    let (payments, clock) = engine(store.clone(), vec![lost, backup], 310).await;
    let payment = with_card(&payments, rail, "primary", TestCard::Approved, 320, false).await;
    match payments.confirm(&payment.id).await {
        Ok(answer) => assert_eq!(answer.state.status, PaymentStatus::Processing),
        Err(error) => assert_eq!(error.code(), "provider_timeout", "{error}"),
    }
    let waiting = payments.payment(&payment.id).await.unwrap();
    assert_eq!(waiting.state.status, PaymentStatus::Processing);
    assert_eq!(
        waiting.provider.as_deref(),
        Some("primary"),
        "no fallback after a timeout"
    );
    clock.advance(Duration::from_secs(600));
    assert_eq!(
        payments
            .sync_processing(Duration::from_secs(300))
            .await
            .unwrap(),
        1
    );
    let settled = approved(
        &payments,
        rail,
        payments.payment(&payment.id).await.unwrap(),
    )
    .await;
    assert_eq!(settled.state.status, PaymentStatus::Succeeded);
    assert_eq!(rail.charges_for(&payment.id).await, 1);
    super::conformance::assert_balanced(store.as_ref()).await;
}

/// Runs every case for the rail `new_rail` makes, each on a fresh store from `new_store`.
/// The rail-level outcomes (a lost answer, a rail that is down) are injected with
/// [`Faulty`]; each rail's own tests check that its errors sort into them.
#[macro_export]
macro_rules! rail_conformance {
    ($new_store:path, $new_rail:path) => {
        #[tokio::test]
        async fn rail_captures_in_parts_and_refunds() {
            let rail = $new_rail().await;
            $crate::testing::providers::captures_in_parts_and_refunds($new_store().await, &rail)
                .await;
        }
        #[tokio::test]
        async fn rail_a_decline() {
            let rail = $new_rail().await;
            $crate::testing::providers::a_decline($new_store().await, &rail).await;
        }
        #[tokio::test]
        async fn rail_a_customer_action() {
            let rail = $new_rail().await;
            $crate::testing::providers::a_customer_action($new_store().await, &rail).await;
        }
        #[tokio::test]
        async fn rail_a_crash_at_each_recovery_point() {
            let rail = $new_rail().await;
            $crate::testing::providers::a_crash_at_each_recovery_point($new_store().await, &rail)
                .await;
        }
        #[tokio::test]
        async fn rail_an_uncaptured_authorization_expires() {
            let rail = $new_rail().await;
            $crate::testing::providers::an_uncaptured_authorization_expires(
                $new_store().await,
                &rail,
            )
            .await;
        }
        #[tokio::test]
        async fn rail_a_webhook_dispute() {
            let rail = $new_rail().await;
            $crate::testing::providers::a_webhook_dispute($new_store().await, &rail).await;
        }
        #[tokio::test]
        async fn rail_fallback_on_unavailable_only() {
            let rail = $new_rail().await;
            $crate::testing::providers::fallback_on_unavailable_only($new_store().await, &rail)
                .await;
        }
    };
}

/// The sandbox as a rail under test.
#[derive(Debug, Clone)]
pub struct SandboxRail(pub Arc<crate::payments::Sandbox>);

impl SandboxRail {
    /// A sandbox with secrets for this process.
    pub async fn ephemeral() -> Self {
        SandboxRail(Arc::new(crate::payments::Sandbox::ephemeral()))
    }
}

#[async_trait]
impl RailHarness for SandboxRail {
    fn provider(&self) -> Arc<dyn Provider> {
        self.0.clone()
    }
    fn asset(&self) -> AssetCode {
        AssetCode::new("USD").unwrap()
    }
    async fn method(&self, payments: &Payments, provider: &str, payer: TestCard) -> MethodToken {
        let number = match payer {
            TestCard::Approved => "4242424242424242",
            TestCard::Declined => "4000000000000002",
            TestCard::ChallengedThenApproved => "4000002500003155",
        };
        card_method(payments, provider, number).await
    }
    async fn complete_customer_action(&self, _redirect_url: &str) {}
    fn dispute_opened(
        &self,
        reference: &str,
        amount: i128,
        now: Timestamp,
    ) -> (Vec<(String, String)>, Vec<u8>) {
        let event = crate::payments::ProviderEvent {
            id: format!("evt_dispute_{reference}"),
            reference: reference.to_owned(),
            kind: crate::payments::ProviderEventKind::DisputeOpened {
                amount,
                reason: "fraudulent".into(),
            },
        };
        self.0.signed_webhook(&event, now).unwrap()
    }
    async fn view(&self, reference: &str) -> RailView {
        let (captured, refunded) = self.0.charge_totals(reference).unwrap();
        RailView { captured, refunded }
    }
    async fn charges_for(&self, payment: &PaymentId) -> usize {
        self.0.charges_for(payment).unwrap()
    }
}
