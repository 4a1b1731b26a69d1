//! [`PayPal`]: the engine's provider traits over PayPal's Orders v2 and Payments v2 APIs.
//!
//! A payment is an order: created with intent `CAPTURE` (automatic capture) or `AUTHORIZE`
//! (manual), it waits for the payer at PayPal's approval link (`requires_action`); when the
//! payer is back, [`Authorizer::complete_action`] captures or authorizes it. An authorization
//! is captured in parts and voided; captures are refunded in parts. The payment's provider
//! reference is the order id; captures, authorizations and refunds are found from it.
//!
//! Every mutating call carries a `PayPal-Request-Id` derived from the engine's keys, so a
//! retry is answered with the first call's result. PayPal has no search of orders by key:
//! status sync replays the create under the same request id (an order moves no money until
//! its payer approves it, and its link was never shown), or reads the order it knows.

use async_trait::async_trait;
use obol_core::clock::Timestamp;
use obol_core::error::{Error, Result};
use obol_core::id::{MerchantId, RefundId};
use obol_core::mode::Mode;
use obol_core::money::{Asset, AssetCode};
use obol_core::payments::{
    AuthorizeRequest, Authorizer, Canceler, Capabilities, Capturer, ChargeOutcome, ChargeStatus,
    MethodKind, MethodToken, Provider, ProviderEvent, RefundOutcome, Refunder, StatusSync,
    WebhookParser,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::PROVIDER;
use crate::api::{Amount, Authorization, Capture, Order, paypal_id};
use crate::client::{Call, Client, Failure};
use crate::config::PayPalConfig;
use crate::events;
use crate::order::{OrderState, intent_of, order_state};

/// Where `payment` sends its payer back: the configured return URL with the payment's id, and
/// for a payer who cancels at PayPal `obol_outcome=canceled` (PayPal adds the order's
/// `token`).
fn return_urls(base: &str, payment: &str) -> Result<(String, String)> {
    let mut back = url::Url::parse(base).map_err(|e| Error::Config {
        reason: format!("providers.paypal: return_url: {e}"),
    })?;
    back.query_pairs_mut().append_pair("obol_payment", payment);
    let mut canceled = back.clone();
    canceled
        .query_pairs_mut()
        .append_pair("obol_outcome", "canceled");
    Ok((back.to_string(), canceled.to_string()))
}

/// The token a client pays with PayPal by: a checkout where the payer picks their PayPal
/// account or funding at PayPal (`{"provider": "paypal", "token": "checkout", "kind": "wallet"}`).
pub const CHECKOUT: &str = "checkout";

/// PayPal's 422 issues that mean the payer's funding was refused: a decline, not an error.
const DECLINE_ISSUES: [&str; 10] = [
    "INSTRUMENT_DECLINED",
    "TRANSACTION_REFUSED",
    "PAYER_CANNOT_PAY",
    "PAYER_ACCOUNT_RESTRICTED",
    "PAYER_ACCOUNT_LOCKED_OR_CLOSED",
    "PAYEE_BLOCKED_TRANSACTION",
    "COMPLIANCE_VIOLATION",
    "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING",
    "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED",
    "CARD_EXPIRED",
];

/// The PayPal rail.
#[derive(Debug)]
pub struct PayPal {
    client: Client,
    config: PayPalConfig,
}

/// A `PayPal-Request-Id` (at most 108 characters) for the call `parts` name: readable when it
/// fits, else a digest of it.
pub(crate) fn request_id(parts: &[&str]) -> String {
    let joined = format!("obol:{}", parts.join(":"));
    if joined.len() <= 108 && joined.bytes().all(|b| b.is_ascii_graphic()) {
        joined
    } else {
        format!("obol-{}", hex::encode(Sha256::digest(joined.as_bytes())))
    }
}

/// The engine's decline for a refusal of the payer's funding, if `failure` is one.
fn decline(failure: &Failure, reference: Option<&str>) -> Option<ChargeOutcome> {
    let issue = failure.unprocessable_issue()?;
    DECLINE_ISSUES
        .contains(&issue)
        .then(|| ChargeOutcome::Declined {
            reference: reference.map(str::to_owned),
            decline_code: issue.to_ascii_lowercase(),
        })
}

impl PayPal {
    /// The rail with `config`.
    pub fn new(config: PayPalConfig) -> Result<Self> {
        Ok(PayPal {
            client: Client::new(&config)?,
            config,
        })
    }

    /// The method a client pays with PayPal by.
    pub fn checkout_method() -> MethodToken {
        MethodToken {
            provider: PROVIDER.into(),
            token: CHECKOUT.into(),
            kind: MethodKind::Wallet,
            card: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PayPalConfig {
        &self.config
    }

    pub(crate) async fn send<T: serde::de::DeserializeOwned>(
        &self,
        call: &Call,
    ) -> std::result::Result<T, Failure> {
        self.client.send(&self.config, call).await
    }

    /// The configured currency `code`, or an error if PayPal is not routed payments in it.
    pub(crate) fn currency(&self, code: &str) -> Result<&Asset> {
        AssetCode::new(code)
            .ok()
            .and_then(|code| self.config.currency(&code))
            .ok_or_else(|| Error::InvalidRequest {
                reason: format!("PayPal is not routed payments in {code:?}"),
            })
    }

    /// The currency of an order Obol made.
    pub(crate) fn order_currency(&self, order: &Order) -> Result<&Asset> {
        let code = order
            .purchase_units
            .first()
            .and_then(|unit| unit.amount.as_ref())
            .map(|amount| amount.currency_code.as_str())
            .unwrap_or_default();
        self.currency(code)
    }

    pub(crate) async fn order(&self, id: &str) -> std::result::Result<Order, Failure> {
        let id = paypal_id(id).map_err(|e| Failure::Refused(e.to_string()))?;
        self.send(&Call::get(format!("v2/checkout/orders/{id}")))
            .await
    }

    pub(crate) async fn capture_of(&self, id: &str) -> std::result::Result<Capture, Failure> {
        let id = paypal_id(id).map_err(|e| Failure::Refused(e.to_string()))?;
        self.send(&Call::get(format!("v2/payments/captures/{id}")))
            .await
    }

    /// What `order` means, its approval link trusted only if it is PayPal's.
    pub(crate) fn state(&self, order: &Order, currency: &Asset) -> Result<OrderState> {
        order_state(order, currency, &|url| self.config.is_paypal_url(url))
    }

    /// Creates the order of an attempt (the same request id every time, so a replay returns
    /// the first order).
    async fn create_order(&self, request: &AuthorizeRequest) -> Result<ChargeOutcome> {
        if request.token != CHECKOUT {
            return Err(Error::InvalidPaymentMethod {
                reason: "PayPal pays with the checkout token only".into(),
            });
        }
        let currency = self.currency(request.asset.as_str())?.clone();
        let (back, canceled) =
            return_urls(&self.config.return_url, &request.payment_id.to_string())?;
        let body = json!({
            "intent": intent_of(request.capture_method),
            "purchase_units": [{
                "custom_id": request.payment_id.to_string(),
                "amount": Amount::of(request.amount, &currency),
            }],
            "payment_source": {"paypal": {"experience_context": {
                "return_url": back,
                "cancel_url": canceled,
                "user_action": "PAY_NOW",
                "shipping_preference": "NO_SHIPPING",
            }}},
        });
        let call = Call::post(
            "v2/checkout/orders".into(),
            &body,
            Some(request_id(&["order", &request.idempotency_key])),
        )?;
        match self.send::<Order>(&call).await {
            Ok(order) => match self.state(&order, &currency)? {
                OrderState::Settled(outcome) => Ok(outcome),
                // Approved before its link was shown: finish it as the payer's return would.
                OrderState::Approved => self.finish(&order, &currency).await,
            },
            Err(failure) => decline(&failure, None).ok_or_else(|| failure.into_error()),
        }
    }

    /// Captures (intent `CAPTURE`) or authorizes an approved order, once whatever the retries.
    async fn finish(&self, order: &Order, currency: &Asset) -> Result<ChargeOutcome> {
        let action = match order.intent.as_deref() {
            Some("AUTHORIZE") => "authorize",
            _ => "capture",
        };
        let call = Call::post(
            format!("v2/checkout/orders/{}/{action}", paypal_id(&order.id)?),
            &json!({}),
            Some(request_id(&["complete", &order.id])),
        )?;
        let done = match self.send::<Order>(&call).await {
            Ok(done) => done,
            Err(failure) => match failure.unprocessable_issue() {
                // Done by an earlier call whose answer was lost: read what it did.
                Some("ORDER_ALREADY_CAPTURED" | "ORDER_ALREADY_AUTHORIZED") => {
                    self.order(&order.id).await.map_err(Failure::into_error)?
                }
                _ => {
                    return decline(&failure, Some(&order.id)).ok_or_else(|| failure.into_error());
                }
            },
        };
        match self.state(&done, currency)? {
            OrderState::Settled(outcome) => Ok(outcome),
            // Still only approved after the capture: the outcome is not known yet.
            OrderState::Approved => Err(Error::ProviderTimeout {
                provider: PROVIDER.into(),
            }),
        }
    }

    /// What `order` means now, finishing it if its payer approved it.
    async fn state_of(&self, order: &Order, currency: &Asset) -> Result<ChargeOutcome> {
        match self.state(order, currency)? {
            OrderState::Settled(outcome) => Ok(outcome),
            OrderState::Approved => self.finish(order, currency).await,
        }
    }

    /// The order's authorization, for capturing or voiding (manual capture only).
    fn authorization<'o>(&self, order: &'o Order) -> Result<&'o Authorization> {
        if order.intent.as_deref() != Some("AUTHORIZE") {
            return Err(Error::InvalidTransaction {
                reason: format!("PayPal order {} was not made to be authorized", order.id),
            });
        }
        order
            .payments()
            .and_then(|payments| payments.authorizations.first())
            .ok_or_else(|| Error::InvalidTransaction {
                reason: format!("PayPal order {} holds no authorization", order.id),
            })
    }
}

#[async_trait]
impl Authorizer for PayPal {
    async fn authorize(&self, request: &AuthorizeRequest) -> Result<ChargeOutcome> {
        self.create_order(request).await
    }

    async fn complete_action(&self, reference: &str) -> Result<ChargeOutcome> {
        let order = self.order(reference).await.map_err(Failure::into_error)?;
        let currency = self.order_currency(&order)?.clone();
        self.state_of(&order, &currency).await
    }
}

#[async_trait]
impl Capturer for PayPal {
    async fn capture(
        &self,
        reference: &str,
        idempotency_key: &str,
        amount: i128,
        final_capture: bool,
    ) -> Result<()> {
        let order = self.order(reference).await.map_err(Failure::into_error)?;
        let currency = self.order_currency(&order)?.clone();
        let authorization = self.authorization(&order)?;
        let call = Call::post(
            format!(
                "v2/payments/authorizations/{}/capture",
                paypal_id(&authorization.id)?
            ),
            &json!({
                "amount": Amount::of(amount, &currency),
                "final_capture": final_capture,
            }),
            Some(request_id(&["capture", idempotency_key])),
        )?;
        let mut capture: Capture = self.send(&call).await.map_err(Failure::into_error)?;
        // PayPal answers a repeated request id with the first answer, whatever this one asked:
        // a capture of another amount under this key is not this capture.
        let captured = capture
            .amount
            .as_ref()
            .map(|a| a.minor_units(&currency))
            .transpose()?;
        if captured != Some(amount) {
            return Err(Error::IdempotencyConflict {
                id: idempotency_key.to_owned(),
            });
        }
        if capture.status == "PENDING" {
            // A replay shows the first answer: read where the capture stands now.
            capture = self
                .capture_of(&capture.id)
                .await
                .map_err(Failure::into_error)?;
        }
        match capture.status.as_str() {
            _ if capture.took_money() => Ok(()),
            // Not taken yet: the outcome is unknown until PayPal decides.
            "PENDING" => Err(Error::ProviderTimeout {
                provider: PROVIDER.into(),
            }),
            status => Err(Error::InvalidTransaction {
                reason: format!("PayPal capture {} is {status}", capture.id),
            }),
        }
    }
}

#[async_trait]
impl Canceler for PayPal {
    async fn cancel(&self, reference: &str) -> Result<()> {
        let order = self.order(reference).await.map_err(Failure::into_error)?;
        if order.status != "COMPLETED" {
            // Not approved, or approved and never captured: no money is held, and the order
            // expires at PayPal (Orders v2 has no call to cancel one).
            return Ok(());
        }
        let authorization = self.authorization(&order)?;
        match authorization.status.as_str() {
            "CREATED" | "PARTIALLY_CAPTURED" | "PENDING" => {}
            "VOIDED" | "EXPIRED" | "DENIED" => return Ok(()),
            // Money was taken (a capture whose answer was lost): not a cancellation.
            status => {
                return Err(Error::InvalidTransaction {
                    reason: format!(
                        "PayPal authorization {} is {status}; it cannot be voided",
                        authorization.id
                    ),
                });
            }
        }
        let call = Call::post(
            format!(
                "v2/payments/authorizations/{}/void",
                paypal_id(&authorization.id)?
            ),
            &json!({}),
            Some(request_id(&["void", &authorization.id])),
        )?;
        match self.send::<serde_json::Value>(&call).await {
            Ok(_) => Ok(()),
            Err(failure) if failure.unprocessable_issue() == Some("PREVIOUSLY_VOIDED") => Ok(()),
            Err(failure) => Err(failure.into_error()),
        }
    }
}

#[async_trait]
impl Refunder for PayPal {
    async fn refund(
        &self,
        reference: &str,
        refund_id: &RefundId,
        amount: i128,
    ) -> Result<RefundOutcome> {
        let order = self.order(reference).await.map_err(Failure::into_error)?;
        let currency = self.order_currency(&order)?.clone();
        let payments = order.payments().cloned().unwrap_or_default();
        let ours = refund_id.to_string();
        let minor = |amount: &Option<Amount>| -> Result<i128> {
            amount
                .as_ref()
                .ok_or_else(|| Error::InvalidTransaction {
                    reason: "a PayPal payment without an amount".into(),
                })?
                .minor_units(&currency)
        };
        let live = |status: &str| !matches!(status, "FAILED" | "CANCELLED");
        // Parts of this refund made by an earlier call (its answer lost): counted, not redone.
        let mut statuses = Vec::new();
        let mut remaining = amount;
        for earlier in payments
            .refunds
            .iter()
            .filter(|r| r.custom_id.as_deref() == Some(ours.as_str()) && live(&r.status))
        {
            remaining -= minor(&earlier.amount)?;
            statuses.push(earlier.status.clone());
        }
        // What each capture can still give back, oldest first.
        let mut parts = Vec::new();
        let mut planned = remaining;
        for capture in payments.captures.iter().filter(|c| c.took_money()) {
            if planned <= 0 {
                break;
            }
            let refunded: i128 = payments
                .refunds
                .iter()
                .filter(|r| r.capture_id() == Some(capture.id.as_str()) && live(&r.status))
                .map(|r| minor(&r.amount))
                .sum::<Result<i128>>()?;
            let part = planned.min(minor(&capture.amount)? - refunded);
            if part > 0 {
                parts.push((capture.id.clone(), part));
                planned -= part;
            }
        }
        // Nothing is sent unless all of it can be refunded.
        if planned > 0 {
            return Err(Error::InvalidTransaction {
                reason: format!("PayPal holds {planned} minor units less to refund than asked"),
            });
        }
        let mut sent_any = !statuses.is_empty();
        for (capture, part) in parts {
            let call = Call::post(
                format!("v2/payments/captures/{}/refund", paypal_id(&capture)?),
                &json!({"amount": Amount::of(part, &currency), "custom_id": ours}),
                Some(request_id(&["refund", &ours, &capture])),
            )?;
            let refund: crate::api::Refund = match self.send(&call).await {
                Ok(refund) => refund,
                // Part of the money is on its way back: the refund is unknown, not undone;
                // the same refund id later counts what was made and sends the rest.
                Err(failure) if sent_any => {
                    tracing::warn!(refund = %ours, error = %failure.into_error(), "paypal refund part failed after others were made");
                    return Err(Error::ProviderTimeout {
                        provider: PROVIDER.into(),
                    });
                }
                Err(failure) => return Err(failure.into_error()),
            };
            // A replay answers the first call: what PayPal refunded must be this part.
            if live(&refund.status) && minor(&refund.amount)? != part {
                return Err(Error::IdempotencyConflict {
                    id: format!("{ours} on {capture}"),
                });
            }
            sent_any = true;
            statuses.push(refund.status);
        }
        Ok(refund_outcome(&statuses))
    }
}

/// A refund's outcome from its parts' statuses: failed only when no part is live, pending
/// while any is pending or when some failed after others went through.
fn refund_outcome(statuses: &[String]) -> RefundOutcome {
    let failed = |s: &String| matches!(s.as_str(), "FAILED" | "CANCELLED");
    if statuses.iter().all(|s| s == "COMPLETED") {
        RefundOutcome::Succeeded
    } else if statuses.iter().all(failed) {
        RefundOutcome::Failed
    } else {
        RefundOutcome::Pending
    }
}

#[async_trait]
impl StatusSync for PayPal {
    async fn charge_status(&self, _idempotency_key: &str) -> Result<ChargeStatus> {
        Err(Error::Unsupported {
            provider: PROVIDER.into(),
            capability: "looking an order up by key (PayPal has no search of orders)".into(),
        })
    }

    async fn attempt_status(
        &self,
        attempt: &AuthorizeRequest,
        reference: Option<&str>,
    ) -> Result<ChargeStatus> {
        let Some(reference) = reference else {
            return Ok(ChargeStatus::Found(self.create_order(attempt).await?));
        };
        match self.order(reference).await {
            Ok(order) => {
                let currency = self.order_currency(&order)?.clone();
                Ok(ChargeStatus::Found(self.state_of(&order, &currency).await?))
            }
            // PayPal forgets orders nobody approved: nothing moved.
            Err(failure) if failure.is_not_found() => {
                Ok(ChargeStatus::Found(ChargeOutcome::Declined {
                    reference: Some(reference.to_owned()),
                    decline_code: "order_expired".into(),
                }))
            }
            Err(failure) => Err(failure.into_error()),
        }
    }
}

#[async_trait]
impl WebhookParser for PayPal {
    async fn parse_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Timestamp,
    ) -> Result<Option<ProviderEvent>> {
        events::verified_event(self, headers, body, now).await
    }
}

