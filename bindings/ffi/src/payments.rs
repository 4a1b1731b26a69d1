//! Payments on the sandbox provider: create, attach a card, confirm, capture, cancel,
//! refund, read and list; the merchant's ledger account.

use std::collections::HashMap;
use std::time::SystemTime;

use obol::payments::{
    CancellationReason, CreatePayment, MethodInput, Payment, PaymentQuery, PaymentRequest,
    default_merchant,
};
use obol::{AssetCode, Result};

use crate::convert::{amount, id, metadata, metadata_out, time};
use crate::error::PaymentError;
use crate::tenant::Tenant;

/// When a payment is captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaptureMethod {
    /// In full as soon as it is authorized.
    Automatic,
    /// Later, by [`Obol::capture`] (in full or in part).
    Manual,
}

/// A new payment (named by its idempotency key, or new without one).
#[derive(Debug, Clone, uniffi::Record)]
pub struct NewPaymentInput {
    /// Minor units, a decimal string.
    pub amount: String,
    /// The asset code.
    pub asset: String,
    /// When it is captured.
    pub capture_method: CaptureMethod,
    /// The customer (`cus_…`) it belongs to.
    #[uniffi(default = None)]
    pub customer: Option<String>,
    /// Free-form labels.
    pub metadata: HashMap<String, String>,
}

/// Card details, sent to the provider's tokenizer and nowhere else.
#[derive(Clone, uniffi::Record)]
pub struct CardInput {
    /// 12–19 digits.
    pub number: String,
    /// 1–12.
    pub exp_month: u8,
    /// Four digits.
    pub exp_year: u16,
    /// 3 or 4 digits.
    pub cvc: String,
}

impl CardInput {
    /// The card as a payment method (the engine checks and tokenizes it, test mode only).
    pub(crate) fn method(self) -> MethodInput {
        MethodInput::Card(obol::payments::CardInput {
            number: self.number,
            exp_month: self.exp_month,
            exp_year: self.exp_year,
            cvc: self.cvc,
        })
    }
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardInput(…)")
    }
}

/// A payment as it stands.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PaymentRecord {
    /// `pay_…`.
    pub id: String,
    /// `requires_payment_method`, `requires_confirmation`, `requires_action`,
    /// `processing`, `requires_capture`, `succeeded` or `canceled`.
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
    /// When it is captured.
    pub capture_method: CaptureMethod,
    /// The customer, if any.
    pub customer: Option<String>,
    /// Where the customer completes a `requires_action` step (3-D Secure).
    pub next_action_url: Option<String>,
    /// Why the last attempt was declined.
    pub last_decline: Option<String>,
    /// Free-form labels.
    pub metadata: HashMap<String, String>,
    /// When it was made.
    pub created_at: SystemTime,
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
                obol::payments::CaptureMethod::Automatic => CaptureMethod::Automatic,
                obol::payments::CaptureMethod::Manual => CaptureMethod::Manual,
            },
            customer: payment.customer.map(|id| id.to_string()),
            next_action_url: payment.next_action_url,
            last_decline: payment.last_decline,
            metadata: metadata_out(payment.metadata),
            created_at: time(payment.created_at),
        }
    }
}

#[uniffi::export]
impl Tenant {
    /// Creates a payment. With `idempotency_key`, the same key and input answer the first
    /// result (the key names the payment); the same key with other input is
    /// `idempotency_conflict`.
    pub async fn create_payment(
        &self,
        input: NewPaymentInput,
        idempotency_key: Option<String>,
    ) -> Result<PaymentRecord, PaymentError> {
        self.call(|tenant| async move {
            let mut request =
                CreatePayment::new(amount(&input.amount)?, AssetCode::new(&input.asset)?);
            if input.capture_method == CaptureMethod::Manual {
                request.capture_method = Some(obol::payments::CaptureMethod::Manual);
            }
            request.customer = input.customer.as_deref().map(id).transpose()?;
            request.metadata = metadata(input.metadata);
            tenant
                .create_payment(idempotency_key.as_deref(), request)
                .await
        })
        .await
        .map(PaymentRecord::from)
    }

