//! Idempotency keys on PostgreSQL. New keys are claimed and answers recorded by a
//! group-committing writer task: one statement and one commit for everything that queued.

use std::collections::{HashSet, VecDeque};

use async_trait::async_trait;
use obol_core::idempotency::Claim;
use obol_core::{IdempotencyStore, Result, Timestamp};
use sqlx::{PgPool, Row};

use crate::group_commit::{Committer, Job, Writer};
use crate::{PostgresStore, db_error};

/// A write to the idempotency table that can share a commit with others.
#[derive(Debug)]
pub(crate) enum KeyWrite {
    /// Claim a key nobody holds (answers whether it was claimed).
    Claim {
        /// The caller's key, already scoped to its tenant.
        key: String,
        /// The hash of the request the key was sent with.
        request_hash: String,
        /// Until when the claim holds.
        lease_until: Timestamp,
        /// When it was claimed.
        now: Timestamp,
    },
    /// Record the answer to a claimed key (answers true).
    Complete {
        /// The claimed key.
        key: String,
        /// The answer, as stored JSON.
        response: String,
    },
}

/// The handle claims and completions go through.
pub(crate) type KeyWriter = Writer<KeyCommitter>;

/// Commits idempotency claims and completions on `pool`.
pub(crate) struct KeyCommitter {
    /// Where the keys live.
    pub(crate) pool: PgPool,
}

impl Committer for KeyCommitter {
    type Write = KeyWrite;
    type Answer = bool;
    const NAME: &'static str = "idempotency writer";
    const MAX_BATCH: usize = 512;

    /// What waits, in order; a claim whose caller has gone is dropped, but an answer is
    /// recorded even then: its work is done, and a retry must find the answer rather than an
    /// unanswered key (and run the work again once its lease ends).
    fn next_batch(&self, waiting: &mut VecDeque<Job<KeyWrite, bool>>) -> Vec<Job<KeyWrite, bool>> {
        let take = waiting.len().min(Self::MAX_BATCH);
        waiting
            .drain(..take)
            .filter(|job| {
                matches!(job.request, KeyWrite::Complete { .. }) || !job.answer.is_closed()
            })
            .collect()
    }

    /// One statement: the new keys inserted (in key order, so two processes inserting the
    /// same keys wait rather than deadlock) and the answers recorded. A key claimed twice in
    /// one batch goes in once; the second claimant is told it was not claimed and reads it.
    async fn try_batch(&self, batch: &[Job<KeyWrite, bool>]) -> Result<Vec<Result<bool>>> {
        let mut claims = Claims::default();
        let mut seen = HashSet::new();
        let (mut done_keys, mut responses) = (Vec::new(), Vec::new());
        for job in batch {
            match &job.request {
                KeyWrite::Claim {
                    key,
                    request_hash,
                    lease_until,
                    now,
                } if seen.insert(key.as_str()) => {
                    claims.keys.push(key.as_str());
                    claims.hashes.push(request_hash.as_str());
                    claims.leases.push(lease_until.as_micros());
                    claims.times.push(now.as_micros());
                }
                KeyWrite::Claim { .. } => {}
                KeyWrite::Complete { key, response } => {
                    done_keys.push(key.as_str());
                    responses.push(response.as_str());
                }
            }
        }
        let claimed: Vec<String> = sqlx::query_scalar(
            "WITH claimed AS ( \
               INSERT INTO idempotency_keys (key, request_hash, lease_until, claimed_at) \
               SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[]) \
               ORDER BY 1 ON CONFLICT (key) DO NOTHING RETURNING key), \
             completed AS ( \
               UPDATE idempotency_keys k SET response = c.response \
               FROM UNNEST($5::text[], $6::text[]) AS c(key, response) \
               WHERE k.key = c.key AND k.key = ANY($5)) \
             SELECT key FROM claimed",
        )
        .bind(&claims.keys)
        .bind(&claims.hashes)
        .bind(&claims.leases)
        .bind(&claims.times)
        .bind(&done_keys)
        .bind(&responses)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let claimed: HashSet<&str> = claimed.iter().map(String::as_str).collect();
        let mut first = HashSet::new();
        Ok(batch
            .iter()
            .map(|job| match &job.request {
                KeyWrite::Claim { key, .. } => {
                    Ok(claimed.contains(key.as_str()) && first.insert(key.as_str()))
                }
                KeyWrite::Complete { .. } => Ok(true),
            })
            .collect())
    }
}

