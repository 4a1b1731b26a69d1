//! `obol serve`: the engine, its housekeeping and the REST API in one process, stopped
//! gracefully on SIGTERM or Ctrl-C (in-flight requests finish, the ledger writer drains).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::engine::Engine;
use crate::rest::middleware::{HttpLimits, RateLimiter, wrap};
use crate::rest::{AppState, routes};
use crate::services::local::Local;

/// The REST app over an engine in this process, with every middleware layer.
pub fn app(engine: &Arc<Engine>, config: &Config) -> Router {
    let limits = limits(config);
    let limiter = RateLimiter::new(limits.rate_per_second, limits.burst);
    let state = AppState {
        services: Local::services(engine.clone()),
        ids: engine.ledger().ids().clone(),
        metrics: Arc::new(crate::metrics::Metrics::new(Some(engine.ledger().clone()))),
        limiter: limiter.clone(),
    };
    wrap(routes(state), &limits, limiter)
}

/// The middleware settings of a configuration.
pub fn limits(config: &Config) -> HttpLimits {
    HttpLimits {
        body_limit_bytes: config.body_limit_bytes,
        timeout: Duration::from_secs(config.request_timeout_seconds),
        cors_origins: config.cors_origins.clone(),
        rate_per_second: config.rate_limit_per_second,
        burst: config.rate_limit_burst,
    }
}

/// What a started server tells its operator.
#[derive(Debug, Clone)]
pub struct Started {
    /// The REST address actually bound.
    pub http: SocketAddr,
    /// Development credentials, in dev mode.
    pub dev: Option<crate::dev::DevCredentials>,
}

/// Runs everything in one process until `shutdown` resolves; `started` hears where it
/// listens once it does.
pub async fn serve_all(
    config: Config,
    started: impl FnOnce(&Started),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let engine = Arc::new(Engine::open(&config).await?);
    // A first signing key before the first login.
    engine.auth.rotate_keys().await?;
    let dev = match config.dev {
        true => Some(crate::dev::ensure_dev_user(&engine, &config).await?),
        false => None,
    };
    let background = engine.start_background();
    let listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.http_addr))?;
    let http = listener.local_addr()?;
    started(&Started { http, dev });
    let app = app(&engine, &config);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("the HTTP server failed")?;
    tracing::info!("HTTP server stopped; stopping housekeeping and draining the ledger");
    background.stop().await;
    match last_handle(engine).await {
        Ok(engine) => engine.shutdown().await,
        Err(_) => tracing::warn!("engine still shared at shutdown; the ledger drains on drop"),
    }
    Ok(())
}

/// The engine once every connection task has let go of it (they finish just after the
/// server stops), waiting up to five seconds.
async fn last_handle(mut engine: Arc<Engine>) -> Result<Engine, Arc<Engine>> {
    for _ in 0..100 {
        match Arc::try_unwrap(engine) {
            Ok(engine) => return Ok(engine),
            Err(shared) => engine = shared,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(engine)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested");
}
