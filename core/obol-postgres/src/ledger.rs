//! The ledger half of the PostgreSQL Store.

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
use sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::{PostgresStore, db_error, rows};

// Every batch statement has one fixed text (arrays bound with `ANY`/`UNNEST`), so each is
// parsed once per connection whatever the batch size (how it is planned: `begin_batch`).

/// Rows of `table` whose id is in `$1`, locked in id order (the fixed lock order).
fn select_locked(columns: &str, table: &str) -> String {
    format!("SELECT {columns} FROM {table} WHERE id = ANY($1) ORDER BY id FOR UPDATE")
}

fn id_strings<'a>(ids: impl IntoIterator<Item = &'a (impl ToString + 'a)>) -> Vec<String> {
    ids.into_iter().map(ToString::to_string).collect()
}

pub(crate) async fn load_state(
    conn: &mut PgConnection,
    batch: &[Submission],
) -> Result<BatchState> {
    let keys = BatchKeys::of(batch);
    let mut state = BatchState::default();
    // Few writes may name many ids (a transfer has up to 256 entries): the plan follows the
    // arrays, not the number of writes.
    let mut planned = false;
    crate::plan_for_arrays_of(conn, &mut planned, keys.records.len().max(keys.holds.len())).await?;
    if !keys.records.is_empty() {
        let rows = sqlx::query(AssertSqlSafe(select_locked(
            rows::RECORD_COLUMNS,
            "transactions",
        )))
        .bind(id_strings(&keys.records))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        for row in &rows {
            let (id, record) = rows::record(row)?;
            state.records.insert(id, record);
        }
    }
    if !keys.holds.is_empty() {
        let rows = sqlx::query(AssertSqlSafe(select_locked(rows::HOLD_COLUMNS, "holds")))
            .bind(id_strings(&keys.holds))
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        for row in &rows {
            let hold = rows::hold(row)?;
            state.holds.insert(hold.id.clone(), hold);
        }
    }
    let accounts = BatchKeys::accounts(batch, &state.records, &state.holds);
    crate::plan_for_arrays_of(conn, &mut planned, accounts.len()).await?;
    if !accounts.is_empty() {
        let rows = sqlx::query(AssertSqlSafe(select_locked(
            rows::ACCOUNT_COLUMNS,
            "accounts",
        )))
        .bind(id_strings(&accounts))
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

/// A batch's rows in one statement (one round trip): new records, posted entries, new and
/// changed holds, and the changed accounts' balances, each a data-modifying `WITH` over
/// `UNNEST`ed arrays (an empty array writes nothing). Reversal links follow in a second
/// statement: a reversed transaction may be one this statement inserts, which its own
/// sub-statements cannot see.
const PERSIST: &str = "WITH \
    new_records AS (INSERT INTO transactions (id, body_hash, kind, error, entries, related, \
      effective_at, created_at, metadata) \
      SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
      $6::text[], $7::int8[], $8::int8[], $9::text[])), \
    new_entries AS (INSERT INTO entries (transaction_id, account_id, direction, amount, asset, \
      effective_at, created_at) \
      SELECT t, a, d, m::numeric, s, e, c FROM UNNEST($10::text[], $11::text[], $12::text[], \
      $13::text[], $14::text[], $15::int8[], $16::int8[]) AS v(t, a, d, m, s, e, c)), \
    held AS (INSERT INTO holds (id, entries, posted, status, expires_at, created_at) \
      SELECT * FROM UNNEST($17::text[], $18::text[], $19::text[], $20::text[], $21::int8[], \
      $22::int8[]) \
      ON CONFLICT (id) DO UPDATE SET posted = excluded.posted, status = excluded.status), \
    balances AS (UPDATE accounts SET debits_posted = v.dp::numeric, \
      credits_posted = v.cp::numeric, debits_pending = v.dq::numeric, \
      credits_pending = v.cq::numeric \
      FROM UNNEST($23::text[], $24::text[], $25::text[], $26::text[], $27::text[]) \
      AS v(id, dp, cp, dq, cq) WHERE accounts.id = v.id AND accounts.id = ANY($23)) \
    SELECT 1";

