//! The write path: one thread owning one rusqlite connection runs every hot write (ledger
//! batches, payment writes, idempotency keys, the webhook pipeline) synchronously with
//! cached statements, and commits whatever is queued together (group commit). Each job runs
//! in its own savepoint, so a job that fails leaves nothing behind while the others in the
//! same commit stand; no job hears its result before the commit that holds it is durable.
//!
//! Why a thread and not the async driver: with sqlx every statement is a hand-off to the
//! connection's worker thread and back, and a payment is ~28 statements; measured, that
//! hand-off, not SQLite, was the cost (see the issue 5 notes).

use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use obol_core::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

/// Jobs committed together at most.
const GROUP: usize = 256;
/// How often the WAL is copied back into the database file, off the writer thread.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Delivers a job's result once its commit's fate is known.
type Deliver = Box<dyn FnOnce(Result<()>) + Send>;
/// A job: runs on the connection (or, given none, is refused without running), says
/// whether it succeeded, and how to deliver its result.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Deliver) + Send>;

/// The writer thread and the queue to it.
#[derive(Debug)]
pub(crate) struct Writer {
    jobs: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Dropping it stops the checkpointer.
    checkpoints: Mutex<Option<Sender<()>>>,
}

/// Maps a rusqlite error like the sqlx one: busy/locked is contention (retryable), anything
/// else the store being unavailable.
pub(crate) fn sql_error(error: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(failure, _) = &error
        && matches!(
            failure.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        )
    {
        return Error::Contention {
            reason: "database is busy".into(),
        };
    }
    tracing::warn!(%error, "SQLite error");
    Error::unavailable(format!("SQLite: {error}"))
}

impl Writer {
    /// Opens the connection on `path` (already created and migrated) and starts the thread.
    pub(crate) fn open(path: &Path, durable: bool) -> Result<Self> {
        let connection = connect(path, durable)?;
        // Checkpoints run on their own thread, so a commit mostly only appends to the WAL.
        // That thread races the writer and may never catch the WAL's end; now and then the
        // writer finishes the job between two commits (little is left to copy), so the WAL
        // starts over instead of growing without end.
        connection
            .execute_batch(
                "PRAGMA wal_autocheckpoint = 4000; PRAGMA journal_size_limit = 67108864;",
            )
            .map_err(sql_error)?;
        connection.set_prepared_statement_cache_capacity(128);
        let (jobs, queue) = channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("obol-sqlite-writer".into())
            .spawn(move || run(&connection, &queue))
            .map_err(|e| Error::unavailable(format!("cannot start the SQLite writer: {e}")))?;
        let checkpointer = connect(path, durable)?;
        let (checkpoints, stop) = channel::<()>();
        std::thread::Builder::new()
            .name("obol-sqlite-checkpoint".into())
            .spawn(move || checkpoint(&checkpointer, &stop))
            .map_err(|e| Error::unavailable(format!("cannot start the checkpointer: {e}")))?;
        Ok(Writer {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
            checkpoints: Mutex::new(Some(checkpoints)),
        })
    }

    /// Runs `work` in the next group commit and answers once that commit is durable (or
    /// with the error that stopped `work`, which then left nothing behind).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tell, hear) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let result = match connection {
                Some(connection) => work(connection),
                None => Err(Error::unavailable("the write was not run")),
            };
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |commit| {
                let _ = tell.send(commit.and(result));
            });
            (ok, deliver)
        });
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok()),
            Err(_) => false,
        };
        if !sent {
            return Err(Error::ShutDown);
        }
        hear.await
            .map_err(|_| Error::unavailable("the SQLite writer stopped"))?
    }

    /// Stops taking jobs, lets the queued ones commit and waits for the thread.
    pub(crate) async fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        if let Ok(mut checkpoints) = self.checkpoints.lock() {
            checkpoints.take();
        }
    }
}

