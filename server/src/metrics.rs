//! Prometheus metrics in the text exposition format: HTTP requests by route, method and
//! status with latency histograms; payment operations by resulting status, provider and
//! outcome; the ledger writer's batch sizes and commit latencies; webhook attempts by result.
//! Store-wide figures (the ledger's imbalance per asset, which must be 0, and the webhook
//! backlog) are read from the store at most every [`AUDIT_EVERY`], however often Prometheus
//! scrapes. Integers only: durations are kept in microseconds and printed as seconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use obol::Ledger;
use obol::ledger::stats::Histogram;
use obol::payments::Payment;
use obol::webhooks::WebhookDispatcher;

/// Upper bounds of the request-latency histogram, in microseconds.
const REQUEST_MICROS_BOUNDS: [u64; 12] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    10_000_000,
];

#[derive(Debug, Default, Clone)]
struct Latency {
    buckets: [u64; REQUEST_MICROS_BOUNDS.len()],
    count: u64,
    sum: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Latency>,
    payments: BTreeMap<(String, String, String, String), u64>,
}

/// How long store-wide figures are reused before the store is read again.
pub const AUDIT_EVERY: Duration = Duration::from_secs(15);

/// The longest a scrape waits for the store's figures before it answers with the last ones
/// (a slow store must not take the process's other metrics down with it).
const AUDIT_TIMEOUT: Duration = Duration::from_secs(2);

/// The process's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
    ledger: Option<Arc<Ledger>>,
    webhooks: Option<WebhookDispatcher>,
    /// The store-wide figures last read, and when.
    audit: tokio::sync::Mutex<Option<(Instant, String)>>,
}

impl Metrics {
    /// Metrics of a process; with a ledger, its writer's figures and the ledger's imbalance
    /// too.
    pub fn new(ledger: Option<Arc<Ledger>>) -> Self {
        Metrics {
            ledger,
            ..Metrics::default()
        }
    }

    /// With the webhook deliveries this process makes, and the store's backlog.
    pub fn with_webhooks(mut self, webhooks: WebhookDispatcher) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// Everything, in the Prometheus text format, store-wide figures included.
    pub async fn render_all(&self) -> String {
        let mut out = self.render();
        if let Some(webhooks) = &self.webhooks {
            let totals = webhooks.totals();
            header(
                &mut out,
                "obol_webhook_delivery_attempts_total",
                "counter",
                "Webhook delivery attempts this process made, by what they led to.",
            );
            for (result, n) in [
                ("delivered", totals.delivered),
                ("retrying", totals.retrying),
                ("failed", totals.failed),
            ] {
                let _ = writeln!(
                    out,
                    "obol_webhook_delivery_attempts_total{{result=\"{result}\"}} {n}"
                );
            }
        }
        out.push_str(&self.audit().await);
        out
    }

    /// The store-wide figures, read again when the last reading is older than AUDIT_EVERY
    /// (one reader at a time; a failed reading keeps the last one, whose timestamp then
    /// ages, which is what the alerts watch).
    async fn audit(&self) -> String {
        if self.ledger.is_none() && self.webhooks.is_none() {
            return String::new();
        }
        let mut cached = self.audit.lock().await;
        if let Some((at, text)) = cached.as_ref()
            && at.elapsed() < AUDIT_EVERY
        {
            return text.clone();
        }
        let last = |cached: &Option<(Instant, String)>| {
            cached
                .as_ref()
                .map(|(_, text)| text.clone())
                .unwrap_or_default()
        };
        match tokio::time::timeout(AUDIT_TIMEOUT, self.read_audit()).await {
            Ok(Ok(text)) => {
                *cached = Some((Instant::now(), text.clone()));
                text
            }
            Ok(Err(error)) => {
                tracing::warn!(code = error.code(), %error, "cannot read the store-wide metrics");
                last(&cached)
            }
            Err(_) => {
                tracing::warn!("the store-wide metrics took too long; answering the last ones");
                last(&cached)
            }
        }
    }

