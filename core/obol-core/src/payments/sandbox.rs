//! The sandbox provider, the embedded default: deterministic, in memory, modelled on Stripe's
//! test cards. The card number picks the behaviour:
//!
//! | number                | behaviour                                                      |
//! |-----------------------|----------------------------------------------------------------|
//! | `4242 4242 4242 4242` | succeeds (any other valid number too)                          |
//! | `4000 0000 0000 0002` | declined, `generic_decline`                                    |
//! | `4000 0000 0000 9995` | declined, `insufficient_funds`                                 |
//! | `4000 0000 0000 0069` | declined, `expired_card`                                       |
//! | `4000 0025 0000 3155` | requires action (3-D Secure), succeeds once completed          |
//! | `4000 0000 0000 0259` | succeeds, then the customer disputes it                        |
//! | `4000 0000 0000 0044` | stays `processing`; settles as succeeded on the first status sync |
//! | `4000 0000 0000 0085` | the charge is made but the call times out (unknown outcome)    |
//!
//! Tokens name the behaviour (`tok_sandbox_declined_…`), never the card number. Charges live
//! in this value's memory: share one `Arc<Sandbox>` across engine restarts to model a provider
//! that outlives the process.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::card::CardDetails;
use super::provider::{
    AuthorizeRequest, Authorizer, Canceler, Capabilities, Capturer, ChargeOutcome, ChargeStatus,
    MethodKind, MethodToken, Provider, ProviderEvent, RefundOutcome, Refunder, StatusSync,
    Tokenizer, WebhookParser,
};
use super::state::CaptureMethod;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::RefundId;
use crate::ledger::codec::{from_json, to_json};
use crate::money::AssetCode;
use crate::webhooks::{Headers, WebhookSecret, verify};

/// What a sandbox card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Authorizes.
    Succeeds,
    /// Declines with `generic_decline`.
    Declined,
    /// Declines with `insufficient_funds`.
    InsufficientFunds,
    /// Declines with `expired_card`.
    ExpiredCard,
    /// Asks for 3-D Secure first.
    RequiresAction,
    /// Authorizes; the customer disputes it later.
    Disputed,
    /// Processing; settles on the first status query.
    Processing,
    /// Charges, but the call times out.
    TimesOut,
}

const BEHAVIOURS: [(Behaviour, &str, &str); 8] = [
    (Behaviour::Succeeds, "succeeds", "4242424242424242"),
    (Behaviour::Declined, "declined", "4000000000000002"),
    (
        Behaviour::InsufficientFunds,
        "insufficient_funds",
        "4000000000009995",
    ),
    (Behaviour::ExpiredCard, "expired_card", "4000000000000069"),
    (
        Behaviour::RequiresAction,
        "requires_action",
        "4000002500003155",
    ),
    (Behaviour::Disputed, "disputed", "4000000000000259"),
    (Behaviour::Processing, "processing", "4000000000000044"),
    (Behaviour::TimesOut, "times_out", "4000000000000085"),
];

impl Behaviour {
    fn of_number(number: &str) -> Self {
        BEHAVIOURS
            .iter()
            .find(|(_, _, n)| *n == number)
            .map_or(Behaviour::Succeeds, |(b, _, _)| *b)
    }

    fn name(self) -> &'static str {
        BEHAVIOURS
            .iter()
            .find(|(b, _, _)| *b == self)
            .map_or("succeeds", |(_, name, _)| name)
    }

    fn of_token(token: &str) -> Option<Self> {
        let rest = token.strip_prefix("tok_sandbox_")?;
        let (name, _serial) = rest.rsplit_once('_')?;
        BEHAVIOURS
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(b, _, _)| *b)
    }
}

#[derive(Debug, Clone)]
struct Charge {
    reference: String,
    behaviour: Behaviour,
    capture_method: CaptureMethod,
    outcome: ChargeOutcome,
    /// The amount asked for.
    requested: i128,
    authorized: i128,
    captured: i128,
    refunded: i128,
    canceled: bool,
    /// Refund ids already applied (a retried refund is not paid twice).
    refunds: Vec<RefundId>,
    /// Capture idempotency keys already applied.
    captures: Vec<String>,
}

