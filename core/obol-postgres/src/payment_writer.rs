//! Group commit for payment writes: every payment write of this process (with its ledger
//! commands, refunds, disputes and outbox events) goes to one writer task, which commits what
//! has queued up in one transaction and answers each caller once that transaction is durable.
//!
//! Inside a batch each write stands alone: its expected versions are checked against the rows
//! it locked, and its ledger commands are applied on a copy of the batch's state, so a write
//! that fails (a version that moved, insufficient funds) fails by itself and its neighbours
//! commit. Rows are locked in one fixed order (payments, children, then the ledger's
//! transactions, holds and accounts, each sorted by id, then the idempotency keys the writes
//! answer, each one request's), so several processes on one database
//! wait for each other; a serialization failure, a deadlock (possible only between inserts of
//! the same new ids, which keep the callers' order) or a new id taken by another process
//! retries the batch, unseen by the callers. A write whose caller has gone before its batch
//! starts is dropped; once its batch has started, it commits (the caller was told it failed
//! and its retry under the same key finds it). Hot accounts (a
//! merchant's balance, clearing, fees) get one row write per batch, not one per payment.
//!
//! Readers page events by `seq`, so events must become visible in `seq` order whichever
//! process wrote them: a batch takes the outbox's lock (a transaction-scoped advisory lock
//! per schema, after the accounts in the lock order) before it inserts its events and holds
//! it to the commit, so a reader paging by `seq` never skips an event committed late. (An
//! account's entries already are: they are inserted while the account is locked.)

use std::collections::{HashMap, HashSet, VecDeque};

use obol_core::ledger::batch::{self, BatchWrites};
use obol_core::payments::{Child, EncodedWrite, Event, PaymentWrite};
use obol_core::{Error, Result, Timestamp};
use sqlx::{PgConnection, PgPool, Row};

use crate::db_error;
use crate::group_commit::{self, Committer, Writer};
use crate::ledger::{load_state, persist};

/// One caller's payment write (its rows' JSON encoded on the caller's task) and the time it
/// was made.
pub(crate) struct Stamped {
    encoded: EncodedWrite,
    now: Timestamp,
}

impl Stamped {
    fn write(&self) -> &PaymentWrite {
        &self.encoded.write
    }
}

/// A queued payment write.
type Job = group_commit::Job<Stamped, ()>;

/// The handle callers write payments through.
#[derive(Debug, Clone)]
pub(crate) struct PaymentWriter {
    writer: Writer<PaymentCommitter>,
}

impl PaymentWriter {
    /// Starts the writer task on the current tokio runtime. (One: batches in flight at once
    /// would only wait for each other on the hot accounts' rows; measured slower.)
    pub(crate) fn spawn(pool: PgPool) -> Self {
        PaymentWriter {
            writer: Writer::spawn(PaymentCommitter { pool }),
        }
    }

    /// Writes `write` with the next batch; answers once it is committed (or refused alone).
    pub(crate) async fn write(&self, write: PaymentWrite, now: Timestamp) -> Result<()> {
        let encoded = EncodedWrite::of(write)?;
        self.writer.write(Stamped { encoded, now }).await
    }
}

/// Commits payment writes on `pool`.
struct PaymentCommitter {
    pool: PgPool,
}

impl Committer for PaymentCommitter {
    type Write = Stamped;
    type Answer = ();
    const NAME: &'static str = "payment writer";
    const MAX_BATCH: usize = 256;

    async fn try_batch(&self, batch: &[Job]) -> Result<Vec<Result<()>>> {
        try_batch(&self.pool, batch).await
    }

