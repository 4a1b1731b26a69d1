//! The batching writer (group commit): submissions queue, one task takes whatever is waiting,
//! applies it as one batch in one database transaction, and answers each caller only after the
//! batch is durable.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::batch::Submission;
use super::model::Transaction;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::store::Store;

type Reply = oneshot::Sender<Result<Transaction>>;

/// Tuning for the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// The most submissions applied in one database transaction.
    pub max_batch: usize,
    /// How many submissions may wait in the queue before callers wait to enqueue.
    pub queue_depth: usize,
    /// How many times a batch is retried after a retryable store error (contention).
    pub retries: u32,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 1024,
            queue_depth: 8192,
            retries: 8,
        }
    }
}

/// Handle to the writer task. Dropping every handle lets the task finish what is queued.
#[derive(Debug)]
pub struct BatchWriter {
    queue: mpsc::Sender<(Submission, Reply)>,
    task: JoinHandle<()>,
}

impl BatchWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: WriterConfig) -> Self {
        let (queue, receiver) = mpsc::channel(config.queue_depth.max(1));
        let task = tokio::spawn(run(store, clock, config, receiver));
        BatchWriter { queue, task }
    }

    /// Queues a submission and waits until its batch is durable.
    pub async fn submit(&self, submission: Submission) -> Result<Transaction> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((submission, reply))
            .await
            .map_err(|_| Error::ShutDown)?;
        answer.await.map_err(|_| Error::ShutDown)?
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
    mut receiver: mpsc::Receiver<(Submission, Reply)>,
) {
    let max_batch = config.max_batch.max(1);
    let mut jobs: Vec<(Submission, Reply)> = Vec::with_capacity(max_batch);
    loop {
        if receiver.recv_many(&mut jobs, max_batch).await == 0 {
            break;
        }
        let (submissions, replies): (Vec<_>, Vec<_>) = jobs.drain(..).unzip();
        let started = Instant::now();
        let outcome =
            write_with_retries(store.as_ref(), clock.as_ref(), &config, &submissions).await;
        tracing::debug!(
            batch = submissions.len(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "ledger batch committed"
        );
        match outcome {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that gave up waiting still had its request applied.
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                tracing::warn!(code = error.code(), %error, "ledger batch failed; nothing kept");
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
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
