//! The payment engine: runs each request through the state machine, calls the provider between
//! recovery points, and writes every change (payment row, ledger postings, outbox events) as one
//! atomic [`PaymentWrite`].
//!
//! Recovery points ("atomic phases"): before a provider call that can move money, the payment
//! is written in `processing` with the provider and the attempt's idempotency key. If the
//! process dies during the call, [`Payments::sync_processing`] later asks the provider what
//! happened under that key and either records the outcome or, if the provider never saw the
//! call, returns the payment to `requires_confirmation`. The provider's own idempotency on the
//! key means a retried call never charges twice. Captures and refunds use deterministic keys
//! (derived from what was recorded before the call) for the same reason.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::card::CardDetails;
use super::children::{Child, Dispute, DisputeStatus, Refund, RefundStatus};
use super::customers::{Customer, NewCustomer, SavedMethod};
use super::model::{
    ChildWrite, Event, EventQuery, NewPayment, Payment, PaymentQuery, PaymentWrite, StoredEvent,
};
use super::postings::{PaymentAccounts, ledger_commands};
use super::provider::{
    AuthorizeRequest, ChargeOutcome, ChargeStatus, MethodToken, Provider, ProviderEvent,
    ProviderEventKind, RefundOutcome, unsupported,
};
use super::request::PaymentRequest;
use super::routing::ProviderRegistry;
use super::state::{
    CancellationReason, LedgerEffect, PaymentAction, PaymentState, PaymentStatus, transition,
};
use crate::error::{Error, Result};
use crate::id::{
    AccountId, CustomerId, DisputeId, EventId, MerchantId, PaymentId, PaymentMethodId, RefundId,
    TransactionId,
};
use crate::idempotency::run_once;
use crate::ledger::batch::Submission;
use crate::ledger::model::{Direction, LedgerCommand, NewAccount};
use crate::ledger::validate;
use crate::ledger::{Ledger, MAX_PAGE};
use crate::money::AssetCode;

/// Payments over a ledger and a set of providers.
#[derive(Debug)]
pub struct Payments {
    ledger: Arc<Ledger>,
    providers: ProviderRegistry,
    accounts: Mutex<HashMap<(MerchantId, AssetCode), PaymentAccounts>>,
}

