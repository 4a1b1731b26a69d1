//! Capturing, canceling and expiring authorizations.

use super::*;

impl Payments {
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
        if !final_capture
            && amount < payment.state.capturable()
            && !provider.capabilities().multi_capture
        {
            // Without multicapture the rail releases what a capture leaves.
            return Err(unsupported(provider.as_ref(), "multi_capture"));
        }
        let key = format!("{}:capture:{}", payment.id, payment.state.captured);
        provider
            .capturer()
            .ok_or_else(|| unsupported(provider.as_ref(), "capture"))?
            .capture(&reference, &key, amount, final_capture)
            .await?;
        self.apply_answering(&payment, action, |_| {}).await
    }

    /// Cancels a payment that has not been captured (an authorization is released).
    pub async fn cancel(&self, id: &PaymentId, reason: CancellationReason) -> Result<Payment> {
        let payment = self.payment(id).await?;
        let action = PaymentAction::Cancel { reason };
        transition(&payment.state, action)?;
        self.release_at_provider(&payment).await?;
        self.apply_answering(&payment, action, |_| {}).await
    }

    /// Expires a payment whose window ran out: an uncaptured authorization is released and the
    /// payment canceled; a partly captured one keeps what was captured and succeeds.
    pub async fn expire(&self, id: &PaymentId) -> Result<Payment> {
        let payment = self.payment(id).await?;
        transition(&payment.state, PaymentAction::Expire)?;
        if payment.state.captured == 0 {
            self.release_at_provider(&payment).await?;
        }
        self.apply_answering(&payment, PaymentAction::Expire, |_| {})
            .await
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
}
