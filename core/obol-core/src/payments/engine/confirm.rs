//! Attaching a method and confirming: the provider call between recovery points, routing with safe fallback, customer actions, and recording the answer.

use super::*;

impl Payments {
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
    pub(super) fn route(
        &self,
        asset: &AssetCode,
        mode: Mode,
        merchant: &MerchantId,
        method: &MethodToken,
    ) -> Vec<Arc<dyn Provider>> {
        self.providers
            .route(asset, method.kind, mode)
            .into_iter()
            .filter(|p| p.accepts_token(method, merchant))
            .cloned()
            .collect()
    }

    /// Confirms `payment`. `unsaved` holds the events of a payment not stored yet: they are
    /// written with its first attempt.
    pub(super) async fn confirm_from(
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
        let route = self.route(&payment.asset, payment.mode, &payment.merchant, &method);
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
        let request = attempt_request(&processing, method);
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

    /// Records a provider's answer for a payment in `processing` (after a confirmation, a
    /// customer's action, a provider's webhook or a status sync): the last write of a keyed
    /// request that calls it, so it stores that request's answer.
    pub(super) async fn settle(
        &self,
        payment: &Payment,
        outcome: ChargeOutcome,
    ) -> Result<Payment> {
        match outcome {
            ChargeOutcome::Authorized { reference, amount } => {
                self.apply_answering(payment, PaymentAction::Authorize { amount }, |next| {
                    next.provider_reference = Some(reference);
                })
                .await
            }
            ChargeOutcome::RequiresAction {
                reference,
                redirect_url,
            } => {
                self.apply_answering(payment, PaymentAction::RequireAction, |next| {
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
                self.commit_answering(payment, next).await
            }
            ChargeOutcome::Declined {
                reference,
                decline_code,
            } => {
                self.apply_answering(payment, PaymentAction::Decline, |next| {
                    next.provider_reference = reference;
                    next.last_decline = Some(decline_code);
                })
                .await
            }
        }
    }
}

/// The provider call of `payment`'s current attempt with `method`: what confirm sends, and
/// what status sync describes when it asks what became of it.
pub(super) fn attempt_request(payment: &Payment, method: &MethodToken) -> AuthorizeRequest {
    AuthorizeRequest {
        payment_id: payment.id.clone(),
        idempotency_key: payment.attempt_key(),
        amount: payment.state.amount,
        asset: payment.asset.clone(),
        token: method.token.clone(),
        capture_method: payment.state.capture_method,
        merchant: payment.merchant.clone(),
    }
}
