//! [`Stripe`]: the engine's provider traits over Stripe's PaymentIntents API.
//!
//! Every mutating call carries an `Idempotency-Key` derived from the engine's keys (the
//! attempt key, the capture key, the refund id), so a retry after a crash is answered with the
//! first call's result and never charges twice. The attempt key is also kept in the intent's
//! metadata (`obol_attempt`), which is how status sync finds an intent whose create answer was
//! lost.

use std::collections::HashMap;

use async_trait::async_trait;
use obol_core::clock::Timestamp;
use obol_core::error::{Error, Result};
use obol_core::id::{CustomerId, MerchantId, RefundId};
use obol_core::mode::Mode;
use obol_core::money::AssetCode;
use obol_core::payments::AuthorizeRequest;
use obol_core::payments::{
    Authorizer, Canceler, Capabilities, CaptureMethod, Capturer, CardBrand, CardDetails,
    CardSummary, ChargeOutcome, ChargeStatus, MethodKind, MethodToken, Provider, ProviderEvent,
    RefundOutcome, Refunder, StatusSync, Tokenizer, WebhookParser,
};
use stripe::{Client, ClientBuilder};
use stripe_client_core::{RequestStrategy, StripeRequest};
use stripe_core::customer::{CreateCustomer, SearchCustomer};
use stripe_core::payment_intent::{
    CancelPaymentIntent, CapturePaymentIntent, CreatePaymentIntent,
    CreatePaymentIntentPaymentMethodOptions, CreatePaymentIntentPaymentMethodOptionsCard,
    CreatePaymentIntentPaymentMethodOptionsCardRequestMulticapture, ListPaymentIntent,
    RetrievePaymentIntent, SearchPaymentIntent,
};
use stripe_core::refund::{CreateRefund, ListRefund};
use stripe_payment::payment_method::{
    AttachPaymentMethod, CreatePaymentMethod, CreatePaymentMethodCard,
    CreatePaymentMethodCardDetailsParams, CreatePaymentMethodType, RetrievePaymentMethod,
    UpdatePaymentMethod,
};
use stripe_shared::{PaymentIntent, PaymentIntentCaptureMethod};

use crate::PROVIDER;
use crate::config::StripeConfig;
use crate::failure::{Failure, decline_code};
use crate::intent::outcome;
use crate::tokens::{StripeToken, is_stripe_id};
use crate::{events, webhook_signature};

/// Metadata key holding the engine's attempt key on every intent Obol creates.
pub const ATTEMPT_METADATA: &str = "obol_attempt";
/// Metadata key naming the Obol customer on the Stripe Customers Obol creates.
pub const CUSTOMER_METADATA: &str = "obol_customer";
/// Status sync reads up to this many pages of the newest intents when search finds nothing
/// (search is eventually consistent; the list is not).
const RECENT_PAGES: usize = 10;
/// Intents per page of that list (Stripe's maximum).
const PAGE_SIZE: i64 = 100;

/// The Stripe rail.
#[derive(Debug)]
pub struct Stripe {
    client: Client,
    config: StripeConfig,
}

/// An idempotency key Stripe accepts: at most 255 printable characters.
fn idempotency(parts: &[&str]) -> Result<RequestStrategy> {
    let key = parts.join(":");
    if key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidRequest {
            reason: "an idempotency key for Stripe must be at most 255 printable characters".into(),
        });
    }
    stripe_client_core::IdempotencyKey::new(&key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| Error::InvalidRequest {
            reason: format!("Stripe refused the idempotency key: {e}"),
        })
}

/// A minor-unit amount as Stripe's integer.
fn stripe_amount(amount: i128) -> Result<i64> {
    i64::try_from(amount)
        .ok()
        .filter(|a| *a > 0)
        .ok_or_else(|| Error::InvalidAmount {
            reason: "Stripe charges positive amounts that fit in 64 bits".into(),
        })
}

/// A Stripe refund's status as the engine's outcome.
fn refund_outcome(status: Option<&str>) -> RefundOutcome {
    match status {
        Some("succeeded") => RefundOutcome::Succeeded,
        Some("failed" | "canceled") => RefundOutcome::Failed,
        _ => RefundOutcome::Pending,
    }
}

