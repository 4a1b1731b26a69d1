//! API keys on PostgreSQL.

use async_trait::async_trait;
use obol_core::auth::ApiKey;
use obol_core::ledger::codec::{from_json, to_json};
use obol_core::{ApiKeyId, AuthStore, MerchantId, Result, Timestamp};
use sqlx::Row;

use crate::{PostgresStore, db_error};

fn api_key(row: &sqlx::postgres::PgRow) -> Result<ApiKey> {
    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)
}

#[async_trait]
impl AuthStore for PostgresStore {
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, merchant_id, hash, created_at, revoked_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.id.to_string())
        .bind(key.merchant.to_string())
        .bind(&key.hash)
        .bind(key.created_at.as_micros())
        .bind(key.revoked_at.map(Timestamp::as_micros))
        .bind(to_json(key)?)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        let row = sqlx::query("SELECT body FROM api_keys WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(api_key).transpose()
    }

    async fn api_keys(&self, merchant: &MerchantId) -> Result<Vec<ApiKey>> {
        let rows =
            sqlx::query("SELECT body FROM api_keys WHERE merchant_id = $1 ORDER BY created_at, id")
                .bind(merchant.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
        rows.iter().map(api_key).collect()
    }

    async fn revoke_api_key(
        &self,
        merchant: &MerchantId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<Option<ApiKey>> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let row =
            sqlx::query("SELECT body FROM api_keys WHERE id = $1 AND merchant_id = $2 FOR UPDATE")
                .bind(id.to_string())
                .bind(merchant.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        let Some(mut key) = row.as_ref().map(api_key).transpose()? else {
            return Ok(None);
        };
        if key.revoked_at.is_none() {
            key.revoked_at = Some(at);
            sqlx::query("UPDATE api_keys SET revoked_at = $1, body = $2 WHERE id = $3")
                .bind(at.as_micros())
                .bind(to_json(&key)?)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(Some(key))
    }
}
