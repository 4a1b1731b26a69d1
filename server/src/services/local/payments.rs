//! Payments, customers, webhook endpoints and events, in process.

use async_trait::async_trait;
use obol::auth::{Principal, Scope};
use obol::payments::{
    CaptureMethod, CardDetails, Child, Customer, EventQuery, MethodToken, NewCustomer, NewPayment,
    Payment, PaymentQuery, PaymentRequest, PaymentStatus, Payments, SavedMethod, StoredEvent,
    keyed_payment_id,
};
use obol::webhooks::DeliveryAttempt;
use obol::{
    AssetCode, Balance, CustomerId, Error, EventId, PaymentId, PaymentMethodId, Result, Timestamp,
};

use super::{Local, allow, scoped_key};
use crate::services::{
    CreatePayment, EndpointView, MerchantBalance, MethodInput, NewEndpoint, PaymentsService,
};

/// The scope a payment request needs.
fn scope_of(request: &PaymentRequest) -> Scope {
    match request {
        PaymentRequest::Refund { .. } => Scope::RefundsWrite,
        _ => Scope::PaymentsWrite,
    }
}

/// The payment an existing-payment request is about (`None` for a creation).
fn target_of(request: &PaymentRequest) -> Option<&PaymentId> {
    match request {
        PaymentRequest::Create(_) => None,
        PaymentRequest::AttachMethod { payment, .. }
        | PaymentRequest::AttachSavedMethod { payment, .. }
        | PaymentRequest::Confirm { payment }
        | PaymentRequest::CompleteAction { payment }
        | PaymentRequest::Capture { payment, .. }
        | PaymentRequest::Cancel { payment, .. }
        | PaymentRequest::Expire { payment }
        | PaymentRequest::Refund { payment, .. } => Some(payment),
    }
}

impl Local {
    /// The id of a payment created under `key`, the key scoped by tenant (see
    /// [`keyed_payment_id`]).
    fn new_payment_id(
        &self,
        who: &Principal,
        key: Option<&str>,
        claimed_at: Option<Timestamp>,
    ) -> PaymentId {
        let seed = key.map(|key| scoped_key(who, "payments.create", key));
        keyed_payment_id(
            seed.as_deref(),
            claimed_at,
            self.engine.ledger().ids().as_ref(),
        )
    }

    /// Turns a client's method into a provider token, checking everything first: card data
    /// goes to the provider's tokenizer and no further; a saved method must be the
    /// customer's.
    async fn resolve_method(
        &self,
        who: &Principal,
        customer: Option<&CustomerId>,
        method: MethodInput,
    ) -> Result<MethodToken> {
        let payments = self.engine.payments();
        match method {
            MethodInput::Card(card) => {
                let card = CardDetails::new(
                    &card.number,
                    card.exp_month,
                    card.exp_year,
                    &card.cvc,
                    self.engine.now(),
                )?;
                payments.tokenize_card(SANDBOX, &card).await
            }
            MethodInput::Token(token) => Ok(token),
            MethodInput::Saved(id) => {
                let unknown = || Error::PaymentMethodNotFound { id: id.to_string() };
                let saved = self.engine.payments().usable_method(&id).await?;
                if customer != Some(&saved.customer) {
                    return Err(unknown());
                }
                self.own_customer(who, &saved.customer).await?;
                Ok(saved.token)
            }
        }
    }