pub(crate) async fn persist(conn: &mut PgConnection, writes: &BatchWrites) -> Result<()> {
    let nothing_new = writes.records.is_empty()
        && writes.entries.is_empty()
        && writes.new_holds.is_empty()
        && writes.updated_holds.is_empty()
        && writes.balances.is_empty();
    if !nothing_new {
        persist_rows(conn, writes).await?;
    }
    if !writes.reversals.is_empty() {
        sqlx::query(
            "UPDATE transactions SET reversed_by = v.reversal \
             FROM UNNEST($1::text[], $2::text[]) AS v(id, reversal) \
             WHERE transactions.id = v.id AND transactions.id = ANY($1)",
        )
        .bind(id_strings(
            writes.reversals.iter().map(|(target, _)| target),
        ))
        .bind(id_strings(
            writes.reversals.iter().map(|(_, reversal)| reversal),
        ))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

async fn persist_rows(conn: &mut PgConnection, writes: &BatchWrites) -> Result<()> {
    let records = writes
        .records
        .iter()
        .map(|(id, record)| RecordColumns::from_record(id, record))
        .collect::<Result<Vec<_>>>()?;
    let record_text =
        |f: fn(&RecordColumns) -> Option<String>| records.iter().map(f).collect::<Vec<_>>();
    let record_time =
        |f: fn(&RecordColumns) -> Option<i64>| records.iter().map(f).collect::<Vec<_>>();
    let entries = &writes.entries;
    let holds: Vec<&Hold> = writes
        .new_holds
        .iter()
        .chain(&writes.updated_holds)
        .collect();
    let balances = &writes.balances;
    let side = |f: fn(&Balance) -> i128| {
        balances
            .iter()
            .map(|(_, b)| amount_text(f(b)))
            .collect::<Vec<_>>()
    };
    // The balances' ids are repeated as `= ANY`, an index condition: planned from the join
    // alone, the update read the whole table (a sequential scan of 10,000 accounts for 34
    // changed ones).
    sqlx::query(PERSIST)
        .bind(record_text(|r| Some(r.id.clone())))
        .bind(record_text(|r| Some(r.body_hash.clone())))
        .bind(record_text(|r| Some(r.kind.clone())))
        .bind(record_text(|r| r.error.clone()))
        .bind(record_text(|r| r.entries.clone()))
        .bind(record_text(|r| r.related.clone()))
        .bind(record_time(|r| r.effective_at))
        .bind(record_time(|r| r.created_at))
        .bind(record_text(|r| r.metadata.clone()))
        .bind(id_strings(entries.iter().map(|e| &e.transaction_id)))
        .bind(id_strings(entries.iter().map(|e| &e.entry.account)))
        .bind(
            entries
                .iter()
                .map(|e| e.entry.direction.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            entries
                .iter()
                .map(|e| amount_text(e.entry.amount))
                .collect::<Vec<_>>(),
        )
        .bind(id_strings(entries.iter().map(|e| &e.entry.asset)))
        .bind(
            entries
                .iter()
                .map(|e| e.effective_at.as_micros())
                .collect::<Vec<_>>(),
        )
        .bind(
            entries
                .iter()
                .map(|e| e.created_at.as_micros())
                .collect::<Vec<_>>(),
        )
        .bind(id_strings(holds.iter().map(|h| &h.id)))
        .bind(
            holds
                .iter()
                .map(|h| entries_json(&h.entries))
                .collect::<Result<Vec<_>>>()?,
        )
        .bind(
            holds
                .iter()
                .map(|h| to_json(&h.posted))
                .collect::<Result<Vec<_>>>()?,
        )
        .bind(holds.iter().map(|h| h.status.as_str()).collect::<Vec<_>>())
        .bind(
            holds
                .iter()
                .map(|h| h.expires_at.map(Timestamp::as_micros))
                .collect::<Vec<_>>(),
        )
        .bind(
            holds
                .iter()
                .map(|h| h.created_at.as_micros())
                .collect::<Vec<_>>(),
        )
        .bind(id_strings(balances.iter().map(|(id, _)| id)))
        .bind(side(|b| b.debits_posted))
        .bind(side(|b| b.credits_posted))
        .bind(side(|b| b.debits_pending))
        .bind(side(|b| b.credits_pending))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// An account row and its balance, by id.
async fn account_by_id(pool: &sqlx::PgPool, id: &AccountId) -> Result<Option<(Account, Balance)>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {} FROM accounts WHERE id = $1",
        rows::ACCOUNT_COLUMNS
    )))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    row.as_ref().map(rows::account).transpose()
}

#[async_trait]
impl LedgerStore for PostgresStore {
    async fn ready(&self) -> Result<()> {
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(crate::db_error)?;
        obol_core::store::migrations_ready(applied, crate::MIGRATOR.migrations.len())
    }

    fn concurrent_batches(&self) -> usize {
        // Batches lock what they touch in one global order, so they may overlap; while one
        // waits on its commit's fsync the next is already loading.
        2
    }

