//! API keys, users, failed sign-ins and sessions on SQLite.

use async_trait::async_trait;
use obol_core::auth::keyring::KeyRecord;
use obol_core::auth::{ApiKey, Session, User};
use obol_core::ledger::codec::{from_json, to_json};
use obol_core::store::{AttemptLimit, LoginReservation};
use obol_core::{ApiKeyId, AuthStore, Error, MerchantId, Result, SessionId, Timestamp, UserId};
use sqlx::{AssertSqlSafe, Row};

use crate::{SqliteStore, db_error};

fn user(row: &sqlx::sqlite::SqliteRow) -> Result<User> {
    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)
}

fn session(row: &sqlx::sqlite::SqliteRow) -> Result<Session> {
    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)
}

/// Inserts a session row.
async fn write_session(conn: &mut sqlx::SqliteConnection, session: &Session) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, family, merchant_id, user_id, refresh_hash, rotated_at, \
         revoked_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(session.id.to_string())
    .bind(session.family.to_string())
    .bind(session.merchant.to_string())
    .bind(session.user.to_string())
    .bind(&session.refresh_hash)
    .bind(session.rotated_at.map(Timestamp::as_micros))
    .bind(session.revoked_at.map(Timestamp::as_micros))
    .bind(to_json(session)?)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

fn api_key(row: &sqlx::sqlite::SqliteRow) -> Result<ApiKey> {
    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)
}

impl SqliteStore {
    /// Revokes (once) every session matching `filter` (placeholders bound to `values`).
    async fn revoke_where(&self, filter: &str, values: &[String], at: Timestamp) -> Result<()> {
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let mut select = sqlx::query(AssertSqlSafe(format!(
            "SELECT body FROM sessions WHERE {filter} AND revoked_at IS NULL"
        )));
        for value in values {
            select = select.bind(value.clone());
        }
        let rows = select.fetch_all(&mut *tx).await.map_err(db_error)?;
        for row in &rows {
            let mut revoked = session(row)?;
            revoked.revoked_at = Some(at);
            sqlx::query("UPDATE sessions SET revoked_at = ?, body = ? WHERE id = ?")
                .bind(at.as_micros())
                .bind(to_json(&revoked)?)
                .bind(revoked.id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, merchant_id, hash, created_at, revoked_at, body) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(key.id.to_string())
        .bind(key.merchant.to_string())
        .bind(&key.hash)
        .bind(key.created_at.as_micros())
        .bind(key.revoked_at.map(Timestamp::as_micros))
        .bind(to_json(key)?)
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        let row = sqlx::query("SELECT body FROM api_keys WHERE hash = ?")
            .bind(hash)
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(api_key).transpose()
    }

    async fn api_keys(&self, merchant: &MerchantId) -> Result<Vec<ApiKey>> {
        let rows =
            sqlx::query("SELECT body FROM api_keys WHERE merchant_id = ? ORDER BY created_at, id")
                .bind(merchant.to_string())
                .fetch_all(&self.read)
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
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let row = sqlx::query("SELECT body FROM api_keys WHERE id = ? AND merchant_id = ?")
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
            sqlx::query("UPDATE api_keys SET revoked_at = ?, body = ? WHERE id = ?")
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

    async fn insert_user(&self, user: &User) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO users (id, merchant_id, email, version, body) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (merchant_id, email) DO NOTHING",
        )
        .bind(user.id.to_string())
        .bind(user.merchant.to_string())
        .bind(&user.email)
        .bind(user.version)
        .bind(to_json(user)?)
        .execute(&self.write)
        .await
        .map_err(db_error)?
        .rows_affected();
        if inserted == 0 {
            return Err(Error::EmailTaken);
        }
        Ok(())
    }

    async fn user(&self, merchant: &MerchantId, id: &UserId) -> Result<Option<User>> {
        let row = sqlx::query("SELECT body FROM users WHERE merchant_id = ? AND id = ?")
            .bind(merchant.to_string())
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(user).transpose()
    }

    async fn user_by_email(&self, merchant: &MerchantId, email: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT body FROM users WHERE merchant_id = ? AND email = ?")
            .bind(merchant.to_string())
            .bind(email)
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(user).transpose()
    }

