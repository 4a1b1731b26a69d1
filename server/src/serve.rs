//! `obol serve`: everything in one process, or one role of a split deployment (a gateway
//! serving REST over gRPC clients, or one gRPC service over the engine), stopped gracefully
//! on SIGTERM or Ctrl-C (in-flight requests finish, the ledger writer drains).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use obol::{IdGen, RandomIdGen, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic_health::server::HealthReporter;

use crate::config::{Config, Role};
use crate::engine::Engine;
use crate::grpc::serve::{Exposed, serve_grpc, serve_grpc_health, track_readiness};
use crate::metrics::Metrics;
use crate::rest::middleware::{HttpLimits, RateLimiter, wrap};
use crate::rest::{AppState, routes};
use crate::services::Services;
use crate::services::local::Local;

/// The REST app over an engine in this process, with every middleware layer.
pub fn app(engine: &Arc<Engine>, config: &Config) -> Router {
    app_over(
        Local::services(engine.clone()),
        engine.ledger().ids().clone(),
        engine_metrics(engine, Role::All),
        config,
    )
}

/// The REST app over any implementation of the services, with `metrics` at `/metrics`.
pub fn app_over(
    services: Services,
    ids: Arc<dyn IdGen>,
    metrics: Metrics,
    config: &Config,
) -> Router {
    with_middleware(routes, services, ids, metrics, config)
}

/// A gRPC role's own HTTP listener: `/healthz`, `/readyz` and `/metrics` only.
fn ops_app(engine: &Arc<Engine>, role: Role, config: &Config) -> Router {
    with_middleware(
        crate::rest::ops_routes,
        Local::services(engine.clone()),
        engine.ledger().ids().clone(),
        engine_metrics(engine, role),
        config,
    )
}

/// The router `routes` makes over these services and metrics, with every middleware layer.
fn with_middleware(
    routes: fn(AppState) -> Router,
    services: Services,
    ids: Arc<dyn IdGen>,
    metrics: Metrics,
    config: &Config,
) -> Router {
    let limits = limits(config);
    let limiter = RateLimiter::new(limits.rate_per_second, limits.burst);
    let state = AppState {
        services,
        ids,
        metrics: Arc::new(metrics),
        limiter: limiter.clone(),
    };
    wrap(routes(state), &limits, limiter)
}

/// The metrics of a process running `role` over `engine`: the ledger's figures everywhere,
/// webhook deliveries where payments run.
fn engine_metrics(engine: &Arc<Engine>, role: Role) -> Metrics {
    let metrics = Metrics::new(Some(engine.ledger().clone()));
    match role {
        Role::All | Role::Payments => metrics.with_webhooks(engine.webhooks.clone()),
        Role::Gateway | Role::Ledger | Role::Auth => metrics,
    }
}

/// The middleware settings of a configuration.
pub fn limits(config: &Config) -> HttpLimits {
    HttpLimits {
        body_limit_bytes: config.body_limit_bytes,
        timeout: Duration::from_secs(config.request_timeout_seconds),
        cors_origins: config.cors_origins.clone(),
        rate_per_second: config.rate_limit_per_second,
        burst: config.rate_limit_burst,
        trusted_proxies: config.trusted_proxy_nets(),
    }
}

/// What a started server tells its operator.
#[derive(Debug)]
pub struct Started {
    /// The role it runs.
    pub role: Role,
    /// The REST address bound, when it serves REST.
    pub http: Option<SocketAddr>,
    /// The gRPC address bound, when it serves gRPC.
    pub grpc: Option<SocketAddr>,
    /// A gRPC role's health, readiness and metrics address, when set.
    pub ops: Option<SocketAddr>,
    /// The plaintext gRPC health address, when set.
    pub grpc_health: Option<SocketAddr>,
    /// Development credentials, in dev mode.
    pub dev: Option<crate::dev::DevCredentials>,
}

/// Runs the configured role until `shutdown` resolves; `started` hears where it listens
/// once it does.
pub async fn serve(
    config: Config,
    started: impl FnOnce(&Started),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stop = Stop::on(shutdown);
    match config.role {
        Role::Gateway => serve_gateway(config, started, stop).await,
        _ => serve_engine(config, started, stop).await,
    }
}

/// One shutdown request, heard by every server of the process.
#[derive(Clone)]
struct Stop(watch::Receiver<bool>);

impl Stop {
    fn on(signal: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        let (tell, hear) = watch::channel(false);
        tokio::spawn(async move {
            signal.await;
            let _ = tell.send(true);
        });
        Stop(hear)
    }

    async fn requested(mut self) {
        // An error means the sender is gone, which only happens after it sent.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr}"))
}

/// The REST server on `listener` until `stop`.
async fn serve_http(listener: TcpListener, app: Router, stop: Stop) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    // Answers go out at once rather than waiting on the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop.requested())
    .await
    .context("the HTTP server failed")
}

