//! Which peers may say who is calling. Mutual TLS lets in every holder of a certificate from
//! the deployment's CA; a request that names a caller (`obol-principal-bin`) must also come
//! from a peer whose certificate carries one of the trusted names (the gateway's, by
//! default), so a compromised ledger service cannot act for users at the payments service.

use std::sync::Arc;

use obol::Error;
use rustls_pki_types::ServerName;
use tonic::Request;

/// The names a peer's certificate must carry to act for callers.
#[derive(Debug, Clone)]
pub struct Trust {
    names: Arc<[String]>,
}

impl Trust {
    /// Trusts certificates carrying any of `names` (DNS names or IP addresses).
    pub fn new(names: &[String]) -> Self {
        Trust {
            names: names.iter().cloned().collect(),
        }
    }

    /// Refuses a request that names a caller unless its peer is trusted to. Without TLS
    /// information (not possible behind the TLS listener) nothing is trusted.
    pub fn check<T>(&self, request: &Request<T>) -> Result<(), Error> {
        if request
            .metadata()
            .get_bin(super::codec::PRINCIPAL)
            .is_none()
        {
            return Ok(());
        }
        match self.trusts(request) {
            true => Ok(()),
            false => Err(Error::Forbidden {
                reason: "this peer may not act for callers".into(),
            }),
        }
    }

    /// Whether the request's peer carries a trusted name (and may speak for callers: who
    /// they are, where they come from).
    pub fn trusts<T>(&self, request: &Request<T>) -> bool {
        request.peer_certs().is_some_and(|chain| {
            chain
                .first()
                .is_some_and(|leaf| self.names.iter().any(|name| carries(leaf, name)))
        })
    }
}

/// Whether the certificate is valid for `name`.
fn carries(leaf: &rustls_pki_types::CertificateDer<'_>, name: &str) -> bool {
    let Ok(cert) = webpki::EndEntityCert::try_from(leaf) else {
        return false;
    };
    let Ok(name) = ServerName::try_from(name) else {
        return false;
    };
    cert.verify_is_valid_for_subject_name(&name).is_ok()
}
