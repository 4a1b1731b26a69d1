//! The services in process: each method checks the caller against the engine's one
//! authorization rule, keeps the caller inside its own tenant, and calls the engine.

use std::sync::Arc;

use async_trait::async_trait;
use obol::auth::{Jwks, NewUser, Password, Principal, Profile, Scope, authorize};
use obol::idempotency::run_once;
use obol::payments::{
    CaptureMethod, CardDetails, Child, Customer, EventQuery, MethodToken, NewCustomer, NewPayment,
    Payment, PaymentQuery, PaymentRequest, PaymentStatus, Payments, SavedMethod, StoredEvent,
};
use obol::webhooks::DeliveryAttempt;
use obol::{
    Account, AccountId, ApiKeyId, AssetCode, Balance, CustomerId, Entry, Error, EventId,
    HistoryEntry, Hold, LedgerCommand, NewAccount, Page, PaymentId, PaymentMethodId, Result,
    Timestamp, Transaction, TransactionId, UserId,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{
    ApiKeyView, AuthService, CreateApiKey, CreatePayment, CreateUser, EndpointView, IssuedTokens,
    LedgerService, LoginRequest, MerchantBalance, MethodInput, NewApiKey, NewEndpoint,
    PaymentsService, Services, UserView,
};
use crate::engine::Engine;

/// The metadata key naming the merchant that owns a ledger account.
pub const OWNER_KEY: &str = "merchant";

/// All three services over one engine in this process.
#[derive(Clone)]
pub struct Local {
    engine: Arc<Engine>,
}

impl Local {
    /// The services of `engine`.
    pub fn services(engine: Arc<Engine>) -> Services {
        let local = Arc::new(Local { engine });
        Services {
            payments: local.clone(),
            ledger: local.clone(),
            auth: local,
        }
    }

    /// Runs `work` once per (tenant, operation, key): the first answer is stored and replayed.
    async fn once<T, F, Fut>(
        &self,
        who: &Principal,
        operation: &str,
        key: Option<&str>,
        request: &(impl Serialize + Sync),
        work: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: std::future::Future<Output = Result<T>> + Send,
    {
        match key {
            None => work().await,
            Some(key) => {
                let scoped = scoped_key(who, operation, key);
                let store = self.engine.store().as_ref();
                run_once(store, &scoped, request, self.engine.now(), work).await
            }
        }
    }

    /// A payment of the caller's tenant; another tenant's is as good as unknown.
    async fn own_payment(&self, who: &Principal, id: &PaymentId) -> Result<Payment> {
        let payment = self.engine.payments.payment(id).await?;
        if payment.merchant != *who.merchant() {
            return Err(Error::PaymentNotFound { id: id.to_string() });
        }
        Ok(payment)
    }

    async fn own_customer(&self, who: &Principal, id: &CustomerId) -> Result<Customer> {
        let customer = self.engine.payments.customer(id).await?;
        if customer.merchant != *who.merchant() {
            return Err(Error::CustomerNotFound { id: id.to_string() });
        }
        Ok(customer)
    }

    /// An account the caller's tenant owns, with its balance.
    async fn own_account(&self, who: &Principal, id: &AccountId) -> Result<(Account, Balance)> {
        let found = self.engine.ledger().account_and_balance(id).await?;
        if found.0.metadata.get(OWNER_KEY).map(String::as_str) != Some(who.merchant().as_str()) {
            return Err(Error::AccountNotFound {
                account: id.to_string(),
            });
        }
        Ok(found)
    }

    /// Every account the entries touch belongs to the caller's tenant.
    async fn own_entries(&self, who: &Principal, entries: &[Entry]) -> Result<()> {
        for entry in entries {
            self.own_account(who, &entry.account).await?;
        }
        Ok(())
    }

    /// Whether any of the entries touches an account of the caller's tenant.
    async fn touches(&self, who: &Principal, entries: &[Entry]) -> bool {
        for entry in entries {
            if self.own_account(who, &entry.account).await.is_ok() {
                return true;
            }
        }
        false
    }
}

/// The idempotency key as stored: tenant and operation keep callers' keys apart, and the
/// caller's key (up to 255 characters) is hashed to keep the stored key short.
fn scoped_key(who: &Principal, operation: &str, key: &str) -> String {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!("{}:{operation}:{digest}", who.merchant())
}

fn allow(who: &Principal, scope: Scope) -> Result<()> {
    authorize(who, scope, who.merchant())
}

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
    /// Turns a client's method into a provider token, checking everything first: card data
    /// goes to the provider's tokenizer and no further; a saved method must be the
    /// customer's.
    async fn resolve_method(
        &self,
        who: &Principal,
        customer: Option<&CustomerId>,
        method: MethodInput,
    ) -> Result<MethodToken> {
        let payments = &self.engine.payments;
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
                let saved = self
                    .engine
                    .store()
                    .saved_method(&id)
                    .await?
                    .filter(|m| !m.detached)
                    .ok_or_else(unknown)?;
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
        let payments = &self.engine.payments;
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
        let mut payment = payments.create(new).await?;
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
        let id = match key {
            Some(key) => PaymentId::derived(&scoped_key(who, "payments.create", key)),
            None => PaymentId::generate(self.engine.ledger().ids().as_ref()),
        };
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
        self.once(who, "payments.create", key, &fingerprint, || {
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
        let payments = &self.engine.payments;
        self.once(who, "payments.confirm", key, &fingerprint, || async {
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
        let payments = &self.engine.payments;
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
        self.engine.payments.list(&query).await
    }

    async fn children(&self, who: &Principal, id: &PaymentId) -> Result<Vec<Child>> {
        allow(who, Scope::PaymentsRead)?;
        self.own_payment(who, id).await?;
        self.engine.payments.children(id).await
    }

    async fn events(&self, who: &Principal, mut query: EventQuery) -> Result<Vec<StoredEvent>> {
        allow(who, Scope::PaymentsRead)?;
        query.merchant = who.merchant().clone();
        self.engine.payments.events(&query).await
    }

    async fn create_customer(
        &self,
        who: &Principal,
        key: Option<&str>,
        new: NewCustomer,
    ) -> Result<Customer> {
        allow(who, Scope::PaymentsWrite)?;
        let new = new.for_merchant(who.merchant().clone());
        let payments = &self.engine.payments;
        self.once(who, "customers", key, &new, || {
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
        let payments = &self.engine.payments;
        let request = (customer, method.fingerprint());
        self.once(who, "payment_methods", key, &request, || async {
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
        self.engine.payments.saved_methods(customer).await
    }

    async fn detach_method(&self, who: &Principal, id: &PaymentMethodId) -> Result<SavedMethod> {
        allow(who, Scope::PaymentsWrite)?;
        let store = self.engine.store();
        let method = store
            .saved_method(id)
            .await?
            .ok_or_else(|| Error::PaymentMethodNotFound { id: id.to_string() })?;
        if self.own_customer(who, &method.customer).await.is_err() {
            return Err(Error::PaymentMethodNotFound { id: id.to_string() });
        }
        self.engine.payments.detach_method(id).await
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
        self.once(who, "webhook_endpoints", key, &url, || async {
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
            .payments
            .handle_provider_webhook(provider, headers, body)
            .await
    }

    async fn ready(&self) -> Result<()> {
        self.engine.store().custom_assets().await.map(|_| ())
    }
}

#[async_trait]
impl LedgerService for Local {
    async fn create_account(
        &self,
        who: &Principal,
        key: Option<&str>,
        new: NewAccount,
    ) -> Result<Account> {
        allow(who, Scope::LedgerWrite)?;
        if new
            .metadata
            .get(OWNER_KEY)
            .is_some_and(|owner| owner != who.merchant().as_str())
        {
            return Err(Error::InvalidMetadata {
                reason: format!("the metadata key {OWNER_KEY:?} is reserved"),
            });
        }
        let new = new.with_metadata(OWNER_KEY, who.merchant().as_str());
        let ledger = self.engine.ledger();
        self.once(who, "accounts", key, &new, || {
            ledger.create_account(new.clone())
        })
        .await
    }

    async fn account(&self, who: &Principal, id: &AccountId) -> Result<(Account, Balance)> {
        allow(who, Scope::LedgerRead)?;
        self.own_account(who, id).await
    }

    async fn close_account(&self, who: &Principal, id: &AccountId) -> Result<Account> {
        allow(who, Scope::LedgerWrite)?;
        self.own_account(who, id).await?;
        self.engine.ledger().close_account(id).await
    }

    async fn balance_at(&self, who: &Principal, id: &AccountId, at: Timestamp) -> Result<Balance> {
        allow(who, Scope::LedgerRead)?;
        self.own_account(who, id).await?;
        self.engine.ledger().balance_at(id, at).await
    }

    async fn submit(&self, who: &Principal, command: LedgerCommand) -> Result<Transaction> {
        allow(who, Scope::LedgerWrite)?;
        let ledger = self.engine.ledger();
        match &command {
            LedgerCommand::Transfer(t) => self.own_entries(who, &t.entries).await?,
            LedgerCommand::Hold(h) => self.own_entries(who, &h.entries).await?,
            LedgerCommand::PostHold(p) => {
                self.own_entries(who, &ledger.get_hold(&p.hold_id).await?.entries)
                    .await?;
            }
            LedgerCommand::VoidHold(v) => {
                self.own_entries(who, &ledger.get_hold(&v.hold_id).await?.entries)
                    .await?;
            }
            LedgerCommand::Reverse(r) => {
                let original = ledger.transaction(&r.transaction_id).await?;
                self.own_entries(who, &original.entries).await?;
            }
            LedgerCommand::ExpireHold(_) => {
                return Err(Error::InvalidTransaction {
                    reason: "holds expire on their own".into(),
                });
            }
        }
        ledger.submit(command).await
    }

    async fn transaction(&self, who: &Principal, id: &TransactionId) -> Result<Transaction> {
        allow(who, Scope::LedgerRead)?;
        let transaction = self.engine.ledger().transaction(id).await?;
        if !self.touches(who, &transaction.entries).await {
            return Err(Error::TransactionNotFound { id: id.to_string() });
        }
        Ok(transaction)
    }

    async fn hold(&self, who: &Principal, id: &TransactionId) -> Result<Hold> {
        allow(who, Scope::LedgerRead)?;
        let hold = self.engine.ledger().get_hold(id).await?;
        if !self.touches(who, &hold.entries).await {
            return Err(Error::HoldNotFound { id: id.to_string() });
        }
        Ok(hold)
    }

    async fn history(
        &self,
        who: &Principal,
        id: &AccountId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<HistoryEntry>> {
        allow(who, Scope::LedgerRead)?;
        self.own_account(who, id).await?;
        self.engine.ledger().history(id, cursor, limit).await
    }
}

/// Users may read and edit themselves; anything else about users needs `users:admin`.
fn allow_user(who: &Principal, id: &UserId) -> Result<()> {
    match who {
        Principal::User { user, .. } if user == id => Ok(()),
        _ => allow(who, Scope::UsersAdmin),
    }
}

#[async_trait]
impl AuthService for Local {
    async fn authenticate(&self, credential: &str) -> Result<Principal> {
        let auth = &self.engine.auth;
        if credential.starts_with("obol_sk_") {
            auth.authenticate_api_key(credential).await
        } else {
            auth.verify_access_token(credential).await
        }
    }

    async fn login(&self, request: LoginRequest, source: Option<&str>) -> Result<IssuedTokens> {
        let merchant = request
            .merchant
            .unwrap_or_else(obol::payments::default_merchant);
        let password = Password::new(&request.password);
        let tokens = self
            .engine
            .auth
            .login(&merchant, &request.email, &password, source)
            .await?;
        Ok(self.issued(tokens))
    }

    async fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens> {
        let tokens = self.engine.auth.refresh(refresh_token).await?;
        Ok(self.issued(tokens))
    }

    async fn logout(&self, refresh_token: &str) -> Result<()> {
        self.engine.auth.logout(refresh_token).await
    }

    async fn jwks(&self) -> Result<Jwks> {
        self.engine.auth.jwks().await
    }

    async fn create_user(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreateUser,
    ) -> Result<UserView> {
        allow(who, Scope::UsersAdmin)?;
        let auth = &self.engine.auth;
        // The request hash covers the password's hash-free fingerprint, not the password.
        let fingerprint = (
            &request.email,
            hex::encode(Sha256::digest(request.password.as_bytes())),
            &request.profile,
            &request.scopes,
        );
        self.once(who, "users", key, &fingerprint, || async {
            let user = auth
                .create_user(NewUser {
                    merchant: who.merchant().clone(),
                    email: request.email.clone(),
                    password: Password::new(&request.password),
                    profile: request.profile.clone(),
                    scopes: request.scopes.clone(),
                })
                .await?;
            Ok(UserView::from(user))
        })
        .await
    }

    async fn user(&self, who: &Principal, id: &UserId) -> Result<UserView> {
        allow_user(who, id)?;
        Ok(self.engine.auth.user(who.merchant(), id).await?.into())
    }

    async fn update_profile(
        &self,
        who: &Principal,
        id: &UserId,
        profile: Profile,
    ) -> Result<UserView> {
        allow_user(who, id)?;
        let user = self
            .engine
            .auth
            .update_profile(who.merchant(), id, profile)
            .await?;
        Ok(user.into())
    }

    async fn issue_api_key(
        &self,
        who: &Principal,
        key: Option<&str>,
        request: CreateApiKey,
    ) -> Result<NewApiKey> {
        allow(who, Scope::UsersAdmin)?;
        let auth = &self.engine.auth;
        // The secret is never stored: a replay answers with the key's record only.
        let fresh = std::sync::Mutex::new(None);
        let issued: ApiKeyView = self
            .once(who, "api_keys", key, &request, || async {
                let (key, secret) = auth
                    .issue_api_key(
                        who.merchant(),
                        &request.name,
                        request.mode,
                        request.scopes.clone(),
                        request.expires_at,
                    )
                    .await?;
                if let Ok(mut slot) = fresh.lock() {
                    *slot = Some(secret.expose().to_owned());
                }
                Ok(ApiKeyView::from(key))
            })
            .await?;
        let secret = fresh.into_inner().ok().flatten();
        Ok(NewApiKey {
            key: issued,
            secret,
        })
    }

    async fn api_keys(&self, who: &Principal) -> Result<Vec<ApiKeyView>> {
        allow(who, Scope::UsersAdmin)?;
        let keys = self.engine.auth.api_keys(who.merchant()).await?;
        Ok(keys.into_iter().map(ApiKeyView::from).collect())
    }

    async fn revoke_api_key(&self, who: &Principal, id: &ApiKeyId) -> Result<ApiKeyView> {
        allow(who, Scope::UsersAdmin)?;
        let key = self.engine.auth.revoke_api_key(who.merchant(), id).await?;
        Ok(key.into())
    }
}

impl Local {
    fn issued(&self, tokens: obol::auth::Tokens) -> IssuedTokens {
        IssuedTokens {
            access_token: tokens.access,
            token_type: "Bearer".to_owned(),
            expires_in: self.engine.auth.access_lifetime().as_secs(),
            refresh_token: tokens.refresh.expose().to_owned(),
            user: tokens.session.user,
            merchant: tokens.session.merchant,
        }
    }
}
