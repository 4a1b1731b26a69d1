//! Creating a payment: alone, with its method, or with its method and first attempt in one write.

use super::write::event_kind;
use super::*;

impl Payments {
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
        self.create_with_method_from(new, method, IdOrigin::Given)
            .await
    }

    /// [`Payments::create_with_method`] for a payment whose id has `origin`.
    pub async fn create_with_method_from(
        &self,
        new: NewPayment,
        method: Option<MethodToken>,
        origin: IdOrigin,
    ) -> Result<Payment> {
        let (payment, events) = match self.prepare_creation(&new, method, origin).await? {
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
            answer: None,
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
        self.create_and_confirm_from(new, method, IdOrigin::Given)
            .await
    }

    /// [`Payments::create_and_confirm`] for a payment whose id has `origin`.
    pub async fn create_and_confirm_from(
        &self,
        new: NewPayment,
        method: MethodToken,
        origin: IdOrigin,
    ) -> Result<Payment> {
        let route = self.route(&new.asset, new.mode, &new.merchant, &method);
        if route
            .first()
            .is_none_or(|first| first.authorizer().is_none())
        {
            // No attempt to write with: the payment is stored, and confirm says why it cannot
            // go on.
            let payment = self
                .create_with_method_from(new, Some(method), origin)
                .await?;
            return self.confirm(&payment.id).await;
        }
        let (payment, events) = match self.prepare_creation(&new, Some(method), origin).await? {
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
    /// one a previous call stored under the same id (only asked for an id it may name).
    async fn prepare_creation(
        &self,
        new: &NewPayment,
        method: Option<MethodToken>,
        origin: IdOrigin,
    ) -> Result<Creation> {
        let asset = self.ledger.asset(new.asset.as_str())?;
        let max = crate::payments::largest_amount(&asset);
        if new.amount > max {
            return Err(Error::AmountTooLarge {
                asset: asset.code.to_string(),
                max,
            });
        }
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
        if origin == IdOrigin::Given
            && let Some(existing) = self.ledger.store().payment(&new.id).await?
        {
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
            mode: new.mode,
        };
        let mut events = vec![self.event("payment.created", &payment, None)];
        let mut payment = payment;
        if let Some(method) = method {
            self.provider_in(&method.provider, new.mode)?;
            let action = PaymentAction::AttachPaymentMethod;
            let step = transition(&payment.state, action)?;
            let kind = event_kind(payment.state.status, &step.next, action);
            payment.state = step.next;
            payment.method = Some(method);
            events.push(self.event(kind, &payment, None));
        }
        Ok(Creation::New { payment, events })
    }
}

/// Whether a payment may already be stored under a new payment's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdOrigin {
    /// Made for this call: generated, or named by an idempotency key claimed for the first
    /// time. No payment can have it, so the store is not read before the write (a payment
    /// that has it after all makes the write fail, answered like a concurrent creation).
    Fresh,
    /// Given by a caller that may have used it before: the payment stored under it, created
    /// the same way, is answered as a replay before anything is done.
    Given,
}

/// What a creation finds: a payment to write, or the one stored under its id before.
pub(super) enum Creation {
    New {
        payment: Payment,
        events: Vec<Event>,
    },
    Replay(Payment),
}

fn same_creation(existing: Payment, new: &NewPayment) -> Result<Payment> {
    let same = existing.state.amount == new.amount
        && existing.asset == new.asset
        && existing.state.capture_method == new.capture_method
        && existing.customer == new.customer
        && existing.merchant == new.merchant
        && existing.mode == new.mode
        && existing.metadata == new.metadata;
    if same {
        Ok(existing)
    } else {
        Err(Error::IdempotencyConflict {
            id: new.id.to_string(),
        })
    }
}
