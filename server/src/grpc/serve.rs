//! Serving the gRPC services: the ones a process exposes, plus health (`grpc.health.v1`)
//! and reflection, behind mutual TLS.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Server, ServerTlsConfig};

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

/// Serves `exposed` on `listener` until `shutdown` resolves (calls in flight finish).
pub async fn serve_grpc(
    listener: TcpListener,
    exposed: Exposed,
    tls: ServerTlsConfig,
    trust: &Trust,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
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
