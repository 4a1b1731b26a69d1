//! Settings every rail reads alike: where its API is (https, or plain http to a local fake on
//! loopback only, so credentials never cross a network in clear) and where a customer returns
//! after acting at the provider.

use crate::error::{Error, Result};

/// A configuration error of the rail configured in `section` (`providers.stripe`).
pub fn invalid(section: &str, reason: impl Into<String>) -> Error {
    Error::Config {
        reason: format!("{section}: {}", reason.into()),
    }
}

/// Reads an API base: https anywhere, plain http only on a loopback address (a local fake), no
/// credentials, query or fragment. Normalized to end with `/`.
pub fn api_base(section: &str, text: &str) -> Result<String> {
    let config = |reason: &str| invalid(section, reason);
    let url = url::Url::parse(text)
        .map_err(|e| invalid(section, format!("api_base is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(config(
                "api_base must be https (plain http only on a loopback address)",
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config("api_base must not carry credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config("api_base must not have a query or fragment"));
    }
    let mut base = url.to_string();
    if !base.ends_with('/') {
        base.push('/');
    }
    Ok(base)
}

/// Reads the URL a customer returns to after acting at the provider (3-D Secure, a PayPal
/// approval): absolute http(s), no credentials.
pub fn return_url(section: &str, text: &str) -> Result<String> {
    let url = url::Url::parse(text)
        .map_err(|e| invalid(section, format!("return_url is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(invalid(
            section,
            "return_url must be an absolute http(s) URL",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(section, "return_url must not carry credentials"));
    }
    Ok(url.to_string())
}
