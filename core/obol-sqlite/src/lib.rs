//! Obol's Store on SQLite, the embedded default.
//!
//! WAL mode, and a write is acknowledged only once the WAL holding it is synced to disk, so
//! it survives a crash or power loss (one exception, argued where it is: an idempotency
//! key's completion is queued without waiting). The hot writes (ledger batches, payment writes,
//! idempotency keys, the webhook pipeline) run on one writer thread with group commit and
//! a separate WAL sync ([`writer`]); the other
//! writes (accounts, users, sessions, customers) use one sqlx connection (SQLite serializes
//! the two); reads use a small pool. Migrations in
//! `migrations/` run on open. `sqlite::memory:` is a private temporary file, removed when
//! the store is dropped (the writer thread needs a second connection to the same data).

mod auth;
mod customers;
mod idempotency;
mod ledger;
mod payments;
mod rows;
mod webhooks;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use obol_core::{Error, Result};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// A Store on one SQLite database file (or `sqlite::memory:`).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    writer: Arc<writer::Writer>,
    /// The directory of an in-memory store's file, removed with the last clone.
    _temporary: Option<Arc<tempfile::TempDir>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path/to/file.db`,
    /// `sqlite:file.db` or `sqlite::memory:`) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let (options, temporary) = match in_memory {
            true => {
                let dir = tempfile::tempdir().map_err(|e| {
                    Error::unavailable(format!("cannot create a temporary database: {e}"))
                })?;
                let options = SqliteConnectOptions::new().filename(dir.path().join("obol.db"));
                (options, Some(Arc::new(dir)))
            }
            false => {
                let options = SqliteConnectOptions::from_str(url).map_err(|e| Error::Config {
                    reason: format!("bad SQLite URL: {e}"),
                })?;
                (options, None)
            }
        };
        let options = options
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Statement journals of multi-row statements stay in memory, and a batch's pages
            // stay cached between batches (64 MiB per connection).
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-65536");
        // A temporary database need not survive a crash.
        let synchronous = match in_memory {
            true => SqliteSynchronous::Off,
            false => SqliteSynchronous::Full,
        };
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(db_error)?;
        MIGRATOR
            .run(&write)
            .await
            .map_err(|e| Error::unavailable(format!("SQLite migration failed: {e}")))?;
        let writer = writer::Writer::open(options.get_filename(), !in_memory)?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(db_error)?;
        tracing::debug!(in_memory, "SQLite store open");
        Ok(SqliteStore {
            write,
            read,
            writer: Arc::new(writer),
            _temporary: temporary,
        })
    }

    /// Closes every connection, waiting for them to finish.
    pub async fn close(&self) {
        self.writer.close().await;
        self.read.close().await;
        self.write.close().await;
    }
}

/// The migrations this build applies on open.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Maps a driver error to the engine's error: busy/locked is contention (retryable), anything
/// else is the store being unavailable. Details go to the log, not to callers.
pub(crate) fn db_error(error: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &error {
        let code = db.code().unwrap_or_default();
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
        if code == "5" || code == "6" || code.ends_with("05") && code.len() > 2 {
            return Error::Contention {
                reason: "database is busy".into(),
            };
        }
    }
    tracing::warn!(%error, "SQLite error");
    Error::unavailable(format!("SQLite: {error}"))
}
