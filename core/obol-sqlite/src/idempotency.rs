//! Idempotency keys on SQLite.

use async_trait::async_trait;
use obol_core::idempotency::Claim;
use obol_core::{IdempotencyStore, Result, Timestamp};
use sqlx::Row;

use crate::{SqliteStore, db_error};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_key(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claim> {
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let row = sqlx::query(
            "SELECT request_hash, response, lease_until FROM idempotency_keys WHERE key = ?",
        )
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let claim = match row {
            None => {
                sqlx::query(
                    "INSERT INTO idempotency_keys (key, request_hash, lease_until) VALUES (?, ?, ?)",
                )
                .bind(key)
                .bind(request_hash)
                .bind(lease_until.as_micros())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                Claim::Started
            }
            Some(row) => {
                let claim = Claim::of_existing(
                    &row.try_get::<String, _>("request_hash").map_err(db_error)?,
                    row.try_get("response").map_err(db_error)?,
                    Timestamp::from_micros(row.try_get("lease_until").map_err(db_error)?),
                    request_hash,
                    now,
                );
                if claim == Claim::Started {
                    sqlx::query("UPDATE idempotency_keys SET lease_until = ? WHERE key = ?")
                        .bind(lease_until.as_micros())
                        .bind(key)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                claim
            }
        };
        tx.commit().await.map_err(db_error)?;
        Ok(claim)
    }

    async fn complete_key(&self, key: &str, response: &str) -> Result<()> {
        sqlx::query("UPDATE idempotency_keys SET response = ? WHERE key = ?")
            .bind(response)
            .bind(key)
            .execute(&self.write)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn release_key(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE key = ? AND response IS NULL")
            .bind(key)
            .execute(&self.write)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
