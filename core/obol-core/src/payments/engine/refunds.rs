//! Refunds: reserved and held before the provider call, settled by its answer or by a later sync.

use super::*;

impl Payments {
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
}
