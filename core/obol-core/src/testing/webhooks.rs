//! Webhook conformance cases every Store must pass: fan-out of outbox events, signed
//! deliveries with a stable id, the retry schedule, `410 Gone`, and recorded attempts.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::test_ledger;
use crate::error::{Error, Result};
use crate::id::{MerchantId, PaymentId};
use crate::mode::Mode;
use crate::money::AssetCode;
use crate::payments::{NewPayment, Payments, ProviderRegistry, Sandbox, default_merchant};
use crate::store::Store;
use crate::webhooks::{
    DeliveryBacklog, DeliveryTotals, RETRY_SCHEDULE, WebhookDispatcher, WebhookTransport, verify,
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

/// A sandbox payment engine and a dispatcher to scripted receivers, on `store`.
struct Setup {
    ledger: Arc<crate::ledger::Ledger>,
    clock: Arc<crate::clock::ManualClock>,
    payments: Payments,
    receivers: Arc<ScriptedReceivers>,
    dispatcher: WebhookDispatcher,
}

async fn setup(store: &Arc<dyn Store>, seed: u64) -> Setup {
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
        receivers.script(&endpoint.url, statuses);
        urls.push(endpoint);
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
    receivers.script(&theirs.url, &[204]);
    // Nor does this merchant's live endpoint hear of its test payments.
    let live = dispatcher
        .add_endpoint(&merchant, Mode::Live, "http://127.0.0.1:9/live")
        .await
        .unwrap();
    receivers.script(&live.url, &[204]);
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
    receivers.script(&refused.url, &[0]);
    receivers.script(&flaky.url, &[500, 503, 204]);
    receivers.script(&gone.url, &[410]);
    receivers.script(&down.url, &[500]);
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
            .all(|a| a.endpoint_id != theirs.id && a.endpoint_id != live.id)
    );

    // 410 disabled its endpoint: later events are not sent there.
    let mut endpoints = store.endpoints(&merchant).await.unwrap();
    endpoints.retain(|endpoint| endpoint.mode == Mode::Test);
    assert_eq!(endpoints.len(), 4);
    for endpoint in &endpoints {
        assert_eq!(endpoint.enabled, endpoint.id != gone.id, "{}", endpoint.url);
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
    assert_eq!(statuses(&flaky.id), [Some(500), Some(503), Some(204)]);
    assert_eq!(statuses(&gone.id), [Some(410)]);
    // A refused receiver is tried once per event, never again.
    assert_eq!(statuses(&refused.id), [None]);
    assert_eq!(statuses(&down.id), vec![Some(500); 10]);
    let numbers: Vec<u32> = attempts
        .iter()
        .filter(|a| a.endpoint_id == down.id)
        .map(|a| a.attempt)
        .collect();
    assert_eq!(numbers, (1..=10).collect::<Vec<_>>());

    // Every request for the first event carries its id and verifies with its endpoint's secret.
    let received = receivers.received.lock().unwrap();
    let secrets = [
        (&flaky.url, &flaky.secret),
        (&gone.url, &gone.secret),
        (&down.url, &down.secret),
        (&refused.url, &refused.secret),
    ];
    let mut first_event_requests = 0;
    for (url, headers, body) in received.iter() {
        let (_, secret) = secrets.iter().find(|(u, _)| *u == url).unwrap();
        let sent_at = headers
            .iter()
            .find(|(k, _)| k == "webhook-timestamp")
            .map(|(_, v)| {
                crate::clock::Timestamp::from_micros(v.parse::<i64>().unwrap() * 1_000_000)
            })
            .unwrap();
        let webhook_id = verify(secret, headers, body, sent_at).unwrap();
        if webhook_id == event.id.as_str() {
            first_event_requests += 1;
        }
    }
    assert_eq!(first_event_requests, 3 + 1 + 10 + 1);
}
