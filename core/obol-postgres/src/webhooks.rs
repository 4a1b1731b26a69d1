//! Webhook endpoints, deliveries and attempts on PostgreSQL.

use async_trait::async_trait;
use obol_core::webhooks::{
    AttemptOutcome, Delivery, DeliveryAttempt, WebhookEndpoint, WebhookSecret,
};
use obol_core::{EndpointId, EventId, MerchantId, Mode, Result, Timestamp, WebhookStore};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::{PostgresStore, db_error};

fn endpoint(row: &PgRow) -> Result<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: EndpointId::parse(&row.try_get::<String, _>("id").map_err(db_error)?)?,
        merchant: MerchantId::parse(&row.try_get::<String, _>("merchant").map_err(db_error)?)?,
        mode: Mode::parse(&row.try_get::<String, _>("mode").map_err(db_error)?)?,
        url: row.try_get("url").map_err(db_error)?,
        secret: WebhookSecret::parse(&row.try_get::<String, _>("secret").map_err(db_error)?)?,
        enabled: row.try_get("enabled").map_err(db_error)?,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(db_error)?),
    })
}

fn attempt_count(row: &PgRow, column: &str) -> Result<u32> {
    u32::try_from(row.try_get::<i64, _>(column).map_err(db_error)?)
        .map_err(obol_core::Error::corrupt)
}

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn save_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, secret, enabled, created_at, merchant, \
             mode) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, enabled = excluded.enabled",
        )
        .bind(endpoint.id.to_string())
        .bind(&endpoint.url)
        .bind(endpoint.secret.expose())
        .bind(endpoint.enabled)
        .bind(endpoint.created_at.as_micros())
        .bind(endpoint.merchant.as_str())
        .bind(endpoint.mode.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn endpoints(&self, merchant: &MerchantId) -> Result<Vec<WebhookEndpoint>> {
        let rows = sqlx::query(
            "SELECT id, url, secret, enabled, created_at, merchant, mode FROM webhook_endpoints \
             WHERE merchant = $1 ORDER BY created_at, id",
        )
        .bind(merchant.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(endpoint).collect()
    }

    async fn fan_out_events(&self, limit: u32, now: Timestamp) -> Result<usize> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Lock the next events not yet fanned out; a concurrent worker skips them.
        let batch: Vec<i64> = sqlx::query_scalar(
            "SELECT seq FROM payment_events WHERE fanned_out = FALSE ORDER BY seq LIMIT $1 \
             FOR UPDATE SKIP LOCKED",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        if batch.is_empty() {
            return Ok(0);
        }
        let created = sqlx::query(
            "INSERT INTO webhook_deliveries (event_seq, endpoint_id, state, attempts, \
             next_attempt_at) SELECT e.seq, w.id, 'pending', 0, $1 FROM payment_events e \
             JOIN webhook_endpoints w ON w.merchant = e.merchant AND w.mode = e.mode \
             WHERE e.seq = ANY($2) AND w.enabled \
             ORDER BY e.seq, w.created_at",
        )
        .bind(now.as_micros())
        .bind(&batch)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        sqlx::query("UPDATE payment_events SET fanned_out = TRUE WHERE seq = ANY($1)")
            .bind(&batch)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        usize::try_from(created).map_err(obol_core::Error::corrupt)
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let rows = sqlx::query(
            "SELECT d.id AS delivery_id, e.id AS event_id, d.endpoint_id, w.url, w.secret, \
             e.body, d.attempts FROM webhook_deliveries d \
             JOIN payment_events e ON e.seq = d.event_seq \
             JOIN webhook_endpoints w ON w.id = d.endpoint_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
             ORDER BY d.next_attempt_at, d.id LIMIT $2 FOR UPDATE OF d SKIP LOCKED",
        )
        .bind(now.as_micros())
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        let mut due = Vec::with_capacity(rows.len());
        for row in &rows {
            let delivery = Delivery {
                id: row.try_get("delivery_id").map_err(db_error)?,
                event_id: EventId::parse(&row.try_get::<String, _>("event_id").map_err(db_error)?)?,
                endpoint_id: EndpointId::parse(
                    &row.try_get::<String, _>("endpoint_id").map_err(db_error)?,
                )?,
                url: row.try_get("url").map_err(db_error)?,
                secret: WebhookSecret::parse(
                    &row.try_get::<String, _>("secret").map_err(db_error)?,
                )?,
                body: row.try_get("body").map_err(db_error)?,
                attempts: attempt_count(row, "attempts")?,
            };
            sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2")
                .bind(lease_until.as_micros())
                .bind(delivery.id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            due.push(delivery);
        }
        tx.commit().await.map_err(db_error)?;
        Ok(due)
    }

    async fn record_attempt(&self, outcome: &AttemptOutcome) -> Result<()> {
        let attempt = &outcome.attempt;
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, event_id, endpoint_id, attempt, at, \
             status, error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(attempt.delivery_id)
        .bind(attempt.event_id.to_string())
        .bind(attempt.endpoint_id.to_string())
        .bind(i64::from(attempt.attempt))
        .bind(attempt.at.as_micros())
        .bind(attempt.status.map(i64::from))
        .bind(&attempt.error)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, attempts = $2, \
             next_attempt_at = COALESCE($3, next_attempt_at) WHERE id = $4",
        )
        .bind(outcome.state.as_str())
        .bind(i64::from(attempt.attempt))
        .bind(outcome.next_attempt_at.map(Timestamp::as_micros))
        .bind(attempt.delivery_id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if outcome.disable_endpoint {
            let endpoint_id = attempt.endpoint_id.to_string();
            sqlx::query("UPDATE webhook_endpoints SET enabled = FALSE WHERE id = $1")
                .bind(&endpoint_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 'failed' \
                 WHERE endpoint_id = $1 AND state = 'pending'",
            )
            .bind(&endpoint_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn delivery_attempts(&self, event_id: &EventId) -> Result<Vec<DeliveryAttempt>> {
        let rows = sqlx::query(
            "SELECT delivery_id, event_id, endpoint_id, attempt, at, status, error \
             FROM webhook_attempts WHERE event_id = $1 ORDER BY attempt, delivery_id",
        )
        .bind(event_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryAttempt {
                    delivery_id: row.try_get("delivery_id").map_err(db_error)?,
                    event_id: EventId::parse(
                        &row.try_get::<String, _>("event_id").map_err(db_error)?,
                    )?,
                    endpoint_id: EndpointId::parse(
                        &row.try_get::<String, _>("endpoint_id").map_err(db_error)?,
                    )?,
                    attempt: attempt_count(row, "attempt")?,
                    at: Timestamp::from_micros(row.try_get("at").map_err(db_error)?),
                    status: row
                        .try_get::<Option<i64>, _>("status")
                        .map_err(db_error)?
                        .map(u16::try_from)
                        .transpose()
                        .map_err(obol_core::Error::corrupt)?,
                    error: row.try_get("error").map_err(db_error)?,
                })
            })
            .collect()
    }
}