    async fn save_asset(&self, asset: &Asset) -> Result<()> {
        sqlx::query(
            "INSERT INTO assets (code, scale) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING",
        )
        .bind(asset.code.to_string())
        .bind(i16::from(asset.scale))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn custom_assets(&self) -> Result<Vec<Asset>> {
        let rows = sqlx::query("SELECT code, scale FROM assets ORDER BY code")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let code: String = row.try_get("code").map_err(db_error)?;
                let scale: i16 = row.try_get("scale").map_err(db_error)?;
                let scale = u8::try_from(scale).map_err(obol_core::Error::corrupt)?;
                Asset::new(&code, scale)
            })
            .collect()
    }

    async fn insert_account(&self, account: &Account) -> Result<Account> {
        sqlx::query(
            "INSERT INTO accounts (id, asset, normal_balance, debits_must_not_exceed_credits, \
             credits_must_not_exceed_debits, balance_limit, metadata, closed, created_at, owner) \
             VALUES ($1, $2, $3, $4, $5, $6::numeric, $7::jsonb, FALSE, $8, $9) \
             ON CONFLICT (id) DO NOTHING",
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
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        let (stored, _) = account_by_id(&self.pool, &account.id)
            .await?
            .ok_or_else(|| obol_core::Error::corrupt("an inserted account is missing"))?;
        Ok(stored)
    }

    async fn account(&self, id: &AccountId) -> Result<Option<(Account, Balance)>> {
        account_by_id(&self.pool, id).await
    }

    async fn close_account(&self, id: &AccountId) -> Result<Option<Account>> {
        sqlx::query("UPDATE accounts SET closed = TRUE WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(account_by_id(&self.pool, id)
            .await?
            .map(|(account, _)| account))
    }

    async fn write_batch(
        &self,
        batch: &[Submission],
        now: Timestamp,
    ) -> Result<Vec<Result<Transaction>>> {
        let mut tx = crate::begin_batch(&self.pool, batch.len()).await?;
        let mut state = load_state(&mut tx, batch).await?;
        let (results, writes) = batch::apply(&mut state, batch, now);
        persist(&mut tx, &writes).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(results)
    }

    async fn transaction(&self, id: &TransactionId) -> Result<Option<Transaction>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM transactions WHERE id = $1 AND kind <> 'failed'",
            rows::RECORD_COLUMNS
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
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
            "SELECT {} FROM holds WHERE id = $1",
            rows::HOLD_COLUMNS
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
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
            "SELECT seq, transaction_id, direction, amount::text AS amount, asset, effective_at, \
             created_at FROM entries WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(account.to_string())
        .bind(after_sequence.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(rows::history_entry).collect()
    }

    async fn posted_at(&self, account: &AccountId, at: Timestamp) -> Result<(i128, i128)> {
        // NUMERIC sums are exact, so PostgreSQL adds them up.
        let row = sqlx::query(
            "SELECT \
             COALESCE(SUM(amount) FILTER (WHERE direction = 'debit'), 0)::text AS debits, \
             COALESCE(SUM(amount) FILTER (WHERE direction = 'credit'), 0)::text AS credits \
             FROM entries WHERE account_id = $1 AND effective_at <= $2",
        )
        .bind(account.to_string())
        .bind(at.as_micros())
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        let debits: String = row.try_get("debits").map_err(db_error)?;
        let credits: String = row.try_get("credits").map_err(db_error)?;
        Ok((parse_amount(&debits)?, parse_amount(&credits)?))
    }

    async fn due_holds(&self, now: Timestamp, limit: u32) -> Result<Vec<TransactionId>> {
        let rows = sqlx::query(
            "SELECT id FROM holds WHERE status = 'pending' AND expires_at IS NOT NULL \
             AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
        )
        .bind(now.as_micros())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| TransactionId::parse(&row.try_get::<String, _>("id").map_err(db_error)?))
            .collect()
    }

    async fn asset_totals(&self) -> Result<Vec<AssetTotals>> {
        let rows = sqlx::query(
            "SELECT asset, SUM(debits_posted)::text AS dp, SUM(credits_posted)::text AS cp, \
             SUM(debits_pending)::text AS dq, SUM(credits_pending)::text AS cq \
             FROM accounts GROUP BY asset ORDER BY asset",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let field = |name: &str| -> Result<i128> {
                    parse_amount(&row.try_get::<String, _>(name).map_err(db_error)?)
                };
                Ok(AssetTotals {
                    asset: AssetCode::new(row.try_get::<String, _>("asset").map_err(db_error)?)?,
                    totals: Balance {
                        debits_posted: field("dp")?,
                        credits_posted: field("cp")?,
                        debits_pending: field("dq")?,
                        credits_pending: field("cq")?,
                    },
                })
            })
            .collect()
    }
}