#[derive(Debug, Default)]
struct Books {
    serial: u64,
    /// Charges by idempotency key.
    by_key: HashMap<String, Charge>,
    /// Idempotency key by charge reference.
    keys: HashMap<String, String>,
}

impl Books {
    fn charge_mut(&mut self, reference: &str) -> Result<&mut Charge> {
        let key = self.keys.get(reference).ok_or_else(|| unknown(reference))?;
        self.by_key.get_mut(key).ok_or_else(|| unknown(reference))
    }
}

fn unknown(reference: &str) -> Error {
    Error::InvalidTransaction {
        reason: format!("the sandbox has no charge {reference}"),
    }
}

fn refused(reason: &str) -> Error {
    Error::InvalidTransaction {
        reason: format!("sandbox: {reason}"),
    }
}

/// The sandbox's webhook signing secret (documented, so tests and examples can verify).
pub const SANDBOX_WEBHOOK_SECRET: &str = "whsec_b2JvbC1zYW5kYm94LXdlYmhvb2stc2VjcmV0LTMyYiE=";

/// The sandbox provider.
#[derive(Debug)]
pub struct Sandbox {
    books: Mutex<Books>,
    webhook_secret: WebhookSecret,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A sandbox with no charges, signing webhooks with [`SANDBOX_WEBHOOK_SECRET`].
    pub fn new() -> Self {
        Sandbox {
            books: Mutex::default(),
            webhook_secret: WebhookSecret::parse(SANDBOX_WEBHOOK_SECRET)
                .unwrap_or_else(|_| WebhookSecret::random(&mut rand::rng())),
        }
    }

    /// Settles a `processing` charge as authorized (what the rail would report later).
    pub fn settle_processing(&self, reference: &str) -> Result<ChargeOutcome> {
        let mut books = self.books()?;
        let charge = books.charge_mut(reference)?;
        if let ChargeOutcome::Processing { .. } = charge.outcome {
            charge.outcome = charge.authorize();
        }
        Ok(charge.outcome.clone())
    }

    /// A signed webhook delivery of `event`, as the sandbox would send it at `now`.
    pub fn signed_webhook(
        &self,
        event: &ProviderEvent,
        now: Timestamp,
    ) -> Result<(Headers, Vec<u8>)> {
        let body = to_json(event)?.into_bytes();
        let headers = self.webhook_secret.headers(&event.id, now, &body)?;
        Ok((headers, body))
    }

    fn books(&self) -> Result<std::sync::MutexGuard<'_, Books>> {
        self.books
            .lock()
            .map_err(|_| Error::unavailable("sandbox state lock poisoned"))
    }

    /// How many charges the sandbox made (calls that took effect), for fault tests.
    pub fn charge_count(&self) -> Result<usize> {
        Ok(self.books()?.by_key.len())
    }

    /// Captured minus refunded over every charge.
    pub fn net_captured(&self) -> Result<i128> {
        Ok(self
            .books()?
            .by_key
            .values()
            .map(|c| c.captured - c.refunded)
            .sum())
    }

    /// True when the charge's card is one that gets disputed.
    pub fn will_dispute(&self, reference: &str) -> Result<bool> {
        Ok(self.books()?.charge_mut(reference)?.behaviour == Behaviour::Disputed)
    }
}

impl Charge {
    /// Authorizes the amount asked for (and captures it, for automatic capture); returns
    /// the new outcome.
    fn authorize(&mut self) -> ChargeOutcome {
        let amount = self.requested;
        self.authorized = amount;
        if self.capture_method == CaptureMethod::Automatic {
            self.captured = amount;
        }
        ChargeOutcome::Authorized {
            reference: self.reference.clone(),
            amount,
        }
    }
}

