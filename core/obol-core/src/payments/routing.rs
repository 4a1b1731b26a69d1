//! The provider registry: providers by name, and routing by asset and payment method kind in
//! registration order, falling back to the next provider only when a call certainly did not
//! take effect.

use std::sync::Arc;

use super::provider::{AuthorizeRequest, ChargeOutcome, MethodKind, Provider, unsupported};
use crate::error::{Error, Result};
use crate::money::AssetCode;

/// Registered providers, in routing preference order.
#[derive(Debug, Clone, Default)]
pub struct ProviderRegistry {
    providers: Vec<Arc<dyn Provider>>,
}

impl ProviderRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a provider after those already registered; a provider of the same name is replaced
    /// in place.
    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        match self
            .providers
            .iter_mut()
            .find(|p| p.name() == provider.name())
        {
            Some(slot) => *slot = provider,
            None => self.providers.push(provider),
        }
    }

    /// A provider by name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.iter().find(|p| p.name() == name)
    }

    /// Providers that take `method` payments in `asset`, in preference order.
    pub fn route(&self, asset: &AssetCode, method: MethodKind) -> Vec<&Arc<dyn Provider>> {
        self.providers
            .iter()
            .filter(|p| p.capabilities().handles(asset, method) && p.authorizer().is_some())
            .collect()
    }

    /// Authorizes through the first provider on the route that answers. Moves to the next one
    /// only on [`Error::ProviderUnavailable`] (the call did not happen); a timeout (unknown
    /// outcome) or any other error stops here, so a payment is never charged twice.
    /// Returns the provider that answered with its answer.
    pub async fn authorize(
        &self,
        request: &AuthorizeRequest,
        method: MethodKind,
    ) -> Result<(Arc<dyn Provider>, ChargeOutcome)> {
        let route = self.route(&request.asset, method);
        let mut last = Error::NoProvider {
            asset: request.asset.to_string(),
            method: method.as_str().to_owned(),
        };
        for provider in route {
            let authorizer = provider
                .authorizer()
                .ok_or_else(|| unsupported(provider.as_ref(), "authorize"))?;
            match authorizer.authorize(request).await {
                Ok(outcome) => return Ok((provider.clone(), outcome)),
                Err(error @ Error::ProviderUnavailable { .. }) => {
                    tracing::warn!(provider = provider.name(), %error, "provider unavailable; trying the next");
                    last = error;
                }
                Err(error) => return Err(error),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::id::PaymentId;
    use crate::payments::provider::{Authorizer, Capabilities};
    use crate::payments::state::CaptureMethod;

    /// A provider that answers with a scripted result and counts its calls.
    #[derive(Debug)]
    struct Scripted {
        name: &'static str,
        asset: &'static str,
        answer: fn(&str) -> Result<ChargeOutcome>,
        calls: Mutex<u32>,
    }

    #[async_trait]
    impl Authorizer for Scripted {
        async fn authorize(&self, request: &AuthorizeRequest) -> Result<ChargeOutcome> {
            *self.calls.lock().unwrap() += 1;
            (self.answer)(&request.idempotency_key)
        }
        async fn complete_action(&self, _reference: &str) -> Result<ChargeOutcome> {
            Err(Error::unavailable("not scripted"))
        }
    }

    impl Provider for Scripted {
        fn name(&self) -> &str {
            self.name
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                assets: Some(vec![AssetCode::new(self.asset).unwrap()]),
                methods: vec![MethodKind::Card],
                manual_capture: true,
                multi_capture: false,
                partial_refunds: true,
            }
        }
        fn authorizer(&self) -> Option<&dyn Authorizer> {
            Some(self)
        }
    }

    fn scripted(
        name: &'static str,
        asset: &'static str,
        answer: fn(&str) -> Result<ChargeOutcome>,
    ) -> Arc<Scripted> {
        Arc::new(Scripted {
            name,
            asset,
            answer,
            calls: Mutex::new(0),
        })
    }

    fn down(_: &str) -> Result<ChargeOutcome> {
        Err(Error::ProviderUnavailable {
            provider: "down".into(),
            reason: "connection refused".into(),
        })
    }

    fn slow(_: &str) -> Result<ChargeOutcome> {
        Err(Error::ProviderTimeout {
            provider: "slow".into(),
        })
    }

    fn ok(key: &str) -> Result<ChargeOutcome> {
        Ok(ChargeOutcome::Authorized {
            reference: format!("ch_{key}"),
            amount: 100,
        })
    }

    fn request(asset: &str) -> AuthorizeRequest {
        AuthorizeRequest {
            payment_id: PaymentId::parse("pay_01JD3Q4V5X6Y7Z8A9B0C1D2E3F").unwrap(),
            idempotency_key: "k1".into(),
            amount: 100,
            asset: AssetCode::new(asset).unwrap(),
            token: "tok".into(),
            capture_method: CaptureMethod::Manual,
        }
    }

    #[tokio::test]
    async fn routes_by_asset_and_falls_back_only_when_the_call_did_not_happen() {
        let (first, second, euro) = (
            scripted("first", "USD", down),
            scripted("second", "USD", ok),
            scripted("euro", "EUR", ok),
        );
        let mut registry = ProviderRegistry::new();
        for p in [&euro, &first, &second] {
            registry.register(p.clone());
        }
        let (provider, outcome) = registry
            .authorize(&request("USD"), MethodKind::Card)
            .await
            .unwrap();
        assert_eq!(provider.name(), "second");
        assert!(matches!(outcome, ChargeOutcome::Authorized { .. }));
        assert_eq!(*euro.calls.lock().unwrap(), 0);

        let err = registry
            .authorize(&request("JPY"), MethodKind::Card)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "no_provider");
        let err = registry
            .authorize(&request("USD"), MethodKind::Crypto)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "no_provider");
    }

    #[tokio::test]
    async fn a_timeout_never_falls_back() {
        let (timeout, backup) = (scripted("slow", "USD", slow), scripted("backup", "USD", ok));
        let mut registry = ProviderRegistry::new();
        registry.register(timeout.clone());
        registry.register(backup.clone());
        let err = registry
            .authorize(&request("USD"), MethodKind::Card)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "provider_timeout");
        assert_eq!(*backup.calls.lock().unwrap(), 0);
    }

    #[tokio::test]
    async fn all_down_reports_unavailable_and_same_name_replaces() {
        let mut registry = ProviderRegistry::new();
        registry.register(scripted("a", "USD", down));
        let err = registry
            .authorize(&request("USD"), MethodKind::Card)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "provider_unavailable");
        registry.register(scripted("a", "USD", ok));
        assert!(
            registry
                .authorize(&request("USD"), MethodKind::Card)
                .await
                .is_ok()
        );
        assert_eq!(
            registry
                .route(&AssetCode::new("USD").unwrap(), MethodKind::Card)
                .len(),
            1
        );
    }
}
