//! Mutual TLS between the services (rustls through tonic): every process presents its own
//! certificate and accepts only peers whose certificate the deployment's CA signed. The
//! files are the ones `obol certs` writes, or those cert-manager mounts in Kubernetes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig,
};

/// Where a process's certificate, key and the CA are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// This process's certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA that signs every service's certificate (PEM).
    pub ca: PathBuf,
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

impl TlsFiles {
    fn identity(&self) -> anyhow::Result<Identity> {
        Ok(Identity::from_pem(
            read(&self.cert, "TLS certificate")?,
            read(&self.key, "TLS key")?,
        ))
    }

    fn ca(&self) -> anyhow::Result<Certificate> {
        Ok(Certificate::from_pem(read(&self.ca, "CA certificate")?))
    }

    /// A server that demands a client certificate signed by the CA.
    pub fn server(&self) -> anyhow::Result<ServerTlsConfig> {
        let config = ServerTlsConfig::new()
            .identity(self.identity()?)
            .client_ca_root(self.ca()?);
        // tonic parses the PEM when it builds the acceptor: do that now, so an unusable file
        // is refused at start rather than after the banner.
        tonic::transport::Server::builder()
            .tls_config(config.clone())
            .context("the TLS certificate, key or CA file is not usable")?;
        Ok(config)
    }

    /// A client that presents this process's certificate and trusts only the CA.
    pub fn client(&self) -> anyhow::Result<ClientTlsConfig> {
        Ok(ClientTlsConfig::new()
            .ca_certificate(self.ca()?)
            .identity(self.identity()?))
    }
}

/// A channel to a service at `url` (`https://host:port`), connected on first use so a
/// gateway starts before the services it calls (its readiness says when they answer).
pub fn channel(url: &str, tls: ClientTlsConfig) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("{url} is not a service URL"))?
        .tls_config(tls)
        .with_context(|| format!("cannot set up TLS for {url}"))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_nodelay(true);
    Ok(endpoint.connect_lazy())
}