/// A connection to `path` with the store's settings.
fn connect(path: &Path, durable: bool) -> Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_error)?;
    connection
        .busy_timeout(Duration::from_secs(10))
        .map_err(sql_error)?;
    let synchronous = if durable { "FULL" } else { "OFF" };
    connection
        .execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
             PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
             PRAGMA cache_size = -65536;"
        ))
        .map_err(sql_error)?;
    Ok(connection)
}

/// Copies committed WAL frames into the database file now and then (PASSIVE: it never
/// blocks the writer or readers), until told to stop; a last pass on the way out.
fn checkpoint(connection: &Connection, stop: &Receiver<()>) {
    loop {
        let stopping = !matches!(
            stop.recv_timeout(CHECKPOINT_EVERY),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::debug!(%error, "WAL checkpoint skipped");
        }
        if stopping {
            return;
        }
    }
}

/// The thread: take what is queued, run each job in a savepoint, commit, deliver.
fn run(connection: &Connection, queue: &Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let delivers = commit_group(connection, group);
        for (deliver, outcome) in delivers {
            deliver(outcome);
        }
    }
    tracing::debug!("SQLite writer stopped");
}

fn commit_group(connection: &Connection, group: Vec<Job>) -> Vec<(Deliver, Result<()>)> {
    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        // Nothing ran: every job hears the same (retryable) error.
        let error = sql_error(error);
        return group
            .into_iter()
            .map(|job| (job(None).1, Err(error.clone())))
            .collect();
    }
    let mut delivers = Vec::with_capacity(group.len());
    for job in group {
        if let Err(error) = connection.execute_batch("SAVEPOINT job") {
            delivers.push((job(None).1, Err(sql_error(error))));
            continue;
        }
        let (ok, deliver) = job(Some(connection));
        let end = match ok {
            true => connection.execute_batch("RELEASE job"),
            false => connection.execute_batch("ROLLBACK TO job; RELEASE job"),
        };
        delivers.push((deliver, end.map_err(sql_error)));
    }
    match connection.execute_batch("COMMIT") {
        Ok(()) => delivers,
        Err(error) => {
            // Whatever ran is gone: every job of the group hears it.
            let error = sql_error(error);
            let _ = connection.execute_batch("ROLLBACK");
            delivers
                .into_iter()
                .map(|(deliver, _)| (deliver, Err(error.clone())))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn writer(dir: &tempfile::TempDir) -> Writer {
        let path = dir.path().join("w.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        Writer::open(&path, true).unwrap()
    }

    fn count(dir: &tempfile::TempDir) -> i64 {
        let connection = Connection::open(dir.path().join("w.db")).unwrap();
        connection
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_job_leaves_nothing_and_its_group_still_commits() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Arc::new(writer(&dir));
        let mut tasks = Vec::new();
        for n in 0..200_i64 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                writer
                    .run(move |conn| {
                        conn.execute("INSERT INTO t (n) VALUES (?)", [n])
                            .map_err(sql_error)?;
                        match n % 2 {
                            0 => Ok(n),
                            _ => Err(Error::InvalidRequest {
                                reason: "odd".into(),
                            }),
                        }
                    })
                    .await
            }));
        }
        for (n, task) in tasks.into_iter().enumerate() {
            let result = task.await.unwrap();
            assert_eq!(result.is_ok(), n % 2 == 0, "job {n}: {result:?}");
        }
        assert_eq!(count(&dir), 100, "only the successful jobs' rows are there");
        writer.close().await;
        assert_eq!(writer.run(|_| Ok(())).await, Err(Error::ShutDown));
    }

    #[tokio::test]
    async fn a_constraint_failure_is_the_jobs_alone() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir);
        let insert = |n: i64| {
            move |conn: &Connection| {
                conn.execute("INSERT INTO t (n) VALUES (?)", [n])
                    .map(drop)
                    .map_err(sql_error)
            }
        };
        writer.run(insert(1)).await.unwrap();
        assert!(writer.run(insert(1)).await.is_err(), "duplicate key");
        writer.run(insert(2)).await.unwrap();
        assert_eq!(count(&dir), 2);
    }
}
