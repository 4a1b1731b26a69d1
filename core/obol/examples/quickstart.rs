//! Open a SQLite ledger, create two accounts, transfer, read balances.

#![allow(clippy::print_stdout)]

use obol::{Direction, Entry, Money, NewAccount, NewTransaction};

#[tokio::main]
async fn main() -> obol::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite://obol-quickstart.db".into());
    let ledger = obol::open(&url).await?;
    let usd = ledger.asset("USD")?;

    let alice = NewAccount::new(ledger.new_account_id(), usd.code.clone(), Direction::Debit);
    let bob = NewAccount::new(ledger.new_account_id(), usd.code.clone(), Direction::Credit);
    let (alice, bob) = (
        ledger.create_account(alice).await?,
        ledger.create_account(bob).await?,
    );

    let amount = Money::parse("12.34 USD", &ledger.assets()?)?;
    let entries = Entry::transfer(&alice.id, &bob.id, amount.minor, &usd.code).to_vec();
    let txn = ledger
        .transfer(NewTransaction::new(ledger.new_transaction_id(), entries))
        .await?;

    let balance = ledger.balance(&bob.id).await?;
    let posted = Money::from_minor(balance.posted(Direction::Credit), usd);
    println!("{} moved {amount}; {} now holds {posted}", txn.id, bob.id);
    ledger.shutdown().await;
    Ok(())
}
