//! Payments on the sandbox provider: create, attach a card, confirm, capture, cancel,
//! refund, read and list; the merchant's ledger account.

use std::collections::HashMap;

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, Result};
use napi_derive::napi;
use obol::AssetCode;
use obol::payments::{
    CancellationReason, CreatePayment, MethodInput, Payment, PaymentQuery, PaymentRequest,
    default_merchant,
};

use crate::convert::{amount, id, metadata, metadata_out, millis, promise};
use crate::tenant::{Scoped, Tenant};

/// A new payment (named by its idempotency key, or new without one).
#[napi(object)]
pub struct NewPaymentInput {
    /// Minor units, a decimal string.
    pub amount: String,
    /// The asset code.
    pub asset: String,
    /// `automatic` (the default) or `manual` (capture later).
    pub capture_method: Option<String>,
    /// The customer (`cus_…`) it belongs to.
    pub customer: Option<String>,
    /// Free-form labels.
    pub metadata: Option<HashMap<String, String>>,
}

/// Card details, sent to the provider's tokenizer and nowhere else.
#[napi(object)]
pub struct CardInput {
    /// 12–19 digits.
    pub number: String,
    /// 1–12.
    pub exp_month: u32,
    /// Four digits.
    pub exp_year: u32,
    /// 3 or 4 digits.
    pub cvc: String,
}

/// A payment as it stands.
#[napi(object)]
pub struct PaymentRecord {
    /// `pay_…`.
    pub id: String,
    /// `requires_payment_method`, …, `succeeded` or `canceled`.
    pub status: String,
    /// Minor units asked for.
    pub amount: String,
    /// Minor units authorized.
    pub authorized: String,
    /// Minor units captured.
    pub captured: String,
    /// Minor units refunded.
    pub refunded: String,
    /// The asset code.
    pub asset: String,
    /// `automatic` or `manual`.
    pub capture_method: String,
    /// The customer (`cus_…`), if any.
    pub customer: Option<String>,
    /// Where the customer completes a `requires_action` step (3-D Secure).
    pub next_action_url: Option<String>,
    /// Why the last attempt was declined.
    pub last_decline: Option<String>,
    /// Free-form labels.
    pub metadata: HashMap<String, String>,
    /// When it was made (milliseconds since 1970).
    pub created_at: i64,
}

impl From<Payment> for PaymentRecord {
    fn from(payment: Payment) -> Self {
        PaymentRecord {
            id: payment.id.to_string(),
            status: payment.state.status.as_str().to_owned(),
            amount: payment.state.amount.to_string(),
            authorized: payment.state.authorized.to_string(),
            captured: payment.state.captured.to_string(),
            refunded: payment.state.refunded.to_string(),
            asset: payment.asset.to_string(),
            capture_method: match payment.state.capture_method {
                obol::payments::CaptureMethod::Automatic => "automatic".into(),
                obol::payments::CaptureMethod::Manual => "manual".into(),
            },
            customer: payment.customer.map(|id| id.to_string()),
            next_action_url: payment.next_action_url,
            last_decline: payment.last_decline,
            metadata: metadata_out(payment.metadata),
            created_at: millis(payment.created_at),
        }
    }
}

/// Runs a payment request, once per idempotency key when one is given.
fn execute<'env>(
    tenant: obol::Result<Scoped>,
    env: &'env Env,
    key: Option<String>,
    request: impl FnOnce() -> obol::Result<PaymentRequest> + Send + 'static,
) -> Result<PromiseRaw<'env, PaymentRecord>> {
    promise(env, async move {
        let payment = tenant?.execute(key.as_deref(), request()?).await?;
        Ok(PaymentRecord::from(payment))
    })
}

/// A new payment as the engine takes it.
fn new_payment(input: NewPaymentInput) -> obol::Result<CreatePayment> {
    let mut request = CreatePayment::new(amount(&input.amount)?, AssetCode::new(&input.asset)?);
    match input.capture_method.as_deref() {
        None | Some("automatic") => {}
        Some("manual") => request.capture_method = Some(obol::payments::CaptureMethod::Manual),
        Some(other) => {
            return Err(obol::Error::InvalidRequest {
                reason: format!("captureMethod is automatic or manual, not {other:?}"),
            });
        }
    }
    request.customer = input.customer.as_deref().map(id).transpose()?;
    request.metadata = metadata(input.metadata);
    Ok(request)
}

impl CardInput {
    /// The card as a payment method (the engine checks and tokenizes it, test mode only).
    /// Out-of-range months and years become 0, which the check refuses.
    pub(crate) fn method(self) -> MethodInput {
        MethodInput::Card(obol::payments::CardInput {
            number: self.number,
            exp_month: u8::try_from(self.exp_month).unwrap_or(0),
            exp_year: u16::try_from(self.exp_year).unwrap_or(0),
            cvc: self.cvc,
        })
    }
}