impl Provider for PayPal {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn mode(&self) -> Mode {
        self.config.mode()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            assets: Some(
                self.config
                    .currencies
                    .iter()
                    .map(|c| c.code.clone())
                    .collect(),
            ),
            methods: vec![MethodKind::Wallet],
            manual_capture: true,
            multi_capture: true,
            partial_refunds: true,
        }
    }

    fn authorizer(&self) -> Option<&dyn Authorizer> {
        Some(self)
    }

    fn capturer(&self) -> Option<&dyn Capturer> {
        Some(self)
    }

    fn canceler(&self) -> Option<&dyn Canceler> {
        Some(self)
    }

    fn refunder(&self) -> Option<&dyn Refunder> {
        Some(self)
    }

    fn status_sync(&self) -> Option<&dyn StatusSync> {
        Some(self)
    }

    fn webhooks(&self) -> Option<&dyn WebhookParser> {
        Some(self)
    }

    /// The checkout token carries nothing to steal: any merchant may start a PayPal checkout.
    fn accepts_token(&self, token: &MethodToken, _merchant: &MerchantId) -> bool {
        token.provider == PROVIDER && token.kind == MethodKind::Wallet && token.token == CHECKOUT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_fails_only_when_no_part_went_through() {
        let of =
            |list: &[&str]| refund_outcome(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(of(&["COMPLETED", "COMPLETED"]), RefundOutcome::Succeeded);
        assert_eq!(of(&["COMPLETED", "PENDING"]), RefundOutcome::Pending);
        assert_eq!(of(&["COMPLETED", "FAILED"]), RefundOutcome::Pending);
        assert_eq!(of(&["FAILED", "CANCELLED"]), RefundOutcome::Failed);
    }

    #[test]
    fn the_payer_comes_back_with_the_payment_id() {
        let (back, canceled) = return_urls("https://shop.example/paid?cart=7", "pay_1").unwrap();
        assert_eq!(back, "https://shop.example/paid?cart=7&obol_payment=pay_1");
        assert_eq!(
            canceled,
            "https://shop.example/paid?cart=7&obol_payment=pay_1&obol_outcome=canceled"
        );
    }

    #[test]
    fn request_ids_fit_paypals_limit() {
        assert_eq!(request_id(&["order", "pay_1:1"]), "obol:order:pay_1:1");
        let long = "k".repeat(200);
        let hashed = request_id(&["order", &long]);
        assert!(
            hashed.len() <= 108 && hashed.starts_with("obol-"),
            "{hashed}"
        );
        assert_ne!(hashed, request_id(&["order", &"k".repeat(201)]));
        assert!(request_id(&["refund", "a b"]).starts_with("obol-"));
    }
}