/// A process with the engine: all-in-one (REST, and gRPC too in dev mode or when TLS is
/// configured) or one gRPC service.
async fn serve_engine(
    config: Config,
    started: impl FnOnce(&Started),
    stop: Stop,
) -> anyhow::Result<()> {
    let role = config.role;
    let engine = Arc::new(Engine::open(&config).await?);
    if matches!(role, Role::All | Role::Auth) {
        // A first signing key before the first login.
        engine.auth().rotate_keys().await?;
    }
    let dev = match config.dev && matches!(role, Role::All | Role::Auth) {
        true => Some(crate::dev::ensure_dev_user(&engine, &config).await?),
        false => None,
    };
    let background = engine.start_background(role);
    let local = Local::services(engine.clone());
    let exposed = match role {
        Role::All => Exposed {
            payments: Some(local.payments.clone()),
            ledger: Some(local.ledger.clone()),
            auth: Some(local.auth.clone()),
        },
        Role::Payments => Exposed {
            payments: Some(local.payments.clone()),
            ..Exposed::default()
        },
        Role::Ledger => Exposed {
            ledger: Some(local.ledger.clone()),
            ..Exposed::default()
        },
        // (The gateway never gets here: it opens no engine.)
        Role::Auth | Role::Gateway => Exposed {
            auth: Some(local.auth.clone()),
            ..Exposed::default()
        },
    };
    drop(local);
    // All in one: REST on the HTTP address. A gRPC role: health, readiness and metrics on
    // the ops address, when one is set.
    let http = match (role, config.ops_addr) {
        (Role::All, _) => Some((bind(config.http_addr, "HTTP").await?, app(&engine, &config))),
        (_, Some(addr)) => Some((
            bind(addr, "health and metrics").await?,
            ops_app(&engine, role, &config),
        )),
        (_, None) => None,
    };
    let health = match config.grpc_health_addr {
        Some(addr) => Some(bind(addr, "gRPC health").await?),
        None => None,
    };
    // gRPC always speaks mutual TLS: configured files, or in dev mode certificates made in
    // the data directory. Read now, so a bad file is refused before anything is served.
    let files = match (config.tls(), config.dev) {
        (Some(files), _) => Some(files),
        (None, true) => Some(crate::dev::dev_certificates(&config)?),
        (None, false) => None,
    };
    // The listener and its TLS come together or not at all.
    let grpc = match files {
        Some(files) => Some((bind(config.grpc_addr, "gRPC").await?, files.server()?)),
        None => None,
    };
    let http_addr = http
        .as_ref()
        .map(|(listener, _)| listener.local_addr())
        .transpose()?;
    let (rest_addr, ops) = match role {
        Role::All => (http_addr, None),
        _ => (None, http_addr),
    };
    started(&Started {
        role,
        http: rest_addr,
        grpc: grpc
            .as_ref()
            .map(|(listener, _)| listener.local_addr())
            .transpose()?,
        ops,
        grpc_health: health.as_ref().map(TcpListener::local_addr).transpose()?,
        dev,
    });
    let rest = async {
        match http {
            Some((listener, app)) => serve_http(listener, app, stop.clone()).await,
            None => Ok(()),
        }
    };
    let reporter = HealthReporter::default();
    // Health is only asked over gRPC: without a gRPC listener, nobody reads it.
    let asked = grpc.is_some() || health.is_some();
    let readiness = async {
        if asked {
            let store = engine.ledger().store().clone();
            track_readiness(reporter.clone(), store.as_ref(), stop.clone().requested()).await;
        }
    };
    let rpc = async {
        match grpc {
            Some((listener, tls)) => {
                let trust = crate::grpc::trust::Trust::new(&config.trusted_callers);
                serve_grpc(
                    listener,
                    exposed.clone(),
                    tls,
                    &trust,
                    reporter.clone(),
                    stop.clone().requested(),
                )
                .await
            }
            None => Ok(()),
        }
    };
    let probe = async {
        match health {
            Some(listener) => {
                serve_grpc_health(listener, reporter.clone(), stop.clone().requested()).await
            }
            None => Ok(()),
        }
    };
    let (rest, rpc, probe, ()) = tokio::join!(rest, rpc, probe, readiness);
    tracing::info!("servers stopped; stopping housekeeping and draining the ledger");
    drop(exposed);
    background.stop().await;
    match last_handle(engine).await {
        Ok(engine) => engine.shutdown().await,
        Err(_) => tracing::warn!("engine still shared at shutdown; the ledger drains on drop"),
    }
    rest.and(rpc).and(probe)
}

/// The gateway: REST and the web UI, every call going to the services over gRPC.
async fn serve_gateway(
    config: Config,
    started: impl FnOnce(&Started),
    stop: Stop,
) -> anyhow::Result<()> {
    let tls = config
        .tls()
        .context("the gateway needs OBOL_TLS_CERT, OBOL_TLS_KEY and OBOL_TLS_CA")?;
    let client = tls.client()?;
    let channel = |url: &Option<String>, name: &str| {
        let url = url
            .as_deref()
            .with_context(|| format!("the gateway needs OBOL_{name}_URL"))?;
        crate::grpc::tls::channel(url, client.clone())
    };
    let services = crate::grpc::client::services(
        channel(&config.payments_url, "PAYMENTS")?,
        channel(&config.ledger_url, "LEDGER")?,
        channel(&config.auth_url, "AUTH")?,
    );
    let ids: Arc<dyn IdGen> = Arc::new(RandomIdGen::new(Arc::new(SystemClock)));
    let listener = bind(config.http_addr, "HTTP").await?;
    started(&Started {
        role: Role::Gateway,
        http: Some(listener.local_addr()?),
        grpc: None,
        ops: None,
        grpc_health: None,
        dev: None,
    });
    serve_http(
        listener,
        app_over(services, ids, Metrics::new(None), &config),
        stop,
    )
    .await
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
