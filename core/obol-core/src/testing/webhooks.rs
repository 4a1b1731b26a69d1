//! Webhook conformance cases every Store must pass: fan-out of outbox events, signed
//! deliveries with a stable id, the retry schedule, `410 Gone`, and recorded attempts.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::auth::VersionedSealer;
use super::test_ledger;
use crate::auth::{KeyEncryptionKey, KeySealer, LocalSealer};
use crate::error::{Error, Result};
use crate::id::{MerchantId, PaymentId};
use crate::mode::Mode;
use crate::money::AssetCode;
use crate::payments::{NewPayment, Payments, ProviderRegistry, Sandbox, default_merchant};
use crate::store::Store;
use crate::webhooks::{
    DeliveryBacklog, DeliveryTotals, RETRY_SCHEDULE, StoredSecret, WebhookDispatcher,
    WebhookEndpoint, WebhookSecret, WebhookTransport, verify,
};

/// A request a receiver saw: (url, headers, body).
pub type Received = (String, Vec<(String, String)>, Vec<u8>);

/// A receiver per URL answering scripted statuses (the last one repeats; 0 stands for a
/// receiver the transport refuses to send to, for good); records requests.
#[derive(Debug, Default)]
pub struct ScriptedReceivers {
    scripts: Mutex<HashMap<String, Vec<u16>>>,
    /// Every request: (url, headers, body).
    pub received: Mutex<Vec<Received>>,
}

impl ScriptedReceivers {
    pub fn script(&self, url: &str, statuses: &[u16]) {
        self.scripts
            .lock()
            .unwrap()
            .insert(url.to_owned(), statuses.to_vec());
    }
}

#[async_trait]
impl WebhookTransport for ScriptedReceivers {
    async fn post(&self, url: &str, headers: &[(String, String)], body: &[u8]) -> Result<u16> {
        self.received
            .lock()
            .unwrap()
            .push((url.to_owned(), headers.to_vec(), body.to_vec()));
        let mut scripts = self.scripts.lock().unwrap();
        let script = scripts
            .get_mut(url)
            .ok_or_else(|| Error::unavailable("connection refused"))?;
        let status = if script.len() > 1 {
            script.remove(0)
        } else {
            script[0]
        };
        match status {
            0 => Err(Error::Forbidden {
                reason: "the receiver is not at a public address".into(),
            }),
            status => Ok(status),
        }
    }
}

/// When a request was sent, from its `webhook-timestamp` header.
fn sent_at(headers: &[(String, String)]) -> crate::clock::Timestamp {
    headers
        .iter()
        .find(|(k, _)| k == "webhook-timestamp")
        .map(|(_, v)| crate::clock::Timestamp::from_micros(v.parse::<i64>().unwrap() * 1_000_000))
        .unwrap()
}

/// A sandbox payment engine and a dispatcher to scripted receivers, on `store`.
struct Setup {
    ledger: Arc<crate::ledger::Ledger>,
    clock: Arc<crate::clock::ManualClock>,
    payments: Payments,
    receivers: Arc<ScriptedReceivers>,
    dispatcher: WebhookDispatcher,
}

async fn setup(store: &Arc<dyn Store>, seed: u64) -> Setup {
    let sealer = Arc::new(LocalSealer::new(KeyEncryptionKey::random()));
    setup_sealed(store, seed, sealer).await
}

/// [`setup`] with webhook secrets sealed by `sealer`.
async fn setup_sealed(store: &Arc<dyn Store>, seed: u64, sealer: Arc<dyn KeySealer>) -> Setup {
    let (ledger, clock) = test_ledger(store.clone(), seed).await;
    let ledger = Arc::new(ledger);
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(Sandbox::ephemeral()));
    let payments = Payments::new(ledger.clone(), providers);
    let receivers = Arc::new(ScriptedReceivers::default());
    let dispatcher = WebhookDispatcher::new(
        store.clone(),
        receivers.clone(),
        ledger.clock().clone(),
        ledger.ids().clone(),
        sealer,
    );
    Setup {
        ledger,
        clock,
        payments,
        receivers,
        dispatcher,
    }
}

