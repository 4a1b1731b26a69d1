//! The ledger half of the SQLite Store.

use std::collections::BTreeMap;

use async_trait::async_trait;
use obol_core::ledger::batch::{self, BatchKeys, BatchState, BatchWrites, Outcome, Submission};
use obol_core::ledger::codec::{
    RecordColumns, amount_text, entries_json, metadata_json, parse_amount, to_json,
};
use obol_core::ledger::model::AssetTotals;
use obol_core::{
    Account, AccountId, Asset, AssetCode, Balance, HistoryEntry, Hold, LedgerStore, Result,
    Timestamp, Transaction, TransactionId,
};
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::{SqliteStore, db_error, rows};

/// Rows per multi-row statement (SQLite allows 32,766 bound parameters).
const CHUNK: usize = 500;

fn select_in(columns: &str, table: &str, ids: &[&str]) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::new(format!("SELECT {columns} FROM {table} WHERE id IN ("));
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id.to_string());
    }
    list.push_unseparated(")");
    query
}

pub(crate) async fn load_state(
    conn: &mut SqliteConnection,
    batch: &[Submission],
) -> Result<BatchState> {
    let keys = BatchKeys::of(batch);
    let mut state = BatchState::default();
    let record_ids: Vec<&str> = keys.records.iter().map(|id| id.as_str()).collect();
    for chunk in record_ids.chunks(CHUNK) {
        let rows = select_in(rows::RECORD_COLUMNS, "transactions", chunk)
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        for row in &rows {
            let (id, record) = rows::record(row)?;
            state.records.insert(id, record);
        }
    }
    let hold_ids: Vec<&str> = keys.holds.iter().map(|id| id.as_str()).collect();
    for chunk in hold_ids.chunks(CHUNK) {
        let rows = select_in(rows::HOLD_COLUMNS, "holds", chunk)
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        for row in &rows {
            let hold = rows::hold(row)?;
            state.holds.insert(hold.id.clone(), hold);
        }
    }
    let accounts = BatchKeys::accounts(batch, &state.records, &state.holds);
    let account_ids: Vec<&str> = accounts.iter().map(|id| id.as_str()).collect();
    for chunk in account_ids.chunks(CHUNK) {
        let rows = select_in(rows::ACCOUNT_COLUMNS, "accounts", chunk)
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        for row in &rows {
            let (account, balance) = rows::account(row)?;
            state
                .accounts
                .insert(account.id.clone(), (account, balance));
        }
    }
    Ok(state)
}