    async fn read_audit(&self) -> obol::Result<String> {
        let mut out = String::new();
        if let Some(ledger) = &self.ledger {
            let totals = ledger.store().asset_totals().await?;
            header(
                &mut out,
                "obol_ledger_imbalance",
                "gauge",
                "Debits minus credits over every account of an asset, in minor units; anything but 0 is a broken ledger.",
            );
            for asset in &totals {
                let t = &asset.totals;
                for (balance, difference) in [
                    ("posted", t.debits_posted - t.credits_posted),
                    ("pending", t.debits_pending - t.credits_pending),
                ] {
                    let _ = writeln!(
                        out,
                        "obol_ledger_imbalance{{asset=\"{}\",balance=\"{balance}\"}} {difference}",
                        escape(asset.asset.as_str())
                    );
                }
            }
            header(
                &mut out,
                "obol_ledger_imbalance_checked_timestamp_seconds",
                "gauge",
                "When the ledger's imbalance was last read (Unix time).",
            );
            let _ = writeln!(
                out,
                "obol_ledger_imbalance_checked_timestamp_seconds {}",
                ledger.now().as_micros() / 1_000_000
            );
        }
        if let Some(webhooks) = &self.webhooks {
            let backlog = webhooks.backlog().await?;
            header(
                &mut out,
                "obol_webhook_deliveries_pending",
                "gauge",
                "Webhook deliveries neither delivered nor failed yet.",
            );
            let _ = writeln!(out, "obol_webhook_deliveries_pending {}", backlog.pending);
            header(
                &mut out,
                "obol_webhook_oldest_pending_seconds",
                "gauge",
                "How long the longest-waiting due webhook delivery has waited (0 when none is due).",
            );
            let waited = backlog.oldest_due.map_or(0, |due| {
                let now = self.ledger.as_ref().map_or(due, |l| l.now());
                (now.as_micros() - due.as_micros()).max(0) / 1_000_000
            });
            let _ = writeln!(out, "obol_webhook_oldest_pending_seconds {waited}");
        }
        Ok(out)
    }

    /// Counts one HTTP request.
    pub fn request(&self, route: String, method: String, status: u16, micros: u64) {
        let requests_key = (route.clone(), method.clone(), status);
        let Ok(mut counters) = self.counters.lock() else {
            return;
        };
        *counters.requests.entry(requests_key).or_default() += 1;
        let latency = counters.latency.entry((route, method)).or_default();
        latency.count += 1;
        latency.sum += micros;
        for (bound, n) in REQUEST_MICROS_BOUNDS.iter().zip(latency.buckets.iter_mut()) {
            if micros <= *bound {
                *n += 1;
            }
        }
    }

    /// Counts one payment operation and how it ended.
    pub fn payment(&self, operation: &str, result: &obol::Result<Payment>) {
        let (status, provider, outcome) = match result {
            Ok(p) => (
                p.state.status.as_str().to_owned(),
                p.provider.clone().unwrap_or_else(|| "none".to_owned()),
                p.last_decline
                    .as_ref()
                    .map_or_else(|| "ok".to_owned(), |code| format!("declined:{code}")),
            ),
            Err(error) => (
                "none".to_owned(),
                "none".to_owned(),
                error.code().to_owned(),
            ),
        };
        if let Ok(mut counters) = self.counters.lock() {
            *counters
                .payments
                .entry((operation.to_owned(), status, provider, outcome))
                .or_default() += 1;
        }
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(counters) = self.counters.lock() {
            render_http(&mut out, &counters);
            header(
                &mut out,
                "obol_payment_operations_total",
                "counter",
                "Payment operations by resulting status, provider and outcome.",
            );
            for ((operation, status, provider, outcome), n) in &counters.payments {
                let _ = writeln!(
                    out,
                    "obol_payment_operations_total{{operation=\"{}\",status=\"{}\",provider=\"{}\",outcome=\"{}\"}} {n}",
                    escape(operation),
                    escape(status),
                    escape(provider),
                    escape(outcome)
                );
            }
        }
        if let Some(ledger) = &self.ledger {
            let stats = ledger.writer_stats();
            header(
                &mut out,
                "obol_ledger_batches_failed_total",
                "counter",
                "Ledger batches whose transaction failed.",
            );
            let _ = writeln!(out, "obol_ledger_batches_failed_total {}", stats.failed);
            header(
                &mut out,
                "obol_ledger_batch_size",
                "histogram",
                "Submissions per ledger batch.",
            );
            histogram(
                &mut out,
                "obol_ledger_batch_size",
                "",
                &stats.batch_sizes,
                |n| n.to_string(),
            );
            header(
                &mut out,
                "obol_ledger_commit_duration_seconds",
                "histogram",
                "Time to write and commit a ledger batch.",
            );
            histogram(
                &mut out,
                "obol_ledger_commit_duration_seconds",
                "",
                &stats.commit_micros,
                seconds,
            );
        }
        out
    }
}

