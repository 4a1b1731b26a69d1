//! The Tokio runtime the engine's futures run on. One per process and never dropped: the
//! foreign side drives only a join handle, so no call blocks a runtime thread and no runtime
//! is ever dropped inside another.

use std::future::Future;
use std::sync::OnceLock;

use obol::{Error, Result};
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .thread_name("obol-ffi")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| Error::unavailable(format!("cannot start the runtime: {reason}")))
}

/// Runs `work` on the library's runtime and waits for it without blocking a thread.
pub(crate) async fn run<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    runtime()?
        .spawn(work)
        .await
        .map_err(|e| Error::unavailable(format!("the call stopped: {e}")))?
}