    /// The steps of a one-call payment, each skipped when a previous attempt already took
    /// it (the id is fixed, so a retry finds the same payment).
    async fn create_steps(
        &self,
        who: &Principal,
        id: PaymentId,
        request: CreatePayment,
    ) -> Result<Payment> {
        if request.confirm && request.payment_method.is_none() {
            return Err(Error::InvalidTransition {
                status: PaymentStatus::RequiresPaymentMethod.as_str().to_owned(),
                action: "confirm".into(),
            });
        }
        let payments = self.engine.payments();
        let mut new = NewPayment::new(id, request.amount, request.asset.clone())
            .for_merchant(who.merchant().clone());
        if request.capture_method == Some(CaptureMethod::Manual) {
            new = new.manual_capture();
        }
        new.customer = request.customer.clone();
        new.metadata = request.metadata.clone();
        // Check the method before anything is written.
        let token = match request.payment_method {
            Some(method) => Some(
                self.resolve_method(who, request.customer.as_ref(), method)
                    .await?,
            ),
            None => None,
        };
        let mut payment = match (&token, request.confirm) {
            (Some(token), true) => payments.create_and_confirm(new, token.clone()).await?,
            _ => payments.create_with_method(new, token.clone()).await?,
        };
        // A payment a first attempt made without its method (it cannot happen through this
        // call, but the id may have been used by a plain create) takes it now.
        if let Some(token) = token
            && payment.state.status == PaymentStatus::RequiresPaymentMethod
        {
            payment = payments.attach_method(&payment.id, token).await?;
        }
        if request.confirm && payment.state.status == PaymentStatus::RequiresConfirmation {
            payment = payments.confirm(&payment.id).await?;
        }
        Ok(payment)
    }
}

/// The provider card details are tokenized with.
const SANDBOX: &str = "sandbox";

#[async_trait]
impl PaymentsService for Local {
    async fn create_payment(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreatePayment,
    ) -> Result<Payment> {
        allow(who, Scope::PaymentsWrite)?;
        let fingerprint = (
            request.amount.to_string(),
            &request.asset,
            &request.capture_method,
            &request.customer,
            &request.metadata,
            request
                .payment_method
                .as_ref()
                .map(MethodInput::fingerprint),
            request.confirm,
        );
        self.once(who, "payments.create", key, &fingerprint, |claimed_at| {
            let id = self.new_payment_id(who, key, claimed_at);
            self.create_steps(who, id, request.clone())
        })
        .await
    }

    async fn confirm_payment(
        &self,
        who: &Principal,
        key: Option<&str>,
        id: &PaymentId,
        method: Option<MethodInput>,
    ) -> Result<Payment> {
        allow(who, Scope::PaymentsWrite)?;
        let payment = self.own_payment(who, id).await?;
        let fingerprint = (id, method.as_ref().map(MethodInput::fingerprint));
        let payments = self.engine.payments();
        self.once(who, "payments.confirm", key, &fingerprint, |_| async {
            let mut current = payment;
            if let Some(method) = method.clone() {
                let token = self
                    .resolve_method(who, current.customer.as_ref(), method)
                    .await?;
                current = payments.attach_method(id, token).await?;
            }
            payments.confirm(&current.id).await
        })
        .await
    }
    async fn execute(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: PaymentRequest,
    ) -> Result<Payment> {
        allow(who, scope_of(&request))?;
        let request = match request {
            PaymentRequest::Create(mut new) => {
                new.merchant = who.merchant().clone();
                PaymentRequest::Create(new)
            }
            other => other,
        };
        if let Some(id) = target_of(&request) {
            self.own_payment(who, id).await?;
        }
        let payments = self.engine.payments();
        let scoped = key.map(|key| scoped_key(who, "payments", key));
        payments.execute(scoped.as_deref(), request).await
    }

    async fn payment(&self, who: &Principal, id: &PaymentId) -> Result<Payment> {
        allow(who, Scope::PaymentsRead)?;
        self.own_payment(who, id).await
    }

    async fn list(&self, who: &Principal, mut query: PaymentQuery) -> Result<Vec<Payment>> {
        allow(who, Scope::PaymentsRead)?;
        query.merchant = who.merchant().clone();
        self.engine.payments().list(&query).await
    }

    async fn children(&self, who: &Principal, id: &PaymentId) -> Result<Vec<Child>> {
        allow(who, Scope::PaymentsRead)?;
        self.own_payment(who, id).await?;
        self.engine.payments().children(id).await
    }

    async fn events(&self, who: &Principal, mut query: EventQuery) -> Result<Vec<StoredEvent>> {
        allow(who, Scope::PaymentsRead)?;
        query.merchant = who.merchant().clone();
        self.engine.payments().events(&query).await
    }

    async fn create_customer(
        &self,
        who: &Principal,
        key: Option<&str>,
        new: NewCustomer,
    ) -> Result<Customer> {
        allow(who, Scope::PaymentsWrite)?;
        let new = new.for_merchant(who.merchant().clone());
        let payments = self.engine.payments();
        self.once(who, "customers", key, &new, |_| {
            payments.create_customer(new.clone())
        })
        .await
    }