pub async fn many_deliveries_in_one_pass_are_each_recorded_once(store: Arc<dyn Store>) {
    let Setup {
        ledger,
        clock,
        payments,
        receivers,
        dispatcher,
    } = setup(&store, 52).await;
    let merchant = default_merchant();
    let mut urls = Vec::new();
    // "gone-once" answers 410 to its first request and 500 to the rest, which are in flight
    // at the same time: the endpoint is disabled and none of them comes back.
    for (name, statuses) in [
        ("ok", &[204][..]),
        ("flaky", &[500, 204]),
        ("gone", &[410]),
        ("gone-once", &[410, 500]),
    ] {
        let endpoint = dispatcher
            .add_endpoint(&merchant, Mode::Test, &format!("http://127.0.0.1:9/{name}"))
            .await
            .unwrap();
        receivers.script(&endpoint.endpoint.url, statuses);
        urls.push(endpoint.endpoint);
    }
    let usd = AssetCode::new("USD").unwrap();
    for _ in 0..50 {
        let id = PaymentId::generate(ledger.ids().as_ref());
        payments
            .create(NewPayment::new(id, 100, usd.clone()))
            .await
            .unwrap();
    }
    let events = payments.events_after(0, 100).await.unwrap();
    assert_eq!(events.len(), 50);

    // One pass sends all 200 deliveries, many at once; 410 disables its endpoint.
    let first = dispatcher.run_due(500).await.unwrap();
    assert_eq!((first.scheduled, first.attempted), (200, 200));
    // The flaky receiver fails its first request only.
    assert_eq!(first.delivered, 50 + 49);
    assert_eq!(
        dispatcher.totals(),
        DeliveryTotals {
            delivered: 99,
            retrying: 1 + 49,
            failed: 50 + 1
        }
    );
    assert_eq!(dispatcher.run_due(500).await.unwrap().attempted, 0);
    // The retry waits: one pending, none due yet; then due, and its wait is measured from
    // when it became due.
    let backlog = dispatcher.backlog().await.unwrap();
    assert_eq!((backlog.pending, backlog.oldest_due), (1, None));
    clock.advance(RETRY_SCHEDULE[1] + Duration::from_secs(2));
    let backlog = dispatcher.backlog().await.unwrap();
    assert_eq!(backlog.pending, 1);
    let waited = ledger.now().as_micros() - backlog.oldest_due.unwrap().as_micros();
    assert_eq!(waited, 2_000_000);
    let second = dispatcher.run_due(500).await.unwrap();
    assert_eq!((second.attempted, second.delivered), (1, 1));
    assert_eq!(
        dispatcher.backlog().await.unwrap(),
        DeliveryBacklog::default()
    );
    clock.advance(Duration::from_secs(48 * 3600));
    assert_eq!(dispatcher.run_due(500).await.unwrap().attempted, 0);

    let gone = [&urls[2].id, &urls[3].id];
    let enabled = store.endpoints(&merchant).await.unwrap();
    assert!(enabled.iter().all(|e| e.enabled != gone.contains(&&e.id)));
    for event in &events {
        let attempts = store.delivery_attempts(&event.event.id).await.unwrap();
        for endpoint in &urls {
            let numbers: Vec<u32> = attempts
                .iter()
                .filter(|a| a.endpoint_id == endpoint.id)
                .map(|a| a.attempt)
                .collect();
            assert!(
                numbers == [1] || numbers == [1, 2],
                "{}: {numbers:?}",
                endpoint.url
            );
        }
    }
    assert_eq!(receivers.received.lock().unwrap().len(), 201);
}

