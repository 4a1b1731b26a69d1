//! The payments half of the SQLite Store.

use async_trait::async_trait;
use obol_core::ledger::batch;
use obol_core::ledger::codec::from_json;
use obol_core::payments::{
    Child, EncodedWrite, Event, EventQuery, Payment, PaymentQuery, PaymentStatus, PaymentWrite,
    StoredEvent,
};
use obol_core::{Error, Mode, PaymentId, PaymentStore, Result, Timestamp};
use rusqlite::{Connection, OptionalExtension};
use sqlx::Row;

use crate::idempotency::store_first_response;
use crate::ledger::{load_state, persist};
use crate::writer::sql_error;
use crate::{SqliteStore, db_error};

/// Reads a payment's stored version.
const PAYMENT_VERSION: &str = "SELECT version FROM payments WHERE id = ?";
/// Reads a stored refund's or dispute's version.
const CHILD_VERSION: &str = "SELECT version FROM payment_children WHERE id = ?";

/// The stored version of a row, read by `sql` (one of the version queries above).
fn stored_version(conn: &Connection, sql: &str, id: &str) -> Result<Option<i64>> {
    let mut statement = conn.prepare_cached(sql).map_err(sql_error)?;
    statement
        .query_row([id], |row| row.get::<_, i64>(0))
        .optional()
        .map_err(sql_error)
}

fn save_payment(conn: &Connection, payment: &Payment, body: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO payments (id, status, version, updated_at, provider, reference, body, \
         merchant, customer, created_at, mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, version = excluded.version, \
         updated_at = excluded.updated_at, provider = excluded.provider, \
         reference = excluded.reference, body = excluded.body, customer = excluded.customer",
    )
    .and_then(|mut statement| {
        statement.execute(rusqlite::params![
            payment.id.as_str(),
            payment.state.status.as_str(),
            payment.version,
            payment.updated_at.as_micros(),
            payment.provider.as_deref(),
            payment.provider_reference.as_deref(),
            body,
            payment.merchant.as_str(),
            payment.customer.as_ref().map(|c| c.as_str()),
            payment.created_at.as_micros(),
            payment.mode.as_str()
        ])
    })
    .map_err(sql_error)?;
    Ok(())
}

fn save_event(conn: &Connection, event: &Event, body: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO payment_events (id, kind, payment_id, body, created_at, merchant, mode) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut statement| {
        statement.execute(rusqlite::params![
            event.id.as_str(),
            event.kind,
            event.payment_id.as_str(),
            body,
            event.created_at.as_micros(),
            event.payment.merchant.as_str(),
            event.payment.mode.as_str()
        ])
    })
    .map_err(sql_error)?;
    Ok(())
}

fn save_child(conn: &Connection, child: &Child, body: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO payment_children (id, payment_id, kind, status, version, updated_at, body) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
         version = excluded.version, updated_at = excluded.updated_at, body = excluded.body",
    )
    .and_then(|mut statement| {
        statement.execute(rusqlite::params![
            child.id(),
            child.payment_id().as_str(),
            child.kind(),
            child.status(),
            child.version(),
            child.updated_at().as_micros(),
            body
        ])
    })
    .map_err(sql_error)?;
    Ok(())
}

/// One payment change, all or nothing, on the writer's connection.
fn write_payment(conn: &Connection, encoded: &EncodedWrite, now: Timestamp) -> Result<()> {
    let write = &encoded.write;
    if stored_version(conn, PAYMENT_VERSION, write.payment.id.as_str())? != write.expected_version {
        return Err(Error::Contention {
            reason: "the payment changed concurrently".into(),
        });
    }
    for child in &write.children {
        if stored_version(conn, CHILD_VERSION, child.child.id())? != child.expected_version {
            return Err(Error::Contention {
                reason: "a refund or dispute changed concurrently".into(),
            });
        }
    }
    let mut state = load_state(conn, &write.ledger)?;
    let (results, writes) = batch::apply(&mut state, &write.ledger, now);
    // An error here rolls the job's savepoint back: nothing of it is written.
    batch::all_committed(results)?;
    persist(conn, &writes)?;
    save_payment(conn, &write.payment, &encoded.payment)?;
    for (child, body) in write.children.iter().zip(&encoded.children) {
        save_child(conn, &child.child, body)?;
    }
    for (event, body) in write.events.iter().zip(&encoded.events) {
        save_event(conn, event, body)?;
    }
    if let Some(answer) = &write.answer {
        store_first_response(conn, &answer.key, &answer.response)?;
    }
    Ok(())
}

