//! Idempotency keys on SQLite, written on the writer thread.

use async_trait::async_trait;
use obol_core::idempotency::Claim;
use obol_core::{IdempotencyStore, Result, Timestamp};
use rusqlite::{Connection, OptionalExtension};

use crate::SqliteStore;
use crate::writer::sql_error;

fn claim(
    conn: &Connection,
    key: &str,
    request_hash: &str,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Claim> {
    let existing = conn
        .prepare_cached(
            "SELECT request_hash, response, lease_until, claimed_at FROM idempotency_keys \
             WHERE key = ?",
        )
        .and_then(|mut statement| {
            statement
                .query_row([key], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                    ))
                })
                .optional()
        })
        .map_err(sql_error)?;
    let Some((stored_hash, response, lease, claimed_at)) = existing else {
        conn.prepare_cached(
            "INSERT INTO idempotency_keys (key, request_hash, lease_until, claimed_at) \
             VALUES (?, ?, ?, ?)",
        )
        .and_then(|mut s| {
            s.execute(rusqlite::params![
                key,
                request_hash,
                lease_until.as_micros(),
                now.as_micros()
            ])
        })
        .map_err(sql_error)?;
        return Ok(Claim::first(now));
    };
    let claim = Claim::of_existing(
        &stored_hash,
        response,
        Timestamp::from_micros(lease),
        claimed_at.map(Timestamp::from_micros),
        request_hash,
        now,
    );
    if matches!(claim, Claim::Started { .. }) {
        conn.prepare_cached("UPDATE idempotency_keys SET lease_until = ? WHERE key = ?")
            .and_then(|mut s| s.execute(rusqlite::params![lease_until.as_micros(), key]))
            .map_err(sql_error)?;
    }
    Ok(claim)
}

/// Stores `response` as the answer of `key`, replacing any (a request's completion).
fn store_response(conn: &Connection, key: &str, response: &str) -> Result<()> {
    conn.prepare_cached("UPDATE idempotency_keys SET response = ? WHERE key = ?")
        .and_then(|mut s| s.execute([response, key]))
        .map(drop)
        .map_err(sql_error)
}

/// Stores `response` as the answer of `key` unless it has one (a payment write's answer).
pub(crate) fn store_first_response(conn: &Connection, key: &str, response: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE idempotency_keys SET response = ? WHERE key = ? AND response IS NULL",
    )
    .and_then(|mut s| s.execute([response, key]))
    .map(drop)
    .map_err(sql_error)
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_key(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claim> {
        let (key, request_hash) = (key.to_owned(), request_hash.to_owned());
        self.writer
            .run(move |conn| claim(conn, &key, &request_hash, now, lease_until))
            .await
    }

    /// Queued without waiting for its commit: the work it records is already durable, every
    /// later claim runs after it on the writer (so a retry sees the response), and if a
    /// crash loses it the key's lease runs out, as when a process dies mid-request.
    async fn complete_key(&self, key: &str, response: &str) -> Result<()> {
        let (key, response) = (key.to_owned(), response.to_owned());
        self.writer.submit("idempotency completion", move |conn| {
            store_response(conn, &key, &response)
        })
    }

    async fn release_key(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE idempotency_keys SET lease_until = 0 \
                     WHERE key = ? AND response IS NULL",
                )
                .and_then(|mut s| s.execute([key]))
                .map(drop)
                .map_err(sql_error)
            })
            .await
    }
}
