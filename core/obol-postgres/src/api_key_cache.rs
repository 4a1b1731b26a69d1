//! API keys found by hash, kept in memory while PostgreSQL tells this process of every change.
//!
//! Every authenticated request looks its key up, so the lookup is worth keeping; a revoked key
//! must stop working at once, in every process. Triggers (migrations 0008 and 0009) notify the schema's
//! channel (`obol_api_keys_channel()`) of each updated or deleted key, however it was changed,
//! and of a truncated table (`*`); a listener task forgets those keys. Keys are kept only while that listener is connected:
//! after a lost connection (notifications may have been missed) everything kept is dropped.
//! A lookup that raced a change is not kept (a generation counter), and nothing is kept
//! longer than [`TTL`], a backstop for a connection that died without the process noticing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use obol_core::auth::ApiKey;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::oneshot;

/// The payload of a truncated table: forget every key.
const EVERY_KEY: &str = "*";

/// How long a kept key is trusted without a word from the database.
const TTL: Duration = Duration::from_secs(10);

/// Most keys kept at once (a process serves a few keys; this only bounds memory).
const MAX_KEYS: usize = 10_000;

/// How long the listener waits before connecting again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Keys by hash, shared by the clones of one store.
#[derive(Debug, Clone)]
pub(crate) struct ApiKeyCache {
    state: Arc<Mutex<State>>,
    started: Arc<AtomicBool>,
    /// Dropped with the last clone of the store, which stops the listener (it holds a
    /// connection of the pool).
    stop: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    pool: PgPool,
}

#[derive(Debug, Default)]
struct State {
    /// Keys are kept only while the listener is connected.
    listening: bool,
    /// Bumped by every change: a lookup that read the database before a change keeps nothing.
    generation: u64,
    keys: HashMap<String, (ApiKey, Instant)>,
}

/// What a lookup saw before it read the database: `None` while nothing may be kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen(Option<u64>);