    /// Tokenizes a card with the sandbox (test mode only) and attaches it to a payment.
    pub async fn attach_card(
        &self,
        payment_id: String,
        card: CardInput,
        idempotency_key: Option<String>,
    ) -> Result<PaymentRecord, PaymentError> {
        self.call(|tenant| async move {
            tenant
                .attach_method(idempotency_key.as_deref(), &id(&payment_id)?, card.method())
                .await
        })
        .await
        .map(PaymentRecord::from)
    }

    /// Confirms a payment: the provider authorizes it (and captures it, when automatic).
    pub async fn confirm(
        &self,
        payment_id: String,
        idempotency_key: Option<String>,
    ) -> Result<PaymentRecord, PaymentError> {
        self.execute(
            PaymentRequest::Confirm {
                payment: id(&payment_id)?,
            },
            idempotency_key,
        )
        .await
    }

    /// Finishes a `requires_action` step (3-D Secure) the customer completed.
    pub async fn complete_action(
        &self,
        payment_id: String,
        idempotency_key: Option<String>,
    ) -> Result<PaymentRecord, PaymentError> {
        self.execute(
            PaymentRequest::CompleteAction {
                payment: id(&payment_id)?,
            },
            idempotency_key,
        )
        .await
    }

    /// Captures an authorized payment: all of it when `amount` is absent; a part releases
    /// the rest unless `final_capture` is false.
    pub async fn capture(
        &self,
        payment_id: String,
        amount: Option<String>,
        final_capture: bool,
        idempotency_key: Option<String>,
    ) -> Result<PaymentRecord, PaymentError> {
        let request = PaymentRequest::Capture {
            payment: id(&payment_id)?,
            amount: amount.as_deref().map(crate::convert::amount).transpose()?,
            final_capture,
        };
        self.execute(request, idempotency_key).await
    }

    /// Cancels a payment not yet captured, releasing what it holds.
    pub async fn cancel(
        &self,
        payment_id: String,
        idempotency_key: Option<String>,
    ) -> Result<PaymentRecord, PaymentError> {
        let request = PaymentRequest::Cancel {
            payment: id(&payment_id)?,
            reason: CancellationReason::RequestedByCustomer,
        };
        self.execute(request, idempotency_key).await
    }

    /// Refunds a captured payment: all that is left when `amount` is absent.
    pub async fn refund(
        &self,
        payment_id: String,
        amount: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<PaymentRecord, PaymentError> {
        let request = PaymentRequest::Refund {
            payment: id(&payment_id)?,
            amount: amount.as_deref().map(crate::convert::amount).transpose()?,
            reason: None,
        };
        self.execute(request, idempotency_key).await
    }

    /// A payment of the tenant (another merchant's is `payment_not_found`).
    pub async fn payment(&self, payment_id: String) -> Result<PaymentRecord, PaymentError> {
        self.call(|tenant| async move { tenant.payment(&id(&payment_id)?).await })
            .await
            .map(PaymentRecord::from)
    }

    /// The tenant's payments, newest first, `limit` per page, after the payment
    /// `starting_after`.
    pub async fn payments(
        &self,
        limit: u32,
        starting_after: Option<String>,
    ) -> Result<Vec<PaymentRecord>, PaymentError> {
        self.call(|tenant| async move {
            let mut query = PaymentQuery::merchant(default_merchant(), limit);
            query.starting_after = starting_after.as_deref().map(id).transpose()?;
            tenant.payments(query).await
        })
        .await
        .map(|found| found.into_iter().map(PaymentRecord::from).collect())
    }

    /// The ledger account (`acct_…`) the merchant's takings in `asset` are credited to (in
    /// the tenant's mode); read it with [`Tenant::balance`].
    pub async fn merchant_account(&self, asset: String) -> Result<String, PaymentError> {
        self.call(|tenant| async move {
            let asset = AssetCode::new(&asset)?;
            let found = tenant.balances(std::slice::from_ref(&asset)).await?;
            found
                .into_iter()
                .next()
                .map(|balance| balance.account.to_string())
                .ok_or_else(|| obol::Error::corrupt("no balance for the asset asked"))
        })
        .await
    }
}

impl Tenant {
    async fn execute(
        &self,
        request: PaymentRequest,
        idempotency_key: Option<String>,
    ) -> Result<PaymentRecord, PaymentError> {
        self.call(|tenant| async move { tenant.execute(idempotency_key.as_deref(), request).await })
            .await
            .map(PaymentRecord::from)
    }
}
