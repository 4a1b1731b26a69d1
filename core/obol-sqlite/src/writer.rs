//! The write path: one thread owning one rusqlite connection runs every hot write (ledger
//! batches, payment writes, idempotency keys, the webhook pipeline) synchronously with
//! cached statements, and commits whatever is queued together (group commit). Each job runs
//! in its own savepoint, so a job that fails leaves nothing behind while the others in the
//! same commit stand.
//!
//! Durability is pipelined: the writer commits a group without waiting for the disk and
//! hands it to a second thread, the syncer, which makes the WAL durable (one `fdatasync` for
//! every group committed since its last) and only then answers the group's jobs. So the
//! writer runs the next group while the last one's sync is in flight; measured, the commit's
//! sync had been more than half of the writer's time. No job hears its result before its
//! commit is durable; another connection may read a committed group during that sync (a few
//! milliseconds), and a power loss in that window takes it back, as it takes back any commit
//! nobody was told of. After a failed sync the store stops writing (the kernel may have
//! dropped the pages), so nothing later can be acknowledged on top of a lost write.
//!
//! Why a thread and not the async driver: with sqlx every statement is a hand-off to the
//! connection's worker thread and back, and a payment is ~28 statements; measured, that
//! hand-off, not SQLite, was the cost (see the issue 5 notes).

use std::cell::Cell;
use std::ffi::c_int;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use obol_core::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

/// Jobs committed together at most.
const GROUP: usize = 256;
/// How often the WAL is copied back into the database file, off the writer thread.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL frames past which the writer finishes a checkpoint itself, so the WAL starts over.
/// Measured under load: 8,000 made rarer but longer stalls (p99 47 ms against 39 ms), and
/// 2,000 cost a sixth of the throughput.
const CHECKPOINT_AT_FRAMES: c_int = 4000;

/// Delivers a job's result once its commit's fate is known.
type Deliver = Box<dyn FnOnce(Result<()>) + Send>;
/// A job: runs on the connection (or, given none, is refused without running), says
/// whether it succeeded, and how to deliver its result.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Deliver) + Send>;
/// A committed group's answers, waiting for the sync that makes them durable.
type Answers = Vec<(Deliver, Result<()>)>;

thread_local! {
    /// Frames in the WAL after the writer's last commit (set by the WAL hook, which runs on
    /// the writer thread during the commit).
    static WAL_FRAMES: Cell<c_int> = const { Cell::new(0) };
}

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
    /// A durable writer answers each job once its commit is synced to disk; one that is
    /// not (a temporary store) answers after the commit.
    pub(crate) fn open(path: &Path, durable: bool) -> Result<Self> {
        Self::start(path, durable.then(|| wal_path(path)))
    }

    /// Starts the writer; given a WAL file to sync, it answers each job after that sync.
    fn start(path: &Path, wal: Option<PathBuf>) -> Result<Self> {
        let durable = wal.is_some();
        // The writer's commits do not sync: the syncer does, off this thread.
        let connection = connect(path, false)?;
        connection
            .execute_batch("PRAGMA journal_size_limit = 67108864;")
            .map_err(sql_error)?;
        // Replaces automatic checkpoints: a checkpoint on this connection would not sync.
        connection.wal_hook(Some(note_wal_frames));
        connection.set_prepared_statement_cache_capacity(128);
        let failed = Arc::new(AtomicBool::new(false));
        let syncer = match wal {
            Some(wal) => Some(Syncer::start(wal, failed.clone())?),
            None => None,
        };
        let (jobs, queue) = channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("obol-sqlite-writer".into())
            .spawn(move || {
                run(&connection, &queue, syncer.as_ref(), &failed);
                // The last groups sync and are answered before the connection closes; it
                // closes syncing, since closing may checkpoint.
                drop(syncer);
                if let Err(error) = connection.execute_batch("PRAGMA synchronous = FULL") {
                    tracing::warn!(%error, "SQLite writer closing without sync");
                }
            })
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
        self.send(job(work, move |result| {
            let _ = tell.send(result);
        }))?;
        hear.await
            .map_err(|_| Error::unavailable("the SQLite writer stopped"))?
    }

    /// Queues `work` for the next group commit without waiting for it: for a write whose loss
    /// in a crash is harmless and whose order is all that matters. Later jobs run after it,
    /// so they see it; a failure is logged.
    pub(crate) fn submit(
        &self,
        what: &'static str,
        work: impl FnOnce(&Connection) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        self.send(job(work, move |result| {
            if let Err(error) = result {
                tracing::warn!(%error, what, "a queued SQLite write failed");
            }
        }))
    }

    fn send(&self, job: Job) -> Result<()> {
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok()),
            Err(_) => false,
        };
        match sent {
            true => Ok(()),
            false => Err(Error::ShutDown),
        }
    }

    /// Stops taking jobs, lets the queued ones commit and sync, and waits for the thread.
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

