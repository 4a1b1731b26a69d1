//! The payments half of the PostgreSQL Store.

use async_trait::async_trait;
use obol_core::ledger::codec::from_json;
use obol_core::payments::{
    Child, EventQuery, Payment, PaymentQuery, PaymentStatus, PaymentWrite, StoredEvent,
};
use obol_core::{PaymentId, PaymentStore, Result, Timestamp};
use sqlx::{QueryBuilder, Row};

use crate::{PostgresStore, db_error};

fn child_body(row: &sqlx::postgres::PgRow) -> Result<Child> {
    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)
}

fn payment_body(row: &sqlx::postgres::PgRow) -> Result<Payment> {
    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)
}

#[async_trait]
impl PaymentStore for PostgresStore {
    async fn write_payment(&self, write: PaymentWrite, now: Timestamp) -> Result<()> {
        // Group commit: the batch writer commits it with whatever else is waiting.
        self.payments.write(write, now).await
    }

    async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>> {
        let row = sqlx::query("SELECT body FROM payments WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(payment_body).transpose()
    }

    async fn payments_with_status(
        &self,
        status: PaymentStatus,
        limit: u32,
    ) -> Result<Vec<Payment>> {
        let rows = sqlx::query(
            "SELECT body FROM payments WHERE status = $1 ORDER BY updated_at, id LIMIT $2",
        )
        .bind(status.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(payment_body).collect()
    }

    async fn payment_by_reference(
        &self,
        provider: &str,
        reference: &str,
    ) -> Result<Option<Payment>> {
        let row = sqlx::query("SELECT body FROM payments WHERE provider = $1 AND reference = $2")
            .bind(provider)
            .bind(reference)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(payment_body).transpose()
    }

    async fn child(&self, id: &str) -> Result<Option<Child>> {
        let row = sqlx::query("SELECT body FROM payment_children WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(child_body).transpose()
    }

    async fn children(&self, payment: &PaymentId) -> Result<Vec<Child>> {
        let rows =
            sqlx::query("SELECT body FROM payment_children WHERE payment_id = $1 ORDER BY seq")
                .bind(payment.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
        rows.iter().map(child_body).collect()
    }

    async fn children_with_status(
        &self,
        kind: &str,
        status: &str,
        limit: u32,
    ) -> Result<Vec<Child>> {
        let rows = sqlx::query(
            "SELECT body FROM payment_children WHERE kind = $1 AND status = $2 \
             ORDER BY updated_at, seq LIMIT $3",
        )
        .bind(kind)
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(child_body).collect()
    }

    async fn list_payments(&self, query: &PaymentQuery) -> Result<Vec<Payment>> {
        // Only the filters given are in the statement: each combination gets its own plan,
        // and the mode is an index condition rather than an `$n IS NULL OR …` the planner
        // cannot use.
        let mut sql = QueryBuilder::new("SELECT body FROM payments WHERE merchant = ");
        sql.push_bind(query.merchant.as_str().to_owned());
        if let Some(mode) = query.mode {
            sql.push(" AND mode = ").push_bind(mode.as_str());
        }
        if let Some(status) = query.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(customer) = &query.customer {
            sql.push(" AND customer = ").push_bind(customer.to_string());
        }
        if let Some(from) = query.created_from {
            sql.push(" AND created_at >= ").push_bind(from.as_micros());
        }
        if let Some(before) = query.created_before {
            sql.push(" AND created_at < ").push_bind(before.as_micros());
        }
        if let Some(after) = &query.starting_after {
            sql.push(" AND id < ").push_bind(after.to_string());
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter().map(payment_body).collect()
    }

    async fn merchant_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let mut sql = QueryBuilder::new("SELECT seq, body FROM payment_events WHERE merchant = ");
        sql.push_bind(query.merchant.as_str().to_owned());
        if let Some(mode) = query.mode {
            sql.push(" AND mode = ").push_bind(mode.as_str());
        }
        if let Some(payment) = &query.payment {
            sql.push(" AND payment_id = ")
                .push_bind(payment.to_string());
        }
        sql.push(" AND seq > ")
            .push_bind(query.after)
            .push(" ORDER BY seq LIMIT ")
            .push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter().map(stored_event).collect()
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT seq, body FROM payment_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(stored_event).collect()
    }
}

fn stored_event(row: &sqlx::postgres::PgRow) -> Result<StoredEvent> {
    Ok(StoredEvent {
        sequence: row.try_get("seq").map_err(db_error)?,
        event: from_json(&row.try_get::<String, _>("body").map_err(db_error)?)?,
    })
}
