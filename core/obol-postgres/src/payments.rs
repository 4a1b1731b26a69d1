//! The payments half of the PostgreSQL Store.

use async_trait::async_trait;
use obol_core::ledger::batch;
use obol_core::ledger::codec::{from_json, to_json};
use obol_core::payments::{
    Child, Event, EventQuery, Payment, PaymentQuery, PaymentStatus, PaymentWrite, StoredEvent,
};
use obol_core::{Error, Mode, PaymentId, PaymentStore, Result, Timestamp};
use sqlx::{PgConnection, Row};

use crate::ledger::{load_state, persist};
use crate::{PostgresStore, db_error};

async fn stored_version(conn: &mut PgConnection, id: &PaymentId) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT version FROM payments WHERE id = $1 FOR UPDATE")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    row.map(|r| r.try_get::<i64, _>("version").map_err(db_error))
        .transpose()
}

async fn save_payment(conn: &mut PgConnection, payment: &Payment) -> Result<()> {
    sqlx::query(
        "INSERT INTO payments (id, status, version, updated_at, provider, reference, body, \
         merchant, customer, created_at, mode) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, version = excluded.version, \
         updated_at = excluded.updated_at, provider = excluded.provider, \
         reference = excluded.reference, body = excluded.body, customer = excluded.customer",
    )
    .bind(payment.id.to_string())
    .bind(payment.state.status.as_str())
    .bind(payment.version)
    .bind(payment.updated_at.as_micros())
    .bind(payment.provider.as_deref())
    .bind(payment.provider_reference.as_deref())
    .bind(to_json(payment)?)
    .bind(payment.merchant.as_str())
    .bind(payment.customer.as_ref().map(|c| c.to_string()))
    .bind(payment.created_at.as_micros())
    .bind(payment.mode.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn save_event(conn: &mut PgConnection, event: &Event) -> Result<()> {
    sqlx::query(
        "INSERT INTO payment_events (id, kind, payment_id, body, created_at, merchant, mode) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.id.to_string())
    .bind(&event.kind)
    .bind(event.payment_id.to_string())
    .bind(to_json(event)?)
    .bind(event.created_at.as_micros())
    .bind(event.payment.merchant.as_str())
    .bind(event.payment.mode.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn child_version(conn: &mut PgConnection, id: &str) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT version FROM payment_children WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    row.map(|r| r.try_get::<i64, _>("version").map_err(db_error))
        .transpose()
}

async fn save_child(conn: &mut PgConnection, child: &Child) -> Result<()> {
    sqlx::query(
        "INSERT INTO payment_children (id, payment_id, kind, status, version, updated_at, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
         version = excluded.version, updated_at = excluded.updated_at, body = excluded.body",
    )
    .bind(child.id())
    .bind(child.payment_id().to_string())
    .bind(child.kind())
    .bind(child.status())
    .bind(child.version())
    .bind(child_updated_at(child).as_micros())
    .bind(to_json(child)?)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

fn child_updated_at(child: &Child) -> Timestamp {
    match child {
        Child::Refund(r) => r.updated_at,
        Child::Dispute(d) => d.updated_at,
    }
}

fn child_body(row: &sqlx::postgres::PgRow) -> Result<Child> {
    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)
}

fn payment_body(row: &sqlx::postgres::PgRow) -> Result<Payment> {
    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)
}

#[async_trait]
impl PaymentStore for PostgresStore {
    async fn write_payment(&self, write: PaymentWrite, now: Timestamp) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Locks the payment row first, then the ledger rows in their fixed order. A new
        // payment raced by another writer fails on the primary key (contention) instead.
        if stored_version(&mut tx, &write.payment.id).await? != write.expected_version {
            return Err(Error::Contention {
                reason: "the payment changed concurrently".into(),
            });
        }
        for child in &write.children {
            if child_version(&mut tx, child.child.id()).await? != child.expected_version {
                return Err(Error::Contention {
                    reason: "a refund or dispute changed concurrently".into(),
                });
            }
        }
        let mut state = load_state(&mut tx, &write.ledger).await?;
        let (results, writes) = batch::apply(&mut state, &write.ledger, now);
        // Dropping the transaction on any error rolls everything back.
        batch::all_committed(results)?;
        persist(&mut tx, &writes).await?;
        save_payment(&mut tx, &write.payment).await?;
        for child in &write.children {
            save_child(&mut tx, &child.child).await?;
        }
        for event in &write.events {
            save_event(&mut tx, event).await?;
        }
        tx.commit().await.map_err(db_error)
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
