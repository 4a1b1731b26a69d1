//! Webhook endpoints, deliveries and attempts on PostgreSQL. Events are fanned out a batch
//! per transaction, due deliveries leased with one statement, and attempts recorded by a
//! group-committing writer task.

use async_trait::async_trait;
use obol_core::webhooks::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryBacklog, StoredSecret, WebhookEndpoint,
};
use obol_core::{EndpointId, EventId, MerchantId, Mode, Result, Timestamp, WebhookStore};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::group_commit::{Committer, Job, Writer};
use crate::{PostgresStore, db_error};

/// One column of a multi-row statement: `value` of every item.
fn column<T, U>(items: &[T], value: impl Fn(&T) -> U) -> Vec<U> {
    items.iter().map(value).collect()
}

/// The handle attempts are recorded through.
pub(crate) type AttemptWriter = Writer<AttemptCommitter>;

/// Records delivery attempts on `pool`, many per transaction.
pub(crate) struct AttemptCommitter {
    /// Where the deliveries live.
    pub(crate) pool: PgPool,
}

impl Committer for AttemptCommitter {
    type Write = AttemptOutcome;
    type Answer = ();
    const NAME: &'static str = "webhook attempt writer";
    const MAX_BATCH: usize = 256;

    /// The attempts inserted and their deliveries updated, one statement each; endpoints
    /// that answered 410 Gone are disabled and their pending deliveries failed after that.
    async fn try_batch(&self, batch: &[Job<AttemptOutcome, ()>]) -> Result<Vec<Result<()>>> {
        let outcomes: Vec<&AttemptOutcome> = batch.iter().map(|job| &job.request).collect();
        let attempts: Vec<&DeliveryAttempt> = outcomes.iter().map(|o| &o.attempt).collect();
        let delivery_ids: Vec<i64> = attempts.iter().map(|a| a.delivery_id).collect();
        let numbers: Vec<i64> = attempts.iter().map(|a| i64::from(a.attempt)).collect();
        let mut tx = crate::begin_batch(&self.pool, batch.len()).await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, event_id, endpoint_id, attempt, at, \
             status, error) SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], \
             $4::int8[], $5::int8[], $6::int8[], $7::text[])",
        )
        .bind(&delivery_ids)
        .bind(column(&attempts, |a| a.event_id.to_string()))
        .bind(column(&attempts, |a| a.endpoint_id.to_string()))
        .bind(&numbers)
        .bind(column(&attempts, |a| a.at.as_micros()))
        .bind(column(&attempts, |a| a.status.map(i64::from)))
        .bind(column(&attempts, |a| a.error.clone()))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        // Only the attempt after the stored one moves a pending delivery: one failed meanwhile
        // (its endpoint gone) stays failed, and a late answer to a send whose lease ran out
        // changes nothing (the attempt itself is kept above: it was made).
        sqlx::query(
            "UPDATE webhook_deliveries d SET state = u.state, attempts = u.attempts, \
             next_attempt_at = COALESCE(u.next_attempt_at, d.next_attempt_at) \
             FROM (SELECT * FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::int8[]) \
             AS u(id, state, attempts, next_attempt_at) ORDER BY id) u \
             WHERE d.id = u.id AND d.state = 'pending' AND d.attempts = u.attempts - 1",
        )
        .bind(&delivery_ids)
        .bind(column(&outcomes, |o| o.state.as_str()))
        .bind(&numbers)
        .bind(column(&outcomes, |o| {
            o.next_attempt_at.map(Timestamp::as_micros)
        }))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let gone: Vec<String> = outcomes
            .iter()
            .filter(|o| o.disable_endpoint)
            .map(|o| o.attempt.endpoint_id.to_string())
            .collect();
        if !gone.is_empty() {
            sqlx::query("UPDATE webhook_endpoints SET enabled = FALSE WHERE id = ANY($1)")
                .bind(&gone)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 'failed' \
                 WHERE endpoint_id = ANY($1) AND state = 'pending'",
            )
            .bind(&gone)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(batch.iter().map(|_| Ok(())).collect())
    }
}

fn endpoint(row: &PgRow) -> Result<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: EndpointId::parse(&row.try_get::<String, _>("id").map_err(db_error)?)?,
        merchant: MerchantId::parse(&row.try_get::<String, _>("merchant").map_err(db_error)?)?,
        mode: Mode::parse(&row.try_get::<String, _>("mode").map_err(db_error)?)?,
        url: row.try_get("url").map_err(db_error)?,
        secret: StoredSecret::from_stored(&row.try_get::<String, _>("secret").map_err(db_error)?)?,
        enabled: row.try_get("enabled").map_err(db_error)?,
        created_at: Timestamp::from_micros(row.try_get("created_at").map_err(db_error)?),
    })
}

