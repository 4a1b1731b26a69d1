//! Obol's Store on PostgreSQL.
//!
//! Several engine instances may write to one database at once: a batch locks the rows it reads
//! (`SELECT … FOR UPDATE`, always transactions, then holds, then accounts, each sorted by id,
//! so two writers never deadlock), and a collision on a new id (unique violation) or a
//! serialization failure is reported as contention, which the ledger's writer retries.

mod api_key_cache;
mod auth;
mod customers;
mod group_commit;
mod idempotency;
mod ledger;
mod payment_writer;
mod payments;
mod rows;
#[cfg(feature = "testing")]
pub mod testing;
mod webhooks;

use std::str::FromStr;

use obol_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// Connections a store holds at most unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

/// The fewest connections a store works with: its three writers and the API key listener
/// each hold one while they work, and requests need some too.
pub const MIN_CONNECTIONS: u32 = 4;

/// A Store on a PostgreSQL database (optionally inside one schema).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    payments: payment_writer::PaymentWriter,
    keys: idempotency::KeyWriter,
    attempts: webhooks::AttemptWriter,
    api_keys: api_key_cache::ApiKeyCache,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:5432/db`) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_in_schema(url, None).await
    }

    /// Like [`PostgresStore::open`], with every table inside `schema` (created if missing):
    /// lets tests and tenants share one database.
    pub async fn open_in_schema(url: &str, schema: Option<&str>) -> Result<Self> {
        Self::open_with(url, schema, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Like [`PostgresStore::open_in_schema`], holding at most `max_connections` connections
    /// (at least [`MIN_CONNECTIONS`]): every process on one database counts against its
    /// `max_connections`.
    pub async fn open_with(url: &str, schema: Option<&str>, max_connections: u32) -> Result<Self> {
        if max_connections < MIN_CONNECTIONS {
            return Err(Error::Config {
                reason: format!(
                    "a PostgreSQL store needs at least {MIN_CONNECTIONS} connections (its writers \
                     and the API key listener hold one each while they work)"
                ),
            });
        }
        let mut options = PgConnectOptions::from_str(url).map_err(|e| Error::Config {
            reason: format!("bad PostgreSQL URL: {e}"),
        })?;
        probe(&options).await?;
        if let Some(schema) = schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(Error::Config {
                    reason: "schema names are letters, digits and underscores".into(),
                });
            }
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .map_err(db_error)?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {schema}"
            )))
            .execute(&admin)
            .await
            .map_err(db_error)?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql(SESSION_SETTINGS)
                        .execute(conn)
                        .await
                        .map(drop)
                })
            })
            .connect_with(options)
            .await
            .map_err(db_error)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| Error::unavailable(format!("PostgreSQL migration failed: {e}")))?;
        tracing::debug!(?schema, "PostgreSQL store open");
        let payments = payment_writer::PaymentWriter::spawn(pool.clone());
        let keys = idempotency::KeyWriter::spawn(idempotency::KeyCommitter { pool: pool.clone() });
        let attempts =
            webhooks::AttemptWriter::spawn(webhooks::AttemptCommitter { pool: pool.clone() });
        let api_keys = api_key_cache::ApiKeyCache::new(pool.clone());
        Ok(PostgresStore {
            pool,
            payments,
            keys,
            attempts,
            api_keys,
        })
    }

    /// The connection pool (for admin tasks and benchmarks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether this store keeps the API key of `hash` in memory (for tests of the cache).
    #[cfg(feature = "testing")]
    pub fn api_key_kept(&self, hash: &str) -> bool {
        self.api_keys.kept(hash)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Settings of every store connection, sent once it connects (not as startup options,
/// which a connection pooler such as PgBouncer refuses unless told to pass them on).
///
/// PostgreSQL keeps a statement's generic plan until the table is next analyzed. A lookup by
/// key planned while a table held a few rows (where a sequential scan is cheapest) would go
/// on scanning the whole table as it grows, for as long as a new deployment's tables grow
/// faster than autovacuum analyzes them: 27 ms for one key, 190 ms for 60, at 200k rows. The
/// hot statements read by a key, so cached plans are made as index scans from the first row;
/// a statement no index serves (readiness, listing endpoints, asset totals) still scans.
/// Such a scan is then priced past PostgreSQL's JIT threshold, and compiling one took 150 ms
/// where running it took one: the store's statements run without JIT. Batches planned for
/// their arrays allow sequential scans again ([`PLAN_FOR_BOUND_ARRAYS`]).
const SESSION_SETTINGS: &str = "SET enable_seqscan = off; SET jit = off";

/// Batches of up to this many writes, binding arrays of up to this many ids, may run on
/// the plans PostgreSQL caches per connection.
pub(crate) const CACHED_PLANS_UP_TO: usize = 64;

/// Makes the rest of the transaction plan each statement for the arrays it binds. Such a
/// plan is made for the table's size at the time, so it may scan a table whole when the
/// arrays name much of it (the connections' `enable_seqscan = off` guards cached plans only:
/// locking 5,000 of 10,000 accounts through the index took 1.4 s a batch, not 0.15 s).
const PLAN_FOR_BOUND_ARRAYS: &str =
    "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_seqscan = on";
/// `BEGIN` with [`PLAN_FOR_BOUND_ARRAYS`], in one round trip.
const BEGIN_PLANNING_FOR_BOUND_ARRAYS: &str =
    "BEGIN; SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_seqscan = on";

/// A transaction for a batch of `writes` writes. A small batch's statements may use plans
/// PostgreSQL cached on the connection (after five executions it switches to one when that
/// plan is no costlier): planning each statement anew cost more than running it, and halved
/// the ledger's throughput at one transfer per request. A larger batch has its statements
/// planned for the arrays actually bound: a cached plan cannot know a batch's size, and
/// measured twenty times slower (two seconds to lock 16,000 accounts).
pub(crate) async fn begin_batch(
    pool: &PgPool,
    writes: usize,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let began = if writes > CACHED_PLANS_UP_TO {
        pool.begin_with(BEGIN_PLANNING_FOR_BOUND_ARRAYS).await
    } else {
        pool.begin().await
    };
    began.map_err(db_error)
}

/// Within a batch's transaction: once an array about to be bound holds more than
/// [`CACHED_PLANS_UP_TO`] ids (a few writes may name thousands of accounts), the statements
/// from here on are planned for their arrays.
pub(crate) async fn plan_for_arrays_of(
    conn: &mut sqlx::PgConnection,
    planned: &mut bool,
    ids: usize,
) -> Result<()> {
    if ids > CACHED_PLANS_UP_TO && !*planned {
        sqlx::raw_sql(PLAN_FOR_BOUND_ARRAYS)
            .execute(conn)
            .await
            .map_err(db_error)?;
        *planned = true;
    }
    Ok(())
}

/// The migrations this build applies on open. Migrations a newer release applied are
/// allowed: during a rolling update (or a rollback) the previous release keeps running on the
/// database its successor migrated, whose changes are additive.
pub(crate) static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| {
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_ignore_missing(true);
        migrator
    });

/// Maps a driver error to the engine's error: collisions between writers are contention
/// (retryable); data the database refuses (SQLSTATE classes 22 and 23) is an invalid request
/// about that data; anything else is the store being unavailable. Details go to the log.
pub(crate) fn db_error(error: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &error {
        let code = db.code().unwrap_or_default();
        // serialization_failure, deadlock_detected, unique_violation, lock_not_available
        if let "40001" | "40P01" | "23505" | "55P03" = code.as_ref() {
            return Error::Contention {
                reason: format!("PostgreSQL {code}"),
            };
        }
        if code.starts_with("22") || code.starts_with("23") {
            tracing::warn!(%error, "PostgreSQL refused the data");
            return Error::InvalidRequest {
                reason: format!("the database refused the data (SQLSTATE {code})"),
            };
        }
    }
    tracing::warn!(%error, "PostgreSQL error");
    Error::unavailable(format!("PostgreSQL: {error}"))
}

/// How long the first connection may take before the server is called unreachable.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One direct connection before the pool: a refused, unknown or silent server is reported
/// with its real cause at once, not as a pool timeout half a minute later.
async fn probe(options: &PgConnectOptions) -> Result<()> {
    use sqlx::{ConnectOptions, Connection};
    let connection = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
        .await
        .map_err(|_| Error::unavailable("PostgreSQL did not answer within 10 s"))?
        .map_err(db_error)?;
    connection.close().await.map_err(db_error)
}