pub async fn webhooks_retry_sign_and_stop_on_gone(store: Arc<dyn Store>) {
    let Setup {
        ledger,
        clock,
        payments,
        receivers,
        dispatcher,
    } = setup(&store, 51).await;
    let merchant = default_merchant();
    // Another merchant's endpoint never hears of this merchant's payments.
    let elsewhere = MerchantId::derived("elsewhere");
    let theirs = dispatcher
        .add_endpoint(&elsewhere, Mode::Test, "http://127.0.0.1:9/theirs")
        .await
        .unwrap();
    receivers.script(&theirs.endpoint.url, &[204]);
    // Nor does this merchant's live endpoint hear of its test payments.
    let live = dispatcher
        .add_endpoint(&merchant, Mode::Live, "http://127.0.0.1:9/live")
        .await
        .unwrap();
    receivers.script(&live.endpoint.url, &[204]);
    let flaky = dispatcher
        .add_endpoint(&merchant, Mode::Test, "http://127.0.0.1:9/flaky")
        .await
        .unwrap();
    let gone = dispatcher
        .add_endpoint(&merchant, Mode::Test, "http://127.0.0.1:9/gone")
        .await
        .unwrap();
    let down = dispatcher
        .add_endpoint(&merchant, Mode::Test, "http://127.0.0.1:9/down")
        .await
        .unwrap();
    let refused = dispatcher
        .add_endpoint(&merchant, Mode::Test, "http://127.0.0.1:9/refused")
        .await
        .unwrap();
    receivers.script(&refused.endpoint.url, &[0]);
    receivers.script(&flaky.endpoint.url, &[500, 503, 204]);
    receivers.script(&gone.endpoint.url, &[410]);
    receivers.script(&down.endpoint.url, &[500]);
    assert!(
        dispatcher
            .add_endpoint(&merchant, Mode::Test, "ftp://nope")
            .await
            .is_err()
    );

    let usd = AssetCode::new("USD").unwrap();
    let id = PaymentId::generate(ledger.ids().as_ref());
    payments
        .create(NewPayment::new(id, 100, usd.clone()))
        .await
        .unwrap();
    let event = payments.events_after(0, 10).await.unwrap().remove(0).event;

    let first = dispatcher.run_due(100).await.unwrap();
    assert_eq!(
        (first.scheduled, first.attempted, first.delivered),
        (4, 4, 0)
    );
    assert_eq!(dispatcher.run_due(100).await.unwrap().attempted, 0);
    clock.advance(RETRY_SCHEDULE[1]);
    let second = dispatcher.run_due(100).await.unwrap();
    assert_eq!((second.attempted, second.delivered), (2, 0));
    clock.advance(RETRY_SCHEDULE[2]);
    let third = dispatcher.run_due(100).await.unwrap();
    assert_eq!((third.attempted, third.delivered), (2, 1));

    assert_eq!(store.endpoints(&elsewhere).await.unwrap().len(), 1);
    assert!(
        store
            .delivery_attempts(&event.id)
            .await
            .unwrap()
            .iter()
            .all(|a| a.endpoint_id != theirs.endpoint.id && a.endpoint_id != live.endpoint.id)
    );

    // 410 disabled its endpoint: later events are not sent there.
    let mut endpoints = store.endpoints(&merchant).await.unwrap();
    endpoints.retain(|endpoint| endpoint.mode == Mode::Test);
    assert_eq!(endpoints.len(), 4);
    for endpoint in &endpoints {
        assert_eq!(
            endpoint.enabled,
            endpoint.id != gone.endpoint.id,
            "{}",
            endpoint.url
        );
    }
    let other = PaymentId::generate(ledger.ids().as_ref());
    payments
        .create(NewPayment::new(other, 5, usd))
        .await
        .unwrap();
    assert_eq!(dispatcher.run_due(100).await.unwrap().scheduled, 3);

    // The always-failing endpoint gets exactly ten attempts, on the schedule, then none.
    for wait in &RETRY_SCHEDULE[3..] {
        clock.advance(*wait);
        dispatcher.run_due(100).await.unwrap();
    }
    clock.advance(Duration::from_secs(48 * 3600));
    dispatcher.run_due(100).await.unwrap();

    let attempts = store.delivery_attempts(&event.id).await.unwrap();
    let statuses = |endpoint: &crate::id::EndpointId| -> Vec<Option<u16>> {
        attempts
            .iter()
            .filter(|a| &a.endpoint_id == endpoint)
            .map(|a| a.status)
            .collect()
    };
    assert_eq!(
        statuses(&flaky.endpoint.id),
        [Some(500), Some(503), Some(204)]
    );
    assert_eq!(statuses(&gone.endpoint.id), [Some(410)]);
    // A refused receiver is tried once per event, never again.
    assert_eq!(statuses(&refused.endpoint.id), [None]);
    assert_eq!(statuses(&down.endpoint.id), vec![Some(500); 10]);
    let numbers: Vec<u32> = attempts
        .iter()
        .filter(|a| a.endpoint_id == down.endpoint.id)
        .map(|a| a.attempt)
        .collect();
    assert_eq!(numbers, (1..=10).collect::<Vec<_>>());

    // Every request for the first event carries its id and verifies with its endpoint's secret.
    let received = receivers.received.lock().unwrap();
    let secrets = [
        (&flaky.endpoint.url, &flaky.secret),
        (&gone.endpoint.url, &gone.secret),
        (&down.endpoint.url, &down.secret),
        (&refused.endpoint.url, &refused.secret),
    ];
    let mut first_event_requests = 0;
    for (url, headers, body) in received.iter() {
        let (_, secret) = secrets.iter().find(|(u, _)| *u == url).unwrap();
        let webhook_id = verify(secret, headers, body, sent_at(headers)).unwrap();
        if webhook_id == event.id.as_str() {
            first_event_requests += 1;
        }
    }
    assert_eq!(first_event_requests, 3 + 1 + 10 + 1);
}