/// Makes a job of `work`; its result, once the commit's fate is known, goes to `deliver`.
fn job<T: Send + 'static>(
    work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    deliver: impl FnOnce(Result<T>) + Send + 'static,
) -> Job {
    Box::new(move |connection| {
        let result = match connection {
            Some(connection) => work(connection),
            None => Err(Error::unavailable("the write was not run")),
        };
        let ok = result.is_ok();
        let deliver: Deliver = Box::new(move |commit| deliver(commit.and(result)));
        (ok, deliver)
    })
}

/// The WAL file of the database at `path`.
fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Records the WAL's size after each of the writer's commits.
fn note_wal_frames(_: &rusqlite::hooks::Wal, frames: c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|count| count.set(frames));
    Ok(())
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
             PRAGMA cache_size = -16384;"
        ))
        .map_err(sql_error)?;
    Ok(connection)
}

/// Copies committed WAL frames into the database file now and then (PASSIVE: it never
/// blocks the writer or readers), until told to stop; a last pass on the way out. Its
/// connection syncs (FULL): the WAL before copying, the database file after.
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

/// The thread that makes committed groups durable before they are answered.
struct Syncer {
    groups: Sender<Answers>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    fn start(wal: PathBuf, failed: Arc<AtomicBool>) -> Result<Self> {
        let (groups, committed) = channel::<Answers>();
        let thread = std::thread::Builder::new()
            .name("obol-sqlite-sync".into())
            .spawn(move || sync(&wal, &committed, &failed))
            .map_err(|e| Error::unavailable(format!("cannot start the WAL syncer: {e}")))?;
        Ok(Syncer {
            groups,
            thread: Some(thread),
        })
    }
}

impl Drop for Syncer {
    /// Lets the groups already handed over sync and be answered.
    fn drop(&mut self) {
        let (stop, _) = channel();
        drop(std::mem::replace(&mut self.groups, stop));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Syncs the WAL once for every run of committed groups, then answers them. A failed sync
/// fails those groups and stops the writer for good.
fn sync(wal: &Path, committed: &Receiver<Answers>, failed: &AtomicBool) {
    let mut file: Option<File> = None;
    while let Ok(first) = committed.recv() {
        let mut groups = vec![first];
        groups.extend(committed.try_iter());
        let synced = match failed.load(Ordering::Acquire) {
            true => Err(Error::unavailable("an earlier WAL sync failed")),
            false => sync_wal(wal, &mut file),
        };
        if let Err(error) = &synced {
            tracing::error!(%error, "WAL sync failed; the SQLite store stops writing");
            failed.store(true, Ordering::Release);
        }
        for (deliver, outcome) in groups.into_iter().flatten() {
            deliver(synced.clone().and(outcome));
        }
    }
}

/// `fdatasync` of the WAL file (opened on first use; SQLite keeps the same file for as long
/// as the writer's connection is open, restarting it in place).
fn sync_wal(wal: &Path, file: &mut Option<File>) -> Result<()> {
    let unavailable = |e: std::io::Error| Error::unavailable(format!("WAL sync: {e}"));
    if file.is_none() {
        *file = Some(File::open(wal).map_err(unavailable)?);
    }
    match file {
        Some(file) => file.sync_data().map_err(unavailable),
        None => Ok(()),
    }
}

/// The thread: take what is queued, run each job in a savepoint, commit, hand the group to
/// the syncer (or answer it, when the store need not be durable or the commit failed).
fn run(
    connection: &Connection,
    queue: &Receiver<Job>,
    syncer: Option<&Syncer>,
    failed: &AtomicBool,
) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (answers, committed) = match failed.load(Ordering::Acquire) {
            true => (
                refuse(
                    group,
                    &Error::unavailable("the SQLite store stopped writing after a failed WAL sync"),
                ),
                false,
            ),
            false => commit_group(connection, group),
        };
        if committed && WAL_FRAMES.with(Cell::get) > CHECKPOINT_AT_FRAMES {
            finish_checkpoint(connection);
        }
        match syncer {
            Some(syncer) if committed => {
                if let Err(unsent) = syncer.groups.send(answers) {
                    answer(unsent.0, Err(Error::unavailable("the WAL syncer stopped")));
                }
            }
            _ => answer(answers, Ok(())),
        }
    }
    tracing::debug!("SQLite writer stopped");
}

