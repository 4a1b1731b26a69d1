//! The payments half of the PostgreSQL Store.

use async_trait::async_trait;
use obol_core::ledger::codec::from_json;
use obol_core::payments::{
    Child, EventQuery, Payment, PaymentQuery, PaymentStatus, PaymentWrite, StoredEvent,
};
use obol_core::{Mode, PaymentId, PaymentStore, Result, Timestamp};
use sqlx::Row;

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
        let status = query.status.map(PaymentStatus::as_str);
        let customer = query.customer.as_ref().map(|c| c.to_string());
        let from = query.created_from.map(Timestamp::as_micros);
        let before = query.created_before.map(Timestamp::as_micros);
        let after = query.starting_after.as_ref().map(|p| p.to_string());
        let rows = sqlx::query(
            "SELECT body FROM payments WHERE merchant = $1 \
             AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR customer = $3) \
             AND ($4::bigint IS NULL OR created_at >= $4) \
             AND ($5::bigint IS NULL OR created_at < $5) \
             AND ($6::text IS NULL OR id < $6) AND ($8::text IS NULL OR mode = $8) \
             ORDER BY id DESC LIMIT $7",
        )
        .bind(query.merchant.as_str())
        .bind(status)
        .bind(customer.as_deref())
        .bind(from)
        .bind(before)
        .bind(after.as_deref())
        .bind(i64::from(query.limit))
        .bind(query.mode.map(Mode::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(payment_body).collect()
    }

    async fn merchant_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let payment = query.payment.as_ref().map(|p| p.to_string());
        let rows = sqlx::query(
            "SELECT seq, body FROM payment_events WHERE merchant = $1 AND seq > $2 \
             AND ($3::text IS NULL OR payment_id = $3) AND ($5::text IS NULL OR mode = $5) \
             ORDER BY seq LIMIT $4",
        )
        .bind(query.merchant.as_str())
        .bind(query.after)
        .bind(payment.as_deref())
        .bind(i64::from(query.limit))
        .bind(query.mode.map(Mode::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
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
