//! A tenant's payments: create (and pay in one call), attach a method, confirm, capture,
//! cancel, refund, read and list, within the principal's merchant and mode; and the merchant's
//! balances.

use serde::{Deserialize, Serialize};

use super::Tenant;
use super::keys::{self, Operation};
use crate::auth::Scope;
use crate::error::{Error, Result};
use crate::id::{AccountId, CustomerId, PaymentId};
use crate::ledger::model::Balance;
use crate::mode::Mode;
use crate::money::AssetCode;
use crate::payments::{
    CaptureMethod, CardDetails, Child, CreatePayment, EventQuery, IdOrigin, MethodInput,
    MethodToken, NewPayment, Payment, PaymentQuery, PaymentRequest, PaymentStatus, StoredEvent,
};

/// A merchant's payment balance in one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct MerchantBalance {
    /// The asset.
    pub asset: AssetCode,
    /// The merchant's ledger account for it.
    pub account: AccountId,
    /// Posted and pending amounts.
    pub balance: Balance,
}

/// The scope a payment request needs.
fn scope_of(request: &PaymentRequest) -> Scope {
    match request {
        PaymentRequest::Refund { .. } => Scope::RefundsWrite,
        _ => Scope::PaymentsWrite,
    }
}

/// The payment an existing-payment request is about (`None` for a creation).
fn target_of(request: &PaymentRequest) -> Option<&PaymentId> {
    match request {
        PaymentRequest::Create(_) => None,
        PaymentRequest::AttachMethod { payment, .. }
        | PaymentRequest::AttachSavedMethod { payment, .. }
        | PaymentRequest::Confirm { payment }
        | PaymentRequest::CompleteAction { payment }
        | PaymentRequest::Capture { payment, .. }
        | PaymentRequest::Cancel { payment, .. }
        | PaymentRequest::Expire { payment }
        | PaymentRequest::Refund { payment, .. } => Some(payment),
    }
}

impl Tenant {
    /// Creates a payment; with a method and `confirm`, pays in one call. With a key, a retry
    /// resumes where the first attempt stopped and answers the same.
    pub async fn create_payment(
        &self,
        key: Option<&str>,
        request: CreatePayment,
    ) -> Result<Payment> {
        self.require(Scope::PaymentsWrite)?;
        self.once_paying(
            Operation::CreatePayment,
            key,
            &request.fingerprint(),
            |claimed| {
                let id =
                    keys::payment_id(self.merchant(), self.mode(), key, claimed.at, self.ids());
                // A new id, or one named by a key no earlier request held, names no payment
                // yet: the store need not be asked for it.
                let origin = if claimed.taken_over {
                    IdOrigin::Given
                } else {
                    IdOrigin::Fresh
                };
                self.create_steps(id, request.clone(), origin)
            },
        )
        .await
    }

    /// The steps of a one-call payment, each skipped when a previous attempt already took it
    /// (the id is fixed, so a retry finds the same payment).
    async fn create_steps(
        &self,
        id: PaymentId,
        request: CreatePayment,
        origin: IdOrigin,
    ) -> Result<Payment> {
        if request.confirm && request.payment_method.is_none() {
            return Err(Error::InvalidTransition {
                status: PaymentStatus::RequiresPaymentMethod.as_str().to_owned(),
                action: "confirm".into(),
            });
        }
        if let Some(customer) = &request.customer {
            self.own_customer(customer).await?;
        }
        let mut new = NewPayment::new(id, request.amount, request.asset.clone())
            .for_merchant(self.merchant().clone())
            .in_mode(self.mode());
        if request.capture_method == Some(CaptureMethod::Manual) {
            new = new.manual_capture();
        }
        new.customer = request.customer.clone();
        new.metadata = request.metadata.clone();
        // The method is checked (and a card tokenized) before anything is written.
        let token = match request.payment_method {
            Some(method) => Some(
                self.resolve_method(request.customer.as_ref(), Some(&request.asset), method)
                    .await?,
            ),
            None => None,
        };
        let payments = &self.payments;
        let mut payment = match (&token, request.confirm) {
            (Some(token), true) => {
                payments
                    .create_and_confirm_from(new, token.clone(), origin)
                    .await?
            }
            _ => {
                payments
                    .create_with_method_from(new, token.clone(), origin)
                    .await?
            }
        };
        // A payment the id already named without a method (a plain create under the same
        // id) takes it now. One that has a method and waits for another was declined: that
        // is the answer, and the card is not tried a second time.
        if let Some(token) = token
            && payment.state.status == PaymentStatus::RequiresPaymentMethod
            && payment.method.is_none()
        {
            payment = payments.attach_method(&payment.id, token).await?;
        }
        if request.confirm && payment.state.status == PaymentStatus::RequiresConfirmation {
            payment = payments.confirm(&payment.id).await?;
        }
        Ok(payment)
    }

