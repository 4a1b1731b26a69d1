//! Webhook deliveries over real HTTP to a receiver on 127.0.0.1: signed requests that verify,
//! retries on 5xx with the same id, nothing more after 410, and refused connections recorded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use obol_core::payments::{NewPayment, Payments, ProviderRegistry, Sandbox, default_merchant};
use obol_core::testing::test_ledger;
use obol_core::webhooks::{RETRY_SCHEDULE, TargetPolicy, WebhookDispatcher, verify};
use obol_core::{AssetCode, MemoryStore, PaymentId, Store};
use obol_http::HttpWebhookTransport;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the receiver saw: path, lower-cased headers, body.
type Seen = (String, Vec<(String, String)>, Vec<u8>);

/// A minimal HTTP/1.1 receiver: answers each path with its scripted statuses in turn (the last
/// repeats) and records every request.
struct Receiver {
    address: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn receiver(scripts: HashMap<&'static str, Vec<u16>>) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let scripts = Arc::new(Mutex::new(scripts));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (record, scripts) = (record.clone(), scripts.clone());
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                reader.read_line(&mut line).await.unwrap();
                let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).await.unwrap();
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap();
                    headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                }
                let length: usize = headers
                    .iter()
                    .find(|(name, _)| name == "content-length")
                    .map_or(0, |(_, value)| value.parse().unwrap());
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).await.unwrap();
                let status = {
                    let mut scripts = scripts.lock().unwrap();
                    let script = scripts.get_mut(path.as_str()).unwrap();
                    if script.len() > 1 {
                        script.remove(0)
                    } else {
                        script[0]
                    }
                };
                record.lock().unwrap().push((path, headers, body));
                let response = format!(
                    "HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                reader
                    .get_mut()
                    .write_all(response.as_bytes())
                    .await
                    .unwrap();
            });
        }
    });
    Receiver { address, seen }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_reach_a_local_receiver_signed_and_retried() {
    let scripts = HashMap::from([
        ("/ok", vec![200]),
        ("/flaky", vec![500, 502, 200]),
        ("/gone", vec![410]),
    ]);
    let receiver = receiver(scripts).await;
    // A port nobody listens on: connections are refused.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/refused", listener.local_addr().unwrap())
    };

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (ledger, clock) = test_ledger(store.clone(), 61).await;
    let ledger = Arc::new(ledger);
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(Sandbox::ephemeral()));
    let payments = Payments::new(ledger.clone(), providers);
    // The receivers are on this machine: allow it (deployments default to public only).
    let transport = Arc::new(
        HttpWebhookTransport::with_policy(Duration::from_secs(5), TargetPolicy::Any).unwrap(),
    );
    let sealer = Arc::new(obol_core::auth::LocalSealer::new(
        obol_core::auth::KeyEncryptionKey::random(),
    ));
    let dispatcher = WebhookDispatcher::new(
        store.clone(),
        transport,
        ledger.clock().clone(),
        ledger.ids().clone(),
        sealer,
    );
    let mut endpoints = HashMap::new();
    for path in ["/ok", "/flaky", "/gone"] {
        let url = format!("{}{path}", receiver.address);
        endpoints.insert(
            path,
            dispatcher
                .add_endpoint(&default_merchant(), obol_core::Mode::Test, &url)
                .await
                .unwrap(),
        );
    }
    let refused = dispatcher
        .add_endpoint(&default_merchant(), obol_core::Mode::Test, &closed)
        .await
        .unwrap();

    let usd = AssetCode::new("USD").unwrap();
    let first = PaymentId::generate(ledger.ids().as_ref());
    payments
        .create(NewPayment::new(first, 1250, usd.clone()))
        .await
        .unwrap();
    let event = payments.events_after(0, 10).await.unwrap().remove(0).event;

    let report = dispatcher.run_due(100).await.unwrap();
    assert_eq!(
        (report.scheduled, report.attempted, report.delivered),
        (4, 4, 1)
    );
    clock.advance(RETRY_SCHEDULE[1]);
    assert_eq!(dispatcher.run_due(100).await.unwrap().delivered, 0);
    clock.advance(RETRY_SCHEDULE[2]);
    assert_eq!(dispatcher.run_due(100).await.unwrap().delivered, 1);

    // After 410, later events go everywhere but /gone.
    let second = PaymentId::generate(ledger.ids().as_ref());
    payments
        .create(NewPayment::new(second, 99, usd))
        .await
        .unwrap();
    assert_eq!(dispatcher.run_due(100).await.unwrap().scheduled, 3);

    let seen = receiver.seen.lock().unwrap().clone();
    let by_path =
        |path: &str| -> Vec<&Seen> { seen.iter().filter(|(p, _, _)| p == path).collect() };
    assert_eq!(by_path("/ok").len(), 2);
    assert_eq!(by_path("/flaky").len(), 4);
    assert_eq!(by_path("/gone").len(), 1);
    // The receiver checks each request against its own clock at arrival: here, the time the
    // request says it was sent (the test's clock jumps ahead between runs).
    let sent_at = |headers: &[(String, String)]| {
        let seconds: i64 = headers
            .iter()
            .find(|(name, _)| name == "webhook-timestamp")
            .unwrap()
            .1
            .parse()
            .unwrap();
        obol_core::Timestamp::from_micros(seconds * 1_000_000)
    };
    for (path, headers, body) in &seen {
        let now = sent_at(headers);
        let secret = &endpoints[path.as_str()].secret;
        let id = verify(secret, headers, body, now).unwrap();
        assert!(id.starts_with("evt_"));
        let mut tampered = body.clone();
        tampered.push(b' ');
        assert!(verify(secret, headers, &tampered, now).is_err());
        assert!(verify(&refused.secret, headers, body, now).is_err());
    }
    // The three /flaky tries of the first event carry the same webhook-id.
    let flaky_ids: Vec<String> = by_path("/flaky")
        .iter()
        .map(|(_, headers, body)| {
            verify(&endpoints["/flaky"].secret, headers, body, sent_at(headers)).unwrap()
        })
        .collect();
    assert_eq!(
        flaky_ids[..3],
        [
            event.id.to_string(),
            event.id.to_string(),
            event.id.to_string()
        ]
    );

    let attempts = store.delivery_attempts(&event.id).await.unwrap();
    let late = verify(
        &endpoints["/ok"].secret,
        &by_path("/ok")[0].1,
        &by_path("/ok")[0].2,
        ledger.now(),
    );
    assert_eq!(late.unwrap_err().code(), "webhook_signature_invalid");
    let refused_attempts: Vec<_> = attempts
        .iter()
        .filter(|a| a.endpoint_id == refused.endpoint.id)
        .collect();
    assert_eq!(refused_attempts.len(), 3);
    assert!(
        refused_attempts
            .iter()
            .all(|a| a.status.is_none() && a.error.is_some())
    );
    let gone = store
        .endpoints(&default_merchant())
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.id == endpoints["/gone"].endpoint.id)
        .unwrap();
    assert!(!gone.enabled);
}
