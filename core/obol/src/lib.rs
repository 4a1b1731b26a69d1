//! Obol, an embeddable payment engine. This is the crate applications depend on: it re-exports
//! the engine ([`obol_core`]) and opens a Store from a URL.
//!
//! ```no_run
//! # async fn demo() -> obol::Result<()> {
//! let ledger = obol::open("sqlite://obol.db").await?;
//! # Ok(()) }
//! ```

pub use obol_core::*;

mod engine;
mod handle;

#[cfg(feature = "paypal")]
pub use engine::PayPalOptions;
#[cfg(feature = "stripe")]
pub use engine::StripeOptions;
pub use engine::{Engine, EngineOptions};
pub use handle::EngineHandle;

use std::sync::Arc;

/// Opens the Store a URL names:
/// `sqlite://path/to/file.db`, `sqlite:file.db`, `sqlite::memory:`, `memory:`,
/// or `postgres://user@host:5432/database` (also `postgresql://`).
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    open_store_with(url, &StoreOptions::default()).await
}

/// How a store is opened besides its URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// PostgreSQL: the most connections this process holds (16 when `None`); every process
    /// on one database counts against the server's `max_connections`.
    pub max_connections: Option<u32>,
}

/// [`open_store`] with `options`.
pub async fn open_store_with(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "memory" => Ok(Arc::new(MemoryStore::new())),
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Arc::new(obol_sqlite::SqliteStore::open(url).await?)),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(Arc::new(
            obol_postgres::PostgresStore::open_with(
                url,
                None,
                options
                    .max_connections
                    .unwrap_or(obol_postgres::DEFAULT_MAX_CONNECTIONS),
            )
            .await?,
        )),
        #[cfg(not(feature = "sqlite"))]
        "sqlite" => Err(Error::Config {
            reason: "obol was built without the sqlite feature".to_string(),
        }),
        #[cfg(not(feature = "postgres"))]
        "postgres" | "postgresql" => Err(Error::Config {
            reason: "obol was built without the postgres feature".to_string(),
        }),
        _ => Err(Error::Config {
            reason: "unknown store URL: use sqlite://…, sqlite::memory:, postgres://… or memory:"
                .to_string(),
        }),
    }
}

/// Opens a ledger on the Store a URL names, with the system clock and random ids.
pub async fn open(url: &str) -> Result<Ledger> {
    open_with(url, LedgerConfig::default()).await
}

/// Opens a ledger on the Store a URL names, with the given clock, ids and writer tuning.
pub async fn open_with(url: &str, config: LedgerConfig) -> Result<Ledger> {
    Ledger::open(open_store(url).await?, config).await
}

/// Opens payments on the Store a URL names, with the sandbox provider (the embedded default)
/// registered; register real providers on a [`payments::ProviderRegistry`] and use
/// [`payments::Payments::new`] instead.
pub async fn open_payments(url: &str) -> Result<payments::Payments> {
    let ledger = Arc::new(open(url).await?);
    let mut providers = payments::ProviderRegistry::new();
    providers.register(Arc::new(payments::Sandbox::ephemeral()));
    Ok(payments::Payments::new(ledger, providers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_stores_by_url_and_refuses_unknown_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = format!("sqlite://{}", dir.path().join("a.db").display());
        for url in ["memory:", "sqlite::memory:", file.as_str()] {
            let ledger = open(url).await.unwrap();
            let usd = ledger.asset("USD").unwrap().code;
            let a = NewAccount::new(ledger.new_account_id(), usd.clone(), Direction::Debit);
            let b = NewAccount::new(ledger.new_account_id(), usd.clone(), Direction::Credit);
            let (a, b) = (
                ledger.create_account(a).await.unwrap(),
                ledger.create_account(b).await.unwrap(),
            );
            let entries = Entry::transfer(&a.id, &b.id, 1234, &usd).to_vec();
            ledger
                .transfer(NewTransaction::new(ledger.new_transaction_id(), entries))
                .await
                .unwrap();
            assert_eq!(
                ledger
                    .balance(&b.id)
                    .await
                    .unwrap()
                    .posted(Direction::Credit),
                1234
            );
            ledger.shutdown().await;
        }
        let err = open("mysql://x").await.unwrap_err();
        assert_eq!(err.code(), "config");
    }

    #[tokio::test]
    async fn a_sqlite_file_keeps_everything_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keep.db").display());
        let ledger = open(&url).await.unwrap();
        ledger
            .register_asset(Asset::new("GOLD.G", 3).unwrap())
            .await
            .unwrap();
        let gold = ledger.asset("GOLD.G").unwrap().code;
        let a = ledger
            .create_account(NewAccount::new(
                ledger.new_account_id(),
                gold.clone(),
                Direction::Debit,
            ))
            .await
            .unwrap();
        let b = ledger
            .create_account(NewAccount::new(
                ledger.new_account_id(),
                gold.clone(),
                Direction::Credit,
            ))
            .await
            .unwrap();
        let entries = Entry::transfer(&a.id, &b.id, 5, &gold).to_vec();
        ledger
            .transfer(NewTransaction::new(ledger.new_transaction_id(), entries))
            .await
            .unwrap();
        ledger.shutdown().await;

        let reopened = open(&url).await.unwrap();
        assert_eq!(reopened.asset("GOLD.G").unwrap().scale, 3);
        assert_eq!(reopened.balance(&b.id).await.unwrap().credits_posted, 5);
    }
}
