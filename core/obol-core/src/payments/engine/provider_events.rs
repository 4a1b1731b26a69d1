//! What providers report later: status sync of payments left processing, and verified provider webhooks.

use super::*;

impl Payments {
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
            let asked = match &payment.method {
                Some(method) => {
                    let attempt = super::confirm::attempt_request(&payment, method);
                    sync.attempt_status(&attempt, payment.provider_reference.as_deref())
                        .await
                }
                None => sync.charge_status(&payment.attempt_key()).await,
            };
            let status = match asked {
                Ok(status) => status,
                // One payment the provider cannot answer for now does not hold up the rest.
                Err(error) => {
                    tracing::warn!(payment = %payment.id, code = error.code(), %error, "status sync failed; left processing");
                    continue;
                }
            };
            let after = match status {
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
    /// Returns the payment as the event left it, or `None` when the event is genuine but
    /// asks nothing of Obol (a type the rail ignores, or a charge Obol did not make): the
    /// provider is answered 2xx so it stops redelivering.
    pub async fn handle_provider_webhook(
        &self,
        provider: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Option<Payment>> {
        let provider = self.provider(provider)?;
        let parser = provider
            .webhooks()
            .ok_or_else(|| unsupported(provider.as_ref(), "webhooks"))?;
        let now = self.ledger.now();
        let Some(event) = parser.parse_webhook(headers, body, now).await? else {
            return Ok(None);
        };
        let store = self.ledger.store().as_ref();
        let Some(payment) = store
            .payment_by_reference(provider.name(), &event.reference)
            .await?
        else {
            // A charge made outside Obol on the same account, or one whose answer Obol has not
            // stored yet (that answer, or status sync, settles it). Nothing is remembered, so
            // a redelivery is looked at afresh.
            tracing::warn!(provider = provider.name(), event = %event.id, "provider event for a charge Obol does not know; acknowledged");
            return Ok(None);
        };
        let key = format!("provider-event:{}:{}", provider.name(), event.id);
        run_once(store, &key, &event, now, |_| {
            self.apply_to_payment(payment, event.clone())
        })
        .await
        .map(Some)
    }

    async fn apply_to_payment(&self, payment: Payment, event: ProviderEvent) -> Result<Payment> {
        match event.kind {
            ProviderEventKind::ChargeSettled(outcome) => match payment.state.status {
                PaymentStatus::Processing => self.settle(&payment, outcome).await,
                // The customer acted at the provider, and the provider says how it ended.
                PaymentStatus::RequiresAction
                    if !matches!(outcome, ChargeOutcome::RequiresAction { .. }) =>
                {
                    let processing = self
                        .apply(&payment, PaymentAction::CompleteAction, |next| {
                            next.next_action_url = None;
                        })
                        .await?;
                    self.settle(&processing, outcome).await
                }
                // Already settled (by the call's answer or a status sync), or still waiting.
                _ => Ok(payment),
            },
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
}
