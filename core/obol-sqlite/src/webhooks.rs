//! Webhook endpoints, deliveries and attempts on SQLite.

use async_trait::async_trait;
use obol_core::webhooks::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryBacklog, StoredSecret, WebhookEndpoint,
};
use obol_core::{EndpointId, EventId, MerchantId, Mode, Result, Timestamp, WebhookStore};
use rusqlite::Connection;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::rows::{integer, text};
use crate::writer::sql_error;
use crate::{SqliteStore, db_error};

/// A backlog from its two figures as the database counts them.
fn backlog(pending: i64, oldest_due: Option<i64>) -> Result<DeliveryBacklog> {
    Ok(DeliveryBacklog {
        pending: u64::try_from(pending).map_err(obol_core::Error::corrupt)?,
        oldest_due: oldest_due.map(Timestamp::from_micros),
    })
}

fn endpoint(row: &SqliteRow) -> Result<WebhookEndpoint> {
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

fn attempt_count(row: &SqliteRow, column: &str) -> Result<u32> {
    u32::try_from(row.try_get::<i64, _>(column).map_err(db_error)?)
        .map_err(obol_core::Error::corrupt)
}

// The delivery pipeline's writes run on the writer thread, like the payments that feed it:
// a second writing connection would make each wait on the other's lock.

/// Creates the deliveries of the next `limit` events not yet fanned out.
fn fan_out(conn: &Connection, limit: u32, now: Timestamp) -> Result<usize> {
    // The newest of the next `limit` events not yet fanned out bounds this batch.
    let bound: Option<i64> = conn
        .prepare_cached(
            "SELECT MAX(seq) FROM (SELECT seq FROM payment_events WHERE fanned_out = 0 \
             ORDER BY seq LIMIT ?)",
        )
        .and_then(|mut s| s.query_row([i64::from(limit)], |row| row.get(0)))
        .map_err(sql_error)?;
    let Some(bound) = bound else {
        return Ok(0);
    };
    let created = conn
        .prepare_cached(
            "INSERT INTO webhook_deliveries (event_seq, endpoint_id, state, attempts, \
             next_attempt_at) SELECT e.seq, w.id, 'pending', 0, ? FROM payment_events e \
             JOIN webhook_endpoints w ON w.merchant = e.merchant AND w.mode = e.mode \
             WHERE e.fanned_out = 0 \
             AND e.seq <= ? AND w.enabled ORDER BY e.seq, w.created_at",
        )
        .and_then(|mut s| s.execute([now.as_micros(), bound]))
        .map_err(sql_error)?;
    conn.prepare_cached(
        "UPDATE payment_events SET fanned_out = 1 WHERE fanned_out = 0 AND seq <= ?",
    )
    .and_then(|mut s| s.execute([bound]))
    .map_err(sql_error)?;
    Ok(created)
}

/// Leases up to `limit` due deliveries until `lease_until`.
fn claim_due(
    conn: &Connection,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Vec<Delivery>> {
    let mut select = conn
        .prepare_cached(
            "SELECT d.id AS delivery_id, e.id AS event_id, d.endpoint_id, w.url, w.secret, \
             e.body, d.attempts FROM webhook_deliveries d \
             JOIN payment_events e ON e.seq = d.event_seq \
             JOIN webhook_endpoints w ON w.id = d.endpoint_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND w.enabled \
             ORDER BY d.next_attempt_at, d.id LIMIT ?",
        )
        .map_err(sql_error)?;
    let mut rows = select
        .query([now.as_micros(), i64::from(limit)])
        .map_err(sql_error)?;
    let mut due = Vec::new();
    while let Some(row) = rows.next().map_err(sql_error)? {
        due.push(Delivery {
            id: integer(row, "delivery_id")?,
            event_id: EventId::parse(&text(row, "event_id")?)?,
            endpoint_id: EndpointId::parse(&text(row, "endpoint_id")?)?,
            url: text(row, "url")?,
            secret: StoredSecret::from_stored(&text(row, "secret")?)?,
            body: text(row, "body")?,
            attempts: u32::try_from(integer(row, "attempts")?)
                .map_err(obol_core::Error::corrupt)?,
        });
    }
    let mut lease = conn
        .prepare_cached("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?")
        .map_err(sql_error)?;
    for delivery in &due {
        lease
            .execute([lease_until.as_micros(), delivery.id])
            .map_err(sql_error)?;
    }
    Ok(due)
}

/// Records one delivery attempt and what follows from it.
fn record(conn: &Connection, outcome: &AttemptOutcome) -> Result<()> {
    let attempt = &outcome.attempt;
    let execute = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute(params))
            .map(drop)
            .map_err(sql_error)
    };
    execute(
        "INSERT INTO webhook_attempts (delivery_id, event_id, endpoint_id, attempt, at, \
         status, error) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rusqlite::params![
            attempt.delivery_id,
            attempt.event_id.as_str(),
            attempt.endpoint_id.as_str(),
            i64::from(attempt.attempt),
            attempt.at.as_micros(),
            attempt.status.map(i64::from),
            attempt.error
        ],
    )?;
    execute(
        // Only the attempt after the stored one moves a pending delivery (see the memory store).
        "UPDATE webhook_deliveries SET state = ?1, attempts = ?2, \
         next_attempt_at = COALESCE(?3, next_attempt_at) \
         WHERE id = ?4 AND state = 'pending' AND attempts = ?2 - 1",
        rusqlite::params![
            outcome.state.as_str(),
            i64::from(attempt.attempt),
            outcome.next_attempt_at.map(Timestamp::as_micros),
            attempt.delivery_id
        ],
    )?;
    if outcome.disable_endpoint {
        let endpoint_id = attempt.endpoint_id.as_str();
        execute(
            "UPDATE webhook_endpoints SET enabled = 0 WHERE id = ?",
            rusqlite::params![endpoint_id],
        )?;
        execute(
            "UPDATE webhook_deliveries SET state = 'failed' \
             WHERE endpoint_id = ? AND state = 'pending'",
            rusqlite::params![endpoint_id],
        )?;
    }
    Ok(())
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn save_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, secret, enabled, created_at, merchant, \
             mode) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, enabled = excluded.enabled",
        )
        .bind(endpoint.id.to_string())
        .bind(&endpoint.url)
        .bind(endpoint.secret.to_stored())
        .bind(endpoint.enabled)
        .bind(endpoint.created_at.as_micros())
        .bind(endpoint.merchant.as_str())
        .bind(endpoint.mode.as_str())
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn endpoints(&self, merchant: &MerchantId) -> Result<Vec<WebhookEndpoint>> {
        let rows = sqlx::query(
            "SELECT id, url, secret, enabled, created_at, merchant, mode FROM webhook_endpoints \
             WHERE merchant = ? ORDER BY created_at, id",
        )
        .bind(merchant.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(endpoint).collect()
    }

    async fn endpoint_secrets(&self) -> Result<Vec<(EndpointId, StoredSecret)>> {
        let rows = sqlx::query("SELECT id, secret FROM webhook_endpoints ORDER BY created_at, id")
            .fetch_all(&self.read)
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
            sqlx::query("UPDATE webhook_endpoints SET secret = ? WHERE id = ? AND secret = ?")
                .bind(sealed)
                .bind(endpoint.as_str())
                .bind(before)
                .execute(&self.write)
                .await
                .map_err(db_error)?
                .rows_affected();
        Ok(updated == 1)
    }

    async fn fan_out_events(&self, limit: u32, now: Timestamp) -> Result<usize> {
        self.writer.run(move |conn| fan_out(conn, limit, now)).await
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        self.writer
            .run(move |conn| claim_due(conn, now, lease_until, limit))
            .await
    }

    async fn record_attempt(&self, outcome: &AttemptOutcome) -> Result<()> {
        let outcome = outcome.clone();
        self.writer.run(move |conn| record(conn, &outcome)).await
    }

    async fn delivery_attempts(&self, event_id: &EventId) -> Result<Vec<DeliveryAttempt>> {
        let rows = sqlx::query(
            "SELECT delivery_id, event_id, endpoint_id, attempt, at, status, error \
             FROM webhook_attempts WHERE event_id = ? ORDER BY attempt, delivery_id",
        )
        .bind(event_id.to_string())
        .fetch_all(&self.read)
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

    async fn delivery_backlog(&self, now: Timestamp) -> Result<DeliveryBacklog> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, \
             MIN(CASE WHEN next_attempt_at <= ? THEN next_attempt_at END) AS oldest_due \
             FROM webhook_deliveries WHERE state = 'pending'",
        )
        .bind(now.as_micros())
        .fetch_one(&self.read)
        .await
        .map_err(db_error)?;
        backlog(
            row.try_get("pending").map_err(db_error)?,
            row.try_get("oldest_due").map_err(db_error)?,
        )
    }
}