/// Answers every job of a group, with `outcome` on top of each job's own.
fn answer(answers: Answers, outcome: Result<()>) {
    for (deliver, own) in answers {
        deliver(outcome.clone().and(own));
    }
}

/// Every job of a group hears `error` without running.
fn refuse(group: Vec<Job>, error: &Error) -> Answers {
    group
        .into_iter()
        .map(|job| (job(None).1, Err(error.clone())))
        .collect()
}

/// Checkpoints on the writer's connection, between two commits, when the checkpointer
/// thread has not kept up: it races the writer and may never reach the WAL's end, and only
/// a checkpoint that does lets the next commit start the WAL over instead of growing it.
/// It syncs like every checkpoint must (the WAL before copying, the database after).
fn finish_checkpoint(connection: &Connection) {
    let checkpoint = connection.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA wal_checkpoint(PASSIVE); PRAGMA synchronous = OFF;",
    );
    if let Err(error) = checkpoint {
        tracing::warn!(%error, "WAL checkpoint on the writer failed");
        let _ = connection.execute_batch("PRAGMA synchronous = OFF");
    }
    WAL_FRAMES.with(|count| count.set(0));
}

/// Runs one transaction-control statement, prepared once: these run several times per
/// job, and parsing them each time showed on the writer's profile.
fn control(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs a group in one transaction; says whether it committed.
fn commit_group(connection: &Connection, group: Vec<Job>) -> (Answers, bool) {
    if let Err(error) = control(connection, "BEGIN IMMEDIATE") {
        // Nothing ran: every job hears the same (retryable) error.
        return (refuse(group, &sql_error(error)), false);
    }
    let mut answers = Vec::with_capacity(group.len());
    for job in group {
        if let Err(error) = control(connection, "SAVEPOINT job") {
            answers.push((job(None).1, Err(sql_error(error))));
            continue;
        }
        let (ok, deliver) = job(Some(connection));
        let end = match ok {
            true => control(connection, "RELEASE job"),
            false => control(connection, "ROLLBACK TO job")
                .and_then(|()| control(connection, "RELEASE job")),
        };
        answers.push((deliver, end.map_err(sql_error)));
    }
    match control(connection, "COMMIT") {
        Ok(()) => (answers, true),
        Err(error) => {
            // Whatever ran is gone: every job of the group hears it.
            let error = sql_error(error);
            let _ = control(connection, "ROLLBACK");
            let answers = answers
                .into_iter()
                .map(|(deliver, _)| (deliver, Err(error.clone())))
                .collect();
            (answers, false)
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

    fn insert(n: i64) -> impl FnOnce(&Connection) -> Result<()> {
        move |conn: &Connection| {
            conn.execute("INSERT INTO t (n) VALUES (?)", [n])
                .map(drop)
                .map_err(sql_error)
        }
    }

    #[tokio::test]
    async fn after_a_failed_sync_nothing_more_is_written_or_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        // A WAL path that cannot be opened stands for a sync the disk refused.
        let writer = Writer::start(&path, Some(dir.path().join("missing/w.db-wal"))).unwrap();
        let first = writer.run(insert(1)).await;
        assert!(
            matches!(first, Err(Error::Unavailable { .. })),
            "committed but never synced, so not acknowledged: {first:?}"
        );
        let later = writer.run(insert(2)).await;
        assert!(matches!(later, Err(Error::Unavailable { .. })), "{later:?}");
        writer.close().await;
        assert_eq!(count(&dir), 1, "the second job did not run");
    }

    #[tokio::test]
    async fn a_submitted_write_is_seen_by_the_jobs_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir);
        writer.submit("test", insert(7)).unwrap();
        let seen = writer
            .run(|conn| {
                conn.query_row("SELECT count(*) FROM t WHERE n = 7", [], |row| {
                    row.get::<_, i64>(0)
                })
                .map_err(sql_error)
            })
            .await
            .unwrap();
        assert_eq!(seen, 1);
        writer.close().await;
        assert_eq!(writer.submit("test", insert(8)), Err(Error::ShutDown));
    }

    #[tokio::test]
    async fn a_constraint_failure_is_the_jobs_alone() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir);
        writer.run(insert(1)).await.unwrap();
        assert!(writer.run(insert(1)).await.is_err(), "duplicate key");
        writer.run(insert(2)).await.unwrap();
        assert_eq!(count(&dir), 2);
    }
}