fn child_body(row: &sqlx::sqlite::SqliteRow) -> Result<Child> {
    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)
}

fn payment_body(row: &sqlx::sqlite::SqliteRow) -> Result<Payment> {
    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)
}

#[async_trait]
impl PaymentStore for SqliteStore {
    async fn write_payment(&self, write: PaymentWrite, now: Timestamp) -> Result<()> {
        let encoded = EncodedWrite::of(write)?;
        self.writer
            .run(move |conn| write_payment(conn, &encoded, now))
            .await
    }

    async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>> {
        let row = sqlx::query("SELECT body FROM payments WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.read)
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
            "SELECT body FROM payments WHERE status = ? ORDER BY updated_at, id LIMIT ?",
        )
        .bind(status.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(payment_body).collect()
    }

    async fn payment_by_reference(
        &self,
        provider: &str,
        reference: &str,
    ) -> Result<Option<Payment>> {
        let row = sqlx::query("SELECT body FROM payments WHERE provider = ? AND reference = ?")
            .bind(provider)
            .bind(reference)
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(payment_body).transpose()
    }

    async fn child(&self, id: &str) -> Result<Option<Child>> {
        let row = sqlx::query("SELECT body FROM payment_children WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(child_body).transpose()
    }

    async fn children(&self, payment: &PaymentId) -> Result<Vec<Child>> {
        let rows =
            sqlx::query("SELECT body FROM payment_children WHERE payment_id = ? ORDER BY seq")
                .bind(payment.to_string())
                .fetch_all(&self.read)
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
            "SELECT body FROM payment_children WHERE kind = ? AND status = ? \
             ORDER BY updated_at, seq LIMIT ?",
        )
        .bind(kind)
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
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
        let mode = query.mode.map(Mode::as_str);
        let rows = sqlx::query(
            "SELECT body FROM payments WHERE merchant = ? AND (? IS NULL OR mode = ?) \
             AND (? IS NULL OR status = ?) AND (? IS NULL OR customer = ?) \
             AND (? IS NULL OR created_at >= ?) AND (? IS NULL OR created_at < ?) \
             AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(query.merchant.as_str())
        .bind(mode)
        .bind(mode)
        .bind(status)
        .bind(status)
        .bind(customer.as_deref())
        .bind(customer.as_deref())
        .bind(from)
        .bind(from)
        .bind(before)
        .bind(before)
        .bind(after.as_deref())
        .bind(after.as_deref())
        .bind(i64::from(query.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(payment_body).collect()
    }

    async fn merchant_events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let payment = query.payment.as_ref().map(|p| p.to_string());
        let mode = query.mode.map(Mode::as_str);
        let rows = sqlx::query(
            "SELECT seq, body FROM payment_events WHERE merchant = ? AND seq > ? \
             AND (? IS NULL OR mode = ?) AND (? IS NULL OR payment_id = ?) ORDER BY seq LIMIT ?",
        )
        .bind(query.merchant.as_str())
        .bind(query.after)
        .bind(mode)
        .bind(mode)
        .bind(payment.as_deref())
        .bind(payment.as_deref())
        .bind(i64::from(query.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(stored_event).collect()
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
        let rows =
            sqlx::query("SELECT seq, body FROM payment_events WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await
                .map_err(db_error)?;
        rows.iter().map(stored_event).collect()
    }
}

fn stored_event(row: &sqlx::sqlite::SqliteRow) -> Result<StoredEvent> {
    Ok(StoredEvent {
        sequence: row.try_get("seq").map_err(db_error)?,
        event: from_json(&row.try_get::<String, _>("body").map_err(db_error)?)?,
    })
}