fn render_http(out: &mut String, counters: &Counters) {
    header(
        out,
        "obol_http_requests_total",
        "counter",
        "HTTP requests by route, method and status.",
    );
    for ((route, method, status), n) in &counters.requests {
        let _ = writeln!(
            out,
            "obol_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
            escape(route),
            escape(method)
        );
    }
    header(
        out,
        "obol_http_request_duration_seconds",
        "histogram",
        "HTTP request latency by route and method.",
    );
    for ((route, method), latency) in &counters.latency {
        let labels = format!("route=\"{}\",method=\"{}\",", escape(route), escape(method));
        let as_histogram = Histogram {
            buckets: REQUEST_MICROS_BOUNDS
                .iter()
                .copied()
                .zip(latency.buckets.iter().copied())
                .collect(),
            count: latency.count,
            sum: latency.sum,
        };
        histogram(
            out,
            "obol_http_request_duration_seconds",
            &labels,
            &as_histogram,
            seconds,
        );
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Writes a histogram whose buckets are cumulative; `labels` ends with a comma when not empty.
fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    histogram: &Histogram,
    unit: impl Fn(u64) -> String,
) {
    for (bound, n) in &histogram.buckets {
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{}\"}} {n}", unit(*bound));
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels}le=\"+Inf\"}} {}",
        histogram.count
    );
    let plain = labels.trim_end_matches(',');
    let braces = |s: &str| {
        if s.is_empty() {
            String::new()
        } else {
            format!("{{{s}}}")
        }
    };
    let _ = writeln!(out, "{name}_sum{} {}", braces(plain), unit(histogram.sum));
    let _ = writeln!(out, "{name}_count{} {}", braces(plain), histogram.count);
}

/// Microseconds as decimal seconds, without floating point.
fn seconds(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let metrics = Metrics::new(None);
        let (route, post) = ("/v1/payments".to_owned(), "POST".to_owned());
        metrics.request(route.clone(), post.clone(), 201, 1_500);
        metrics.request(route, post, 201, 30_000);
        metrics.payment("create", &Err(obol::Error::Unauthenticated));
        let text = metrics.render();
        assert!(text.contains(
            "obol_http_requests_total{route=\"/v1/payments\",method=\"POST\",status=\"201\"} 2"
        ));
        assert!(text.contains("obol_http_request_duration_seconds_bucket{route=\"/v1/payments\",method=\"POST\",le=\"0.002500\"} 1"));
        assert!(text.contains("obol_http_request_duration_seconds_bucket{route=\"/v1/payments\",method=\"POST\",le=\"+Inf\"} 2"));
        assert!(text.contains("obol_http_request_duration_seconds_sum{route=\"/v1/payments\",method=\"POST\"} 0.031500"));
        assert!(text.contains("outcome=\"unauthenticated\"} 1"));
        assert_eq!(seconds(1_234_567), "1.234567");
    }
}
