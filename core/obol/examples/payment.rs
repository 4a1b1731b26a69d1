//! Take a sandbox card payment on the embedded SQLite store: authorize 100.00 USD with manual
//! capture, capture 60.00 of it, refund 25.00, then print the payment, its events and the
//! resulting ledger balances.
//!
//! `cargo run -p obol --example payment [-- sqlite://obol-payment.db]`

#![allow(clippy::print_stdout)]

use obol::payments::{CardDetails, NewPayment, PaymentRequest};
use obol::{Direction, Money, PaymentId};

#[tokio::main]
async fn main() -> obol::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite://obol-payment.db".into());
    let payments = obol::open_payments(&url).await?;
    let ledger = payments.ledger().clone();
    let usd = ledger.asset("USD")?;
    let money = |minor| Money::from_minor(minor, usd.clone());
    let amount = Money::parse("100.00 USD", &ledger.assets()?)?;

    let id = PaymentId::generate(ledger.ids().as_ref());
    let new = NewPayment::new(id.clone(), amount.minor, usd.code.clone()).manual_capture();
    payments
        .execute(Some(&format!("create-{id}")), PaymentRequest::Create(new))
        .await?;

    // The card goes to the provider's tokenizer; the engine keeps only a token and last 4.
    let card = CardDetails::new("4242 4242 4242 4242", 12, 2030, "123", ledger.now())?;
    let method = payments.tokenize_card("sandbox", &card).await?;
    payments.attach_method(&id, method).await?;
    let held = payments.confirm(&id).await?;
    println!(
        "authorized {} ({})",
        money(held.state.authorized),
        held.state.status
    );

    let sixty = Money::parse("60.00 USD", &ledger.assets()?)?;
    let captured = payments.capture(&id, Some(sixty.minor), true).await?;
    println!(
        "captured {} ({})",
        money(captured.state.captured),
        captured.state.status
    );
    let refund = Money::parse("25.00 USD", &ledger.assets()?)?;
    let refunded = payments
        .refund(&id, refund.minor, Some("requested_by_customer".into()))
        .await?;
    println!(
        "refund {} of {} {:?}",
        refunded.id,
        money(refunded.amount),
        refunded.status
    );
    let refunded = payments.payment(&id).await?;

    let card = refunded.method.as_ref().and_then(|m| m.card.as_ref());
    println!(
        "payment {} {} card {:?} ending {}",
        refunded.id,
        refunded.state.status,
        card.map(|c| c.brand),
        card.map_or("", |c| c.last4.as_str()),
    );
    for stored in payments.events_after(0, 1000).await? {
        if stored.event.payment_id == id {
            println!("  event {} {}", stored.event.id, stored.event.kind);
        }
    }
    let accounts = payments.accounts(&refunded.merchant, &usd.code).await?;
    let merchant = ledger.balance(&accounts.merchant).await?;
    let clearing = ledger.balance(&accounts.provider_clearing).await?;
    let fees = ledger.balance(&accounts.fees).await?;
    println!(
        "merchant available {} pending {}; provider clearing {}; provider fees {}",
        money(merchant.posted(Direction::Credit)),
        money(merchant.credits_pending - merchant.debits_pending),
        money(clearing.posted(Direction::Debit)),
        money(fees.posted(Direction::Debit)),
    );
    Ok(())
}