    async fn customer(&self, who: &Principal, id: &CustomerId) -> Result<Customer> {
        allow(who, Scope::PaymentsRead)?;
        self.own_customer(who, id).await
    }

    async fn save_method(
        &self,
        who: &Principal,
        key: Option<&str>,
        customer: &CustomerId,
        method: MethodInput,
    ) -> Result<SavedMethod> {
        allow(who, Scope::PaymentsWrite)?;
        self.own_customer(who, customer).await?;
        let payments = self.engine.payments();
        let request = (customer, method.fingerprint());
        self.once(who, "payment_methods", key, &request, |_| async {
            let token = self.resolve_method(who, Some(customer), method).await?;
            payments.save_method(customer, token).await
        })
        .await
    }

    async fn saved_methods(
        &self,
        who: &Principal,
        customer: &CustomerId,
    ) -> Result<Vec<SavedMethod>> {
        allow(who, Scope::PaymentsRead)?;
        self.own_customer(who, customer).await?;
        self.engine.payments().saved_methods(customer).await
    }

    async fn detach_method(&self, who: &Principal, id: &PaymentMethodId) -> Result<SavedMethod> {
        allow(who, Scope::PaymentsWrite)?;
        let method = self.engine.payments().usable_method(id).await?;
        if self.own_customer(who, &method.customer).await.is_err() {
            return Err(Error::PaymentMethodNotFound { id: id.to_string() });
        }
        self.engine.payments().detach_method(id).await
    }

    async fn balances(
        &self,
        who: &Principal,
        assets: &[AssetCode],
    ) -> Result<Vec<MerchantBalance>> {
        allow(who, Scope::LedgerRead)?;
        let mut found = Vec::with_capacity(assets.len());
        for asset in assets {
            let ledger = self.engine.ledger();
            ledger.asset(asset.as_str())?;
            let account = Payments::merchant_account_id(who.merchant(), asset);
            // Never paid in this asset: nothing to show, and nothing is opened by reading.
            let balance = match ledger.balance(&account).await {
                Err(Error::AccountNotFound { .. }) => Balance::default(),
                other => other?,
            };
            found.push(MerchantBalance {
                asset: asset.clone(),
                account,
                balance,
            });
        }
        Ok(found)
    }

    async fn add_endpoint(
        &self,
        who: &Principal,
        key: Option<&str>,
        url: &str,
    ) -> Result<NewEndpoint> {
        allow(who, Scope::WebhooksWrite)?;
        let webhooks = &self.engine.webhooks;
        self.once(who, "webhook_endpoints", key, &url, |_| async {
            let endpoint = webhooks.add_endpoint(who.merchant(), url).await?;
            Ok(NewEndpoint {
                endpoint: EndpointView::from(&endpoint),
                secret: endpoint.secret.expose(),
            })
        })
        .await
    }

    async fn endpoints(&self, who: &Principal) -> Result<Vec<EndpointView>> {
        allow(who, Scope::WebhooksWrite)?;
        let endpoints = self.engine.store().endpoints(who.merchant()).await?;
        Ok(endpoints.iter().map(EndpointView::from).collect())
    }

    async fn delivery_attempts(
        &self,
        who: &Principal,
        event: &EventId,
    ) -> Result<Vec<DeliveryAttempt>> {
        allow(who, Scope::WebhooksWrite)?;
        let mine: Vec<_> = self
            .engine
            .store()
            .endpoints(who.merchant())
            .await?
            .into_iter()
            .map(|e| e.id)
            .collect();
        let attempts = self.engine.store().delivery_attempts(event).await?;
        Ok(attempts
            .into_iter()
            .filter(|a| mine.contains(&a.endpoint_id))
            .collect())
    }

    async fn provider_webhook(
        &self,
        provider: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Payment> {
        self.engine
            .payments()
            .handle_provider_webhook(provider, headers, body)
            .await
    }

    async fn ready(&self) -> Result<()> {
        self.engine.store().ready().await
    }
}
