//! Test support: [`fake::FakePayPal`], a stateful local fake of PayPal's REST API, and
//! [`PayPalRail`], the PayPal rail under the provider conformance suite.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod fake;

use std::sync::Arc;

use async_trait::async_trait;
use obol_core::clock::Timestamp;
use obol_core::id::PaymentId;
use obol_core::money::AssetCode;
use obol_core::payments::{MethodToken, Payments, Provider};
use obol_core::testing::providers::{RailHarness, RailView, TestCard};

pub use fake::{FakeFault, FakePayPal, Payer};

use crate::PayPal;

/// The PayPal rail against a fresh fake.
#[derive(Debug)]
pub struct PayPalRail {
    pub fake: FakePayPal,
    pub paypal: Arc<PayPal>,
}

impl PayPalRail {
    /// A fake PayPal and the rail configured against it.
    pub async fn start() -> Self {
        let fake = FakePayPal::start().await;
        let paypal = Arc::new(PayPal::new(fake.config()).unwrap());
        PayPalRail { fake, paypal }
    }
}

/// Follows an approval link as the payer's browser would: PayPal answers by sending the payer
/// back to the shop, at the returned URL.
pub async fn approve(redirect_url: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client.get(redirect_url).send().await.unwrap();
    assert_eq!(answer.status(), 302, "the payer was not sent back");
    answer.headers()["location"].to_str().unwrap().to_owned()
}

#[async_trait]
impl RailHarness for PayPalRail {
    fn provider(&self) -> Arc<dyn Provider> {
        self.paypal.clone()
    }

    fn asset(&self) -> AssetCode {
        AssetCode::new("USD").unwrap()
    }

    async fn method(&self, _payments: &Payments, _provider: &str, payer: TestCard) -> MethodToken {
        self.fake.set_payer(match payer {
            TestCard::Declined => Payer::Declines,
            TestCard::Approved | TestCard::ChallengedThenApproved => Payer::Approves,
        });
        PayPal::checkout_method()
    }

    fn approves_each_payment(&self) -> bool {
        true
    }

    async fn complete_customer_action(&self, redirect_url: &str) {
        let _ = approve(redirect_url).await;
    }

    fn dispute_opened(
        &self,
        reference: &str,
        amount: i128,
        now: Timestamp,
    ) -> (Vec<(String, String)>, Vec<u8>) {
        let capture = self.fake.first_capture(reference).unwrap();
        let event = self
            .fake
            .dispute_created(&format!("WH-DISPUTE-{capture}"), &capture, amount);
        self.fake.signed_delivery(&event, now)
    }

    async fn view(&self, reference: &str) -> RailView {
        let (captured, refunded) = self.fake.totals(reference);
        RailView { captured, refunded }
    }

    async fn charges_for(&self, payment: &PaymentId) -> usize {
        self.fake.charges_for(&payment.to_string())
    }
}