/// New keys to insert, column by column.
#[derive(Default)]
struct Claims<'a> {
    keys: Vec<&'a str>,
    hashes: Vec<&'a str>,
    leases: Vec<i64>,
    times: Vec<i64>,
}

#[async_trait]
impl IdempotencyStore for PostgresStore {
    async fn claim_key(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Claim> {
        // A new key (the common case) is claimed with the writer's next batch.
        let claimed = self
            .keys
            .write(KeyWrite::Claim {
                key: key.to_owned(),
                request_hash: request_hash.to_owned(),
                lease_until,
                now,
            })
            .await?;
        if claimed {
            return Ok(Claim::first(now));
        }
        // The key exists: read it. It may be released between the insert and the read, so a
        // read that finds nothing tries again.
        for _ in 0..3 {
            if let Some(claim) = self
                .claim_existing(key, request_hash, now, lease_until)
                .await?
            {
                return Ok(claim);
            }
        }
        Err(obol_core::Error::Contention {
            reason: "the idempotency key was claimed and released concurrently".into(),
        })
    }

    async fn complete_key(&self, key: &str, response: &str) -> Result<()> {
        self.keys
            .write(KeyWrite::Complete {
                key: key.to_owned(),
                response: response.to_owned(),
            })
            .await?;
        Ok(())
    }

    async fn release_key(&self, key: &str) -> Result<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET lease_until = 0 WHERE key = $1 AND response IS NULL",
        )
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

impl PostgresStore {
    /// Claims `key` when it is free again, or reads it and renews its lease when the claim is
    /// still this request's to start, in one transaction; `None` when the key vanished between
    /// the insert and the read.
    async fn claim_existing(
        &self,
        key: &str,
        request_hash: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Claim>> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (key, request_hash, lease_until, claimed_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(request_hash)
        .bind(lease_until.as_micros())
        .bind(now.as_micros())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        let claim = if inserted == 1 {
            Claim::first(now)
        } else {
            let Some(row) = sqlx::query(
                "SELECT request_hash, response, lease_until, claimed_at FROM idempotency_keys \
                 WHERE key = $1 FOR UPDATE",
            )
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?
            else {
                return Ok(None);
            };
            let claim = Claim::of_existing(
                &row.try_get::<String, _>("request_hash").map_err(db_error)?,
                row.try_get("response").map_err(db_error)?,
                Timestamp::from_micros(row.try_get("lease_until").map_err(db_error)?),
                row.try_get::<Option<i64>, _>("claimed_at")
                    .map_err(db_error)?
                    .map(Timestamp::from_micros),
                request_hash,
                now,
            );
            if matches!(claim, Claim::Started { .. }) {
                sqlx::query("UPDATE idempotency_keys SET lease_until = $1 WHERE key = $2")
                    .bind(lease_until.as_micros())
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            claim
        };
        tx.commit().await.map_err(db_error)?;
        Ok(Some(claim))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    fn job(request: KeyWrite, gone: bool) -> Job<KeyWrite, bool> {
        let (answer, answered) = oneshot::channel();
        if gone {
            drop(answered);
        } else {
            std::mem::forget(answered);
        }
        Job { request, answer }
    }

    #[tokio::test]
    async fn an_answer_is_recorded_after_its_caller_has_gone_and_a_claim_is_not() {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://unused")
            .unwrap();
        let committer = KeyCommitter { pool };
        let now = Timestamp::from_micros(1);
        let claim = |key: &str| KeyWrite::Claim {
            key: key.into(),
            request_hash: "h".into(),
            lease_until: now,
            now,
        };
        let complete = |key: &str| KeyWrite::Complete {
            key: key.into(),
            response: "{}".into(),
        };
        let mut waiting = VecDeque::from([
            job(claim("gone-claim"), true),
            job(complete("gone-answer"), true),
            job(claim("waiting-claim"), false),
        ]);
        let batch = committer.next_batch(&mut waiting);
        let keys: Vec<&str> = batch
            .iter()
            .map(|job| match &job.request {
                KeyWrite::Claim { key, .. } | KeyWrite::Complete { key, .. } => key.as_str(),
            })
            .collect();
        assert_eq!(keys, ["gone-answer", "waiting-claim"]);
        assert!(waiting.is_empty());
    }
}
