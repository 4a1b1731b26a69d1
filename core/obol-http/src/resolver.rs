//! Name resolution that drops the addresses a [`TargetPolicy`] does not allow, so a host
//! name pointing inward (or rebinding to an inward address) is refused at connection time.

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;

use obol_core::webhooks::TargetPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves with the system resolver, keeping only allowed addresses.
#[derive(Debug)]
pub(crate) struct CheckedResolver {
    policy: TargetPolicy,
}

impl CheckedResolver {
    pub(crate) fn new(policy: TargetPolicy) -> Self {
        CheckedResolver { policy }
    }
}

/// Every address of a name was refused.
#[derive(Debug)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the name resolves to no public address")
    }
}

impl StdError for Refused {}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            // The port is replaced by the connector; 0 is only a placeholder for lookup_host.
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|address| policy.allows(address.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(Refused) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// Whether a request failed because the resolver refused every address.
pub(crate) fn was_refused(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(cause) = source {
        if cause.is::<Refused>() {
            return true;
        }
        source = cause.source();
    }
    false
}