impl Payments {
    /// A payment engine writing through `ledger`'s store, clock and ids.
    pub fn new(ledger: Arc<Ledger>, providers: ProviderRegistry) -> Self {
        Payments {
            ledger,
            providers,
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// The ledger underneath.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Gives back the ledger (to shut it down once nothing else uses it).
    pub fn into_ledger(self) -> Arc<Ledger> {
        self.ledger
    }

    /// The ledger accounts a merchant's payments in `asset` move through: the merchant's own
    /// balance, and the platform's provider clearing and fees accounts for the asset (opened
    /// on first use, with ids derived from their names so every engine instance finds the
    /// same ones).
    pub async fn accounts(
        &self,
        merchant: &MerchantId,
        asset: &AssetCode,
    ) -> Result<PaymentAccounts> {
        let key = (merchant.clone(), asset.clone());
        if let Some(found) = self.cached_accounts()?.get(&key) {
            return Ok(found.clone());
        }
        let open = |role: &str, normal: Direction| {
            let id = match role {
                "merchant" => Self::merchant_account_id(merchant, asset),
                _ => AccountId::derived(&format!("obol:payments:{role}:{asset}")),
            };
            let account = NewAccount::new(id, asset.clone(), normal).with_metadata("role", role);
            if role == "merchant" {
                account.with_metadata("merchant", merchant.as_str())
            } else {
                account
            }
        };
        let provider_clearing = self
            .ledger
            .create_account(open("provider_clearing", Direction::Debit))
            .await?
            .id;
        let merchant = self
            .ledger
            .create_account(open("merchant", Direction::Credit))
            .await?
            .id;
        let fees = self
            .ledger
            .create_account(open("fees", Direction::Debit))
            .await?
            .id;
        let accounts = PaymentAccounts {
            asset: asset.clone(),
            provider_clearing,
            merchant,
            fees,
        };
        self.cached_accounts()?.insert(key, accounts.clone());
        Ok(accounts)
    }

    /// The id of a merchant's balance account in `asset` (it exists once the merchant was
    /// first paid in that asset).
    pub fn merchant_account_id(merchant: &MerchantId, asset: &AssetCode) -> AccountId {
        AccountId::derived(&format!("obol:payments:merchant:{merchant}:{asset}"))
    }

    fn cached_accounts(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<(MerchantId, AssetCode), PaymentAccounts>>> {
        self.accounts
            .lock()
            .map_err(|_| Error::unavailable("payment accounts lock poisoned"))
    }

    /// A payment.
    pub async fn payment(&self, id: &PaymentId) -> Result<Payment> {
        self.ledger
            .store()
            .payment(id)
            .await?
            .ok_or_else(|| Error::PaymentNotFound { id: id.to_string() })
    }

    /// One merchant's payments, newest first, filtered and paged by `query`.
    pub async fn list(&self, query: &PaymentQuery) -> Result<Vec<Payment>> {
        self.ledger.store().list_payments(query).await
    }

    /// One merchant's events in order, after a position, `query.limit` of them (1 to
    /// [`MAX_PAGE`]).
    pub async fn events(&self, query: &EventQuery) -> Result<Vec<StoredEvent>> {
        let mut query = query.clone();
        query.limit = query.limit.clamp(1, MAX_PAGE);
        self.ledger.store().merchant_events(&query).await
    }

    /// Outbox events after position `after`.
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
        self.ledger.store().events_after(after, limit).await
    }

    /// Runs a request, at most once per idempotency key when one is given (Stripe's contract:
    /// see [`crate::idempotency`]).
    pub async fn execute(&self, key: Option<&str>, request: PaymentRequest) -> Result<Payment> {
        match key {
            None => self.dispatch(request).await,
            Some(key) => {
                let store = self.ledger.store().as_ref();
                let now = self.ledger.now();
                run_once(store, key, &request, now, |_| {
                    self.dispatch(request.clone())
                })
                .await
            }
        }
    }

    async fn dispatch(&self, request: PaymentRequest) -> Result<Payment> {
        match request {
            PaymentRequest::Create(new) => self.create(new).await,
            PaymentRequest::AttachMethod { payment, method } => {
                self.attach_method(&payment, method).await
            }
            PaymentRequest::AttachSavedMethod { payment, method } => {
                self.attach_saved_method(&payment, &method).await
            }
            PaymentRequest::Confirm { payment } => self.confirm(&payment).await,
            PaymentRequest::CompleteAction { payment } => self.complete_action(&payment).await,
            PaymentRequest::Capture {
                payment,
                amount,
                final_capture,
            } => self.capture(&payment, amount, final_capture).await,
            PaymentRequest::Cancel { payment, reason } => self.cancel(&payment, reason).await,
            PaymentRequest::Expire { payment } => self.expire(&payment).await,
            PaymentRequest::Refund {
                payment,
                amount,
                reason,
            } => {
                let amount = match amount {
                    Some(amount) => amount,
                    None => self.payment(&payment).await?.state.refundable(),
                };
                self.refund(&payment, amount, reason).await?;
                self.payment(&payment).await
            }
        }
    }

    /// Creates a payment in `requires_payment_method`. The same id again returns the stored
    /// payment if it was created the same way, else `idempotency_conflict`.
    pub async fn create(&self, new: NewPayment) -> Result<Payment> {
        self.create_with_method(new, None).await
    }

    /// Creates a payment with its method already attached (`requires_confirmation`) in one
    /// write, or without one as [`Payments::create`]. A replay answers the stored payment.
    pub async fn create_with_method(
        &self,
        new: NewPayment,
        method: Option<MethodToken>,
    ) -> Result<Payment> {
        let (payment, events) = match self.prepare_creation(&new, method).await? {
            Creation::Replay(existing) => return Ok(existing),
            Creation::New { payment, events } => (payment, events),
        };
        let now = self.ledger.now();
        let write = PaymentWrite {
            events,
            payment: payment.clone(),
            expected_version: None,
            ledger: Vec::new(),
            children: Vec::new(),
        };
        match self.ledger.store().write_payment(write, now).await {
            Ok(()) => Ok(payment),
            Err(Error::Contention { .. }) => self.created_concurrently(&new).await,
            Err(error) => Err(error),
        }
    }

    /// Creates a payment with its method and confirms it, writing the new payment together
    /// with its first attempt (one write fewer than [`Payments::create_with_method`] and
    /// then [`Payments::confirm`], with the same outcome and the same events). A replay
    /// answers the stored payment as it is, confirming nothing; so does a call whose write
    /// loses a race with another writer of the same payment.
    pub async fn create_and_confirm(
        &self,
        new: NewPayment,
        method: MethodToken,
    ) -> Result<Payment> {
        let route = self.route(&new.asset, &method);
        if route
            .first()
            .is_none_or(|first| first.authorizer().is_none())
        {
            // No attempt to write with: the payment is stored, and confirm says why it cannot
            // go on.
            let payment = self.create_with_method(new, Some(method)).await?;
            return self.confirm(&payment.id).await;
        }
        let (payment, events) = match self.prepare_creation(&new, Some(method)).await? {
            Creation::Replay(existing) => return Ok(existing),
            Creation::New { payment, events } => (payment, events),
        };
        match self.confirm_from(payment, Some(events)).await {
            Err(Error::Contention { .. }) => self.created_concurrently(&new).await,
            other => other,
        }
    }

    /// A payment created under the same id while this call was creating it: answered like a
    /// replay.
    async fn created_concurrently(&self, new: &NewPayment) -> Result<Payment> {
        match self.ledger.store().payment(&new.id).await? {
            Some(existing) => same_creation(existing, new),
            None => Err(Error::Contention {
                reason: "the payment changed concurrently".into(),
            }),
        }
    }

    /// Checks a creation and builds the new payment with its events, unwritten, or finds the
    /// one a previous call stored under the same id.
    async fn prepare_creation(
        &self,
        new: &NewPayment,
        method: Option<MethodToken>,
    ) -> Result<Creation> {
        self.ledger.asset(new.asset.as_str())?;
        validate::metadata(&new.metadata)?;
        let state = PaymentState::new(new.amount, new.capture_method)?;
        if let Some(customer) = &new.customer {
            // Another merchant's customer is as good as unknown here.
            if self.customer(customer).await?.merchant != new.merchant {
                return Err(Error::CustomerNotFound {
                    id: customer.to_string(),
                });
            }
        }
        if let Some(existing) = self.ledger.store().payment(&new.id).await? {
            return same_creation(existing, new).map(Creation::Replay);
        }
        let now = self.ledger.now();
        let payment = Payment {
            id: new.id.clone(),
            asset: new.asset.clone(),
            state,
            customer: new.customer.clone(),
            merchant: new.merchant.clone(),
            method: None,
            provider: None,
            provider_reference: None,
            attempt: 0,
            next_action_url: None,
            last_decline: None,
            hold_id: TransactionId::derived_at(now, &format!("obol:payments:hold:{}", new.id)),
            fees: 0,
            metadata: new.metadata.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut events = vec![self.event("payment.created", &payment, None)];
        let mut payment = payment;
        if let Some(method) = method {
            self.provider(&method.provider)?;
            let action = PaymentAction::AttachPaymentMethod;
            let step = transition(&payment.state, action)?;
            let kind = event_kind(payment.state.status, &step.next, action);
            payment.state = step.next;
            payment.method = Some(method);
            events.push(self.event(kind, &payment, None));
        }
        Ok(Creation::New { payment, events })
    }

    /// Creates a customer; the same id and details again return the stored customer, other
    /// details `idempotency_conflict`.
    pub async fn create_customer(&self, new: NewCustomer) -> Result<Customer> {
        new.validate()?;
        let customer = Customer {
            id: new.id.clone(),
            email: new.email.clone(),
            name: new.name.clone(),
            merchant: new.merchant.clone(),
            metadata: new.metadata.clone(),
            created_at: self.ledger.now(),
        };
        let stored = self.ledger.store().insert_customer(&customer).await?;
        if !stored.matches(&new) {
            return Err(Error::IdempotencyConflict {
                id: new.id.to_string(),
            });
        }
        Ok(stored)
    }

    /// A customer.
    pub async fn customer(&self, id: &CustomerId) -> Result<Customer> {
        self.ledger
            .store()
            .customer(id)
            .await?
            .ok_or_else(|| Error::CustomerNotFound { id: id.to_string() })
    }

    /// Saves a tokenized payment method for a customer.
    pub async fn save_method(
        &self,
        customer: &CustomerId,
        token: MethodToken,
    ) -> Result<SavedMethod> {
        self.customer(customer).await?;
        self.provider(&token.provider)?;
        let method = SavedMethod {
            id: PaymentMethodId::generate(self.ledger.ids().as_ref()),
            customer: customer.clone(),
            token,
            detached: false,
            created_at: self.ledger.now(),
        };
        self.ledger.store().save_method(&method).await?;
        Ok(method)
    }

    /// Tokenizes a card with `provider` and saves it for the customer. An unknown customer
    /// is refused before the card goes anywhere.
    pub async fn save_card(
        &self,
        customer: &CustomerId,
        provider: &str,
        card: &CardDetails,
    ) -> Result<SavedMethod> {
        self.customer(customer).await?;
        let token = self.tokenize_card(provider, card).await?;
        self.save_method(customer, token).await
    }

    /// A customer's usable saved payment methods, oldest first.
    pub async fn saved_methods(&self, customer: &CustomerId) -> Result<Vec<SavedMethod>> {
        self.customer(customer).await?;
        let all = self.ledger.store().saved_methods(customer).await?;
        Ok(all.into_iter().filter(|m| !m.detached).collect())
    }

    /// Detaches a saved payment method: it can no longer be used.
    pub async fn detach_method(&self, id: &PaymentMethodId) -> Result<SavedMethod> {
        let mut method = self.usable_method(id).await?;
        method.detached = true;
        self.ledger.store().save_method(&method).await?;
        Ok(method)
    }

    /// A saved method that is still usable (not detached).
    pub async fn usable_method(&self, id: &PaymentMethodId) -> Result<SavedMethod> {
        self.ledger
            .store()
            .saved_method(id)
            .await?
            .filter(|m| !m.detached)
            .ok_or_else(|| Error::PaymentMethodNotFound { id: id.to_string() })
    }

    /// Attaches one of the payment's customer's saved methods.
    pub async fn attach_saved_method(
        &self,
        payment: &PaymentId,
        method: &PaymentMethodId,
    ) -> Result<Payment> {
        let saved = self.usable_method(method).await?;
        let owner = self.payment(payment).await?.customer;
        if owner.as_ref() != Some(&saved.customer) {
            // Another customer's method is as good as unknown here.
            return Err(Error::PaymentMethodNotFound {
                id: method.to_string(),
            });
        }
        self.attach_method(payment, saved.token).await
    }

    /// Tokenizes a card with a provider (card details go to the provider only).
    pub async fn tokenize_card(&self, provider: &str, card: &CardDetails) -> Result<MethodToken> {
        let provider = self.provider(provider)?;
        provider
            .tokenizer()
            .ok_or_else(|| unsupported(provider.as_ref(), "tokenize_card"))?
            .tokenize_card(card)
            .await
    }

    /// Attaches a payment method: `requires_payment_method → requires_confirmation`.
    pub async fn attach_method(&self, id: &PaymentId, method: MethodToken) -> Result<Payment> {
        let payment = self.payment(id).await?;
        self.apply(&payment, PaymentAction::AttachPaymentMethod, |next| {
            next.method = Some(method);
            next.last_decline = None;
        })
        .await
    }

    /// Confirms: asks the provider to authorize (and, for automatic capture, capture).
    /// Declines come back as a payment in `requires_payment_method` with `last_decline` set;
    /// a timeout leaves it `processing` until [`Payments::sync_processing`] settles it.
    pub async fn confirm(&self, id: &PaymentId) -> Result<Payment> {
        let payment = self.payment(id).await?;
        self.confirm_from(payment, None).await
    }

    /// Providers that take this method in this asset and accept its token, in routing order.
    fn route(&self, asset: &AssetCode, method: &MethodToken) -> Vec<Arc<dyn Provider>> {
        self.providers
            .route(asset, method.kind)
            .into_iter()
            .filter(|p| p.accepts_token(method))
            .cloned()
            .collect()
    }

    /// Confirms `payment`. `unsaved` holds the events of a payment not stored yet: they are
    /// written with its first attempt.
    async fn confirm_from(
        &self,
        payment: Payment,
        mut unsaved: Option<Vec<Event>>,
    ) -> Result<Payment> {
        transition(&payment.state, PaymentAction::Confirm)?;
        let method = payment
            .method
            .clone()
            .ok_or_else(|| Error::InvalidTransition {
                status: payment.state.status.as_str().to_owned(),
                action: "confirm".into(),
            })?;
        let route = self.route(&payment.asset, &method);
        let mut current = payment;
        let mut last = Error::NoProvider {
            asset: current.asset.to_string(),
            method: method.kind.as_str().to_owned(),
        };
        for provider in route {
            match self
                .confirm_with(&current, provider.as_ref(), &method, unsaved.take())
                .await?
            {
                Ok(done) => return Ok(done),
                // The call did not happen: the next provider gets its own attempt.
                Err((aborted, error @ Error::ProviderUnavailable { .. })) => {
                    tracing::warn!(provider = provider.name(), %error, "provider unavailable; trying the next");
                    current = aborted;
                    last = error;
                }
                Err((_, error)) => return Err(error),
            }
        }
        Err(last)
    }

    /// One confirmation attempt with one provider. The outer error is a store failure; the
    /// inner one a provider call that did not take effect, with the payment returned to
    /// `requires_confirmation`.
    async fn confirm_with(
        &self,
        payment: &Payment,
        provider: &dyn Provider,
        method: &MethodToken,
        unsaved: Option<Vec<Event>>,
    ) -> Result<std::result::Result<Payment, (Payment, Error)>> {
        let authorizer = provider
            .authorizer()
            .ok_or_else(|| unsupported(provider, "authorize"))?;
        // Recovery point: the attempt, its provider and its key are durable before the call.
        let processing = self
            .apply_with(
                payment,
                PaymentAction::Confirm,
                |next| {
                    next.attempt += 1;
                    next.provider = Some(provider.name().to_owned());
                    next.provider_reference = None;
                    next.next_action_url = None;
                },
                unsaved,
            )
            .await?;
        let request = AuthorizeRequest {
            payment_id: processing.id.clone(),
            idempotency_key: processing.attempt_key(),
            amount: processing.state.amount,
            asset: processing.asset.clone(),
            token: method.token.clone(),
            capture_method: processing.state.capture_method,
        };
        match authorizer.authorize(&request).await {
            Ok(outcome) => Ok(Ok(self.settle(&processing, outcome).await?)),
            Err(error @ Error::ProviderTimeout { .. }) => {
                tracing::warn!(payment = %processing.id, %error, "outcome unknown; left processing for status sync");
                Ok(Ok(processing))
            }
            Err(error) => {
                // Any other failure means the call did not take effect: confirm may be retried.
                let aborted = self
                    .apply(&processing, PaymentAction::Abort, |_| {})
                    .await?;
                Ok(Err((aborted, error)))
            }
        }
    }

    /// Continues after the customer completed the provider's action (3-D Secure).
    pub async fn complete_action(&self, id: &PaymentId) -> Result<Payment> {
        let payment = self.payment(id).await?;
        // Refuse a payment that is not waiting for an action before looking at its charge.
        transition(&payment.state, PaymentAction::CompleteAction)?;
        let (provider, reference) = self.charge_of(&payment)?;
        let authorizer = provider
            .authorizer()
            .ok_or_else(|| unsupported(provider.as_ref(), "authorize"))?;
        let processing = self
            .apply(&payment, PaymentAction::CompleteAction, |next| {
                next.next_action_url = None;
            })
            .await?;
        match authorizer.complete_action(&reference).await {
            Ok(outcome) => self.settle(&processing, outcome).await,
            Err(error @ Error::ProviderTimeout { .. }) => {
                tracing::warn!(payment = %processing.id, %error, "outcome unknown; left processing for status sync");
                Ok(processing)
            }
            Err(error) => Err(error),
        }
    }

    /// Captures `amount` (all that is capturable when `None`); `final_capture` releases the
    /// rest. Several partial captures are allowed up to the authorized amount.
    pub async fn capture(
        &self,
        id: &PaymentId,
        amount: Option<i128>,
        final_capture: bool,
    ) -> Result<Payment> {
        let payment = self.payment(id).await?;
        let amount = amount.unwrap_or_else(|| payment.state.capturable());
        let action = PaymentAction::Capture {
            amount,
            final_capture,
        };
        // Refuse bad requests before calling anyone.
        transition(&payment.state, action)?;
        let (provider, reference) = self.charge_of(&payment)?;
        let key = format!("{}:capture:{}", payment.id, payment.state.captured);
        provider
            .capturer()
            .ok_or_else(|| unsupported(provider.as_ref(), "capture"))?
            .capture(&reference, &key, amount, final_capture)
            .await?;
        self.apply(&payment, action, |_| {}).await
    }

    /// Cancels a payment that has not been captured (an authorization is released).
    pub async fn cancel(&self, id: &PaymentId, reason: CancellationReason) -> Result<Payment> {
        let payment = self.payment(id).await?;
        let action = PaymentAction::Cancel { reason };
        transition(&payment.state, action)?;
        self.release_at_provider(&payment).await?;
        self.apply(&payment, action, |_| {}).await
    }

    /// Expires a payment whose window ran out: an uncaptured authorization is released and the
    /// payment canceled; a partly captured one keeps what was captured and succeeds.
    pub async fn expire(&self, id: &PaymentId) -> Result<Payment> {
        let payment = self.payment(id).await?;
        transition(&payment.state, PaymentAction::Expire)?;
        if payment.state.captured == 0 {
            self.release_at_provider(&payment).await?;
        }
        self.apply(&payment, PaymentAction::Expire, |_| {}).await
    }

    /// Expires what has waited too long: authorizations not captured within `capture_window`
    /// (released at the provider), and payments waiting for a method, a confirmation or a
    /// customer action for longer than `abandon_after`. Returns how many expired.
    pub async fn expire_stale(
        &self,
        capture_window: Duration,
        abandon_after: Duration,
    ) -> Result<usize> {
        let mut expired = 0;
        for (status, age) in [
            (PaymentStatus::RequiresCapture, capture_window),
            (PaymentStatus::RequiresPaymentMethod, abandon_after),
            (PaymentStatus::RequiresConfirmation, abandon_after),
            (PaymentStatus::RequiresAction, abandon_after),
        ] {
            let cutoff = self.cutoff(age);
            let waiting = self
                .ledger
                .store()
                .payments_with_status(status, 256)
                .await?;
            for payment in waiting
                .into_iter()
                .filter(|p| p.updated_at.as_micros() <= cutoff)
            {
                match self.expire(&payment.id).await {
                    Ok(_) => expired += 1,
                    // Changed meanwhile (captured, confirmed, …): nothing to expire.
                    Err(Error::Contention { .. } | Error::InvalidTransition { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(expired)
    }

    /// Refunds `amount` of what was captured. The amount is reserved and the money going back
    /// held before the provider is called (the recovery point); the refund then succeeds,
    /// fails, or stays pending until [`Payments::sync_refunds`] settles it.
    pub async fn refund(
        &self,
        id: &PaymentId,
        amount: i128,
        reason: Option<String>,
    ) -> Result<Refund> {
        let payment = self.payment(id).await?;
        let step = transition(&payment.state, PaymentAction::Refund { amount })?;
        self.charge_of(&payment)?;
        let now = self.ledger.now();
        let refund_id = RefundId::generate(self.ledger.ids().as_ref());
        let refund = Refund {
            hold_id: TransactionId::derived(&format!("obol:payments:hold:{refund_id}")),
            id: refund_id,
            payment_id: payment.id.clone(),
            amount,
            status: RefundStatus::Pending,
            reason,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut next = payment.clone();
        next.state = step.next;
        let held = self
            .commit_child(
                &payment,
                next,
                Child::Refund(refund.clone()),
                None,
                &[LedgerEffect::HoldReturn { amount }],
                "refund.created",
            )
            .await?;
        self.call_refund(&held, &refund).await
    }

    /// Asks the provider to pay a pending refund back (again: the refund id makes the call
    /// idempotent) and records the answer.
    async fn call_refund(&self, payment: &Payment, refund: &Refund) -> Result<Refund> {
        let (provider, reference) = self.charge_of(payment)?;
        let refunder = provider
            .refunder()
            .ok_or_else(|| unsupported(provider.as_ref(), "refund"))?;
        match refunder.refund(&reference, &refund.id, refund.amount).await {
            Ok(RefundOutcome::Succeeded) => {
                self.settle_refund(payment, refund, RefundStatus::Succeeded)
                    .await
            }
            Ok(RefundOutcome::Failed) => {
                self.settle_refund(payment, refund, RefundStatus::Failed)
                    .await
            }
            Ok(RefundOutcome::Pending) => Ok(refund.clone()),
            Err(error @ Error::ProviderTimeout { .. }) => {
                tracing::warn!(refund = %refund.id, %error, "refund outcome unknown; left pending for sync");
                Ok(refund.clone())
            }
            Err(error) => {
                // The call did not take effect: the refund is canceled and its amount freed.
                self.settle_refund(payment, refund, RefundStatus::Canceled)
                    .await?;
                Err(error)
            }
        }
    }

    async fn settle_refund(
        &self,
        payment: &Payment,
        refund: &Refund,
        status: RefundStatus,
    ) -> Result<Refund> {
        let effects = refund.status.to(status, refund.amount)?;
        let mut next = payment.clone();
        if status != RefundStatus::Succeeded {
            next.state = transition(
                &payment.state,
                PaymentAction::RefundFailed {
                    amount: refund.amount,
                },
            )?
            .next;
        }
        let mut settled = refund.clone();
        settled.status = status;
        settled.version += 1;
        settled.updated_at = self.ledger.now();
        let kind = match status {
            RefundStatus::Succeeded => "refund.succeeded",
            RefundStatus::Failed => "refund.failed",
            _ => "refund.canceled",
        };
        self.commit_child(
            payment,
            next,
            Child::Refund(settled.clone()),
            Some(refund.version),
            &effects,
            kind,
        )
        .await?;
        Ok(settled)
    }

    /// Settles refunds left pending for at least `min_age` (a crash mid-call, a timeout, a
    /// slow rail). Returns how many settled.
    pub async fn sync_refunds(&self, min_age: Duration) -> Result<usize> {
        let cutoff = self.cutoff(min_age);
        let pending = self
            .ledger
            .store()
            .children_with_status("refund", RefundStatus::Pending.as_str(), 256)
            .await?;
        let mut settled = 0;
        for child in pending {
            let Child::Refund(refund) = child else {
                continue;
            };
            if refund.updated_at.as_micros() > cutoff {
                continue;
            }
            let payment = self.payment(&refund.payment_id).await?;
            if self.call_refund(&payment, &refund).await?.status != RefundStatus::Pending {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// A payment's refunds and disputes.
    pub async fn children(&self, id: &PaymentId) -> Result<Vec<Child>> {
        self.ledger.store().children(id).await
    }

    /// Records a dispute the provider reported: the amount is withdrawn from the merchant
    /// (held) until the dispute is decided.
    pub async fn open_dispute(
        &self,
        id: &PaymentId,
        amount: i128,
        reason: &str,
    ) -> Result<Dispute> {
        let payment = self.payment(id).await?;
        let step = transition(&payment.state, PaymentAction::OpenDispute { amount })?;
        let now = self.ledger.now();
        let dispute_id = DisputeId::generate(self.ledger.ids().as_ref());
        let dispute = Dispute {
            hold_id: TransactionId::derived(&format!("obol:payments:hold:{dispute_id}")),
            id: dispute_id,
            payment_id: payment.id.clone(),
            amount,
            status: DisputeStatus::NeedsResponse,
            reason: reason.to_owned(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let mut next = payment.clone();
        next.state = step.next;
        self.commit_child(
            &payment,
            next,
            Child::Dispute(dispute.clone()),
            None,
            &[LedgerEffect::HoldReturn { amount }],
            "dispute.created",
        )
        .await?;
        Ok(dispute)
    }

    /// Moves a dispute on: evidence submitted (`under_review`), or decided (`won` returns the
    /// money to the merchant, `lost` posts it back to the customer).
    pub async fn update_dispute(&self, id: &DisputeId, status: DisputeStatus) -> Result<Dispute> {
        let Some(Child::Dispute(dispute)) = self.ledger.store().child(id.as_str()).await? else {
            return Err(Error::DisputeNotFound { id: id.to_string() });
        };
        let payment = self.payment(&dispute.payment_id).await?;
        let effects = dispute.status.to(status, dispute.amount)?;
        let mut next = payment.clone();
        if matches!(status, DisputeStatus::Won | DisputeStatus::Lost) {
            let action = PaymentAction::CloseDispute {
                amount: dispute.amount,
                won: status == DisputeStatus::Won,
            };
            next.state = transition(&payment.state, action)?.next;
        }
        let mut updated = dispute.clone();
        updated.status = status;
        updated.version += 1;
        updated.updated_at = self.ledger.now();
        let kind = match status {
            DisputeStatus::Won => "dispute.won",
            DisputeStatus::Lost => "dispute.lost",
            _ => "dispute.updated",
        };
        self.commit_child(
            &payment,
            next,
            Child::Dispute(updated.clone()),
            Some(dispute.version),
            &effects,
            kind,
        )
        .await?;
        Ok(updated)
    }

    /// Settles payments left `processing` for at least `min_age` (a crash mid-call, a timeout,
    /// a slow rail) by asking their provider what happened. Returns how many changed.
    pub async fn sync_processing(&self, min_age: Duration) -> Result<usize> {
        let cutoff = self.cutoff(min_age);
        let stuck = self
            .ledger
            .store()
            .payments_with_status(PaymentStatus::Processing, 256)
            .await?;
        let mut changed = 0;
        for payment in stuck
            .into_iter()
            .filter(|p| p.updated_at.as_micros() <= cutoff)
        {
            let provider = self.provider(payment.provider.as_deref().unwrap_or_default())?;
            let sync = provider
                .status_sync()
                .ok_or_else(|| unsupported(provider.as_ref(), "status_sync"))?;
            let after = match sync.charge_status(&payment.attempt_key()).await? {
                // The provider never saw the call: nothing was charged.
                ChargeStatus::NotFound => {
                    self.apply(&payment, PaymentAction::Abort, |_| {}).await?
                }
                ChargeStatus::Found(outcome) => self.settle(&payment, outcome).await?,
            };
            if after.state.status != PaymentStatus::Processing {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Handles a webhook a provider sent: verifies and parses it with the provider's parser,
    /// then applies it once per provider event id (a redelivery replays the first answer).
    /// Returns the payment as the event left it.
    pub async fn handle_provider_webhook(
        &self,
        provider: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Payment> {
        let provider = self.provider(provider)?;
        let parser = provider
            .webhooks()
            .ok_or_else(|| unsupported(provider.as_ref(), "webhooks"))?;
        let now = self.ledger.now();
        let event = parser.parse_webhook(headers, body, now)?;
        let key = format!("provider-event:{}:{}", provider.name(), event.id);
        let store = self.ledger.store().as_ref();
        run_once(store, &key, &event, now, |_| {
            self.apply_provider_event(provider.name(), event.clone())
        })
        .await
    }

    async fn apply_provider_event(&self, provider: &str, event: ProviderEvent) -> Result<Payment> {
        let payment = self
            .ledger
            .store()
            .payment_by_reference(provider, &event.reference)
            .await?
            .ok_or_else(|| Error::PaymentNotFound {
                id: event.reference.clone(),
            })?;
        match event.kind {
            ProviderEventKind::ChargeSettled(outcome) => {
                if matches!(
                    payment.state.status,
                    PaymentStatus::Processing | PaymentStatus::RequiresAction
                ) {
                    self.settle(&payment, outcome).await
                } else {
                    // Already settled (by the call's answer or a status sync).
                    Ok(payment)
                }
            }
            ProviderEventKind::DisputeOpened { amount, reason } => {
                self.open_dispute(&payment.id, amount, &reason).await?;
                self.payment(&payment.id).await
            }
            ProviderEventKind::DisputeWon | ProviderEventKind::DisputeLost => {
                let open = self
                    .children(&payment.id)
                    .await?
                    .into_iter()
                    .rev()
                    .find_map(|child| match child {
                        Child::Dispute(d)
                            if matches!(
                                d.status,
                                DisputeStatus::NeedsResponse | DisputeStatus::UnderReview
                            ) =>
                        {
                            Some(d)
                        }
                        _ => None,
                    })
                    .ok_or_else(|| Error::DisputeNotFound {
                        id: format!("open dispute of {}", payment.id),
                    })?;
                let decided = if event.kind == ProviderEventKind::DisputeWon {
                    DisputeStatus::Won
                } else {
                    DisputeStatus::Lost
                };
                self.update_dispute(&open.id, decided).await?;
                self.payment(&payment.id).await
            }
        }
    }

    /// Records a provider's answer for a payment in `processing`.
    async fn settle(&self, payment: &Payment, outcome: ChargeOutcome) -> Result<Payment> {
        match outcome {
            ChargeOutcome::Authorized { reference, amount } => {
                self.apply(payment, PaymentAction::Authorize { amount }, |next| {
                    next.provider_reference = Some(reference);
                })
                .await
            }
            ChargeOutcome::RequiresAction {
                reference,
                redirect_url,
            } => {
                self.apply(payment, PaymentAction::RequireAction, |next| {
                    next.provider_reference = Some(reference);
                    next.next_action_url = Some(redirect_url);
                })
                .await
            }
            ChargeOutcome::Processing { reference } => {
                if payment.provider_reference.as_ref() == Some(&reference) {
                    return Ok(payment.clone());
                }
                let mut next = payment.clone();
                next.provider_reference = Some(reference);
                self.commit(payment, next, Vec::new(), Vec::new(), Vec::new())
                    .await
            }
            ChargeOutcome::Declined {
                reference,
                decline_code,
            } => {
                self.apply(payment, PaymentAction::Decline, |next| {
                    next.provider_reference = reference;
                    next.last_decline = Some(decline_code);
                })
                .await
            }
        }
    }

    async fn release_at_provider(&self, payment: &Payment) -> Result<()> {
        if payment.state.status != PaymentStatus::RequiresCapture {
            return Ok(());
        }
        let (provider, reference) = self.charge_of(payment)?;
        provider
            .canceler()
            .ok_or_else(|| unsupported(provider.as_ref(), "cancel"))?
            .cancel(&reference)
            .await
    }

    fn provider(&self, name: &str) -> Result<Arc<dyn Provider>> {
        self.providers
            .get(name)
            .cloned()
            .ok_or_else(|| Error::ProviderNotFound {
                name: name.to_owned(),
            })
    }

    fn charge_of(&self, payment: &Payment) -> Result<(Arc<dyn Provider>, String)> {
        let provider = self.provider(payment.provider.as_deref().unwrap_or_default())?;
        let reference = payment.provider_reference.clone().ok_or_else(|| {
            Error::corrupt(format!("payment {} has no provider charge", payment.id))
        })?;
        Ok((provider, reference))
    }

    /// Runs `action` through the state machine and writes the result with its postings.
    async fn apply(
        &self,
        payment: &Payment,
        action: PaymentAction,
        change: impl FnOnce(&mut Payment),
    ) -> Result<Payment> {
        self.apply_with(payment, action, change, None).await
    }

    /// [`Self::apply`] to a payment that may not be stored yet: `unsaved` holds its events,
    /// written first in the same write.
    async fn apply_with(
        &self,
        payment: &Payment,
        action: PaymentAction,
        change: impl FnOnce(&mut Payment),
        unsaved: Option<Vec<Event>>,
    ) -> Result<Payment> {
        let step = transition(&payment.state, action)?;
        let mut next = payment.clone();
        next.state = step.next;
        change(&mut next);
        let mut effects = step.effects;
        if let Some(provider) = next
            .provider
            .as_deref()
            .and_then(|name| self.providers.get(name))
        {
            // Each capture pays the provider's fee, as its own leg.
            let fees: Vec<i128> = effects
                .iter()
                .filter_map(|effect| match *effect {
                    LedgerEffect::Capture { amount, .. } => {
                        Some(provider.capture_fee(&payment.asset, amount))
                    }
                    _ => None,
                })
                .filter(|fee| *fee > 0)
                .collect();
            next.fees = fees
                .iter()
                .fold(next.fees, |sum, fee| sum.saturating_add(*fee));
            effects.extend(fees.into_iter().map(|amount| LedgerEffect::Fee { amount }));
        }
        let commands = self.commands(payment, &payment.hold_id, &effects).await?;
        let kind = event_kind(payment.state.status, &next.state, action);
        let write = Change {
            commands,
            children: Vec::new(),
            events: vec![(kind, None)],
            unsaved,
        };
        self.write_change(payment, next, write).await
    }

    /// The ledger commands for effects on the hold `hold_id`.
    async fn commands(
        &self,
        payment: &Payment,
        hold_id: &TransactionId,
        effects: &[LedgerEffect],
    ) -> Result<Vec<LedgerCommand>> {
        let accounts = self.accounts(&payment.merchant, &payment.asset).await?;
        let ids = self.ledger.ids().clone();
        Ok(ledger_commands(&accounts, hold_id, effects, || {
            TransactionId::generate(ids.as_ref())
        }))
    }

    fn cutoff(&self, min_age: Duration) -> i64 {
        self.ledger.now().as_micros() - i64::try_from(min_age.as_micros()).unwrap_or(i64::MAX)
    }

    /// Writes a change to a refund or dispute: its ledger effects on its own hold, the child
    /// (new when `expected_version` is `None`), one event about it, and the payment `next`.
    async fn commit_child(
        &self,
        payment: &Payment,
        next: Payment,
        child: Child,
        expected_version: Option<i64>,
        effects: &[LedgerEffect],
        kind: &'static str,
    ) -> Result<Payment> {
        let hold_id = match &child {
            Child::Refund(r) => r.hold_id.clone(),
            Child::Dispute(d) => d.hold_id.clone(),
        };
        let commands = self.commands(payment, &hold_id, effects).await?;
        let write = ChildWrite {
            child: child.clone(),
            expected_version,
        };
        self.commit(
            payment,
            next,
            commands,
            vec![write],
            vec![(kind, Some(child))],
        )
        .await
    }

    /// Writes one change atomically: the payment (version checked), its ledger commands, its
    /// children and its events.
    async fn commit(
        &self,
        before: &Payment,
        next: Payment,
        commands: Vec<LedgerCommand>,
        children: Vec<ChildWrite>,
        events: Vec<(&'static str, Option<Child>)>,
    ) -> Result<Payment> {
        let change = Change {
            commands,
            children,
            events,
            unsaved: None,
        };
        self.write_change(before, next, change).await
    }

    async fn write_change(
        &self,
        before: &Payment,
        mut next: Payment,
        change: Change,
    ) -> Result<Payment> {
        let now = self.ledger.now();
        next.version = before.version + 1;
        next.updated_at = now;
        let ledger = change
            .commands
            .into_iter()
            .map(|command| {
                validate::command(&command)?;
                Submission::new(command)
            })
            .collect::<Result<Vec<_>>>()?;
        // A payment not stored yet is written whole, its creation's events first.
        let expected_version = match change.unsaved {
            Some(_) => None,
            None => Some(before.version),
        };
        let events = change
            .unsaved
            .unwrap_or_default()
            .into_iter()
            .chain(
                change
                    .events
                    .into_iter()
                    .map(|(kind, child)| self.event(kind, &next, child)),
            )
            .collect();
        let write = PaymentWrite {
            payment: next.clone(),
            expected_version,
            ledger,
            children: change.children,
            events,
        };
        self.ledger.store().write_payment(write, now).await?;
        tracing::debug!(payment = %next.id, status = %next.state.status, "payment written");
        Ok(next)
    }

    fn event(&self, kind: &str, payment: &Payment, child: Option<Child>) -> Event {
        Event {
            id: EventId::generate(self.ledger.ids().as_ref()),
            kind: kind.to_owned(),
            payment_id: payment.id.clone(),
            payment: payment.clone(),
            child,
            created_at: self.ledger.now(),
        }
    }
}

/// What a creation finds: a payment to write, or the one stored under its id before.
enum Creation {
    New {
        payment: Payment,
        events: Vec<Event>,
    },
    Replay(Payment),
}

/// One write to a payment: ledger commands, children and events (by kind), plus the
/// creation events of a payment not stored yet.
struct Change {
    commands: Vec<LedgerCommand>,
    children: Vec<ChildWrite>,
    events: Vec<(&'static str, Option<Child>)>,
    unsaved: Option<Vec<Event>>,
}

fn same_creation(existing: Payment, new: &NewPayment) -> Result<Payment> {
    let same = existing.state.amount == new.amount
        && existing.asset == new.asset
        && existing.state.capture_method == new.capture_method
        && existing.customer == new.customer
        && existing.merchant == new.merchant
        && existing.metadata == new.metadata;
    if same {
        Ok(existing)
    } else {
        Err(Error::IdempotencyConflict {
            id: new.id.to_string(),
        })
    }
}

/// The event a change emits: named after the new status, or after the action when the status
/// stays (a partial capture, a refund).
fn event_kind(before: PaymentStatus, after: &PaymentState, action: PaymentAction) -> &'static str {
    match (action, after.status) {
        (PaymentAction::Decline, _) => "payment.payment_failed",
        (PaymentAction::Refund { .. }, _) => "payment.refunded",
        (PaymentAction::RefundFailed { .. }, _) => "payment.refund_failed",
        (PaymentAction::OpenDispute { .. } | PaymentAction::CloseDispute { .. }, _) => {
            "payment.disputed"
        }
        (PaymentAction::Capture { .. }, PaymentStatus::RequiresCapture) => "payment.captured",
        (_, status) if status == before => "payment.updated",
        (_, PaymentStatus::RequiresPaymentMethod) => "payment.requires_payment_method",
        (_, PaymentStatus::RequiresConfirmation) => "payment.requires_confirmation",
        (_, PaymentStatus::RequiresAction) => "payment.requires_action",
        (_, PaymentStatus::Processing) => "payment.processing",
        (_, PaymentStatus::RequiresCapture) => "payment.amount_capturable_updated",
        (_, PaymentStatus::Succeeded) => "payment.succeeded",
        (_, PaymentStatus::Canceled) => "payment.canceled",
    }
}
