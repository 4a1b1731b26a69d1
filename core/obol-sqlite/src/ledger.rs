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
use rusqlite::Connection;
use sqlx::{AssertSqlSafe, Row};

use crate::writer::sql_error;
use crate::{SqliteStore, db_error, rows};

/// Rows per multi-row statement (SQLite allows 32,766 bound parameters).
const CHUNK: usize = 500;

/// `SELECT columns FROM table WHERE id IN (?, …)` for `n` ids.
fn select_in(columns: &str, table: &str, n: usize) -> String {
    let marks = vec!["?"; n].join(", ");
    format!("SELECT {columns} FROM {table} WHERE id IN ({marks})")
}

/// Reads the rows `read` turns into values, for ids in chunks.
fn load_rows<T>(
    conn: &Connection,
    columns: &str,
    table: &str,
    ids: &[&str],
    mut read: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut statement = conn
            .prepare_cached(&select_in(columns, table, chunk.len()))
            .map_err(sql_error)?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(chunk))
            .map_err(sql_error)?;
        while let Some(row) = rows.next().map_err(sql_error)? {
            found.push(read(row)?);
        }
    }
    Ok(found)
}

/// What a batch needs to be decided: its records, holds and accounts, as stored.
pub(crate) fn load_state(conn: &Connection, batch: &[Submission]) -> Result<BatchState> {
    let keys = BatchKeys::of(batch);
    let mut state = BatchState::default();
    let record_ids: Vec<&str> = keys.records.iter().map(|id| id.as_str()).collect();
    for (id, record) in load_rows(
        conn,
        rows::RECORD_COLUMNS,
        "transactions",
        &record_ids,
        |row| rows::record(row),
    )? {
        state.records.insert(id, record);
    }
    let hold_ids: Vec<&str> = keys.holds.iter().map(|id| id.as_str()).collect();
    for hold in load_rows(conn, rows::HOLD_COLUMNS, "holds", &hold_ids, |row| {
        rows::hold(row)
    })? {
        state.holds.insert(hold.id.clone(), hold);
    }
    let accounts = BatchKeys::accounts(batch, &state.records, &state.holds);
    let account_ids: Vec<&str> = accounts.iter().map(|id| id.as_str()).collect();
    for (account, balance) in load_rows(
        conn,
        rows::ACCOUNT_COLUMNS,
        "accounts",
        &account_ids,
        |row| rows::account(row),
    )? {
        state
            .accounts
            .insert(account.id.clone(), (account, balance));
    }
    Ok(state)
}

/// Writes what a decided batch changed. Statements are prepared once and cached; on the
/// writer thread a row costs one `sqlite3_step`.
pub(crate) fn persist(conn: &Connection, writes: &BatchWrites) -> Result<()> {
    let statement = |sql: &str| conn.prepare_cached(sql).map_err(sql_error);
    let mut insert = statement(
        "INSERT INTO transactions (id, body_hash, kind, error, entries, related, \
         effective_at, created_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    for (id, record) in &writes.records {
        let r = RecordColumns::from_record(id, record)?;
        insert
            .execute(rusqlite::params![
                r.id,
                r.body_hash,
                r.kind,
                r.error,
                r.entries,
                r.related,
                r.effective_at,
                r.created_at,
                r.metadata
            ])
            .map_err(sql_error)?;
    }
    let mut insert = statement(
        "INSERT INTO entries (transaction_id, account_id, direction, amount, asset, \
         effective_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?;
    for e in &writes.entries {
        insert
            .execute(rusqlite::params![
                e.transaction_id.as_str(),
                e.entry.account.as_str(),
                e.entry.direction.as_str(),
                amount_text(e.entry.amount),
                e.entry.asset.as_str(),
                e.effective_at.as_micros(),
                e.created_at.as_micros()
            ])
            .map_err(sql_error)?;
    }
    let mut upsert = statement(
        "INSERT INTO holds (id, entries, posted, status, expires_at, created_at) \
         VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET posted = excluded.posted, status = excluded.status",
    )?;
    for hold in writes.new_holds.iter().chain(&writes.updated_holds) {
        upsert
            .execute(rusqlite::params![
                hold.id.as_str(),
                entries_json(&hold.entries)?,
                to_json(&hold.posted)?,
                hold.status.as_str(),
                hold.expires_at.map(Timestamp::as_micros),
                hold.created_at.as_micros()
            ])
            .map_err(sql_error)?;
    }
    let mut reverse = statement("UPDATE transactions SET reversed_by = ? WHERE id = ?")?;
    for (target, reversal) in &writes.reversals {
        reverse
            .execute(rusqlite::params![reversal.as_str(), target.as_str()])
            .map_err(sql_error)?;
    }
    let mut balance = statement(
        "UPDATE accounts SET debits_posted = ?, credits_posted = ?, debits_pending = ?, \
         credits_pending = ? WHERE id = ?",
    )?;
    for (id, b) in &writes.balances {
        balance
            .execute(rusqlite::params![
                amount_text(b.debits_posted),
                amount_text(b.credits_posted),
                amount_text(b.debits_pending),
                amount_text(b.credits_pending),
                id.as_str()
            ])
            .map_err(sql_error)?;
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
        obol_core::store::migrations_ready(applied, crate::MIGRATOR.migrations.len())
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
             credits_must_not_exceed_debits, balance_limit, metadata, closed, created_at, owner) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(account.id.to_string())
        .bind(account.asset.to_string())
        .bind(account.normal_balance.as_str())
        .bind(account.flags.debits_must_not_exceed_credits)
        .bind(account.flags.credits_must_not_exceed_debits)
        .bind(amount_text(account.limit))
        .bind(metadata_json(&account.metadata)?)
        .bind(account.created_at.as_micros())
        .bind(account.owner.stored())
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
        // The writer's transaction holds the write lock from its start (BEGIN IMMEDIATE), so
        // what we read cannot change under us even if another process opens the file.
        let batch = batch.to_vec();
        self.writer
            .run(move |conn| {
                let mut state = load_state(conn, &batch)?;
                let (results, writes) = batch::apply(&mut state, &batch, now);
                persist(conn, &writes)?;
                Ok(results)
            })
            .await
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
