//! Payments, customers, webhook endpoints and events, in process: the tenant API.

use async_trait::async_trait;
use obol::auth::Principal;
use obol::payments::{
    Child, Customer, EventQuery, NewCustomer, Payment, PaymentQuery, PaymentRequest, SavedMethod,
    StoredEvent,
};
use obol::webhooks::DeliveryAttempt;
use obol::{AssetCode, CustomerId, EventId, PaymentId, PaymentMethodId, Result};

use super::Local;
use crate::services::{
    CreatePayment, EndpointView, MerchantBalance, MethodInput, NewEndpoint, PaymentsService,
};

#[async_trait]
impl PaymentsService for Local {
    async fn create_payment(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreatePayment,
    ) -> Result<Payment> {
        self.tenant(who).create_payment(key, request).await
    }

    async fn confirm_payment(
        &self,
        who: &Principal,
        key: Option<&str>,
        id: &PaymentId,
        method: Option<MethodInput>,
    ) -> Result<Payment> {
        self.tenant(who).confirm_payment(key, id, method).await
    }

    async fn execute(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: PaymentRequest,
    ) -> Result<Payment> {
        self.tenant(who).execute(key, request).await
    }

    async fn payment(&self, who: &Principal, id: &PaymentId) -> Result<Payment> {
        self.tenant(who).payment(id).await
    }

    async fn list(&self, who: &Principal, query: PaymentQuery) -> Result<Vec<Payment>> {
        self.tenant(who).payments(query).await
    }

    async fn children(&self, who: &Principal, id: &PaymentId) -> Result<Vec<Child>> {
        self.tenant(who).children(id).await
    }

    async fn events(&self, who: &Principal, query: EventQuery) -> Result<Vec<StoredEvent>> {
        self.tenant(who).events(query).await
    }

    async fn create_customer(
        &self,
        who: &Principal,
        key: Option<&str>,
        new: NewCustomer,
    ) -> Result<Customer> {
        self.tenant(who).create_customer(key, new).await
    }

    async fn customer(&self, who: &Principal, id: &CustomerId) -> Result<Customer> {
        self.tenant(who).customer(id).await
    }

    async fn save_method(
        &self,
        who: &Principal,
        key: Option<&str>,
        customer: &CustomerId,
        method: MethodInput,
    ) -> Result<SavedMethod> {
        self.tenant(who).save_method(key, customer, method).await
    }

    async fn saved_methods(
        &self,
        who: &Principal,
        customer: &CustomerId,
    ) -> Result<Vec<SavedMethod>> {
        self.tenant(who).saved_methods(customer).await
    }

    async fn detach_method(&self, who: &Principal, id: &PaymentMethodId) -> Result<SavedMethod> {
        self.tenant(who).detach_method(id).await
    }

    async fn balances(
        &self,
        who: &Principal,
        assets: &[AssetCode],
    ) -> Result<Vec<MerchantBalance>> {
        self.tenant(who).balances(assets).await
    }

    async fn add_endpoint(
        &self,
        who: &Principal,
        key: Option<&str>,
        url: &str,
    ) -> Result<NewEndpoint> {
        self.tenant(who).add_endpoint(key, url).await
    }

    async fn endpoints(&self, who: &Principal) -> Result<Vec<EndpointView>> {
        self.tenant(who).endpoints().await
    }

    async fn delivery_attempts(
        &self,
        who: &Principal,
        event: &EventId,
    ) -> Result<Vec<DeliveryAttempt>> {
        self.tenant(who).delivery_attempts(event).await
    }

    async fn provider_webhook(
        &self,
        provider: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Option<Payment>> {
        self.engine
            .payments()
            .handle_provider_webhook(provider, headers, body)
            .await
    }

    async fn ready(&self) -> Result<()> {
        self.engine.store().ready().await
    }
}