    /// Queued writes in order, at most one per payment and per refund or dispute (a second
    /// write of the same row was computed from the first one's result, so it waits for the
    /// next batch).
    fn next_batch(&self, waiting: &mut VecDeque<Job>) -> Vec<Job> {
        let mut payments = HashSet::new();
        let mut children = HashSet::new();
        let mut batch = Vec::new();
        let mut later = VecDeque::new();
        while let Some(job) = waiting.pop_front() {
            // Nobody waits for it any more (a request that timed out): not written.
            if job.answer.is_closed() {
                continue;
            }
            let write = job.request.write();
            let fresh = !payments.contains(&write.payment.id)
                && write
                    .children
                    .iter()
                    .all(|c| !children.contains(c.child.id()));
            // A write that waits keeps its rows for the next batch, so writes of one row are
            // committed in the order they were queued.
            payments.insert(write.payment.id.clone());
            children.extend(write.children.iter().map(|c| c.child.id().to_owned()));
            if fresh && batch.len() < Self::MAX_BATCH {
                batch.push(job);
            } else {
                later.push_back(job);
            }
        }
        *waiting = later;
        batch
    }
}

/// The batch in one transaction: each job's own answer, or an error for the whole batch.
async fn try_batch(pool: &PgPool, batch: &[Job]) -> Result<Vec<Result<()>>> {
    let mut tx = crate::begin_batch(pool, batch.len()).await?;
    let mut answers: Vec<Result<()>> = batch.iter().map(|_| Ok(())).collect();
    check_versions(&mut tx, batch, &mut answers).await?;

    // The ledger: every live job's commands read (and locked) at once, then applied job by
    // job on the shared state; a job whose commands fail leaves the state as it found it.
    let commands: Vec<_> = live(batch, &answers)
        .flat_map(|(_, job)| job.request.write().ledger.iter().cloned())
        .collect();
    if !commands.is_empty() {
        let mut state = load_state(&mut tx, &commands).await?;
        let mut writes = BatchWrites::default();
        for (index, job) in batch.iter().enumerate() {
            if answers[index].is_err() || job.request.write().ledger.is_empty() {
                continue;
            }
            let savepoint = state.savepoint(&job.request.write().ledger);
            let (results, done) =
                batch::apply(&mut state, &job.request.write().ledger, job.request.now);
            match batch::all_committed(results) {
                Ok(()) => writes.absorb(done),
                Err(error) => {
                    state.roll_back(savepoint);
                    answers[index] = Err(error);
                }
            }
        }
        persist(&mut tx, &writes).await?;
    }

    let written: Vec<&EncodedWrite> = live(batch, &answers)
        .map(|(_, job)| &job.request.encoded)
        .collect();
    save_payments(&mut tx, &written).await?;
    save_children(&mut tx, &written).await?;
    save_answers(&mut tx, &written).await?;
    let events: Vec<(&Event, &str)> = written
        .iter()
        .flat_map(|w| {
            w.write
                .events
                .iter()
                .zip(w.events.iter().map(String::as_str))
        })
        .collect();
    save_events(&mut tx, &events).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(answers)
}

/// The jobs not refused yet, with their index.
fn live<'b>(
    batch: &'b [Job],
    answers: &'b [Result<()>],
) -> impl Iterator<Item = (usize, &'b Job)> + 'b {
    batch
        .iter()
        .enumerate()
        .filter(move |(index, _)| answers[*index].is_ok())
}

/// Locks the batch's payments, then its refunds and disputes (each sorted by id), and
/// refuses each job whose expected versions are not what is stored.
async fn check_versions(
    tx: &mut PgConnection,
    batch: &[Job],
    answers: &mut [Result<()>],
) -> Result<()> {
    let ids: Vec<String> = batch
        .iter()
        .map(|j| j.request.write().payment.id.to_string())
        .collect();
    let stored = locked_versions(tx, "payments", &ids).await?;
    for (index, job) in batch.iter().enumerate() {
        let id = job.request.write().payment.id.to_string();
        if stored.get(&id).copied() != job.request.write().expected_version {
            answers[index] = Err(Error::Contention {
                reason: "the payment changed concurrently".into(),
            });
        }
    }
    let children: Vec<String> = live(batch, answers)
        .flat_map(|(_, job)| {
            job.request
                .write()
                .children
                .iter()
                .map(|c| c.child.id().to_owned())
        })
        .collect();
    if children.is_empty() {
        return Ok(());
    }
    let stored = locked_versions(tx, "payment_children", &children).await?;
    for (index, job) in batch.iter().enumerate() {
        let moved = job
            .request
            .write()
            .children
            .iter()
            .any(|c| stored.get(c.child.id()).copied() != c.expected_version);
        if answers[index].is_ok() && moved {
            answers[index] = Err(Error::Contention {
                reason: "a refund or dispute changed concurrently".into(),
            });
        }
    }
    Ok(())
}

/// The stored versions of rows `ids` of `table`, locked in id order.
async fn locked_versions(
    tx: &mut PgConnection,
    table: &str,
    ids: &[String],
) -> Result<HashMap<String, i64>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, version FROM {table} WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    )))
    .bind(ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<String, _>("id").map_err(db_error)?,
                row.try_get::<i64, _>("version").map_err(db_error)?,
            ))
        })
        .collect()
}

