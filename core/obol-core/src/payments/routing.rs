//! The provider registry: providers by name, and routing by asset and payment method kind in
//! registration order. The engine walks a route, moving to the next provider only when a call
//! certainly did not take effect ([`crate::payments::Payments::confirm`]).

use std::sync::Arc;

use super::provider::{MethodKind, Provider};
use crate::mode::Mode;
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

    /// The provider card details are tokenized with in `mode`: the first, in preference
    /// order, that takes cards (in `asset`, when one is given) and has a tokenizer.
    pub fn card_tokenizer(
        &self,
        asset: Option<&AssetCode>,
        mode: Mode,
    ) -> Option<&Arc<dyn Provider>> {
        self.providers.iter().find(|p| {
            let capabilities = p.capabilities();
            p.mode() == mode
                && p.tokenizer().is_some()
                && match asset {
                    Some(asset) => capabilities.handles(asset, MethodKind::Card),
                    None => capabilities.methods.contains(&MethodKind::Card),
                }
        })
    }

    /// Providers that take `method` payments in `asset` in `mode`, in preference order.
    pub fn route(
        &self,
        asset: &AssetCode,
        method: MethodKind,
        mode: Mode,
    ) -> Vec<&Arc<dyn Provider>> {
        self.providers
            .iter()
            .filter(|p| {
                p.mode() == mode
                    && p.capabilities().handles(asset, method)
                    && p.authorizer().is_some()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::Sandbox;
    use crate::testing::faulty::Faulty;

    #[test]
    fn routes_by_asset_and_method_in_order_and_same_name_replaces() {
        let mut registry = ProviderRegistry::new();
        let sandbox = Arc::new(Sandbox::ephemeral());
        registry.register(Arc::new(Faulty::new(sandbox.clone(), &[]).named("first")));
        registry.register(Arc::new(Faulty::new(sandbox.clone(), &[]).named("second")));
        let usd = AssetCode::new("USD").unwrap();
        let names: Vec<&str> = registry
            .route(&usd, MethodKind::Card, Mode::Test)
            .iter()
            .map(|p| p.name())
            .collect();
        assert_eq!(names, ["first", "second"]);
        assert!(
            registry
                .route(&usd, MethodKind::Crypto, Mode::Test)
                .is_empty()
        );
        assert!(
            registry
                .route(&usd, MethodKind::Card, Mode::Live)
                .is_empty()
        );
        registry.register(Arc::new(Faulty::new(sandbox, &[]).named("first")));
        assert_eq!(registry.route(&usd, MethodKind::Card, Mode::Test).len(), 2);
        assert!(registry.get("second").is_some() && registry.get("third").is_none());
    }
}