#[napi]
impl Tenant {
    /// Creates a payment. With `idempotencyKey`, the same key and input answer the first
    /// result (the key names the payment); the same key with other input rejects with
    /// `idempotency_conflict`.
    #[napi]
    pub fn create_payment<'env>(
        &self,
        env: &'env Env,
        input: NewPaymentInput,
        idempotency_key: Option<String>,
    ) -> Result<PromiseRaw<'env, PaymentRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let payment = tenant?
                .create_payment(idempotency_key.as_deref(), new_payment(input)?)
                .await?;
            Ok(PaymentRecord::from(payment))
        })
    }

    /// Tokenizes a card with the sandbox (test mode only) and attaches it to a payment.
    #[napi]
    pub fn attach_card<'env>(
        &self,
        env: &'env Env,
        payment_id: String,
        card: CardInput,
        idempotency_key: Option<String>,
    ) -> Result<PromiseRaw<'env, PaymentRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let payment = tenant?
                .attach_method(idempotency_key.as_deref(), &id(&payment_id)?, card.method())
                .await?;
            Ok(PaymentRecord::from(payment))
        })
    }

    /// Confirms a payment: the provider authorizes it (and captures it, when automatic).
    #[napi]
    pub fn confirm<'env>(
        &self,
        env: &'env Env,
        payment_id: String,
        idempotency_key: Option<String>,
    ) -> Result<PromiseRaw<'env, PaymentRecord>> {
        execute(self.scoped(), env, idempotency_key, move || {
            Ok(PaymentRequest::Confirm {
                payment: id(&payment_id)?,
            })
        })
    }

    /// Finishes a `requires_action` step (3-D Secure) the customer completed.
    #[napi]
    pub fn complete_action<'env>(
        &self,
        env: &'env Env,
        payment_id: String,
        idempotency_key: Option<String>,
    ) -> Result<PromiseRaw<'env, PaymentRecord>> {
        execute(self.scoped(), env, idempotency_key, move || {
            Ok(PaymentRequest::CompleteAction {
                payment: id(&payment_id)?,
            })
        })
    }

    /// Captures an authorized payment: all of it when `amount` is absent; a part releases
    /// the rest unless `finalCapture` is false.
    #[napi]
    pub fn capture<'env>(
        &self,
        env: &'env Env,
        payment_id: String,
        amount: Option<String>,
        idempotency_key: Option<String>,
        final_capture: Option<bool>,
    ) -> Result<PromiseRaw<'env, PaymentRecord>> {
        execute(self.scoped(), env, idempotency_key, move || {
            Ok(PaymentRequest::Capture {
                payment: id(&payment_id)?,
                amount: amount.as_deref().map(crate::convert::amount).transpose()?,
                final_capture: final_capture.unwrap_or(true),
            })
        })
    }

    /// Cancels a payment not yet captured, releasing what it holds.
    #[napi]
    pub fn cancel<'env>(
        &self,
        env: &'env Env,
        payment_id: String,
        idempotency_key: Option<String>,
    ) -> Result<PromiseRaw<'env, PaymentRecord>> {
        execute(self.scoped(), env, idempotency_key, move || {
            Ok(PaymentRequest::Cancel {
                payment: id(&payment_id)?,
                reason: CancellationReason::RequestedByCustomer,
            })
        })
    }

    /// Refunds a captured payment: all that is left when `amount` is absent.
    #[napi]
    pub fn refund<'env>(
        &self,
        env: &'env Env,
        payment_id: String,
        amount: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<PromiseRaw<'env, PaymentRecord>> {
        execute(self.scoped(), env, idempotency_key, move || {
            Ok(PaymentRequest::Refund {
                payment: id(&payment_id)?,
                amount: amount.as_deref().map(crate::convert::amount).transpose()?,
                reason: None,
            })
        })
    }

    /// A payment of the tenant (another merchant's rejects with `payment_not_found`).
    #[napi]
    pub fn payment<'env>(
        &self,
        env: &'env Env,
        payment_id: String,
    ) -> Result<PromiseRaw<'env, PaymentRecord>> {
        let tenant = self.scoped();
        promise(env, async move {
            let payment = tenant?.payment(&id(&payment_id)?).await?;
            Ok(PaymentRecord::from(payment))
        })
    }

    /// The tenant's payments, newest first, `limit` per page, after the payment
    /// `startingAfter`.
    #[napi]
    pub fn payments<'env>(
        &self,
        env: &'env Env,
        limit: u32,
        starting_after: Option<String>,
    ) -> Result<PromiseRaw<'env, Vec<PaymentRecord>>> {
        let tenant = self.scoped();
        promise(env, async move {
            let mut query = PaymentQuery::merchant(default_merchant(), limit);
            query.starting_after = starting_after.as_deref().map(id).transpose()?;
            let found = tenant?.payments(query).await?;
            Ok(found.into_iter().map(PaymentRecord::from).collect())
        })
    }

    /// The ledger account the merchant's takings in `asset` are credited to (in the
    /// tenant's mode); read it with `balance`.
    #[napi]
    pub fn merchant_account<'env>(
        &self,
        env: &'env Env,
        asset: String,
    ) -> Result<PromiseRaw<'env, String>> {
        let tenant = self.scoped();
        promise(env, async move {
            let asset = AssetCode::new(&asset)?;
            let found = tenant?.balances(std::slice::from_ref(&asset)).await?;
            found
                .into_iter()
                .next()
                .map(|balance| balance.account.to_string())
                .ok_or_else(|| obol::Error::corrupt("no balance for the asset asked"))
        })
    }
}