#[async_trait]
impl Tokenizer for Sandbox {
    async fn tokenize_card(&self, card: &CardDetails) -> Result<MethodToken> {
        let behaviour = Behaviour::of_number(card.number());
        let mut books = self.books()?;
        books.serial += 1;
        Ok(MethodToken {
            provider: "sandbox".into(),
            token: format!("tok_sandbox_{}_{}", behaviour.name(), books.serial),
            kind: MethodKind::Card,
            card: Some(card.summary()),
        })
    }
}

#[async_trait]
impl Authorizer for Sandbox {
    async fn authorize(&self, request: &AuthorizeRequest) -> Result<ChargeOutcome> {
        let behaviour = Behaviour::of_token(&request.token).ok_or_else(|| Error::InvalidCard {
            reason: "not a sandbox token".into(),
        })?;
        if request.amount <= 0 {
            return Err(Error::InvalidAmount {
                reason: "the sandbox charges positive amounts".into(),
            });
        }
        let mut books = self.books()?;
        if let Some(existing) = books.by_key.get(&request.idempotency_key) {
            // Provider-side idempotency: the same key returns the same charge.
            return Ok(existing.outcome.clone());
        }
        books.serial += 1;
        let reference = format!("ch_sandbox_{:08}", books.serial);
        let mut charge = Charge {
            reference: reference.clone(),
            behaviour,
            capture_method: request.capture_method,
            outcome: ChargeOutcome::Processing {
                reference: reference.clone(),
            },
            requested: request.amount,
            authorized: 0,
            captured: 0,
            refunded: 0,
            canceled: false,
            refunds: Vec::new(),
            captures: Vec::new(),
        };
        let declined = |code: &str| ChargeOutcome::Declined {
            reference: Some(reference.clone()),
            decline_code: code.into(),
        };
        charge.outcome = match behaviour {
            Behaviour::Succeeds | Behaviour::Disputed | Behaviour::TimesOut => charge.authorize(),
            Behaviour::Declined => declined("generic_decline"),
            Behaviour::InsufficientFunds => declined("insufficient_funds"),
            Behaviour::ExpiredCard => declined("expired_card"),
            Behaviour::RequiresAction => ChargeOutcome::RequiresAction {
                reference: reference.clone(),
                redirect_url: format!("https://sandbox.obol.invalid/3ds/{reference}"),
            },
            Behaviour::Processing => ChargeOutcome::Processing {
                reference: reference.clone(),
            },
        };
        let outcome = charge.outcome.clone();
        books
            .keys
            .insert(reference, request.idempotency_key.clone());
        books.by_key.insert(request.idempotency_key.clone(), charge);
        if behaviour == Behaviour::TimesOut {
            return Err(Error::ProviderTimeout {
                provider: "sandbox".into(),
            });
        }
        Ok(outcome)
    }

    async fn complete_action(&self, reference: &str) -> Result<ChargeOutcome> {
        let mut books = self.books()?;
        let charge = books.charge_mut(reference)?;
        if let ChargeOutcome::RequiresAction { .. } = charge.outcome {
            charge.outcome = charge.authorize();
        }
        Ok(charge.outcome.clone())
    }
}

#[async_trait]
impl Capturer for Sandbox {
    async fn capture(
        &self,
        reference: &str,
        idempotency_key: &str,
        amount: i128,
        final_capture: bool,
    ) -> Result<()> {
        let mut books = self.books()?;
        let charge = books.charge_mut(reference)?;
        if charge.captures.iter().any(|k| k == idempotency_key) {
            return Ok(());
        }
        if charge.canceled || !matches!(charge.outcome, ChargeOutcome::Authorized { .. }) {
            return Err(refused("only an authorized charge can be captured"));
        }
        if amount <= 0 || charge.captured + amount > charge.authorized {
            return Err(refused("capture exceeds the authorization"));
        }
        charge.captured += amount;
        charge.captures.push(idempotency_key.to_owned());
        if final_capture {
            charge.authorized = charge.captured;
        }
        Ok(())
    }
}

#[async_trait]
impl Canceler for Sandbox {
    async fn cancel(&self, reference: &str) -> Result<()> {
        let mut books = self.books()?;
        let charge = books.charge_mut(reference)?;
        if charge.captured > 0 {
            return Err(refused("a captured charge cannot be canceled"));
        }
        charge.canceled = true;
        Ok(())
    }
}

