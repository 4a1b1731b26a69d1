//! Serving the gRPC services: the ones a process exposes, plus health (`grpc.health.v1`)
//! and reflection, behind mutual TLS; and, for probes that cannot speak mutual TLS, health
//! alone on a plaintext listener. Both report the same statuses: the overall one ("") follows
//! whether the store answers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use super::proto::auth_server::AuthServer;
use super::proto::ledger_server::LedgerServer;
use super::proto::payments_server::PaymentsServer;
use super::server::{AuthRpc, LedgerRpc, PaymentsRpc};
use super::trust::Trust;
use crate::services::{AuthService, LedgerService, PaymentsService};

/// The services one process exposes over gRPC.
#[derive(Clone, Default)]
pub struct Exposed {
    /// Payments, when this process runs them.
    pub payments: Option<Arc<dyn PaymentsService>>,
    /// Ledger.
    pub ledger: Option<Arc<dyn LedgerService>>,
    /// Auth.
    pub auth: Option<Arc<dyn AuthService>>,
}

/// How often the overall health status is checked against the store.
const READINESS_CHECK: Duration = Duration::from_secs(5);

/// A store that has not answered in this long is not ready (a partition may never answer).
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Keeps the overall status ("") of `reporter` SERVING while `store` answers, NOT_SERVING
/// while it fails, until `shutdown` resolves.
pub async fn track_readiness(
    reporter: HealthReporter,
    store: &dyn obol::Store,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let watch = async {
        let mut ticks = tokio::time::interval(READINESS_CHECK);
        loop {
            ticks.tick().await;
            let status = match tokio::time::timeout(READINESS_TIMEOUT, store.ready()).await {
                Ok(Ok(())) => ServingStatus::Serving,
                Ok(Err(error)) => {
                    tracing::warn!(code = error.code(), %error, "not ready: the store does not answer");
                    ServingStatus::NotServing
                }
                Err(_) => {
                    tracing::warn!("not ready: the store did not answer in time");
                    ServingStatus::NotServing
                }
            };
            reporter.set_service_status("", status).await;
        }
    };
    tokio::select! {
        () = watch => {}
        () = shutdown => {}
    }
    // Stopping: no new calls should be sent here.
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
}

/// Serves only `grpc.health.v1`, without TLS, on `listener` until `shutdown` resolves: what
/// it tells (whether this process serves) is no secret, and the kubelet's gRPC probe speaks
/// no TLS.
pub async fn serve_grpc_health(
    listener: TcpListener,
    reporter: HealthReporter,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    Server::builder()
        .add_service(HealthServer::new(HealthService::from_health_reporter(
            reporter,
        )))
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
        .context("the gRPC health server failed")
}

/// Serves `exposed` on `listener` until `shutdown` resolves (calls in flight finish), with
/// health as `reporter` tells it.
pub async fn serve_grpc(
    listener: TcpListener,
    exposed: Exposed,
    tls: ServerTlsConfig,
    trust: &Trust,
    reporter: HealthReporter,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let health = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(super::DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build the reflection service")?;
    let payments = exposed
        .payments
        .map(|s| PaymentsServer::new(PaymentsRpc(s, trust.clone())));
    let ledger = exposed
        .ledger
        .map(|s| LedgerServer::new(LedgerRpc(s, trust.clone())));
    let auth = exposed
        .auth
        .map(|s| AuthServer::new(AuthRpc(s, trust.clone())));
    if payments.is_some() {
        reporter.set_serving::<PaymentsServer<PaymentsRpc>>().await;
    }
    if ledger.is_some() {
        reporter.set_serving::<LedgerServer<LedgerRpc>>().await;
    }
    if auth.is_some() {
        reporter.set_serving::<AuthServer<AuthRpc>>().await;
    }
    Server::builder()
        .tls_config(tls)
        .context("cannot set up TLS for the gRPC server")?
        .trace_fn(|request| {
            let id = request
                .headers()
                .get(super::codec::REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("grpc", path = %request.uri().path(), request_id = %id)
        })
        .add_service(health)
        .add_service(reflection)
        .add_optional_service(payments)
        .add_optional_service(ledger)
        .add_optional_service(auth)
        .serve_with_incoming_shutdown(
            // Small answers go out at once (Nagle would hold them for the peer's delayed ACK).
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
        .context("the gRPC server failed")
}