pub(crate) async fn persist(conn: &mut SqliteConnection, writes: &BatchWrites) -> Result<()> {
    let records = writes
        .records
        .iter()
        .map(|(id, record)| RecordColumns::from_record(id, record))
        .collect::<Result<Vec<_>>>()?;
    for chunk in records.chunks(CHUNK) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO transactions (id, body_hash, kind, error, entries, related, \
             effective_at, created_at, metadata) ",
        );
        query.push_values(chunk, |mut row, r| {
            row.push_bind(r.id.clone())
                .push_bind(r.body_hash.clone())
                .push_bind(r.kind.clone())
                .push_bind(r.error.clone())
                .push_bind(r.entries.clone())
                .push_bind(r.related.clone())
                .push_bind(r.effective_at)
                .push_bind(r.created_at)
                .push_bind(r.metadata.clone());
        });
        query.build().execute(&mut *conn).await.map_err(db_error)?;
    }
    for chunk in writes.entries.chunks(CHUNK) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO entries (transaction_id, account_id, direction, amount, asset, \
             effective_at, created_at) ",
        );
        query.push_values(chunk, |mut row, e| {
            row.push_bind(e.transaction_id.to_string())
                .push_bind(e.entry.account.to_string())
                .push_bind(e.entry.direction.as_str())
                .push_bind(amount_text(e.entry.amount))
                .push_bind(e.entry.asset.to_string())
                .push_bind(e.effective_at.as_micros())
                .push_bind(e.created_at.as_micros());
        });
        query.build().execute(&mut *conn).await.map_err(db_error)?;
    }
    for hold in writes.new_holds.iter().chain(&writes.updated_holds) {
        sqlx::query(
            "INSERT INTO holds (id, entries, posted, status, expires_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET posted = excluded.posted, status = excluded.status",
        )
        .bind(hold.id.to_string())
        .bind(entries_json(&hold.entries)?)
        .bind(to_json(&hold.posted)?)
        .bind(hold.status.as_str())
        .bind(hold.expires_at.map(Timestamp::as_micros))
        .bind(hold.created_at.as_micros())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    for (target, reversal) in &writes.reversals {
        sqlx::query("UPDATE transactions SET reversed_by = ? WHERE id = ?")
            .bind(reversal.to_string())
            .bind(target.to_string())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    for chunk in writes.balances.chunks(CHUNK) {
        let mut query = QueryBuilder::<Sqlite>::new("WITH v(id, dp, cp, dq, cq) AS (");
        query.push_values(chunk, |mut row, (id, b)| {
            row.push_bind(id.to_string())
                .push_bind(amount_text(b.debits_posted))
                .push_bind(amount_text(b.credits_posted))
                .push_bind(amount_text(b.debits_pending))
                .push_bind(amount_text(b.credits_pending));
        });
        query.push(
            ") UPDATE accounts SET debits_posted = v.dp, credits_posted = v.cp, \
             debits_pending = v.dq, credits_pending = v.cq FROM v WHERE accounts.id = v.id",
        );
        query.build().execute(&mut *conn).await.map_err(db_error)?;
    }
    Ok(())
}

/// An account row and its balance, by id.
async fn account_by_id(
    pool: &sqlx::SqlitePool,
    id: &AccountId,
) -> Result<Option<(Account, Balance)>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {} FROM accounts WHERE id = ?",
        rows::ACCOUNT_COLUMNS
    )))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    row.as_ref().map(rows::account).transpose()
}

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn ready(&self) -> Result<()> {
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.read)
                .await
                .map_err(crate::db_error)?;
        let known = i64::try_from(crate::MIGRATOR.migrations.len()).unwrap_or(i64::MAX);
        if applied < known {
            return Err(obol_core::Error::unavailable(format!(
                "{} of {known} migrations applied; run `obol migrate`",
                applied
            )));
        }
        Ok(())
    }

    async fn save_asset(&self, asset: &Asset) -> Result<()> {
        sqlx::query("INSERT INTO assets (code, scale) VALUES (?, ?) ON CONFLICT (code) DO NOTHING")
            .bind(asset.code.to_string())
            .bind(i64::from(asset.scale))
            .execute(&self.write)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn custom_assets(&self) -> Result<Vec<Asset>> {
        let rows = sqlx::query("SELECT code, scale FROM assets ORDER BY code")
            .fetch_all(&self.read)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let code: String = row.try_get("code").map_err(db_error)?;
                let scale: i64 = row.try_get("scale").map_err(db_error)?;
                let scale = u8::try_from(scale).map_err(obol_core::Error::corrupt)?;
                Asset::new(&code, scale)
            })
            .collect()
    }

    async fn insert_account(&self, account: &Account) -> Result<Account> {
        sqlx::query(
            "INSERT INTO accounts (id, asset, normal_balance, debits_must_not_exceed_credits, \
             credits_must_not_exceed_debits, balance_limit, metadata, closed, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(account.id.to_string())
        .bind(account.asset.to_string())
        .bind(account.normal_balance.as_str())
        .bind(account.flags.debits_must_not_exceed_credits)
        .bind(account.flags.credits_must_not_exceed_debits)
        .bind(amount_text(account.limit))
        .bind(metadata_json(&account.metadata)?)
        .bind(account.created_at.as_micros())
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        let (stored, _) = account_by_id(&self.write, &account.id)
            .await?
            .ok_or_else(|| obol_core::Error::corrupt("an inserted account is missing"))?;
        Ok(stored)
    }

    async fn account(&self, id: &AccountId) -> Result<Option<(Account, Balance)>> {
        account_by_id(&self.read, id).await
    }

    async fn close_account(&self, id: &AccountId) -> Result<Option<Account>> {
        sqlx::query("UPDATE accounts SET closed = 1 WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.write)
            .await
            .map_err(db_error)?;
        Ok(account_by_id(&self.write, id)
            .await?
            .map(|(account, _)| account))
    }

    async fn write_batch(
        &self,
        batch: &[Submission],
        now: Timestamp,
    ) -> Result<Vec<Result<Transaction>>> {
        // BEGIN IMMEDIATE takes the write lock up front, so what we read cannot change
        // under us even if another process opens the same file.
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let mut state = load_state(&mut tx, batch).await?;
        let (results, writes) = batch::apply(&mut state, batch, now);
        persist(&mut tx, &writes).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(results)
    }

    async fn transaction(&self, id: &TransactionId) -> Result<Option<Transaction>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM transactions WHERE id = ? AND kind <> 'failed'",
            rows::RECORD_COLUMNS
        )))
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await
        .map_err(db_error)?;
        Ok(match row.as_ref().map(rows::record).transpose()? {
            Some((_, record)) => match record.outcome {
                Outcome::Committed(t) => Some(t),
                Outcome::Failed(_) => None,
            },
            None => None,
        })
    }

    async fn hold(&self, id: &TransactionId) -> Result<Option<Hold>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM holds WHERE id = ?",
            rows::HOLD_COLUMNS
        )))
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await
        .map_err(db_error)?;
        row.as_ref().map(rows::hold).transpose()
    }

    async fn history(
        &self,
        account: &AccountId,
        after_sequence: Option<i64>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>> {
        let rows = sqlx::query(
            "SELECT seq, transaction_id, direction, amount, asset, effective_at, created_at \
             FROM entries WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(account.to_string())
        .bind(after_sequence.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(rows::history_entry).collect()
    }

    async fn posted_at(&self, account: &AccountId, at: Timestamp) -> Result<(i128, i128)> {
        // Amounts are text, so they are summed exactly here rather than by SQLite's SUM.
        let rows = sqlx::query(
            "SELECT direction, amount FROM entries WHERE account_id = ? AND effective_at <= ?",
        )
        .bind(account.to_string())
        .bind(at.as_micros())
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        let (mut debits, mut credits) = (0i128, 0i128);
        for row in &rows {
            let direction: String = row.try_get("direction").map_err(db_error)?;
            let amount: String = row.try_get("amount").map_err(db_error)?;
            batch::add_to_side(
                &mut debits,
                &mut credits,
                obol_core::Direction::parse(&direction)?,
                parse_amount(&amount)?,
            )?;
        }
        Ok((debits, credits))
    }

    async fn due_holds(&self, now: Timestamp, limit: u32) -> Result<Vec<TransactionId>> {
        let rows = sqlx::query(
            "SELECT id FROM holds WHERE status = 'pending' AND expires_at IS NOT NULL \
             AND expires_at <= ? ORDER BY expires_at LIMIT ?",
        )
        .bind(now.as_micros())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| TransactionId::parse(&row.try_get::<String, _>("id").map_err(db_error)?))
            .collect()
    }

    async fn asset_totals(&self) -> Result<Vec<AssetTotals>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM accounts",
            rows::ACCOUNT_COLUMNS
        )))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        let mut totals: BTreeMap<AssetCode, Balance> = BTreeMap::new();
        for row in &rows {
            let (account, balance) = rows::account(row)?;
            let sum = totals.entry(account.asset).or_default();
            *sum = sum.plus(&balance)?;
        }
        Ok(totals
            .into_iter()
            .map(|(asset, totals)| AssetTotals { asset, totals })
            .collect())
    }
}
