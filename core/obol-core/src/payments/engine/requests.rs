//! Every mutating request as one value, run at most once per idempotency key.

use super::*;

impl Payments {
    /// Runs a request, at most once per idempotency key when one is given (Stripe's contract:
    /// see [`crate::idempotency`]).
    pub async fn execute(&self, key: Option<&str>, request: PaymentRequest) -> Result<Payment> {
        match key {
            None => self.dispatch(request).await,
            Some(key) => {
                let store = self.ledger.store().as_ref();
                let now = self.ledger.now();
                run_payment_once(store, key, &request, now, |_| {
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
}
