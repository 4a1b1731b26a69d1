//! Take a sandbox card payment on the embedded SQLite store through the tenant API, as a host
//! acting for its own merchant in test mode: authorize 100.00 USD with manual capture,
//! capture 60.00 of it, refund 25.00, then print the payment, its events and the resulting
//! balances.
//!
//! `cargo run -p obol --example payment [-- sqlite://obol-payment.db]`

#![allow(clippy::print_stdout)]

use obol::auth::{KeyEncryptionKey, Principal, Scope};
use obol::payments::{CardInput, CreatePayment, EventQuery, MethodInput, default_merchant};
use obol::{Direction, Engine, EngineOptions, Mode, Money};

#[tokio::main]
async fn main() -> obol::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite://obol-payment.db".into());
    let options = EngineOptions::new("obol-example", "obol-api", KeyEncryptionKey::random());
    let engine = Engine::open(&url, options).await?;
    let ledger = engine.ledger().clone();
    // The host acts for its own merchant, with every scope, in test mode (the sandbox).
    let merchant = default_merchant();
    let shop = engine.tenant(Principal::host(
        merchant.clone(),
        Scope::ALL.into(),
        Mode::Test,
    ));
    let usd = ledger.asset("USD")?;
    let money = |minor| Money::from_minor(minor, usd.clone());
    let amount = Money::parse("100.00 USD", &ledger.assets()?)?;

    // The card goes to the sandbox's tokenizer; the engine keeps only a token and last 4.
    let mut request = CreatePayment::new(amount.minor, usd.code.clone());
    request.capture_method = Some(obol::payments::CaptureMethod::Manual);
    request.payment_method = Some(MethodInput::Card(CardInput {
        number: "4242 4242 4242 4242".into(),
        exp_month: 12,
        exp_year: 2030,
        cvc: "123".into(),
    }));
    request.confirm = true;
    let key = format!("order-{}", ledger.new_transaction_id());
    let held = shop.create_payment(Some(&key), request).await?;
    let id = held.id.clone();
    println!(
        "authorized {} ({})",
        money(held.state.authorized),
        held.state.status
    );

    let sixty = Money::parse("60.00 USD", &ledger.assets()?)?;
    let captured = shop.capture(None, &id, Some(sixty.minor), true).await?;
    println!(
        "captured {} ({})",
        money(captured.state.captured),
        captured.state.status
    );
    let refund = Money::parse("25.00 USD", &ledger.assets()?)?;
    let refunded = shop
        .refund(
            None,
            &id,
            Some(refund.minor),
            Some("requested_by_customer".into()),
        )
        .await?;
    println!(
        "refunded {} ({})",
        money(refunded.state.refunded),
        refunded.state.status
    );

    let card = refunded.method.as_ref().and_then(|m| m.card.as_ref());
    println!(
        "payment {} {} card {:?} ending {}",
        refunded.id,
        refunded.state.status,
        card.map(|c| c.brand),
        card.map_or("", |c| c.last4.as_str()),
    );
    let query = EventQuery {
        merchant: merchant.clone(),
        mode: None,
        payment: Some(id.clone()),
        after: 0,
        limit: 100,
    };
    for stored in shop.events(query).await? {
        println!("  event {} {}", stored.event.id, stored.event.kind);
    }
    for balance in shop.balances(std::slice::from_ref(&usd.code)).await? {
        println!(
            "merchant available {} pending {}",
            money(balance.balance.posted(Direction::Credit)),
            money(balance.balance.credits_pending - balance.balance.debits_pending),
        );
    }
    // The platform's own accounts are the host's to read, not a tenant's.
    let accounts = engine
        .payments()
        .accounts(&merchant, Mode::Test, &usd.code)
        .await?;
    let clearing = ledger.balance(&accounts.provider_clearing).await?;
    let fees = ledger.balance(&accounts.fees).await?;
    println!(
        "provider clearing {}; provider fees {}",
        money(clearing.posted(Direction::Debit)),
        money(fees.posted(Direction::Debit)),
    );
    engine.shutdown().await;
    Ok(())
}