    /// Attaches a method to one of the tenant's payments.
    pub async fn attach_method(
        &self,
        key: Option<&str>,
        id: &PaymentId,
        method: MethodInput,
    ) -> Result<Payment> {
        self.require(Scope::PaymentsWrite)?;
        let payment = self.own_payment(id).await?;
        let fingerprint = (id, method.fingerprint());
        self.once(Operation::AttachMethod, key, &fingerprint, |_| async {
            let token = self
                .resolve_method(
                    payment.customer.as_ref(),
                    Some(&payment.asset),
                    method.clone(),
                )
                .await?;
            self.payments.attach_method(id, token).await
        })
        .await
    }

    /// Attaches a method (when given) and confirms.
    pub async fn confirm_payment(
        &self,
        key: Option<&str>,
        id: &PaymentId,
        method: Option<MethodInput>,
    ) -> Result<Payment> {
        self.require(Scope::PaymentsWrite)?;
        let payment = self.own_payment(id).await?;
        let fingerprint = (id, method.as_ref().map(MethodInput::fingerprint));
        self.once_paying(Operation::ConfirmPayment, key, &fingerprint, |_| async {
            let mut current = payment;
            if let Some(method) = method.clone() {
                let token = self
                    .resolve_method(current.customer.as_ref(), Some(&current.asset), method)
                    .await?;
                current = self.payments.attach_method(id, token).await?;
            }
            self.payments.confirm(&current.id).await
        })
        .await
    }

    /// Runs a mutating request (capture, cancel, refund, …) on one of the tenant's payments
    /// at most once per key. Payments are created with [`Tenant::create_payment`] only, which
    /// names them by its own rule.
    pub async fn execute(&self, key: Option<&str>, request: PaymentRequest) -> Result<Payment> {
        self.require(scope_of(&request))?;
        let request = match request {
            PaymentRequest::Create(_) => {
                return Err(Error::InvalidRequest {
                    reason: "payments are created with create_payment".into(),
                });
            }
            PaymentRequest::AttachMethod { payment, method } => {
                let method = self.checked_token(method)?;
                PaymentRequest::AttachMethod { payment, method }
            }
            other => other,
        };
        if let Some(id) = target_of(&request) {
            self.own_payment(id).await?;
        }
        let scoped = key.map(|key| self.scoped_key(Operation::PaymentAction, key));
        self.payments.execute(scoped.as_deref(), request).await
    }

    /// Captures `amount` of an authorization (all that is capturable when `None`).
    pub async fn capture(
        &self,
        key: Option<&str>,
        payment: &PaymentId,
        amount: Option<i128>,
        final_capture: bool,
    ) -> Result<Payment> {
        let request = PaymentRequest::Capture {
            payment: payment.clone(),
            amount,
            final_capture,
        };
        self.execute(key, request).await
    }

    /// Refunds `amount` (all that is refundable when `None`); answers with the payment.
    pub async fn refund(
        &self,
        key: Option<&str>,
        payment: &PaymentId,
        amount: Option<i128>,
        reason: Option<String>,
    ) -> Result<Payment> {
        let request = PaymentRequest::Refund {
            payment: payment.clone(),
            amount,
            reason,
        };
        self.execute(key, request).await
    }

    /// One of the tenant's payments.
    pub async fn payment(&self, id: &PaymentId) -> Result<Payment> {
        self.require(Scope::PaymentsRead)?;
        self.own_payment(id).await
    }

    /// The tenant's payments in its mode, newest first (the query's merchant and mode are
    /// the principal's, whatever it says).
    pub async fn payments(&self, mut query: PaymentQuery) -> Result<Vec<Payment>> {
        self.require(Scope::PaymentsRead)?;
        query.merchant = self.merchant().clone();
        query.mode = Some(self.mode());
        self.payments.list(&query).await
    }