/// A value safe inside a Stripe search query's single quotes.
fn search_literal(value: &str) -> Result<&str> {
    if value.is_empty()
        || value.len() > 200
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-:.".contains(&b))
    {
        return Err(Error::InvalidRequest {
            reason: "a Stripe search value must be letters, digits and _-:.".into(),
        });
    }
    Ok(value)
}

fn pi_id(reference: &str) -> Result<&str> {
    let ok = reference.strip_prefix("pi_").is_some_and(|rest| {
        (1..=200).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if ok {
        Ok(reference)
    } else {
        Err(Error::InvalidTransaction {
            reason: "not a Stripe PaymentIntent reference".into(),
        })
    }
}

impl Stripe {
    /// A Stripe rail with `config`.
    pub fn new(config: StripeConfig) -> Result<Self> {
        let client = ClientBuilder::new(config.secret_key())
            .url(config.api_base.clone())
            .timeout(config.timeout)
            .app_info("obol", Some(env!("CARGO_PKG_VERSION").to_owned()), None)
            .build()
            .map_err(|e| Error::Config {
                reason: format!("providers.stripe: {e}"),
            })?;
        Ok(Stripe { client, config })
    }

    /// Sends `request` with `strategy`; errors sorted by [`Failure`].
    async fn call<R: StripeRequest>(
        &self,
        request: &R,
        strategy: RequestStrategy,
    ) -> std::result::Result<R::Output, Failure>
    where
        R::Output: miniserde::Deserialize,
    {
        request
            .customize()
            .request_strategy(strategy)
            .send(&self.client)
            .await
            .map_err(Failure::of)
    }

    /// Like [`Self::call`], with every failure as the engine's error.
    async fn send<R: StripeRequest>(
        &self,
        request: &R,
        strategy: RequestStrategy,
    ) -> Result<R::Output>
    where
        R::Output: miniserde::Deserialize,
    {
        self.call(request, strategy)
            .await
            .map_err(Failure::into_error)
    }

    fn currency(asset: &AssetCode) -> stripe_types::Currency {
        match asset.as_str().to_ascii_lowercase().parse() {
            Ok(currency) => currency,
            Err(never) => match never {},
        }
    }

    /// The Stripe Customer standing for an Obol customer: found by its metadata, else made
    /// (under an idempotency key, which also covers search's indexing delay for a day).
    async fn stripe_customer(
        &self,
        merchant: &MerchantId,
        customer: &CustomerId,
    ) -> Result<String> {
        let query = format!(
            "metadata['{CUSTOMER_METADATA}']:'{}'",
            search_literal(customer.as_str())?
        );
        let found = self
            .send(&SearchCustomer::new(query).limit(1), RequestStrategy::Once)
            .await?;
        if let Some(existing) = found.data.first() {
            return Ok(existing.id.as_str().to_owned());
        }
        let metadata = HashMap::from([
            (CUSTOMER_METADATA.to_owned(), customer.as_str().to_owned()),
            ("obol_merchant".to_owned(), merchant.as_str().to_owned()),
        ]);
        let made = self
            .send(
                &CreateCustomer::new().metadata(metadata),
                idempotency(&["obol-customer", customer.as_str()])?,
            )
            .await?;
        Ok(made.id.as_str().to_owned())
    }

    /// Finds the intent created under an attempt key: by search, else among the newest.
    async fn intent_by_attempt(&self, attempt: &str) -> Result<Option<PaymentIntent>> {
        let query = format!(
            "metadata['{ATTEMPT_METADATA}']:'{}'",
            search_literal(attempt)?
        );
        let found = self
            .send(
                &SearchPaymentIntent::new(query).limit(1),
                RequestStrategy::Once,
            )
            .await?;
        if let Some(intent) = found.data.into_iter().next() {
            return Ok(Some(intent));
        }
        // Search lags writes (Stripe: usually under a minute); the list does not.
        let mut after: Option<String> = None;
        for _ in 0..RECENT_PAGES {
            let mut list = ListPaymentIntent::new().limit(PAGE_SIZE);
            if let Some(last) = &after {
                list = list.starting_after(last.as_str());
            }
            let page = self.send(&list, RequestStrategy::Once).await?;
            after = page.data.last().map(|intent| intent.id.as_str().to_owned());
            let has_more = page.has_more;
            if let Some(intent) = page.data.into_iter().find(|intent| {
                intent.metadata.get(ATTEMPT_METADATA).map(String::as_str) == Some(attempt)
            }) {
                return Ok(Some(intent));
            }
            if !has_more || after.is_none() {
                // The whole list was read: the intent does not exist.
                return Ok(None);
            }
        }
        // Too many newer intents to be sure: unknown, never "not found" (a second charge).
        tracing::warn!(
            attempt,
            "no intent found in the newest pages; outcome left unknown"
        );
        Err(Error::ProviderTimeout {
            provider: PROVIDER.into(),
        })
    }

    /// A failed authorization as an answer when it is one (a decline, or an authentication
    /// the customer must do), else the engine's error.
    fn declined(failure: Failure) -> Result<ChargeOutcome> {
        let Failure::Answered { error, .. } = &failure else {
            return Err(failure.into_error());
        };
        let needs_authentication = error
            .code
            .as_ref()
            .is_some_and(|c| c.as_str() == "authentication_required");
        // The customer must authenticate; pass on Stripe's redirect when it gave one.
        if needs_authentication
            && let Some(intent) = error.payment_intent.as_ref()
            && let Ok(action @ ChargeOutcome::RequiresAction { .. }) = outcome(intent)
        {
            return Ok(action);
        }
        let reference = error
            .payment_intent
            .as_ref()
            .map(|pi| pi.id.as_str().to_owned());
        let code = decline_code(error)
            .or_else(|| needs_authentication.then(|| "authentication_required".to_owned()));
        match code {
            Some(decline_code) => Ok(ChargeOutcome::Declined {
                reference,
                decline_code,
            }),
            None => Err(failure.into_error()),
        }
    }
}

#[async_trait]
impl Tokenizer for Stripe {
    async fn tokenize_card(
        &self,
        merchant: &MerchantId,
        card: &CardDetails,
    ) -> Result<MethodToken> {
        let summary = card.summary();
        let details = CreatePaymentMethodCardDetailsParams {
            cvc: Some(card.cvc().to_owned()),
            ..CreatePaymentMethodCardDetailsParams::new(
                i64::from(summary.exp_month),
                i64::from(summary.exp_year),
                card.number(),
            )
        };
        let request = CreatePaymentMethod::new()
            .type_(CreatePaymentMethodType::Card)
            .card(CreatePaymentMethodCard::CardDetailsParams(details))
            .metadata(HashMap::from([(
                "obol_merchant".to_owned(),
                merchant.as_str().to_owned(),
            )]));
        // Making a PaymentMethod moves no money: a retry at worst leaves an unused one.
        let method = match self.call(&request, RequestStrategy::Once).await {
            Ok(method) => method,
            Err(Failure::Answered { error, .. }) if decline_code(&error).is_some() => {
                return Err(Error::CardDeclined {
                    decline_code: decline_code(&error).unwrap_or_default(),
                });
            }
            Err(failure) => return Err(failure.into_error()),
        };
        let token = StripeToken {
            payment_method: method.id.as_str().to_owned(),
            customer: None,
        };
        Ok(MethodToken {
            provider: PROVIDER.into(),
            token: token.seal(&self.config.token_key, merchant)?,
            kind: MethodKind::Card,
            card: Some(summary),
        })
    }

    async fn keep_for_customer(
        &self,
        merchant: &MerchantId,
        customer: &CustomerId,
        token: MethodToken,
    ) -> Result<MethodToken> {
        let opened =
            StripeToken::open(&token.token, &self.config.token_key, merchant).ok_or_else(|| {
                Error::InvalidCard {
                    reason: "not a Stripe token of this merchant".into(),
                }
            })?;
        if opened.customer.is_some() {
            return Ok(token);
        }
        let stripe_customer = self.stripe_customer(merchant, customer).await?;
        self.send(
            &AttachPaymentMethod::new(opened.payment_method.as_str()).customer(&stripe_customer),
            idempotency(&["obol-attach", &opened.payment_method, &stripe_customer])?,
        )
        .await?;
        let saved = StripeToken {
            customer: Some(stripe_customer),
            ..opened
        };
        Ok(MethodToken {
            token: saved.seal(&self.config.token_key, merchant)?,
            ..token
        })
    }

    fn adopts(&self, text: &str) -> bool {
        is_stripe_id(text, "pm_")
    }

    async fn adopt(&self, merchant: &MerchantId, text: &str) -> Result<MethodToken> {
        let refused = |reason: &str| Error::InvalidPaymentMethod {
            reason: format!("stripe: {reason}"),
        };
        if !is_stripe_id(text, "pm_") {
            return Err(refused("not a PaymentMethod id"));
        }
        let method = match self
            .call(&RetrievePaymentMethod::new(text), RequestStrategy::Once)
            .await
        {
            Ok(method) => method,
            Err(Failure::Answered { status: 404, .. }) => {
                return Err(refused("no such PaymentMethod"));
            }
            Err(failure) => return Err(failure.into_error()),
        };
        let made_for = method
            .metadata
            .as_ref()
            .and_then(|m| m.get("obol_merchant"))
            .map(String::as_str);
        // Fresh from the customer's browser (no owner yet), or made by Obol for this merchant;
        // never a method another merchant made or saved.
        let ours = made_for == Some(merchant.as_str());
        if made_for.is_some_and(|owner| owner != merchant.as_str())
            || (method.customer.is_some() && !ours)
        {
            return Err(refused("the PaymentMethod belongs to someone else"));
        }
        let card = method
            .card
            .as_ref()
            .ok_or_else(|| refused("only card PaymentMethods are taken"))?;
        if made_for.is_none() {
            // Claimed for this merchant: no other merchant can adopt it later.
            let claim = UpdatePaymentMethod::new(method.id.as_str()).metadata(HashMap::from([(
                "obol_merchant".to_owned(),
                merchant.as_str().to_owned(),
            )]));
            self.send(&claim, RequestStrategy::Once).await?;
        }
        let summary = CardSummary {
            brand: brand(&card.brand),
            last4: card.last4.chars().take(4).collect(),
            exp_month: u8::try_from(card.exp_month).map_err(|_| refused("bad expiry month"))?,
            exp_year: u16::try_from(card.exp_year).map_err(|_| refused("bad expiry year"))?,
        };
        let token = StripeToken {
            payment_method: method.id.as_str().to_owned(),
            customer: method.customer.as_ref().map(|c| c.id().as_str().to_owned()),
        };
        Ok(MethodToken {
            provider: PROVIDER.into(),
            token: token.seal(&self.config.token_key, merchant)?,
            kind: MethodKind::Card,
            card: Some(summary),
        })
    }
}

/// The engine's card brand for Stripe's brand name.
fn brand(name: &str) -> CardBrand {
    match name {
        "visa" => CardBrand::Visa,
        "mastercard" => CardBrand::Mastercard,
        "amex" => CardBrand::Amex,
        "discover" => CardBrand::Discover,
        _ => CardBrand::Unknown,
    }
}

#[async_trait]
impl Authorizer for Stripe {
    async fn authorize(&self, request: &AuthorizeRequest) -> Result<ChargeOutcome> {
        let token = StripeToken::open(&request.token, &self.config.token_key, &request.merchant)
            .ok_or_else(|| Error::InvalidCard {
                reason: "not a Stripe token of this merchant".into(),
            })?;
        let metadata = HashMap::from([
            (ATTEMPT_METADATA.to_owned(), request.idempotency_key.clone()),
            ("obol_payment".to_owned(), request.payment_id.to_string()),
            (
                "obol_merchant".to_owned(),
                request.merchant.as_str().to_owned(),
            ),
        ]);
        let capture_method = match request.capture_method {
            CaptureMethod::Automatic => PaymentIntentCaptureMethod::Automatic,
            CaptureMethod::Manual => PaymentIntentCaptureMethod::Manual,
        };
        let mut create = CreatePaymentIntent::new(
            stripe_amount(request.amount)?,
            Self::currency(&request.asset),
        )
        .payment_method(token.payment_method.as_str())
        .confirm(true)
        .capture_method(capture_method)
        .return_url(self.config.return_url.as_str())
        .metadata(metadata);
        if let Some(customer) = &token.customer {
            create = create.customer(customer.as_str());
        }
        if self.config.multicapture && request.capture_method == CaptureMethod::Manual {
            let card = CreatePaymentIntentPaymentMethodOptionsCard {
                request_multicapture: Some(
                    CreatePaymentIntentPaymentMethodOptionsCardRequestMulticapture::IfAvailable,
                ),
                ..Default::default()
            };
            create = create.payment_method_options(CreatePaymentIntentPaymentMethodOptions {
                card: Some(card),
                ..Default::default()
            });
        }
        let strategy = idempotency(&["obol-authorize", &request.idempotency_key])?;
        match self.call(&create, strategy).await {
            Ok(intent) => outcome(&intent),
            Err(failure) => Self::declined(failure),
        }
    }

    async fn complete_action(&self, reference: &str) -> Result<ChargeOutcome> {
        let intent = self
            .send(
                &RetrievePaymentIntent::new(pi_id(reference)?),
                RequestStrategy::Once,
            )
            .await?;
        outcome(&intent)
    }
}

#[async_trait]
impl Capturer for Stripe {
    async fn capture(
        &self,
        reference: &str,
        idempotency_key: &str,
        amount: i128,
        final_capture: bool,
    ) -> Result<()> {
        let mut capture =
            CapturePaymentIntent::new(pi_id(reference)?).amount_to_capture(stripe_amount(amount)?);
        if self.config.multicapture {
            capture = capture.final_capture(final_capture);
        }
        self.send(&capture, idempotency(&["obol-capture", idempotency_key])?)
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl Canceler for Stripe {
    async fn cancel(&self, reference: &str) -> Result<()> {
        let reference = pi_id(reference)?;
        self.send(
            &CancelPaymentIntent::new(reference),
            idempotency(&["obol-cancel", reference])?,
        )
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl Refunder for Stripe {
    async fn refund(
        &self,
        reference: &str,
        refund_id: &RefundId,
        amount: i128,
    ) -> Result<RefundOutcome> {
        // A refund made before (an answer lost, a pending one asked again) is looked up, not
        // posted again: Stripe replays only the first answer, and only for a day.
        let existing = self
            .call(
                &ListRefund::new()
                    .payment_intent(pi_id(reference)?)
                    .limit(PAGE_SIZE),
                RequestStrategy::Once,
            )
            .await
            .map_err(|_| Error::ProviderTimeout {
                provider: PROVIDER.into(),
            })?;
        if let Some(refund) = existing.data.iter().find(|refund| {
            refund
                .metadata
                .as_ref()
                .and_then(|m| m.get("obol_refund"))
                .is_some_and(|id| id == refund_id.as_str())
        }) {
            return Ok(refund_outcome(refund.status.as_deref()));
        }
        let create = CreateRefund::new()
            .payment_intent(pi_id(reference)?)
            .amount(stripe_amount(amount)?)
            .metadata(HashMap::from([(
                "obol_refund".to_owned(),
                refund_id.to_string(),
            )]));
        let refund = match self
            .call(&create, idempotency(&["obol-refund", refund_id.as_str()])?)
            .await
        {
            Ok(refund) => refund,
            // Stripe refused the refund itself (already refunded, too much): a failed refund.
            Err(Failure::Answered {
                status: 400 | 402, ..
            }) => return Ok(RefundOutcome::Failed),
            Err(failure) => return Err(failure.into_error()),
        };
        Ok(refund_outcome(refund.status.as_deref()))
    }
}

#[async_trait]
impl StatusSync for Stripe {
    async fn charge_status(&self, idempotency_key: &str) -> Result<ChargeStatus> {
        Ok(match self.intent_by_attempt(idempotency_key).await? {
            Some(intent) => ChargeStatus::Found(outcome(&intent)?),
            None => ChargeStatus::NotFound,
        })
    }
}

#[async_trait]
impl WebhookParser for Stripe {
    async fn parse_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Timestamp,
    ) -> Result<Option<ProviderEvent>> {
        let mut signatures = headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("stripe-signature"));
        let header = match (signatures.next(), signatures.next()) {
            (Some((_, value)), None) => value,
            _ => {
                return Err(Error::WebhookSignatureInvalid {
                    reason: "exactly one Stripe-Signature header is expected".into(),
                });
            }
        };
        webhook_signature::verify(&self.config.webhook_secret, header, body, now)?;
        events::read_event(body, self.config.mode() == Mode::Live)
    }
}

impl Provider for Stripe {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn mode(&self) -> Mode {
        self.config.mode()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            assets: Some(self.config.currencies.clone()),
            methods: vec![MethodKind::Card],
            manual_capture: true,
            multi_capture: self.config.multicapture,
            partial_refunds: true,
        }
    }

    fn tokenizer(&self) -> Option<&dyn Tokenizer> {
        Some(self)
    }

    fn accepts_token(&self, token: &MethodToken, merchant: &MerchantId) -> bool {
        token.provider == PROVIDER
            && StripeToken::open(&token.token, &self.config.token_key, merchant).is_some()
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
}