/// The event and endpoint ids of a delivery or attempt row.
fn event_and_endpoint(row: &PgRow) -> Result<(EventId, EndpointId)> {
    Ok((
        EventId::parse(&row.try_get::<String, _>("event_id").map_err(db_error)?)?,
        EndpointId::parse(&row.try_get::<String, _>("endpoint_id").map_err(db_error)?)?,
    ))
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
        .bind(endpoint.secret.to_stored())
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

    async fn endpoint_secrets(&self) -> Result<Vec<(EndpointId, StoredSecret)>> {
        let rows = sqlx::query("SELECT id, secret FROM webhook_endpoints ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok((
                    EndpointId::parse(&row.try_get::<String, _>("id").map_err(db_error)?)?,
                    StoredSecret::from_stored(
                        &row.try_get::<String, _>("secret").map_err(db_error)?,
                    )?,
                ))
            })
            .collect()
    }

    async fn reseal_endpoint_secret(
        &self,
        endpoint: &EndpointId,
        before: &str,
        sealed: &str,
    ) -> Result<bool> {
        let updated =
            sqlx::query("UPDATE webhook_endpoints SET secret = $1 WHERE id = $2 AND secret = $3")
                .bind(sealed)
                .bind(endpoint.as_str())
                .bind(before)
                .execute(&self.pool)
                .await
                .map_err(db_error)?
                .rows_affected();
        Ok(updated == 1)
    }

    async fn fan_out_events(&self, limit: u32, now: Timestamp) -> Result<usize> {
        let mut tx =
            crate::begin_batch(&self.pool, usize::try_from(limit).unwrap_or(usize::MAX)).await?;
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
        // Locked, leased and read in one statement; a concurrent worker skips what is locked.
        let rows = sqlx::query(
            "WITH due AS ( \
               SELECT d.id, d.next_attempt_at AS was FROM webhook_deliveries d \
               JOIN webhook_endpoints w ON w.id = d.endpoint_id \
               WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND w.enabled \
               ORDER BY d.next_attempt_at, d.id LIMIT $2 FOR UPDATE OF d SKIP LOCKED), \
             leased AS ( \
               UPDATE webhook_deliveries d SET next_attempt_at = $3 FROM due \
               WHERE d.id = due.id RETURNING d.id, d.event_seq, d.endpoint_id, d.attempts, \
               due.was) \
             SELECT l.id AS delivery_id, e.id AS event_id, l.endpoint_id, w.url, w.secret, \
             e.body, l.attempts FROM leased l \
             JOIN payment_events e ON e.seq = l.event_seq \
             JOIN webhook_endpoints w ON w.id = l.endpoint_id \
             ORDER BY l.was, l.id",
        )
        .bind(now.as_micros())
        .bind(i64::from(limit))
        .bind(lease_until.as_micros())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let (event_id, endpoint_id) = event_and_endpoint(row)?;
                Ok(Delivery {
                    id: row.try_get("delivery_id").map_err(db_error)?,
                    event_id,
                    endpoint_id,
                    url: row.try_get("url").map_err(db_error)?,
                    secret: StoredSecret::from_stored(
                        &row.try_get::<String, _>("secret").map_err(db_error)?,
                    )?,
                    body: row.try_get("body").map_err(db_error)?,
                    attempts: attempt_count(row, "attempts")?,
                })
            })
            .collect()
    }

    async fn record_attempt(&self, outcome: &AttemptOutcome) -> Result<()> {
        self.attempts.write(outcome.clone()).await
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
                let (event_id, endpoint_id) = event_and_endpoint(row)?;
                Ok(DeliveryAttempt {
                    delivery_id: row.try_get("delivery_id").map_err(db_error)?,
                    event_id,
                    endpoint_id,
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

    async fn delivery_backlog(&self, now: Timestamp) -> Result<DeliveryBacklog> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, \
             MIN(next_attempt_at) FILTER (WHERE next_attempt_at <= $1) AS oldest_due \
             FROM webhook_deliveries WHERE state = 'pending'",
        )
        .bind(now.as_micros())
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        let pending: i64 = row.try_get("pending").map_err(db_error)?;
        Ok(DeliveryBacklog {
            pending: u64::try_from(pending).map_err(obol_core::Error::corrupt)?,
            oldest_due: row
                .try_get::<Option<i64>, _>("oldest_due")
                .map_err(db_error)?
                .map(Timestamp::from_micros),
        })
    }
}
