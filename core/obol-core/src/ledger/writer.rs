//! The batching writer (group commit): submissions queue, one task takes whatever is waiting,
//! applies it as one batch in one database transaction, and answers each caller only after the
//! batch is durable.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::batch::Submission;
use super::model::Transaction;
use super::stats::WriterStats;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::store::Store;

type Reply = oneshot::Sender<Vec<Result<Transaction>>>;
type Job = (Vec<Submission>, Reply);

/// Tuning for the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// The most submissions applied in one database transaction (a single request larger
    /// than this still goes in one transaction, alone).
    pub max_batch: usize,
    /// How many requests may wait in the queue before callers wait to enqueue.
    pub queue_depth: usize,
    /// How many times a batch is retried after a retryable store error (contention).
    pub retries: u32,
    /// The most batches in flight at once, capped by what the store allows
    /// ([`crate::store::LedgerStore::concurrent_batches`]): while one batch waits for its
    /// commit, the next forms and starts.
    pub concurrent_batches: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 8192,
            queue_depth: 8192,
            retries: 8,
            concurrent_batches: 4,
        }
    }
}

/// Handle to the writer task. Dropping every handle lets the task finish what is queued.
#[derive(Debug)]
pub struct BatchWriter {
    queue: mpsc::Sender<Job>,
    task: JoinHandle<()>,
    stats: Arc<WriterStats>,
}

impl BatchWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: WriterConfig) -> Self {
        let (queue, receiver) = mpsc::channel(config.queue_depth.max(1));
        let stats = Arc::new(WriterStats::default());
        let task = tokio::spawn(run(store, clock, config, receiver, stats.clone()));
        BatchWriter { queue, task, stats }
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Queues a submission and waits until its batch is durable.
    pub async fn submit(&self, submission: Submission) -> Result<Transaction> {
        self.submit_many(vec![submission])
            .await?
            .pop()
            .ok_or_else(|| Error::corrupt("the writer answered no result"))?
    }

    /// Queues several submissions as one request (they are committed in the same database
    /// transaction) and waits until it is durable; one result per submission, in order.
    pub async fn submit_many(
        &self,
        submissions: Vec<Submission>,
    ) -> Result<Vec<Result<Transaction>>> {
        if submissions.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((submissions, reply))
            .await
            .map_err(|_| Error::ShutDown)?;
        answer.await.map_err(|_| Error::ShutDown)
    }

    /// Stops taking submissions and waits until everything queued is written.
    pub async fn shutdown(self) {
        drop(self.queue);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "ledger writer task ended abnormally");
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: WriterConfig,
    mut receiver: mpsc::Receiver<Job>,
    stats: Arc<WriterStats>,
) {
    let max_batch = config.max_batch.max(1);
    let in_flight = config
        .concurrent_batches
        .min(store.concurrent_batches())
        .max(1);
    let slots = Arc::new(Semaphore::new(in_flight));
    loop {
        // Wait for a free slot first, so requests keep gathering into the next batch while
        // every slot is busy committing.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let Some(first) = receiver.recv().await else {
            break;
        };
        // Callers answered by the batch that just freed this slot are ready to send their
        // next request; letting them run first makes this batch take those requests too,
        // instead of starting with one and leaving the rest to queue behind it.
        tokio::task::yield_now().await;
        let mut batch = Batch::default();
        batch.take(first);
        while batch.submissions.len() < max_batch {
            match receiver.try_recv() {
                Ok(job) => batch.take(job),
                Err(_) => break,
            }
        }
        let (store, clock, stats) = (store.clone(), clock.clone(), stats.clone());
        tokio::spawn(async move {
            batch
                .write(store.as_ref(), clock.as_ref(), &config, &stats)
                .await;
            drop(slot);
        });
    }
    // Shutting down: wait until every batch in flight has been answered.
    let _ = slots
        .acquire_many(u32::try_from(in_flight).unwrap_or(u32::MAX))
        .await;
}

/// Requests gathered for one database transaction.
#[derive(Default)]
struct Batch {
    submissions: Vec<Submission>,
    /// Each request's reply and how many submissions it brought.
    replies: Vec<(Reply, usize)>,
}

impl Batch {
    fn take(&mut self, (submissions, reply): Job) {
        self.replies.push((reply, submissions.len()));
        self.submissions.extend(submissions);
    }

    /// Writes the batch and answers every request.
    async fn write(
        self,
        store: &dyn Store,
        clock: &dyn Clock,
        config: &WriterConfig,
        stats: &WriterStats,
    ) {
        let started = Instant::now();
        let outcome = write_with_retries(store, clock, config, &self.submissions).await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        stats.record(self.submissions.len(), micros, outcome.is_ok());
        tracing::debug!(
            batch = self.submissions.len(),
            micros,
            "ledger batch committed"
        );
        match outcome {
            Ok(results) => {
                let mut results = results.into_iter();
                for (reply, count) in self.replies {
                    // A caller that gave up waiting still had its request applied.
                    let _ = reply.send(results.by_ref().take(count).collect());
                }
            }
            Err(error) => {
                tracing::warn!(code = error.code(), %error, "ledger batch failed; nothing kept");
                for (reply, count) in self.replies {
                    let _ = reply.send(vec![Err(error.clone()); count]);
                }
            }
        }
    }
}

async fn write_with_retries(
    store: &dyn Store,
    clock: &dyn Clock,
    config: &WriterConfig,
    submissions: &[Submission],
) -> Result<Vec<Result<Transaction>>> {
    let mut attempt = 0;
    loop {
        match store.write_batch(submissions, clock.now()).await {
            Err(Error::Contention { reason }) if attempt < config.retries => {
                attempt += 1;
                tracing::debug!(attempt, %reason, "ledger batch contention; retrying");
                tokio::task::yield_now().await;
            }
            other => return other,
        }
    }
}