impl ApiKeyCache {
    /// An empty cache over `pool`; its listener starts with the first lookup.
    pub(crate) fn new(pool: PgPool) -> Self {
        ApiKeyCache {
            state: Arc::default(),
            started: Arc::default(),
            stop: Arc::default(),
            pool,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key kept for `hash`, if it is still trusted.
    pub(crate) fn get(&self, hash: &str) -> Option<ApiKey> {
        let state = self.state();
        if !state.listening {
            return None;
        }
        state
            .keys
            .get(hash)
            .filter(|(_, kept)| kept.elapsed() < TTL)
            .map(|(key, _)| key.clone())
    }

    /// Marks the start of a database read (and starts the listener if it is not running).
    pub(crate) fn before_read(&self) -> Seen {
        self.start_listening();
        let state = self.state();
        Seen(state.listening.then_some(state.generation))
    }

    /// Keeps `key`, read after `seen`, unless anything changed meanwhile.
    pub(crate) fn keep(&self, key: &ApiKey, seen: Seen) {
        let mut state = self.state();
        if !state.listening || seen.0 != Some(state.generation) {
            return;
        }
        if state.keys.len() >= MAX_KEYS {
            state.keys.retain(|_, (_, kept)| kept.elapsed() < TTL);
            if state.keys.len() >= MAX_KEYS {
                return;
            }
        }
        state
            .keys
            .insert(key.hash.clone(), (key.clone(), Instant::now()));
    }

    /// Whether the key of `hash` is kept and trusted.
    #[cfg(feature = "testing")]
    pub(crate) fn kept(&self, hash: &str) -> bool {
        self.get(hash).is_some()
    }

    /// Forgets the key of `hash` (it changed).
    pub(crate) fn forget(&self, hash: &str) {
        let mut state = self.state();
        state.generation = state.generation.wrapping_add(1);
        state.keys.remove(hash);
    }

    /// Forgets every key; keeps new ones only if `listening`.
    fn reset(&self, listening: bool) {
        let mut state = self.state();
        state.generation = state.generation.wrapping_add(1);
        state.keys.clear();
        state.listening = listening;
    }

    fn start_listening(&self) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let (stop, stopped) = oneshot::channel();
        *self.stop.lock().unwrap_or_else(PoisonError::into_inner) = Some(stop);
        // The task holds the state, not the store's clones: dropping the store stops it.
        let cache = ApiKeyCache {
            state: self.state.clone(),
            started: self.started.clone(),
            stop: Arc::default(),
            pool: self.pool.clone(),
        };
        tokio::spawn(async move {
            // However the task ends (stopped, cancelled with its runtime, or a panic), keys
            // stop being trusted and the next lookup starts a listener again.
            let _stopping = Stopping(cache.clone());
            tokio::select! {
                _ = stopped => {}
                () = cache.listen() => {}
            }
        });
    }

    /// Listens for changed keys until the pool closes, connecting again after a loss.
    async fn listen(&self) {
        loop {
            match self.connect().await {
                Ok(mut listener) => {
                    self.reset(true);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(changed)) if changed.payload() == EVERY_KEY => self.reset(true),
                            Ok(Some(changed)) => self.forget(changed.payload()),
                            // The connection was lost and made again: what was said
                            // meanwhile is lost too.
                            Ok(None) => self.reset(true),
                            Err(error) => {
                                tracing::warn!(%error, "API key listener lost PostgreSQL");
                                break;
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "API key listener cannot connect"),
            }
            self.reset(false);
            if self.pool.is_closed() {
                return;
            }
            tokio::time::sleep(RECONNECT_AFTER).await;
        }
    }

    async fn connect(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        // The channel of this store's schema, named by the database as its triggers name it.
        let channel: String = sqlx::query_scalar("SELECT obol_api_keys_channel()")
            .fetch_one(&mut listener)
            .await?;
        listener.listen(&channel).await?;
        Ok(listener)
    }
}

/// Resets the cache when the listener task ends, however it ends.
struct Stopping(ApiKeyCache);

impl Drop for Stopping {
    fn drop(&mut self) {
        self.0.reset(false);
        self.0.started.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use obol_core::auth::Scope;
    use obol_core::{ApiKeyId, Mode, Timestamp};
    use std::collections::BTreeSet;

    fn key(hash: &str) -> ApiKey {
        ApiKey {
            id: ApiKeyId::derived(hash),
            merchant: obol_core::payments::model::default_merchant(),
            name: "k".into(),
            mode: Mode::Test,
            last4: "abcd".into(),
            hash: hash.into(),
            scopes: BTreeSet::from([Scope::PaymentsRead]),
            created_at: Timestamp::from_micros(0),
            expires_at: None,
            revoked_at: None,
        }
    }

    fn cache() -> ApiKeyCache {
        // A pool that never connects: these tests drive the state by hand.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let cache = ApiKeyCache::new(pool);
        cache.started.store(true, Ordering::Release);
        cache
    }

    #[tokio::test]
    async fn keys_are_kept_only_while_listening_and_never_across_a_change() {
        let cache = cache();
        let seen = cache.before_read();
        cache.keep(&key("h1"), seen);
        assert!(cache.get("h1").is_none(), "kept without a listener");

        cache.reset(true);
        let seen = cache.before_read();
        cache.keep(&key("h1"), seen);
        assert_eq!(cache.get("h1").unwrap().hash, "h1");

        // A read that raced a change keeps nothing.
        let seen = cache.before_read();
        cache.forget("h2");
        cache.keep(&key("h2"), seen);
        assert!(cache.get("h2").is_none());

        cache.forget("h1");
        assert!(cache.get("h1").is_none());

        // A lost connection drops everything kept.
        let seen = cache.before_read();
        cache.keep(&key("h3"), seen);
        cache.reset(false);
        assert!(cache.get("h3").is_none());
    }
}
