//! Test support: localstripe (PyPI) behind its compatibility proxy
//! (`testing/localstripe_compat.py`, which lists the fields it fills), started on a free
//! 127.0.0.1 port, and [`StripeRail`], the Stripe rail as the provider conformance suite drives
//! it.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use obol_core::clock::Timestamp;
use obol_core::id::PaymentId;
use obol_core::money::AssetCode;
use obol_core::payments::{MethodToken, Payments, Provider};
use obol_core::testing::providers::{RailHarness, RailView, TestCard, card_method};
use stripe::{Client, ClientBuilder};
use stripe_core::payment_intent::{RetrievePaymentIntent, SearchPaymentIntent};
use stripe_core::refund::ListRefund;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use zeroize::Zeroizing;

use crate::webhook_signature::StripeWebhookSecret;
use crate::{Stripe, StripeConfig};

/// The secret key tests use (localstripe takes any `sk_` key).
pub const TEST_SECRET_KEY: &str = "sk_test_obol_localstripe";
/// The webhook signing secret tests use.
pub const TEST_WEBHOOK_SECRET: &str = "whsec_obol_localstripe_tests";

/// A running localstripe behind the compatibility proxy; stopped on drop.
#[derive(Debug)]
pub struct Localstripe {
    child: Child,
    /// The proxy's base URL (`http://127.0.0.1:PORT`).
    pub base: String,
}

impl Localstripe {
    /// Starts one (python3 with localstripe installed; `.ci/run` installs it).
    pub async fn start() -> Localstripe {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/testing/localstripe_compat.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the localstripe compatibility proxy");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("localstripe starts within a minute")
            .unwrap()
            .expect("localstripe printed its port (is `pip install localstripe` done?)");
        let port: u16 = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the proxy: {line}"));
        Localstripe {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A configuration for Obol's Stripe rail against this instance.
    pub fn config(&self, multicapture: bool) -> StripeConfig {
        StripeConfig::new(
            TEST_SECRET_KEY,
            TEST_WEBHOOK_SECRET,
            "https://shop.example/paid",
            Zeroizing::new([42; 32]),
        )
        .unwrap()
        .with_api_base(&self.base)
        .unwrap()
        .with_multicapture(multicapture)
        .with_timeout(Duration::from_secs(10))
    }

    /// Has localstripe send its webhooks, through the proxy, to `url`.
    pub async fn register_webhook(&self, url: &str) {
        let status = reqwest::Client::new()
            .post(format!("{}/_config/webhooks/obol", self.base))
            .form(&[("url", url), ("secret", TEST_WEBHOOK_SECRET)])
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "registering the webhook: {status}");
    }
}

impl Drop for Localstripe {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The Stripe rail against its own localstripe.
#[derive(Debug)]
pub struct StripeRail {
    pub localstripe: Localstripe,
    pub stripe: Arc<Stripe>,
    client: Client,
}

impl StripeRail {
    /// A rail with multicapture on (the proxy emulates it).
    pub async fn start() -> StripeRail {
        Self::with_multicapture(true).await
    }

    /// A rail with one capture per authorization.
    pub async fn single_capture() -> StripeRail {
        Self::with_multicapture(false).await
    }

    async fn with_multicapture(multicapture: bool) -> StripeRail {
        let localstripe = Localstripe::start().await;
        let stripe = Arc::new(Stripe::new(localstripe.config(multicapture)).unwrap());
        let client = ClientBuilder::new(TEST_SECRET_KEY)
            .url(format!("{}/", localstripe.base))
            .build()
            .unwrap();
        StripeRail {
            localstripe,
            stripe,
            client,
        }
    }
}

/// A signed Stripe event delivery, as Stripe would send it.
pub fn signed_event(event: &serde_json::Value, now: Timestamp) -> (Vec<(String, String)>, Vec<u8>) {
    let body = serde_json::to_vec(event).unwrap();
    let seconds = now.as_micros().div_euclid(1_000_000);
    let header = StripeWebhookSecret::parse(TEST_WEBHOOK_SECRET)
        .unwrap()
        .sign(seconds, &body)
        .unwrap();
    (vec![("stripe-signature".to_owned(), header)], body)
}

#[async_trait]
impl RailHarness for StripeRail {
    fn provider(&self) -> Arc<dyn Provider> {
        self.stripe.clone()
    }

    fn asset(&self) -> AssetCode {
        AssetCode::new("USD").unwrap()
    }

    async fn method(&self, payments: &Payments, provider: &str, payer: TestCard) -> MethodToken {
        // Stripe's documented test cards, which localstripe knows too.
        let number = match payer {
            TestCard::Approved => "4242424242424242",
            // Attaches, then is declined when charged.
            TestCard::Declined => "4000000000000341",
            TestCard::ChallengedThenApproved => "4000002500003155",
        };
        card_method(payments, provider, number).await
    }

    async fn complete_customer_action(&self, redirect_url: &str) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let answer = client.get(redirect_url).send().await.unwrap();
        assert_eq!(
            answer.status().as_u16(),
            302,
            "the challenge page returns the customer"
        );
    }

    fn dispute_opened(
        &self,
        reference: &str,
        amount: i128,
        now: Timestamp,
    ) -> (Vec<(String, String)>, Vec<u8>) {
        let event = serde_json::json!({
            "id": format!("evt_dispute_{reference}"),
            "object": "event",
            "type": "charge.dispute.created",
            "livemode": false,
            "created": now.as_micros().div_euclid(1_000_000),
            "data": {"object": {
                "id": format!("dp_{reference}"),
                "object": "dispute",
                "amount": amount,
                "currency": "usd",
                "reason": "fraudulent",
                "status": "needs_response",
                "payment_intent": reference,
            }},
        });
        signed_event(&event, now)
    }

    async fn view(&self, reference: &str) -> RailView {
        let intent = RetrievePaymentIntent::new(reference)
            .send(&self.client)
            .await
            .unwrap();
        let refunds = ListRefund::new()
            .payment_intent(reference)
            .limit(100)
            .send(&self.client)
            .await
            .unwrap();
        RailView {
            captured: i128::from(intent.amount_received),
            // The refund localstripe books when a capture releases the rest is not a refund.
            refunded: refunds
                .data
                .iter()
                .filter(|r| {
                    r.metadata
                        .as_ref()
                        .is_some_and(|m: &HashMap<String, String>| m.contains_key("obol_refund"))
                })
                .map(|r| i128::from(r.amount))
                .sum(),
        }
    }

    async fn charges_for(&self, payment: &PaymentId) -> usize {
        SearchPaymentIntent::new(format!("metadata['obol_payment']:'{payment}'"))
            .limit(100)
            .send(&self.client)
            .await
            .unwrap()
            .data
            .len()
    }
}
