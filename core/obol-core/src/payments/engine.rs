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
use super::model::{Event, NewPayment, Payment, PaymentWrite, StoredEvent};
use super::postings::{PaymentAccounts, ledger_commands};
use super::provider::{
    AuthorizeRequest, ChargeOutcome, ChargeStatus, MethodToken, Provider, unsupported,
};
use super::request::PaymentRequest;
use super::routing::ProviderRegistry;
use super::state::{CancellationReason, PaymentAction, PaymentState, PaymentStatus, transition};
use crate::error::{Error, Result};
use crate::id::{AccountId, EventId, PaymentId, RefundId, TransactionId};
use crate::idempotency::run_once;
use crate::ledger::Ledger;
use crate::ledger::batch::Submission;
use crate::ledger::model::{Direction, LedgerCommand, NewAccount};
use crate::ledger::validate;
use crate::money::AssetCode;

/// Payments over a ledger and a set of providers.
#[derive(Debug)]
pub struct Payments {
    ledger: Arc<Ledger>,
    providers: ProviderRegistry,
    accounts: Mutex<HashMap<AssetCode, PaymentAccounts>>,
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

    /// The ledger accounts payments in `asset` move through (opened on first use, with ids
    /// derived from the asset so every engine instance finds the same ones).
    pub async fn accounts(&self, asset: &AssetCode) -> Result<PaymentAccounts> {
        if let Some(found) = self.cached_accounts()?.get(asset) {
            return Ok(found.clone());
        }
        let open = |role: &str, normal: Direction| {
            NewAccount::new(
                AccountId::derived(&format!("obol:payments:{role}:{asset}")),
                asset.clone(),
                normal,
            )
            .with_metadata("role", role)
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
        let accounts = PaymentAccounts {
            asset: asset.clone(),
            provider_clearing,
            merchant,
        };
        self.cached_accounts()?
            .insert(asset.clone(), accounts.clone());
        Ok(accounts)
    }

    fn cached_accounts(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<AssetCode, PaymentAccounts>>> {
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
                run_once(store, key, &request, now, || self.dispatch(request.clone())).await
            }
        }
    }

