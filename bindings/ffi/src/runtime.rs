//! The Tokio runtime the engine's futures run on: one per process, started by the first call.
//! The foreign side drives only a join handle, so no call blocks a runtime thread and no
//! runtime is ever dropped inside another. [`stop_runtime`] stops it at the host's exit.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use obol::{Error, Result};
use tokio::runtime::{Handle, Runtime};

/// The runtime's life: not yet started, running, or stopped for good.
enum Slot {
    Unstarted,
    Running(Runtime),
    Stopped,
}

static RUNTIME: Mutex<Slot> = Mutex::new(Slot::Unstarted);

/// A handle to the running runtime, started on first use.
fn handle() -> Result<Handle> {
    let mut slot = RUNTIME
        .lock()
        .map_err(|_| Error::unavailable("the runtime's lock is poisoned"))?;
    if matches!(*slot, Slot::Unstarted) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("obol-ffi")
            .enable_all()
            .build()
            .map_err(|e| Error::unavailable(format!("cannot start the runtime: {e}")))?;
        *slot = Slot::Running(runtime);
    }
    match &*slot {
        Slot::Running(runtime) => Ok(runtime.handle().clone()),
        _ => Err(Error::unavailable("the runtime was stopped (stop_runtime)")),
    }
}

/// Runs `work` on the library's runtime and waits for it without blocking a thread.
pub(crate) async fn run<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    handle()?
        .spawn(work)
        .await
        .map_err(|e| Error::unavailable(format!("the call stopped: {e}")))?
}

/// Stops the library's runtime, waiting up to five seconds for its threads; later calls fail
/// as unavailable. Python programs register it with `atexit`: a runtime thread that completes
/// a call while the interpreter finalizes is ended by CPython (up to 3.13) in a way that
/// aborts the process, and after this no runtime thread is left to do so.
#[uniffi::export]
pub fn stop_runtime() {
    let slot = match RUNTIME.lock() {
        Ok(mut slot) => std::mem::replace(&mut *slot, Slot::Stopped),
        Err(_) => return,
    };
    if let Slot::Running(runtime) = slot {
        if Handle::try_current().is_ok() {
            // Inside a runtime a blocking wait would panic; let the threads stop on their own.
            runtime.shutdown_background();
        } else {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}