pub async fn endpoint_secrets_are_sealed_and_sealed_again(store: Arc<dyn Store>) {
    let sealer = Arc::new(VersionedSealer::default());
    let Setup {
        ledger,
        payments,
        receivers,
        dispatcher,
        ..
    } = setup_sealed(&store, 53, sealer.clone()).await;
    let merchant = default_merchant();
    let added = dispatcher
        .add_endpoint(&merchant, Mode::Test, "http://127.0.0.1:9/sealed")
        .await
        .unwrap();
    // What is stored is sealed for the endpoint, never the secret itself.
    let stored = |store: Arc<dyn Store>| async move {
        let mut secrets = store.endpoint_secrets().await.unwrap();
        secrets.sort_by(|a, b| a.0.cmp(&b.0));
        secrets
    };
    let secrets = stored(store.clone()).await;
    let text = secrets[0].1.to_stored();
    assert!(text.starts_with("tag:v1:"), "{text}");
    let exposed = added.secret.expose();
    assert!(!text.contains(&exposed["whsec_".len()..]));
    // An endpoint stored plain by an earlier release still sends.
    let plain = WebhookSecret::random(&mut rand::rng());
    let legacy = WebhookEndpoint {
        id: crate::id::EndpointId::generate(ledger.ids().as_ref()),
        merchant: merchant.clone(),
        mode: Mode::Test,
        url: "http://127.0.0.1:9/legacy".into(),
        secret: StoredSecret::Plain(plain.clone()),
        enabled: true,
        created_at: ledger.now(),
    };
    store.save_endpoint(&legacy).await.unwrap();
    let signed_with = [
        (added.endpoint.url.clone(), added.secret.clone()),
        (legacy.url.clone(), plain.clone()),
    ];
    for (url, _) in &signed_with {
        receivers.script(url, &[204]);
    }
    let pay = || async {
        let id = PaymentId::generate(ledger.ids().as_ref());
        payments
            .create(NewPayment::new(id, 100, AssetCode::new("USD").unwrap()))
            .await
            .unwrap();
        let report = dispatcher.run_due(100).await.unwrap();
        assert_eq!((report.attempted, report.delivered), (2, 2));
    };
    pay().await;

    // A rewrap seals the plain secret; then, after a rotation, moves both onto the new
    // version; deliveries keep verifying with the secrets the receivers were given.
    assert_eq!(dispatcher.rewrap_secrets().await.unwrap().sealed, 1);
    assert_eq!(dispatcher.rewrap_secrets().await.unwrap().sealed, 0);
    let secrets = stored(store.clone()).await;
    assert!(
        secrets
            .iter()
            .all(|(_, s)| s.to_stored().starts_with("tag:v1:"))
    );
    sealer.rotate().await.unwrap();
    assert_eq!(dispatcher.rewrap_secrets().await.unwrap().sealed, 2);
    let secrets = stored(store.clone()).await;
    assert!(
        secrets
            .iter()
            .all(|(_, s)| s.to_stored().starts_with("tag:v2:"))
    );
    pay().await;
    let received = receivers.received.lock().unwrap().clone();
    assert_eq!(received.len(), 4);
    for (url, headers, body) in &received {
        let (_, secret) = signed_with.iter().find(|(u, _)| u == url).unwrap();
        verify(secret, headers, body, sent_at(headers)).unwrap();
    }

    // A reseal of a secret that changed meanwhile, or of no endpoint, writes nothing.
    let current = secrets[0].1.to_stored();
    assert!(
        !store
            .reseal_endpoint_secret(&secrets[0].0, "stale", "x")
            .await
            .unwrap()
    );
    let nobody = crate::id::EndpointId::derived("nobody");
    assert!(
        !store
            .reseal_endpoint_secret(&nobody, &current, "x")
            .await
            .unwrap()
    );
    assert_eq!(stored(store.clone()).await, secrets);
}