    /// A payment's refunds and disputes.
    pub async fn children(&self, id: &PaymentId) -> Result<Vec<Child>> {
        self.require(Scope::PaymentsRead)?;
        self.own_payment(id).await?;
        self.payments.children(id).await
    }

    /// The tenant's events in its mode, in order (the query's merchant and mode are the
    /// principal's).
    pub async fn events(&self, mut query: EventQuery) -> Result<Vec<StoredEvent>> {
        self.require(Scope::PaymentsRead)?;
        query.merchant = self.merchant().clone();
        query.mode = Some(self.mode());
        self.payments.events(&query).await
    }

    /// The merchant's balance in each asset, in the principal's mode (zero where it has not
    /// been paid; reading opens nothing).
    pub async fn balances(&self, assets: &[AssetCode]) -> Result<Vec<MerchantBalance>> {
        self.require(Scope::LedgerRead)?;
        let mut found = Vec::with_capacity(assets.len());
        for asset in assets {
            self.ledger().asset(asset.as_str())?;
            let account = self
                .payments
                .merchant_account_id(self.merchant(), self.mode(), asset)
                .await?;
            let balance = match self.ledger().balance(&account).await {
                Err(Error::AccountNotFound { .. }) => Balance::default(),
                other => other?,
            };
            found.push(MerchantBalance {
                asset: asset.clone(),
                account,
                balance,
            });
        }
        Ok(found)
    }

    /// A payment of the tenant's merchant and mode; any other is as good as unknown.
    pub(super) async fn own_payment(&self, id: &PaymentId) -> Result<Payment> {
        let payment = self.payments.payment(id).await?;
        if payment.merchant != *self.merchant() || payment.mode != self.mode() {
            return Err(Error::PaymentNotFound { id: id.to_string() });
        }
        Ok(payment)
    }

    /// Turns a client's method into a provider token of the principal's merchant and mode,
    /// checking everything first: card data goes to the tokenizer routing picks for `asset`
    /// (the first provider of this mode that takes cards in it) and no further (test mode
    /// only); a token must be one a provider of this mode made for this merchant; a saved
    /// method must be the customer's.
    pub(super) async fn resolve_method(
        &self,
        customer: Option<&CustomerId>,
        asset: Option<&AssetCode>,
        method: MethodInput,
    ) -> Result<MethodToken> {
        match method {
            MethodInput::Card(card) => {
                if self.mode() != Mode::Test {
                    return Err(Error::InvalidPaymentMethod {
                        reason: "card details are taken in test mode only; in live mode \
                                 tokenize the card with the provider's client library"
                            .into(),
                    });
                }
                let card = CardDetails::new(
                    &card.number,
                    card.exp_month,
                    card.exp_year,
                    &card.cvc,
                    self.ledger().now(),
                )?;
                let tokenizer = self.payments.card_tokenizer(asset, self.mode())?;
                self.payments
                    .tokenize_card(tokenizer.name(), self.merchant(), &card)
                    .await
            }
            MethodInput::Token(token) => {
                // A method made by the provider's own client library (Stripe.js) is adopted.
                let provider = self.payments.provider_in(&token.provider, self.mode())?;
                match provider.tokenizer() {
                    Some(tokenizer)
                        if !provider.accepts_token(&token, self.merchant())
                            && tokenizer.adopts(&token.token) =>
                    {
                        tokenizer.adopt(self.merchant(), &token.token).await
                    }
                    _ => self.checked_token(token),
                }
            }
            MethodInput::Saved(id) => {
                let unknown = || Error::PaymentMethodNotFound { id: id.to_string() };
                let saved = self.payments.usable_method(&id).await?;
                if customer != Some(&saved.customer) {
                    return Err(unknown());
                }
                self.own_customer(&saved.customer)
                    .await
                    .map_err(|_| unknown())?;
                self.checked_token(saved.token)
            }
        }
    }

    /// A token a provider of the principal's mode made for its merchant, or an error.
    fn checked_token(&self, token: MethodToken) -> Result<MethodToken> {
        let provider = self.payments.provider_in(&token.provider, self.mode())?;
        if !provider.accepts_token(&token, self.merchant()) {
            return Err(Error::InvalidPaymentMethod {
                reason: format!(
                    "{} did not issue this token to this merchant",
                    token.provider
                ),
            });
        }
        Ok(token)
    }
}
