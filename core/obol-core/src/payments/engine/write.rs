//! Writing a change: the state machine step, its ledger postings and its events, as one atomic write.

use super::*;

impl Payments {
    /// Runs `action` through the state machine and writes the result with its postings.
    pub(super) async fn apply(
        &self,
        payment: &Payment,
        action: PaymentAction,
        change: impl FnOnce(&mut Payment),
    ) -> Result<Payment> {
        self.apply_with(payment, action, change, None).await
    }

    /// [`Self::apply`] to a payment that may not be stored yet: `unsaved` holds its events,
    /// written first in the same write.
    pub(super) async fn apply_with(
        &self,
        payment: &Payment,
        action: PaymentAction,
        change: impl FnOnce(&mut Payment),
        unsaved: Option<Vec<Event>>,
    ) -> Result<Payment> {
        self.apply_change(payment, action, change, unsaved, false)
            .await
    }

    /// [`Self::apply`] for a write that records a provider's answer: the last write of any
    /// keyed request that reaches it, whose answer is the payment written, so the write
    /// stores the answer of the keyed request running on this task (if any; see
    /// [`crate::idempotency::run_payment_once`]). A write followed by others in some request
    /// must not use it.
    pub(super) async fn apply_answering(
        &self,
        payment: &Payment,
        action: PaymentAction,
        change: impl FnOnce(&mut Payment),
    ) -> Result<Payment> {
        self.apply_change(payment, action, change, None, true).await
    }

    async fn apply_change(
        &self,
        payment: &Payment,
        action: PaymentAction,
        change: impl FnOnce(&mut Payment),
        unsaved: Option<Vec<Event>>,
        answers_request: bool,
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
            answers_request,
        };
        self.write_change(payment, next, write).await
    }

    /// Writes a change to a refund or dispute: its ledger effects on its own hold, the child
    /// (new when `expected_version` is `None`), one event about it, and the payment `next`.
    pub(super) async fn commit_child(
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
    pub(super) async fn commit(
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
            answers_request: false,
        };
        self.write_change(before, next, change).await
    }

    /// Writes `next`, with nothing else, as a write that records a provider's answer (see
    /// [`Self::apply_answering`]).
    pub(super) async fn commit_answering(
        &self,
        before: &Payment,
        next: Payment,
    ) -> Result<Payment> {
        let change = Change {
            commands: Vec::new(),
            children: Vec::new(),
            events: Vec::new(),
            unsaved: None,
            answers_request: true,
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
        let answer = if change.answers_request {
            crate::idempotency::answer_of(&next)?
        } else {
            None
        };
        let write = PaymentWrite {
            payment: next.clone(),
            expected_version,
            ledger,
            children: change.children,
            events,
            answer: answer.clone(),
        };
        self.ledger.store().write_payment(write, now).await?;
        if let Some(answer) = answer {
            crate::idempotency::answer_stored(answer);
        }
        tracing::debug!(payment = %next.id, status = %next.state.status, "payment written");
        Ok(next)
    }

    pub(super) fn event(&self, kind: &str, payment: &Payment, child: Option<Child>) -> Event {
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

/// One write to a payment: ledger commands, children and events (by kind), plus the
/// creation events of a payment not stored yet.
pub(super) struct Change {
    commands: Vec<LedgerCommand>,
    children: Vec<ChildWrite>,
    events: Vec<(&'static str, Option<Child>)>,
    unsaved: Option<Vec<Event>>,
    /// The write stores the answer of the keyed request running it (see
    /// [`Payments::apply_answering`]).
    answers_request: bool,
}

/// The event a change emits: named after the new status, or after the action when the status
/// stays (a partial capture, a refund).
pub(super) fn event_kind(
    before: PaymentStatus,
    after: &PaymentState,
    action: PaymentAction,
) -> &'static str {
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
