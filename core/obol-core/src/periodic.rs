//! A background job run at a fixed interval until stopped: the shape of every housekeeping
//! task (payment status sync and expiry, signing-key rotation).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running periodic job; [`Periodic::stop`] ends it after its current pass.
#[derive(Debug)]
pub struct Periodic {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Periodic {
    /// Runs `pass` now and then every `every`, on the current tokio runtime.
    pub fn spawn<F, Fut>(every: Duration, mut pass: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = ticks.tick() => pass().await,
                    _ = stopped.changed() => break,
                }
            }
        });
        Periodic { stop, task }
    }

    /// Stops the job and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "a periodic task ended abnormally");
        }
    }
}
