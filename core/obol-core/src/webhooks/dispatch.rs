//! Delivers outbox events to webhook endpoints: fans new events out to every enabled endpoint,
//! sends what is due, signed, through a [`WebhookTransport`], and records every attempt.
//! Failures retry on Standard Webhooks' schedule with the same `webhook-id`; a `410 Gone`
//! disables the endpoint and stops its deliveries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};

use super::model::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryBacklog, DeliveryState, WebhookEndpoint,
};
use super::signature::WebhookSecret;
use super::stored_secret::StoredSecret;
use crate::auth::{KeySealer, Rewrapped};
use crate::clock::Clock;
use crate::error::Result;
use crate::id::{EndpointId, IdGen, MerchantId};
use crate::mode::Mode;
use crate::store::Store;

/// Waits before each attempt: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h
/// and 24 h after the previous failure; after the tenth failure the delivery has failed.
pub const RETRY_SCHEDULE: [Duration; 10] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// How long one wave of sends may take; a pass keeps what it claimed from other workers for
/// as many of these as it has waves, so nobody sends a delivery still being sent.
const SEND_LEASE: Duration = Duration::from_secs(60);

/// How many deliveries one pass sends at once (a slow receiver holds up one of these slots
/// until its timeout).
const SENDS_AT_ONCE: usize = 16;

/// Sends one HTTP POST. Implemented over a real HTTP client outside obol-core.
#[async_trait]
pub trait WebhookTransport: Send + Sync + std::fmt::Debug {
    /// Posts `body` with `headers` to `url`; the receiver's status code, or an error if no
    /// answer came: retryable (connection refused, timeout) or not (a receiver the transport
    /// will never send to, which fails the delivery at once).
    async fn post(&self, url: &str, headers: &[(String, String)], body: &[u8]) -> Result<u16>;
}

/// Events fanned out and deliveries attempted in one [`WebhookDispatcher::run_due`] pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// New deliveries created from the outbox.
    pub scheduled: usize,
    /// Attempts made.
    pub attempted: usize,
    /// Attempts the receiver accepted (2xx).
    pub delivered: usize,
}

/// Attempts this process made since it started, by what they led to (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryTotals {
    /// Attempts the receiver accepted.
    pub delivered: u64,
    /// Failed attempts that will be tried again.
    pub retrying: u64,
    /// Failed attempts after which the delivery has failed for good.
    pub failed: u64,
}

