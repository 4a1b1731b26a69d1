//! Customers and saved payment methods on SQLite.

use async_trait::async_trait;
use obol_core::ledger::codec::{from_json, to_json};
use obol_core::payments::{Customer, SavedMethod};
use obol_core::{CustomerId, CustomerStore, PaymentMethodId, Result};
use sqlx::Row;

use crate::{SqliteStore, db_error};

fn body<T: serde::de::DeserializeOwned>(row: &sqlx::sqlite::SqliteRow) -> Result<T> {
    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn insert_customer(&self, customer: &Customer) -> Result<Customer> {
        sqlx::query(
            "INSERT INTO customers (id, created_at, body) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(customer.id.to_string())
        .bind(customer.created_at.as_micros())
        .bind(to_json(customer)?)
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        let row = sqlx::query("SELECT body FROM customers WHERE id = ?")
            .bind(customer.id.to_string())
            .fetch_one(&self.write)
            .await
            .map_err(db_error)?;
        body(&row)
    }

    async fn customer(&self, id: &CustomerId) -> Result<Option<Customer>> {
        let row = sqlx::query("SELECT body FROM customers WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(body).transpose()
    }

    async fn save_method(&self, method: &SavedMethod) -> Result<()> {
        sqlx::query(
            "INSERT INTO payment_methods (id, customer_id, detached, created_at, body) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET detached = excluded.detached, \
             body = excluded.body",
        )
        .bind(method.id.to_string())
        .bind(method.customer.to_string())
        .bind(method.detached)
        .bind(method.created_at.as_micros())
        .bind(to_json(method)?)
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn saved_method(&self, id: &PaymentMethodId) -> Result<Option<SavedMethod>> {
        let row = sqlx::query("SELECT body FROM payment_methods WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(body).transpose()
    }

    async fn saved_methods(&self, customer: &CustomerId) -> Result<Vec<SavedMethod>> {
        let rows = sqlx::query(
            "SELECT body FROM payment_methods WHERE customer_id = ? ORDER BY created_at, id",
        )
        .bind(customer.to_string())
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(body).collect()
    }
}