#[async_trait]
impl Refunder for Sandbox {
    async fn refund(
        &self,
        reference: &str,
        refund_id: &RefundId,
        amount: i128,
    ) -> Result<RefundOutcome> {
        let mut books = self.books()?;
        let charge = books.charge_mut(reference)?;
        if charge.refunds.contains(refund_id) {
            return Ok(RefundOutcome::Succeeded);
        }
        if amount <= 0 || charge.refunded + amount > charge.captured {
            return Ok(RefundOutcome::Failed);
        }
        charge.refunded += amount;
        charge.refunds.push(refund_id.clone());
        Ok(RefundOutcome::Succeeded)
    }
}

#[async_trait]
impl StatusSync for Sandbox {
    async fn charge_status(&self, idempotency_key: &str) -> Result<ChargeStatus> {
        let mut books = self.books()?;
        let Some(charge) = books.by_key.get_mut(idempotency_key) else {
            return Ok(ChargeStatus::NotFound);
        };
        if charge.behaviour == Behaviour::Processing
            && matches!(charge.outcome, ChargeOutcome::Processing { .. })
        {
            charge.outcome = charge.authorize();
        }
        Ok(ChargeStatus::Found(charge.outcome.clone()))
    }
}

impl WebhookParser for Sandbox {
    fn parse_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Timestamp,
    ) -> Result<ProviderEvent> {
        let id = verify(&self.webhook_secret, headers, body, now)?;
        let text = std::str::from_utf8(body).map_err(|_| Error::WebhookSignatureInvalid {
            reason: "the body is not UTF-8".into(),
        })?;
        let event: ProviderEvent = from_json(text)?;
        if event.id != id {
            return Err(Error::WebhookSignatureInvalid {
                reason: "the event id does not match webhook-id".into(),
            });
        }
        Ok(event)
    }
}

