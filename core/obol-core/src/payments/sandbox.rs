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
//! Tokens name the behaviour (`tok_sandbox_declined_…`), never the card number, and carry a
//! random nonce and a MAC over the merchant they were made for: another merchant's token, or
//! one made up, is refused. Charge references are named by the attempt's idempotency key, so
//! they are unique across restarts. The sandbox is a test rail: only test-mode principals reach
//! it. Its secrets (the token key and the webhook signing secret) come from the deployment's
//! configuration. Charges live in this value's memory: share one `Arc<Sandbox>` across engine
//! restarts to model a provider that outlives the process.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::card::CardDetails;
use super::provider::{
    AuthorizeRequest, Authorizer, Canceler, Capabilities, Capturer, ChargeOutcome, ChargeStatus,
    MethodKind, MethodToken, Provider, ProviderEvent, RefundOutcome, Refunder, StatusSync,
    Tokenizer, WebhookParser,
};
use super::state::CaptureMethod;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{MerchantId, RefundId};
use crate::ledger::codec::{from_json, to_json};
use crate::mode::Mode;
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

    fn of_name(name: &str) -> Option<Self> {
        BEHAVIOURS
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(b, _, _)| *b)
    }
}

/// A sandbox token's parts: `tok_sandbox_{behaviour}_{nonce}_{tag}`.
struct TokenParts<'a> {
    behaviour: Behaviour,
    nonce: &'a str,
    tag: &'a str,
}

impl<'a> TokenParts<'a> {
    fn parse(token: &'a str) -> Option<Self> {
        let rest = token.strip_prefix("tok_sandbox_")?;
        let (rest, tag) = rest.rsplit_once('_')?;
        let (name, nonce) = rest.rsplit_once('_')?;
        Some(TokenParts {
            behaviour: Behaviour::of_name(name)?,
            nonce,
            tag,
        })
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

/// The sandbox's secrets: the key its tokens are MAC'd with and the secret its webhooks are
/// signed with. Debug shows neither.
#[derive(Clone)]
pub struct SandboxSecrets {
    /// 32 bytes keying token MACs (a deployment derives it from its key-encryption key, so
    /// tokens stay good across restarts and instances).
    pub token_key: zeroize::Zeroizing<[u8; 32]>,
    /// Signs the webhooks the sandbox sends, and verifies those it receives.
    pub webhook_secret: WebhookSecret,
}

impl std::fmt::Debug for SandboxSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SandboxSecrets(…)")
    }
}

impl SandboxSecrets {
    /// Random secrets, good for this process only: its tokens and webhooks stop verifying
    /// when it stops.
    pub fn ephemeral() -> Self {
        let mut token_key = zeroize::Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(token_key.as_mut());
        SandboxSecrets {
            token_key,
            webhook_secret: WebhookSecret::random(&mut rand::rng()),
        }
    }
}

/// The sandbox provider.
#[derive(Debug)]
pub struct Sandbox {
    books: Mutex<Books>,
    secrets: SandboxSecrets,
}

impl Sandbox {
    /// A sandbox with no charges and the given secrets.
    pub fn new(secrets: SandboxSecrets) -> Self {
        Sandbox {
            books: Mutex::default(),
            secrets,
        }
    }

    /// A sandbox with secrets made for this process (see [`SandboxSecrets::ephemeral`]).
    pub fn ephemeral() -> Self {
        Self::new(SandboxSecrets::ephemeral())
    }

    /// The MAC binding a token's behaviour and nonce to `merchant` (16 bytes, hex).
    fn token_tag(
        &self,
        merchant: &MerchantId,
        behaviour: Behaviour,
        nonce: &str,
    ) -> Result<String> {
        Ok(hex::encode(
            &self
                .token_mac(merchant, behaviour, nonce)?
                .finalize()
                .into_bytes()[..16],
        ))
    }