    async fn update_user(&self, user: &User, expected_version: i64) -> Result<()> {
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let clash =
            sqlx::query("SELECT id FROM users WHERE merchant_id = ? AND email = ? AND id <> ?")
                .bind(user.merchant.to_string())
                .bind(&user.email)
                .bind(user.id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if clash.is_some() {
            return Err(Error::EmailTaken);
        }
        let updated = sqlx::query(
            "UPDATE users SET email = ?, version = ?, body = ? \
             WHERE merchant_id = ? AND id = ? AND version = ?",
        )
        .bind(&user.email)
        .bind(user.version)
        .bind(to_json(user)?)
        .bind(user.merchant.to_string())
        .bind(user.id.to_string())
        .bind(expected_version)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        if updated == 0 {
            return Err(Error::Contention {
                reason: "the user changed concurrently".into(),
            });
        }
        tx.commit().await.map_err(db_error)
    }

    async fn delete_user(&self, merchant: &MerchantId, id: &UserId) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM users WHERE merchant_id = ? AND id = ?")
            .bind(merchant.to_string())
            .bind(id.to_string())
            .execute(&self.write)
            .await
            .map_err(db_error)?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn reserve_login_attempt(
        &self,
        attempt: &str,
        limits: &[AttemptLimit],
        since: Timestamp,
        at: Timestamp,
    ) -> Result<LoginReservation> {
        // One immediate transaction: the check and the insert cannot interleave with another
        // sign-in's.
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        sqlx::query("DELETE FROM login_attempts WHERE at < ?")
            .bind(since.as_micros())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        for limit in limits {
            let row = sqlx::query(
                "SELECT COUNT(*) AS counted, MIN(at) AS oldest FROM login_attempts WHERE key = ?",
            )
            .bind(&limit.key)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
            let counted: i64 = row.try_get("counted").map_err(db_error)?;
            if counted >= i64::from(limit.allowed) {
                let oldest: Option<i64> = row.try_get("oldest").map_err(db_error)?;
                let oldest = oldest.map_or(at, Timestamp::from_micros);
                return Ok(LoginReservation::Refused { oldest });
            }
        }
        for limit in limits {
            sqlx::query("INSERT INTO login_attempts (attempt, key, at) VALUES (?, ?, ?)")
                .bind(attempt)
                .bind(&limit.key)
                .bind(at.as_micros())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(LoginReservation::Reserved)
    }

    async fn release_login_attempt(&self, attempt: &str, clear: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_attempts WHERE attempt = ? OR key = ?")
            .bind(attempt)
            .bind(clear)
            .execute(&self.write)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn insert_session(&self, session: &Session) -> Result<()> {
        let mut conn = self.write.acquire().await.map_err(db_error)?;
        write_session(&mut conn, session).await
    }

    async fn session_by_refresh_hash(&self, hash: &str) -> Result<Option<Session>> {
        let row = sqlx::query("SELECT body FROM sessions WHERE refresh_hash = ?")
            .bind(hash)
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(session).transpose()
    }

    async fn session(&self, id: &SessionId) -> Result<Option<Session>> {
        let row = sqlx::query("SELECT body FROM sessions WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(session).transpose()
    }

    async fn rotate_session(&self, old: &SessionId, new: &Session, at: Timestamp) -> Result<bool> {
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let row = sqlx::query(
            "SELECT body FROM sessions WHERE id = ? AND rotated_at IS NULL AND revoked_at IS NULL",
        )
        .bind(old.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(mut current) = row.as_ref().map(session).transpose()? else {
            return Ok(false);
        };
        current.rotated_at = Some(at);
        sqlx::query("UPDATE sessions SET rotated_at = ?, body = ? WHERE id = ?")
            .bind(at.as_micros())
            .bind(to_json(&current)?)
            .bind(old.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        write_session(&mut tx, new).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn revoke_family(&self, family: &SessionId, at: Timestamp) -> Result<()> {
        self.revoke_where("family = ?", &[family.to_string()], at)
            .await
    }

    async fn revoke_user_sessions(
        &self,
        merchant: &MerchantId,
        user: &UserId,
        except: Option<&SessionId>,
        at: Timestamp,
    ) -> Result<()> {
        // Ids are never empty, so "" excepts nothing.
        let except = except.map(ToString::to_string).unwrap_or_default();
        self.revoke_where(
            "merchant_id = ? AND user_id = ? AND family <> ?",
            &[merchant.to_string(), user.to_string(), except],
            at,
        )
        .await
    }

    async fn signing_keys(&self) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query("SELECT body FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(&self.read)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| from_json(&row.try_get::<String, _>("body").map_err(db_error)?))
            .collect()
    }

    async fn reseal_signing_key(&self, kid: &str, before: &str, sealed: &str) -> Result<bool> {
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let row = sqlx::query("SELECT body FROM signing_keys WHERE kid = ?")
            .bind(kid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        let Some(row) = row else {
            return Ok(false);
        };
        let mut record: KeyRecord =
            from_json(&row.try_get::<String, _>("body").map_err(db_error)?)?;
        if record.sealed != before {
            return Ok(false);
        }
        record.sealed = sealed.to_owned();
        sqlx::query("UPDATE signing_keys SET body = ? WHERE kid = ?")
            .bind(to_json(&record)?)
            .bind(kid)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn add_signing_key(&self, record: &KeyRecord, retire: Option<&str>) -> Result<()> {
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        if let Some(old) = retire {
            let row = sqlx::query("SELECT body FROM signing_keys WHERE kid = ?")
                .bind(old)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
            if let Some(row) = row {
                let mut retired: KeyRecord =
                    from_json(&row.try_get::<String, _>("body").map_err(db_error)?)?;
                retired.retired_at.get_or_insert(record.activates_at);
                sqlx::query("UPDATE signing_keys SET body = ? WHERE kid = ?")
                    .bind(to_json(&retired)?)
                    .bind(old)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
        }
        sqlx::query("INSERT INTO signing_keys (kid, created_at, body) VALUES (?, ?, ?)")
            .bind(&record.kid)
            .bind(record.created_at.as_micros())
            .bind(to_json(record)?)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }
}
