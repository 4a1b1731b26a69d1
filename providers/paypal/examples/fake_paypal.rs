//! Runs the fake PayPal API for a development server: `cargo run -p obol-paypal --features
//! testing --example fake_paypal -- 127.0.0.1:8430`. Its credentials are the
//! `obol_paypal::testing::fake` constants; a payer approves at the `next_action_url` a payment
//! shows, and is sent back to the server's return URL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use obol_paypal::testing::fake::{self, FakePayPal};

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8430".into());
    let fake = FakePayPal::start_on(&addr).await;
    eprintln!(
        "fake PayPal at {} (client id {}, secret {}, webhook id {})",
        fake.base_url(),
        fake::CLIENT_ID,
        fake::CLIENT_SECRET,
        fake::WEBHOOK_ID
    );
    std::future::pending::<()>().await;
}