/// The running counts behind [`DeliveryTotals`].
#[derive(Debug, Default)]
struct Tally {
    delivered: AtomicU64,
    retrying: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    fn count(&self, state: DeliveryState) {
        let counter = match state {
            DeliveryState::Delivered => &self.delivered,
            DeliveryState::Pending => &self.retrying,
            DeliveryState::Failed => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Most opened secrets kept at once (one per endpoint sending; only bounds memory).
const OPENED_SECRETS: usize = 1024;

/// Opened secrets by (endpoint, sealed text).
type OpenedSecrets = std::collections::HashMap<(EndpointId, String), WebhookSecret>;

/// A new endpoint and its secret (shown this once).
#[derive(Debug)]
pub struct AddedEndpoint {
    /// The endpoint as stored.
    pub endpoint: WebhookEndpoint,
    /// Its signing secret.
    pub secret: WebhookSecret,
}

/// The delivery worker.
#[derive(Debug, Clone)]
pub struct WebhookDispatcher {
    tally: Arc<Tally>,
    store: Arc<dyn Store>,
    transport: Arc<dyn WebhookTransport>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    sealer: Arc<dyn KeySealer>,
    /// Secrets opened for sending, by endpoint and sealed text (opening may be a call to
    /// Vault; the endpoint is part of the key so a text copied onto another endpoint is
    /// opened, and refused, for that endpoint).
    opened: Arc<std::sync::Mutex<OpenedSecrets>>,
}

impl WebhookDispatcher {
    /// A dispatcher over a store and a transport, opening endpoints' secrets with `sealer`
    /// (the engine's: [`crate::auth::Auth::sealer`]).
    pub fn new(
        store: Arc<dyn Store>,
        transport: Arc<dyn WebhookTransport>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
        sealer: Arc<dyn KeySealer>,
    ) -> Self {
        WebhookDispatcher {
            tally: Arc::default(),
            store,
            transport,
            clock,
            ids,
            sealer,
            opened: Arc::default(),
        }
    }

    /// Adds an endpoint for the events of `merchant` in `mode`, with a new secret; returns it
    /// (the secret is shown this once). Hosts add endpoints for tenants with
    /// [`crate::tenant::Tenant::add_endpoint`]; this is the host's own door.
    pub async fn add_endpoint(
        &self,
        merchant: &MerchantId,
        mode: Mode,
        url: &str,
    ) -> Result<AddedEndpoint> {
        let (endpoint, secret) = WebhookEndpoint::new(
            EndpointId::generate(self.ids.as_ref()),
            merchant.clone(),
            mode,
            url,
            self.clock.now(),
            self.sealer.as_ref(),
        )
        .await?;
        self.store.save_endpoint(&endpoint).await?;
        Ok(AddedEndpoint { endpoint, secret })
    }

    /// Seals every endpoint's secret again under the newest version of the key-encryption
    /// key, and seals those stored plain by earlier releases (`obol keys rewrap`). One changed
    /// meanwhile is left to the next run; one that cannot be sealed again is reported and the
    /// others go on.
    pub async fn rewrap_secrets(&self) -> Result<Rewrapped> {
        let mut rewrapped = Rewrapped::default();
        for (endpoint, stored) in self.store.endpoint_secrets().await? {
            let moved = match stored.rewrap(self.sealer.as_ref(), &endpoint).await {
                Ok(Some(sealed)) => {
                    self.store
                        .reseal_endpoint_secret(&endpoint, &stored.to_stored(), &sealed.to_stored())
                        .await
                }
                Ok(None) => Ok(false),
                Err(error) => Err(error),
            };
            rewrapped.count(endpoint.as_str(), moved)?;
        }
        tracing::info!(
            sealed = rewrapped.sealed,
            failed = rewrapped.failed.len(),
            "webhook secrets sealed again"
        );
        Ok(rewrapped)
    }

    /// The secret a delivery is signed with, opened once per endpoint and sealed text.
    async fn secret_of(&self, delivery: &Delivery) -> Result<WebhookSecret> {
        let StoredSecret::Sealed(text) = &delivery.secret else {
            return delivery
                .secret
                .open(self.sealer.as_ref(), &delivery.endpoint_id)
                .await;
        };
        let key = (delivery.endpoint_id.clone(), text.clone());
        if let Some(secret) = self.opened_secrets().get(&key) {
            return Ok(secret.clone());
        }
        let secret = delivery
            .secret
            .open(self.sealer.as_ref(), &delivery.endpoint_id)
            .await?;
        let mut opened = self.opened_secrets();
        if opened.len() >= OPENED_SECRETS {
            opened.clear();
        }
        opened.insert(key, secret.clone());
        Ok(secret)
    }

    fn opened_secrets(&self) -> std::sync::MutexGuard<'_, OpenedSecrets> {
        self.opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The attempts this dispatcher (and its clones) made, by what they led to.
    pub fn totals(&self) -> DeliveryTotals {
        DeliveryTotals {
            delivered: self.tally.delivered.load(Ordering::Relaxed),
            retrying: self.tally.retrying.load(Ordering::Relaxed),
            failed: self.tally.failed.load(Ordering::Relaxed),
        }
    }

    /// The deliveries still to be made, now.
    pub async fn backlog(&self) -> Result<DeliveryBacklog> {
        self.store.delivery_backlog(self.clock.now()).await
    }

    /// One pass: fan out new events, then attempt every due delivery (at most `limit`).
    pub async fn run_due(&self, limit: u32) -> Result<DispatchReport> {
        let now = self.clock.now();
        let mut report = DispatchReport {
            scheduled: self.store.fan_out_events(limit, now).await?,
            ..DispatchReport::default()
        };
        let waves = limit
            .div_ceil(u32::try_from(SENDS_AT_ONCE).unwrap_or(u32::MAX))
            .max(1);
        let lease_until = now.plus(SEND_LEASE * waves);
        let due = self.store.due_deliveries(now, lease_until, limit).await?;
        // Each attempt is recorded as soon as it is made (a store may commit several at
        // once), so a worker that stops mid-pass loses no outcome it already had.
        let outcomes: Vec<Result<DeliveryState>> = stream::iter(due)
            .map(|delivery| async move {
                let outcome = self.attempt(&delivery).await?;
                self.store.record_attempt(&outcome).await?;
                self.tally.count(outcome.state);
                Ok(outcome.state)
            })
            .buffer_unordered(SENDS_AT_ONCE)
            .collect()
            .await;
        for state in outcomes {
            report.attempted += 1;
            if state? == DeliveryState::Delivered {
                report.delivered += 1;
            }
        }
        Ok(report)
    }

    async fn attempt(&self, delivery: &Delivery) -> Result<AttemptOutcome> {
        let now = self.clock.now();
        let body = delivery.body.as_bytes();
        let mut headers =
            self.secret_of(delivery)
                .await?
                .headers(delivery.event_id.as_str(), now, body)?;
        headers.push(("content-type".into(), "application/json".into()));
        let sent = self.transport.post(&delivery.url, &headers, body).await;
        let number = delivery.attempts + 1;
        let (status, error) = match &sent {
            Ok(status) => (Some(*status), None),
            Err(error) => (None, Some(error.to_string())),
        };
        let gone = status == Some(410);
        // A transport that refuses the receiver outright (an address the deployment does not
        // send to) will refuse it every time: no retries.
        let refused = matches!(&sent, Err(error) if !error.is_retryable());
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let next_wait = usize::try_from(number)
            .ok()
            .and_then(|n| RETRY_SCHEDULE.get(n));
        let (state, next_attempt_at) = match (delivered, gone, next_wait) {
            (true, _, _) => (DeliveryState::Delivered, None),
            (_, true, _) | (_, _, None) => (DeliveryState::Failed, None),
            (false, false, Some(_)) if refused => (DeliveryState::Failed, None),
            (false, false, Some(wait)) => (DeliveryState::Pending, Some(now.plus(*wait))),
        };
        if !delivered {
            tracing::info!(event = %delivery.event_id, endpoint = %delivery.endpoint_id, ?status, attempt = number, "webhook delivery failed");
        }
        Ok(AttemptOutcome {
            attempt: DeliveryAttempt {
                delivery_id: delivery.id,
                event_id: delivery.event_id.clone(),
                endpoint_id: delivery.endpoint_id.clone(),
                attempt: number,
                at: now,
                status,
                error,
            },
            state,
            next_attempt_at,
            disable_endpoint: gone,
        })
    }
}
