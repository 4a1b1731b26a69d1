//! A development certificate authority for mutual TLS between services: `obol certs init`
//! makes the CA, `obol certs issue <service>` a certificate it signs, valid for both ends of
//! a connection (server and client). Production mounts certificates from cert-manager
//! instead; the files have the same shape (`ca.pem`, `<name>.pem`, `<name>-key.pem`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// The CA's certificate file.
pub const CA_CERT: &str = "ca.pem";
/// The CA's private key file.
pub const CA_KEY: &str = "ca-key.pem";
/// The CA's common name.
const CA_NAME: &str = "Obol development CA";

/// The files of an issued certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, readable by the owner only).
    pub key: PathBuf,
}

fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_NAME);
    name.push(DnType::OrganizationName, "Obol");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(3650);
    Ok(params)
}

/// Makes a CA in `dir`; refuses to replace one that exists.
pub fn init(dir: &Path) -> anyhow::Result<PathBuf> {
    let cert_path = dir.join(CA_CERT);
    if cert_path.exists() {
        bail!(
            "{} exists; remove it to start a new CA",
            cert_path.display()
        );
    }
    let key = KeyPair::generate()?;
    let cert = ca_params()?.self_signed(&key)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    crate::secrets::write_private(&dir.join(CA_KEY), &key.serialize_pem())?;
    std::fs::write(&cert_path, cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    Ok(cert_path)
}

/// Issues a certificate for `name` (and the extra DNS names) signed by the CA in `dir`.
pub fn issue(dir: &Path, name: &str, extra_names: &[String]) -> anyhow::Result<Issued> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        bail!("a certificate name is letters, digits and dashes");
    }
    let ca_key_pem = std::fs::read_to_string(dir.join(CA_KEY))
        .with_context(|| format!("no CA in {}: run `obol certs init` first", dir.display()))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem)?;
    let issuer = Issuer::new(ca_params()?, ca_key);

    let mut names = vec![name.to_owned(), "localhost".to_owned()];
    names.extend(extra_names.iter().cloned());
    let mut params = CertificateParams::new(names)?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, name);
    params.distinguished_name = subject;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let issued = Issued {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}-key.pem")),
    };
    crate::secrets::write_private(&issued.key, &key.serialize_pem())?;
    std::fs::write(&issued.cert, cert.pem())
        .with_context(|| format!("cannot write {}", issued.cert.display()))?;
    Ok(issued)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::RootCertStore;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::server::WebPkiClientVerifier;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

    use super::*;

    fn roots(dir: &Path) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        let ca = CertificateDer::from_pem_file(dir.join(CA_CERT)).unwrap();
        roots.add(ca).unwrap();
        Arc::new(roots)
    }

    #[test]
    fn issued_certificates_verify_as_server_and_client_against_the_ca_only() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path()).unwrap();
        assert!(
            init(dir.path()).is_err(),
            "an existing CA is never replaced"
        );
        let issued = issue(dir.path(), "payments", &["payments.obol.svc".into()]).unwrap();
        let cert = CertificateDer::from_pem_file(&issued.cert).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());

        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots(dir.path()), provider.clone())
                .build()
                .unwrap();
        client_verifier
            .verify_client_cert(&cert, &[], UnixTime::now())
            .unwrap();

        let server_verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots(dir.path()),
            provider.clone(),
        )
        .build()
        .unwrap();
        for name in ["payments", "payments.obol.svc", "localhost", "127.0.0.1"] {
            let server = ServerName::try_from(name).unwrap();
            server_verifier
                .verify_server_cert(&cert, &[], &server, &[], UnixTime::now())
                .unwrap();
        }
        let wrong = ServerName::try_from("ledger").unwrap();
        assert!(
            server_verifier
                .verify_server_cert(&cert, &[], &wrong, &[], UnixTime::now())
                .is_err()
        );

        // A certificate from another CA is refused.
        let other = tempfile::tempdir().unwrap();
        init(other.path()).unwrap();
        let stranger = issue(other.path(), "payments", &[]).unwrap();
        let stranger = CertificateDer::from_pem_file(&stranger.cert).unwrap();
        assert!(
            client_verifier
                .verify_client_cert(&stranger, &[], UnixTime::now())
                .is_err()
        );
        assert!(issue(dir.path(), "bad name!", &[]).is_err());
    }
}
