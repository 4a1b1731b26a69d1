//! A tenant's webhook endpoints and the delivery attempts of its events.

use std::sync::Mutex;

use zeroize::Zeroizing;

use super::Tenant;
use super::keys::Operation;
use crate::auth::Scope;
use crate::error::Result;
use crate::id::{EndpointId, EventId};
use crate::webhooks::{DeliveryAttempt, EndpointView, NewEndpoint, WebhookEndpoint};

impl Tenant {
    /// Adds an endpoint for the merchant's events; the answer carries its signing secret this
    /// once (a replay under the same key answers without it: the secret is kept with the
    /// endpoint only, never with the replayed answer).
    pub async fn add_endpoint(&self, key: Option<&str>, url: &str) -> Result<NewEndpoint> {
        self.require(Scope::WebhooksWrite)?;
        let fresh = Mutex::new(None);
        let endpoint: EndpointView = self
            .once(Operation::AddEndpoint, key, &url, |_| async {
                let (endpoint, secret) = WebhookEndpoint::new(
                    EndpointId::generate(self.ids()),
                    self.merchant().clone(),
                    self.mode(),
                    url,
                    self.ledger().now(),
                    self.auth.sealer().as_ref(),
                )
                .await?;
                self.store().save_endpoint(&endpoint).await?;
                if let Ok(mut slot) = fresh.lock() {
                    *slot = Some(Zeroizing::new(secret.expose()));
                }
                Ok(EndpointView::from(&endpoint))
            })
            .await?;
        Ok(NewEndpoint {
            endpoint,
            secret: fresh.into_inner().ok().flatten(),
        })
    }

    /// The merchant's webhook endpoints (no secrets).
    pub async fn endpoints(&self) -> Result<Vec<EndpointView>> {
        self.require(Scope::WebhooksWrite)?;
        Ok(self
            .own_endpoints()
            .await?
            .iter()
            .map(EndpointView::from)
            .collect())
    }

    /// Delivery attempts of an event to the merchant's endpoints.
    pub async fn delivery_attempts(&self, event: &EventId) -> Result<Vec<DeliveryAttempt>> {
        self.require(Scope::WebhooksWrite)?;
        let mine: Vec<EndpointId> = self
            .own_endpoints()
            .await?
            .into_iter()
            .map(|e| e.id)
            .collect();
        let attempts = self.store().delivery_attempts(event).await?;
        Ok(attempts
            .into_iter()
            .filter(|a| mine.contains(&a.endpoint_id))
            .collect())
    }

    /// The merchant's endpoints in the tenant's mode.
    async fn own_endpoints(&self) -> Result<Vec<WebhookEndpoint>> {
        let mut endpoints = self.store().endpoints(self.merchant()).await?;
        endpoints.retain(|endpoint| endpoint.mode == self.mode());
        Ok(endpoints)
    }
}