    fn token_mac(
        &self,
        merchant: &MerchantId,
        behaviour: Behaviour,
        nonce: &str,
    ) -> Result<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secrets.token_key.as_ref())
            .map_err(|_| Error::corrupt("HMAC refused the sandbox token key"))?;
        for part in [merchant.as_str(), behaviour.name(), nonce] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Ok(mac)
    }

    /// True when `token` is one this sandbox made for `merchant` (compared in constant time).
    fn token_is_for(&self, token: &str, merchant: &MerchantId) -> bool {
        let Some(parts) = TokenParts::parse(token) else {
            return false;
        };
        let Ok(tag) = hex::decode(parts.tag) else {
            return false;
        };
        self.token_mac(merchant, parts.behaviour, parts.nonce)
            .is_ok_and(|mac| mac.verify_truncated_left(&tag).is_ok() && tag.len() == 16)
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
        let headers = self.secrets.webhook_secret.headers(&event.id, now, &body)?;
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

    /// (captured, refunded) of one charge.
    pub fn charge_totals(&self, reference: &str) -> Result<(i128, i128)> {
        let mut books = self.books()?;
        let charge = books.charge_mut(reference)?;
        Ok((charge.captured, charge.refunded))
    }

    /// How many charges were made for `payment` (its attempt keys are `{payment}:{n}`).
    pub fn charges_for(&self, payment: &crate::id::PaymentId) -> Result<usize> {
        let prefix = format!("{payment}:");
        Ok(self
            .books()?
            .by_key
            .keys()
            .filter(|key| {
                key.strip_prefix(&prefix)
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            })
            .count())
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
    async fn tokenize_card(
        &self,
        merchant: &MerchantId,
        card: &CardDetails,
    ) -> Result<MethodToken> {
        let behaviour = Behaviour::of_number(card.number());
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let nonce = hex::encode(nonce);
        let tag = self.token_tag(merchant, behaviour, &nonce)?;
        Ok(MethodToken {
            provider: "sandbox".into(),
            token: format!("tok_sandbox_{}_{nonce}_{tag}", behaviour.name()),
            kind: MethodKind::Card,
            card: Some(card.summary()),
        })
    }
}

#[async_trait]
impl Authorizer for Sandbox {
    async fn authorize(&self, request: &AuthorizeRequest) -> Result<ChargeOutcome> {
        let behaviour = TokenParts::parse(&request.token)
            .filter(|_| self.token_is_for(&request.token, &request.merchant))
            .map(|parts| parts.behaviour)
            .ok_or_else(|| Error::InvalidCard {
                reason: "not a sandbox token of this merchant".into(),
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
        // Named by the attempt's key: unique across restarts, and the same for a retry.
        let digest = Sha256::digest(request.idempotency_key.as_bytes());
        let reference = format!("ch_sandbox_{}", hex::encode(&digest[..12]));
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

#[async_trait]
impl WebhookParser for Sandbox {
    async fn parse_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Timestamp,
    ) -> Result<Option<ProviderEvent>> {
        let id = verify(&self.secrets.webhook_secret, headers, body, now)?;
        let text = std::str::from_utf8(body).map_err(|_| Error::WebhookSignatureInvalid {
            reason: "the body is not UTF-8".into(),
        })?;
        let event: ProviderEvent = from_json(text)?;
        if event.id != id {
            return Err(Error::WebhookSignatureInvalid {
                reason: "the event id does not match webhook-id".into(),
            });
        }
        Ok(Some(event))
    }
}

impl Provider for Sandbox {
    fn name(&self) -> &str {
        "sandbox"
    }

    fn mode(&self) -> Mode {
        Mode::Test
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

    fn accepts_token(&self, token: &MethodToken, merchant: &MerchantId) -> bool {
        token.provider == self.name() && self.token_is_for(&token.token, merchant)
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
        // Split so no product can overflow: floor(amount × 29 / 1000), exactly.
        let amount = amount.max(0);
        let percent = amount / 1000 * 29 + amount % 1000 * 29 / 1000;
        percent.saturating_add(30).min(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::id::PaymentId;
    use crate::money::AssetCode;

    const NOW: Timestamp = Timestamp::from_micros(1_795_564_800_000_000);

    #[test]
    fn the_fee_is_exact_for_every_amount() {
        let sandbox = Sandbox::ephemeral();
        let usd = AssetCode::new("USD").unwrap();
        assert_eq!(sandbox.capture_fee(&usd, 10_000), 290 + 30);
        assert_eq!(
            sandbox.capture_fee(&usd, 20),
            20,
            "never more than the capture"
        );
        assert_eq!(sandbox.capture_fee(&usd, 1_999), 57 + 30);
        // Past i128::MAX / 29 the product would overflow; the split form does not.
        let huge = i128::MAX - 7;
        assert_eq!(
            sandbox.capture_fee(&usd, huge),
            huge / 1000 * 29 + huge % 1000 * 29 / 1000 + 30
        );
    }

    fn acme() -> MerchantId {
        MerchantId::derived("acme")
    }

    async fn token_for(sandbox: &Sandbox, merchant: &MerchantId, number: &str) -> MethodToken {
        let card = CardDetails::new(number, 12, 2030, "123", NOW).unwrap();
        let token = sandbox.tokenize_card(merchant, &card).await.unwrap();
        assert!(!token.token.contains(&number[4..]), "{}", token.token);
        token
    }

    async fn token(sandbox: &Sandbox, number: &str) -> String {
        token_for(sandbox, &acme(), number).await.token
    }

    fn request(token: &str, key: &str, capture_method: CaptureMethod) -> AuthorizeRequest {
        AuthorizeRequest {
            payment_id: PaymentId::parse("pay_01JD3Q4V5X6Y7Z8A9B0C1D2E3F").unwrap(),
            idempotency_key: key.into(),
            amount: 1000,
            asset: AssetCode::new("USD").unwrap(),
            token: token.into(),
            capture_method,
            merchant: acme(),
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
        let sandbox = Sandbox::ephemeral();
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
        let sandbox = Sandbox::ephemeral();
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

    #[tokio::test]
    async fn tokens_belong_to_their_merchant_and_cannot_be_made_up() {
        let sandbox = Sandbox::ephemeral();
        let other = MerchantId::derived("other");
        let mine = token_for(&sandbox, &acme(), "4242424242424242").await;
        assert!(sandbox.accepts_token(&mine, &acme()));
        assert!(
            !sandbox.accepts_token(&mine, &other),
            "another merchant's token"
        );
        let again = token_for(&sandbox, &acme(), "4242424242424242").await;
        assert_ne!(again.token, mine.token, "tokens do not count up");
        let restarted = Sandbox::ephemeral();
        assert!(!restarted.accepts_token(&mine, &acme()), "a key of its own");
        let mut forged = mine.clone();
        forged.token = forged.token.replace("succeeds", "disputed");
        assert!(!sandbox.accepts_token(&forged, &acme()));
        for made_up in [
            "tok_sandbox_succeeds_1",
            "tok_sandbox_succeeds_00_00",
            "tok_sandbox_succeeds_000000000000000000000000_",
            "tok_sandbox_nope_000000000000000000000000_00000000000000000000000000000000",
        ] {
            let token = MethodToken {
                token: made_up.into(),
                ..mine.clone()
            };
            assert!(!sandbox.accepts_token(&token, &acme()), "{made_up}");
        }
        let mut foreign = request(&mine.token, "k-foreign", CaptureMethod::Manual);
        foreign.merchant = other;
        let refused = sandbox.authorize(&foreign).await.unwrap_err();
        assert_eq!(refused.code(), "invalid_card");
        assert_eq!(sandbox.charge_count().unwrap(), 0);
    }

    #[tokio::test]
    async fn references_are_named_by_the_attempt_and_unique_across_restarts() {
        let first = Sandbox::ephemeral();
        let t = token(&first, "4242424242424242").await;
        let a = reference(
            &first
                .authorize(&request(&t, "pay_a:1", CaptureMethod::Manual))
                .await
                .unwrap(),
        );
        let b = reference(
            &first
                .authorize(&request(&t, "pay_b:1", CaptureMethod::Manual))
                .await
                .unwrap(),
        );
        assert_ne!(a, b);
        // A new process's sandbox names a new attempt apart from every old one.
        let second = Sandbox::new(first.secrets.clone());
        let c = reference(
            &second
                .authorize(&request(&t, "pay_c:1", CaptureMethod::Manual))
                .await
                .unwrap(),
        );
        assert!(c != a && c != b, "{a} {b} {c}");
        assert!(a.starts_with("ch_sandbox_") && a.len() == "ch_sandbox_".len() + 24);
    }

    #[tokio::test]
    async fn webhooks_verify_with_the_configured_secret_only() {
        let sandbox = Sandbox::ephemeral();
        let event = ProviderEvent {
            id: "evt_1".into(),
            reference: "ch_sandbox_x".into(),
            kind: crate::payments::provider::ProviderEventKind::DisputeWon,
        };
        let (headers, body) = sandbox.signed_webhook(&event, NOW).unwrap();
        assert_eq!(
            sandbox.parse_webhook(&headers, &body, NOW).await.unwrap(),
            Some(event.clone())
        );
        let other = Sandbox::ephemeral();
        let forged = other.signed_webhook(&event, NOW).unwrap();
        let refused = sandbox
            .parse_webhook(&forged.0, &forged.1, NOW)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "webhook_signature_invalid");
    }
}