/// New payments inserted (an id another writer took first is a collision, retried and then
/// refused by the version check), changed ones updated, each kind in one statement.
async fn save_payments(tx: &mut PgConnection, writes: &[&EncodedWrite]) -> Result<()> {
    let (new, changed): (Vec<&EncodedWrite>, Vec<&EncodedWrite>) = writes
        .iter()
        .copied()
        .partition(|w| w.write.expected_version.is_none());
    if !new.is_empty() {
        let columns = PaymentColumns::of(&new);
        columns
            .bind(sqlx::query(
                "INSERT INTO payments (id, status, version, updated_at, provider, reference, \
                 body, merchant, customer, created_at, mode) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], \
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int8[], \
                 $11::text[])",
            ))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    if !changed.is_empty() {
        // Merchant, creation time and mode never change. The ids are repeated as `= ANY`, an
        // index condition, so the update never scans the table (as in `ledger::PERSIST`).
        let columns = PaymentColumns::of(&changed);
        columns
            .bind(sqlx::query(
                "UPDATE payments SET status = v.status, version = v.version, \
                 updated_at = v.updated_at, provider = v.provider, reference = v.reference, \
                 body = v.body, customer = v.customer \
                 FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], \
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::int8[], $11::text[]) \
                 AS v(id, status, version, updated_at, provider, reference, body, merchant, \
                 customer, created_at, mode) \
                 WHERE payments.id = v.id AND payments.id = ANY($1)",
            ))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// The columns of payment rows, one array per column.
#[derive(Default)]
struct PaymentColumns<'a> {
    id: Vec<String>,
    status: Vec<&'static str>,
    version: Vec<i64>,
    updated_at: Vec<i64>,
    provider: Vec<Option<String>>,
    reference: Vec<Option<String>>,
    body: Vec<&'a str>,
    merchant: Vec<&'a str>,
    customer: Vec<Option<String>>,
    created_at: Vec<i64>,
    mode: Vec<&'static str>,
}

impl<'a> PaymentColumns<'a> {
    /// Binds the columns as `$1`…`$11`, in table order.
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.id)
            .bind(&self.status)
            .bind(&self.version)
            .bind(&self.updated_at)
            .bind(&self.provider)
            .bind(&self.reference)
            .bind(&self.body)
            .bind(&self.merchant)
            .bind(&self.customer)
            .bind(&self.created_at)
            .bind(&self.mode)
    }

    fn of(writes: &[&'a EncodedWrite]) -> Self {
        let mut columns = PaymentColumns::default();
        for encoded in writes {
            let payment = &encoded.write.payment;
            columns.id.push(payment.id.to_string());
            columns.status.push(payment.state.status.as_str());
            columns.version.push(payment.version);
            columns.updated_at.push(payment.updated_at.as_micros());
            columns.provider.push(payment.provider.clone());
            columns.reference.push(payment.provider_reference.clone());
            columns.body.push(&encoded.payment);
            columns.merchant.push(payment.merchant.as_str());
            columns
                .customer
                .push(payment.customer.as_ref().map(ToString::to_string));
            columns.created_at.push(payment.created_at.as_micros());
            columns.mode.push(payment.mode.as_str());
        }
        columns
    }
}

/// Refunds and disputes: new ones inserted in order (their `seq` orders a payment's
/// children), changed ones updated.
async fn save_children(tx: &mut PgConnection, writes: &[&EncodedWrite]) -> Result<()> {
    let all: Vec<(&Child, &str, bool)> = writes
        .iter()
        .flat_map(|w| w.write.children.iter().zip(&w.children))
        .map(|(c, body)| (&c.child, body.as_str(), c.expected_version.is_none()))
        .collect();
    for is_new in [true, false] {
        let (rows, bodies): (Vec<&Child>, Vec<&str>) = all
            .iter()
            .filter(|(_, _, new)| *new == is_new)
            .map(|(c, body, _)| (*c, *body))
            .unzip();
        if rows.is_empty() {
            continue;
        }
        let statement = if is_new {
            "INSERT INTO payment_children (id, payment_id, kind, status, version, updated_at, body) \
             SELECT id, payment_id, kind, status, version, updated_at, body \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], \
             $7::text[]) WITH ORDINALITY \
             AS v(id, payment_id, kind, status, version, updated_at, body, n) ORDER BY n"
        } else {
            "UPDATE payment_children SET status = v.status, version = v.version, \
             updated_at = v.updated_at, body = v.body \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], \
             $7::text[]) AS v(id, payment_id, kind, status, version, updated_at, body) \
             WHERE payment_children.id = v.id AND payment_children.id = ANY($1)"
        };
        sqlx::query(statement)
            .bind(rows.iter().map(|c| c.id().to_owned()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|c| c.payment_id().to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|c| c.kind()).collect::<Vec<_>>())
            .bind(rows.iter().map(|c| c.status()).collect::<Vec<_>>())
            .bind(rows.iter().map(|c| c.version()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|c| c.updated_at().as_micros())
                    .collect::<Vec<_>>(),
            )
            .bind(&bodies)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// The idempotency answers the writes give their requests, in one statement; a key answered
/// already keeps its answer (the first stands). A key is one request's, so no other batch
/// locks its row, except after a takeover (the first holder's lease ran out while it still
/// ran): then a deadlock between two such pairs is possible, and retried like any other.
async fn save_answers(tx: &mut PgConnection, writes: &[&EncodedWrite]) -> Result<()> {
    let (keys, responses): (Vec<&str>, Vec<&str>) = writes
        .iter()
        .filter_map(|w| w.write.answer.as_ref())
        .map(|a| (a.key.as_str(), a.response.as_str()))
        .unzip();
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE idempotency_keys k SET response = a.response \
         FROM UNNEST($1::text[], $2::text[]) AS a(key, response) \
         WHERE k.key = a.key AND k.key = ANY($1) AND k.response IS NULL",
    )
    .bind(&keys)
    .bind(&responses)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Outbox events, in order (their `seq` is the order webhooks are fanned out in). The same
/// statement first takes the outbox's lock, held to the commit: events are inserted (their
/// `seq` drawn) by one transaction at a time per schema, so they become visible in `seq`
/// order. (The sort pulls every row, and so the lock, before the first row is inserted.)
async fn save_events(tx: &mut PgConnection, events: &[(&Event, &str)]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH outbox AS MATERIALIZED ( \
           SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.payment_events'))) \
         INSERT INTO payment_events (id, kind, payment_id, body, created_at, merchant, mode) \
         SELECT id, kind, payment_id, body, created_at, merchant, mode \
         FROM outbox, UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], \
         $6::text[], $7::text[]) WITH ORDINALITY \
         AS v(id, kind, payment_id, body, created_at, merchant, mode, n) ORDER BY n",
    )
    .bind(
        events
            .iter()
            .map(|(e, _)| e.id.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|(e, _)| e.kind.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|(e, _)| e.payment_id.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|(_, body)| *body).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|(e, _)| e.created_at.as_micros())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|(e, _)| e.payment.merchant.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|(e, _)| e.payment.mode.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    Ok(())
}
