//! The group-commit loop shared by this crate's writer tasks: callers queue writes, one task
//! per process takes what has queued, commits it in one go and answers each caller once that
//! commit is durable.
//!
//! A batch that collided with another process (serialization failure, deadlock, a new id taken
//! meanwhile) is tried again, unseen by the callers. A batch whose data the database refuses
//! is written one job at a time, so one bad write fails alone; any other failure (the database
//! unreachable) is every job's answer at once, with no long one-by-one replay during an outage.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use futures::FutureExt;
use obol_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};

/// How often a batch that collided with another writer is tried again.
const RETRIES: u32 = 8;

/// One caller's write and where its answer goes.
pub(crate) struct Job<W, T> {
    /// What the caller asked to write.
    pub(crate) request: W,
    /// Where the caller waits for its answer.
    pub(crate) answer: oneshot::Sender<Result<T>>,
}

/// What a writer task commits and how.
pub(crate) trait Committer: Send + Sync + 'static {
    /// One caller's write.
    type Write: Send + Sync + 'static;
    /// What a caller is told once its write is committed.
    type Answer: Send + 'static;
    /// The writer's name in errors and logs.
    const NAME: &'static str;
    /// The most writes one batch takes.
    const MAX_BATCH: usize;

    /// Commits `batch` at once: each job's own answer, or an error for the whole batch.
    fn try_batch(
        &self,
        batch: &[Job<Self::Write, Self::Answer>],
    ) -> impl Future<Output = Result<Vec<Result<Self::Answer>>>> + Send;

    /// The next batch from what waits, in queue order; what it leaves waits for the next one.
    fn next_batch(
        &self,
        waiting: &mut VecDeque<Job<Self::Write, Self::Answer>>,
    ) -> Vec<Job<Self::Write, Self::Answer>> {
        let mut batch = Vec::new();
        while batch.len() < Self::MAX_BATCH {
            match waiting.pop_front() {
                Some(job) if !job.answer.is_closed() => batch.push(job),
                Some(_) => {}
                None => break,
            }
        }
        batch
    }
}

/// The handle callers write through; the task stops when the last handle is dropped.
pub(crate) struct Writer<C: Committer> {
    jobs: mpsc::Sender<Job<C::Write, C::Answer>>,
}

impl<C: Committer> Clone for Writer<C> {
    fn clone(&self) -> Self {
        Writer {
            jobs: self.jobs.clone(),
        }
    }
}

impl<C: Committer> std::fmt::Debug for Writer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("name", &C::NAME).finish()
    }
}

impl<C: Committer> Writer<C> {
    /// Starts `committer`'s task on the current tokio runtime.
    pub(crate) fn spawn(committer: C) -> Self {
        let (jobs, queue) = mpsc::channel(4 * C::MAX_BATCH);
        tokio::spawn(run(committer, queue));
        Writer { jobs }
    }

    /// Writes `write` with the next batch; answers once it is committed (or refused alone).
    pub(crate) async fn write(&self, write: C::Write) -> Result<C::Answer> {
        let (answer, answered) = oneshot::channel();
        let stopped = || Error::unavailable(format!("the PostgreSQL {} stopped", C::NAME));
        self.jobs
            .send(Job {
                request: write,
                answer,
            })
            .await
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// The writer: takes what has queued, commits it, and again.
async fn run<C: Committer>(committer: C, mut queue: mpsc::Receiver<Job<C::Write, C::Answer>>) {
    let mut waiting = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match queue.recv().await {
                Some(job) => waiting.push_back(job),
                None => return,
            }
        }
        // Callers the last batch answered may be about to write again: letting them run
        // first puts their writes in this batch rather than the next.
        tokio::task::yield_now().await;
        while waiting.len() < C::MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => break,
            }
        }
        let batch = committer.next_batch(&mut waiting);
        if batch.is_empty() {
            continue;
        }
        // A panic fails its batch's callers (their answers are dropped), not the writer.
        if std::panic::AssertUnwindSafe(commit(&committer, batch))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!(
                writer = C::NAME,
                "a PostgreSQL writer panicked; its batch failed"
            );
        }
    }
}

/// Commits `batch`; a batch the database refuses is written one job at a time.
async fn commit<C: Committer>(committer: &C, batch: Vec<Job<C::Write, C::Answer>>) {
    let outcome = retrying(committer, &batch).await;
    match outcome {
        Err(error) if batch.len() > 1 && matches!(error, Error::InvalidRequest { .. }) => {
            tracing::warn!(writer = C::NAME, %error, size = batch.len(), "batch refused; writing its jobs one by one");
            for job in batch {
                let alone = vec![job];
                let outcome = retrying(committer, &alone).await;
                answer(alone, outcome);
            }
        }
        outcome => answer(batch, outcome),
    }
}

/// `batch` tried until it commits, fails for good, or has collided too often.
async fn retrying<C: Committer>(
    committer: &C,
    batch: &[Job<C::Write, C::Answer>],
) -> Result<Vec<Result<C::Answer>>> {
    let mut attempt = 0;
    loop {
        match committer.try_batch(batch).await {
            Err(Error::Contention { .. }) if attempt < RETRIES => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(u64::from(attempt))).await;
            }
            other => return other,
        }
    }
}

/// Tells each caller its answer (the batch's error when the batch failed as a whole).
fn answer<W, T>(batch: Vec<Job<W, T>>, outcome: Result<Vec<Result<T>>>) {
    match outcome {
        Ok(answers) => {
            for (job, answer) in batch.into_iter().zip(answers) {
                let _ = job.answer.send(answer);
            }
        }
        Err(error) => {
            for job in batch {
                let _ = job.answer.send(Err(error.clone()));
            }
        }
    }
}
