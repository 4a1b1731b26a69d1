//! Idempotency keys on PostgreSQL.

use async_trait::async_trait;
use obol_core::idempotency::Claim;
use obol_core::{IdempotencyStore, Result, Timestamp};
use sqlx::Row;

use crate::{PostgresStore, db_error};

#[async_trait]
impl IdempotencyStore for PostgresStore {
    async fn claim_key(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claim> {
        // A new key (the common case) is claimed by one statement: the insert either claims
        // it or waits for whoever is inserting it to commit.
        let insert = || {
            sqlx::query(
                "INSERT INTO idempotency_keys (key, request_hash, lease_until, claimed_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(request_hash)
            .bind(lease_until.as_micros())
            .bind(now.as_micros())
        };
        let claimed = |inserted: u64| {
            (inserted == 1).then_some(Claim::Started {
                claimed_at: Some(now),
            })
        };
        let inserted = insert()
            .execute(&self.pool)
            .await
            .map_err(db_error)?
            .rows_affected();
        if let Some(claim) = claimed(inserted) {
            return Ok(claim);
        }
        // The key exists: read it and maybe renew its lease in one transaction (it may have
        // been released in between, so the insert is tried again first).
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let inserted = insert()
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        let claim = if let Some(claim) = claimed(inserted) {
            claim
        } else {
            let row = sqlx::query(
                "SELECT request_hash, response, lease_until, claimed_at FROM idempotency_keys \
                 WHERE key = $1 FOR UPDATE",
            )
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
            let claim = Claim::of_existing(
                &row.try_get::<String, _>("request_hash").map_err(db_error)?,
                row.try_get("response").map_err(db_error)?,
                Timestamp::from_micros(row.try_get("lease_until").map_err(db_error)?),
                row.try_get::<Option<i64>, _>("claimed_at")
                    .map_err(db_error)?
                    .map(Timestamp::from_micros),
                request_hash,
                now,
            );
            if matches!(claim, Claim::Started { .. }) {
                sqlx::query("UPDATE idempotency_keys SET lease_until = $1 WHERE key = $2")
                    .bind(lease_until.as_micros())
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            claim
        };
        tx.commit().await.map_err(db_error)?;
        Ok(claim)
    }

    async fn complete_key(&self, key: &str, response: &str) -> Result<()> {
        sqlx::query("UPDATE idempotency_keys SET response = $1 WHERE key = $2")
            .bind(response)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn release_key(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE key = $1 AND response IS NULL")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