    async fn dispatch(&self, request: PaymentRequest) -> Result<Payment> {
        match request {
            PaymentRequest::Create(new) => self.create(new).await,
            PaymentRequest::AttachMethod { payment, method } => {
                self.attach_method(&payment, method).await
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
            PaymentRequest::Refund { payment, amount } => self.refund(&payment, amount).await,
        }
    }

    /// Creates a payment in `requires_payment_method`. The same id again returns the stored
    /// payment if it was created the same way, else `idempotency_conflict`.
    pub async fn create(&self, new: NewPayment) -> Result<Payment> {
        self.ledger.asset(new.asset.as_str())?;
        validate::metadata(&new.metadata)?;
        let state = PaymentState::new(new.amount, new.capture_method)?;
        if let Some(existing) = self.ledger.store().payment(&new.id).await? {
            return same_creation(existing, &new);
        }
        let now = self.ledger.now();
        let payment = Payment {
            id: new.id.clone(),
            asset: new.asset.clone(),
            state,
            customer: new.customer.clone(),
            method: None,
            provider: None,
            provider_reference: None,
            attempt: 0,
            next_action_url: None,
            last_decline: None,
            hold_id: TransactionId::derived(&format!("obol:payments:hold:{}", new.id)),
            metadata: new.metadata.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let write = PaymentWrite {
            events: vec![self.event("payment.created", &payment)],
            payment: payment.clone(),
            expected_version: None,
            ledger: Vec::new(),
        };
        match self.ledger.store().write_payment(&write, now).await {
            Ok(()) => Ok(payment),
            // Created concurrently under the same id: answer like a replay.
            Err(Error::Contention { .. }) => match self.ledger.store().payment(&new.id).await? {
                Some(existing) => same_creation(existing, &new),
                None => Err(Error::Contention {
                    reason: "the payment changed concurrently".into(),
                }),
            },
            Err(error) => Err(error),
        }
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
        let method = payment
            .method
            .clone()
            .ok_or_else(|| Error::InvalidTransition {
                status: payment.state.status.as_str().to_owned(),
                action: "confirm".into(),
            })?;
        let provider = self.provider(&method.provider)?;
        let authorizer = provider
            .authorizer()
            .ok_or_else(|| unsupported(provider.as_ref(), "authorize"))?;
        if !provider.capabilities().handles(&payment.asset, method.kind) {
            return Err(Error::NoProvider {
                asset: payment.asset.to_string(),
                method: method.kind.as_str().to_owned(),
            });
        }
        // Recovery point: the attempt and its key are durable before the call.
        let processing = self
            .apply(&payment, PaymentAction::Confirm, |next| {
                next.attempt += 1;
                next.provider = Some(provider.name().to_owned());
                next.provider_reference = None;
                next.next_action_url = None;
            })
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
            Ok(outcome) => self.settle(&processing, outcome).await,
            Err(error @ Error::ProviderTimeout { .. }) => {
                tracing::warn!(payment = %processing.id, %error, "outcome unknown; left processing for status sync");
                Ok(processing)
            }
            Err(error) => {
                // Any other failure means the call did not take effect: confirm may be retried.
                self.apply(&processing, PaymentAction::Abort, |_| {})
                    .await?;
                Err(error)
            }
        }
    }

    /// Continues after the customer completed the provider's action (3-D Secure).
    pub async fn complete_action(&self, id: &PaymentId) -> Result<Payment> {
        let payment = self.payment(id).await?;
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

    /// Refunds `amount` of what was captured.
    pub async fn refund(&self, id: &PaymentId, amount: i128) -> Result<Payment> {
        let payment = self.payment(id).await?;
        let action = PaymentAction::Refund { amount };
        transition(&payment.state, action)?;
        let (provider, reference) = self.charge_of(&payment)?;
        // Derived from what was refunded before, so a retry after a crash reuses it.
        let refund_id = RefundId::derived(&format!(
            "obol:payments:refund:{}:{}",
            payment.id, payment.state.refunded
        ));
        let outcome = provider
            .refunder()
            .ok_or_else(|| unsupported(provider.as_ref(), "refund"))?
            .refund(&reference, &refund_id, amount)
            .await?;
        match outcome {
            super::provider::RefundOutcome::Failed => Err(Error::InvalidTransaction {
                reason: "the provider refused the refund".into(),
            }),
            _ => self.apply(&payment, action, |_| {}).await,
        }
    }

    /// Settles payments left `processing` for at least `min_age` (a crash mid-call, a timeout,
    /// a slow rail) by asking their provider what happened. Returns how many changed.
    pub async fn sync_processing(&self, min_age: Duration) -> Result<usize> {
        let cutoff =
            self.ledger.now().as_micros() - i64::try_from(min_age.as_micros()).unwrap_or(i64::MAX);
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
                self.write(payment, next, Vec::new(), Vec::new()).await
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
            .ok_or_else(|| Error::Config {
                reason: format!("no provider named {name:?} is registered"),
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
        let step = transition(&payment.state, action)?;
        let mut next = payment.clone();
        next.state = step.next;
        change(&mut next);
        let accounts = self.accounts(&payment.asset).await?;
        let ids = self.ledger.ids().clone();
        let commands = ledger_commands(&accounts, &payment.hold_id, &step.effects, || {
            TransactionId::generate(ids.as_ref())
        });
        let kind = event_kind(payment.state.status, &next.state, action);
        let events = vec![kind];
        self.write(payment, next, commands, events).await
    }

    async fn write(
        &self,
        before: &Payment,
        mut next: Payment,
        commands: Vec<LedgerCommand>,
        event_kinds: Vec<&'static str>,
    ) -> Result<Payment> {
        let now = self.ledger.now();
        next.version = before.version + 1;
        next.updated_at = now;
        let ledger = commands
            .into_iter()
            .map(|command| {
                validate::command(&command)?;
                Submission::new(command)
            })
            .collect::<Result<Vec<_>>>()?;
        let events = event_kinds
            .into_iter()
            .map(|kind| self.event(kind, &next))
            .collect();
        let write = PaymentWrite {
            payment: next.clone(),
            expected_version: Some(before.version),
            ledger,
            events,
        };
        self.ledger.store().write_payment(&write, now).await?;
        tracing::debug!(payment = %next.id, status = %next.state.status, "payment written");
        Ok(next)
    }

    fn event(&self, kind: &str, payment: &Payment) -> Event {
        Event {
            id: EventId::generate(self.ledger.ids().as_ref()),
            kind: kind.to_owned(),
            payment_id: payment.id.clone(),
            payment: payment.clone(),
            created_at: self.ledger.now(),
        }
    }
}

fn same_creation(existing: Payment, new: &NewPayment) -> Result<Payment> {
    let same = existing.state.amount == new.amount
        && existing.asset == new.asset
        && existing.state.capture_method == new.capture_method
        && existing.customer == new.customer
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