impl Provider for Sandbox {
    fn name(&self) -> &str {
        "sandbox"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            assets: None,
            methods: vec![MethodKind::Card],
            manual_capture: true,
            multi_capture: true,
            partial_refunds: true,
        }
    }

    fn tokenizer(&self) -> Option<&dyn Tokenizer> {
        Some(self)
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

    /// Stripe's standard card pricing: 2.9 % (rounded down) + 30 minor units, never more
    /// than the capture.
    fn capture_fee(&self, _asset: &AssetCode, amount: i128) -> i128 {
        let percent = amount.checked_mul(29).map_or(0, |n| n / 1000);
        percent.saturating_add(30).min(amount).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::id::PaymentId;
    use crate::money::AssetCode;

    const NOW: Timestamp = Timestamp::from_micros(1_795_564_800_000_000);

    async fn token(sandbox: &Sandbox, number: &str) -> String {
        let card = CardDetails::new(number, 12, 2030, "123", NOW).unwrap();
        let token = sandbox.tokenize_card(&card).await.unwrap();
        assert!(!token.token.contains(&number[4..]), "{}", token.token);
        token.token
    }

    fn request(token: &str, key: &str, capture_method: CaptureMethod) -> AuthorizeRequest {
        AuthorizeRequest {
            payment_id: PaymentId::parse("pay_01JD3Q4V5X6Y7Z8A9B0C1D2E3F").unwrap(),
            idempotency_key: key.into(),
            amount: 1000,
            asset: AssetCode::new("USD").unwrap(),
            token: token.into(),
            capture_method,
        }
    }

    fn reference(outcome: &ChargeOutcome) -> String {
        match outcome {
            ChargeOutcome::Authorized { reference, .. }
            | ChargeOutcome::RequiresAction { reference, .. }
            | ChargeOutcome::Processing { reference } => reference.clone(),
            ChargeOutcome::Declined { reference, .. } => reference.clone().unwrap(),
        }
    }

    #[tokio::test]
    async fn test_cards_behave_as_documented() {
        let sandbox = Sandbox::new();
        let manual = CaptureMethod::Manual;
        for (number, code) in [
            ("4000000000000002", "generic_decline"),
            ("4000000000009995", "insufficient_funds"),
            ("4000000000000069", "expired_card"),
        ] {
            let t = token(&sandbox, number).await;
            let outcome = sandbox
                .authorize(&request(&t, number, manual))
                .await
                .unwrap();
            assert!(
                matches!(&outcome, ChargeOutcome::Declined { decline_code, .. } if decline_code == code),
                "{outcome:?}"
            );
        }
        let ok = token(&sandbox, "4242424242424242").await;
        let outcome = sandbox
            .authorize(&request(&ok, "k-ok", manual))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            ChargeOutcome::Authorized {
                reference: reference(&outcome),
                amount: 1000
            }
        );
        // The same idempotency key returns the same charge.
        let again = sandbox
            .authorize(&request(&ok, "k-ok", manual))
            .await
            .unwrap();
        assert_eq!(again, outcome);
        let r = reference(&outcome);
        sandbox.capture(&r, "c1", 300, false).await.unwrap();
        sandbox.capture(&r, "c1", 300, false).await.unwrap();
        sandbox.capture(&r, "c2", 200, true).await.unwrap();
        assert!(sandbox.capture(&r, "c3", 1, false).await.is_err());
        let refund = RefundId::parse("rfd_01JD3Q4V5X6Y7Z8A9B0C1D2E3F").unwrap();
        assert_eq!(
            sandbox.refund(&r, &refund, 100).await.unwrap(),
            RefundOutcome::Succeeded
        );
        assert_eq!(
            sandbox.refund(&r, &refund, 100).await.unwrap(),
            RefundOutcome::Succeeded
        );
        assert_eq!(sandbox.net_captured().unwrap(), 400);

        let three_ds = token(&sandbox, "4000 0025 0000 3155").await;
        let outcome = sandbox
            .authorize(&request(&three_ds, "k-3ds", manual))
            .await
            .unwrap();
        assert!(matches!(outcome, ChargeOutcome::RequiresAction { .. }));
        let done = sandbox.complete_action(&reference(&outcome)).await.unwrap();
        assert!(matches!(
            done,
            ChargeOutcome::Authorized { amount: 1000, .. }
        ));
    }

    #[tokio::test]
    async fn processing_and_timeouts_settle_through_status_sync() {
        let sandbox = Sandbox::new();
        let slow = token(&sandbox, "4000000000000044").await;
        let req = request(&slow, "k-slow", CaptureMethod::Automatic);
        let outcome = sandbox.authorize(&req).await.unwrap();
        assert!(matches!(outcome, ChargeOutcome::Processing { .. }));
        let status = sandbox.charge_status("k-slow").await.unwrap();
        assert!(matches!(
            status,
            ChargeStatus::Found(ChargeOutcome::Authorized { amount: 1000, .. })
        ));

        let lost = token(&sandbox, "4000000000000085").await;
        let err = sandbox
            .authorize(&request(&lost, "k-lost", CaptureMethod::Automatic))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "provider_timeout");
        // The charge happened: status sync finds it, and the charge is counted once.
        assert!(matches!(
            sandbox.charge_status("k-lost").await.unwrap(),
            ChargeStatus::Found(ChargeOutcome::Authorized { .. })
        ));
        assert_eq!(
            sandbox.charge_status("k-never").await.unwrap(),
            ChargeStatus::NotFound
        );
        assert_eq!(sandbox.charge_count().unwrap(), 2);
        assert_eq!(sandbox.net_captured().unwrap(), 2000);

        let disputed = token(&sandbox, "4000000000000259").await;
        let outcome = sandbox
            .authorize(&request(&disputed, "k-d", CaptureMethod::Automatic))
            .await
            .unwrap();
        assert!(sandbox.will_dispute(&reference(&outcome)).unwrap());
        let bad = sandbox
            .authorize(&request("tok_other", "k-x", CaptureMethod::Manual))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), "invalid_card");
    }
}
