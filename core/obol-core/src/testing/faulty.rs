//! A scripted fake provider for fault tests: the sandbox, with failures injected where a test
//! asks (a process that dies before or after a provider call, a slow call, refund answers).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::id::RefundId;
use crate::payments::provider::{
    AuthorizeRequest, Authorizer, Canceler, Capabilities, Capturer, ChargeOutcome, MethodToken,
    Provider, RefundOutcome, Refunder, StatusSync, Tokenizer, WebhookParser,
};

/// A failure to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `authorize` never answers and never reaches the provider (death before the call).
    HangBeforeAuthorize,
    /// `authorize` charges, then never answers (death after the charge).
    HangAfterAuthorize,
    /// `authorize` waits this long first.
    SlowAuthorize(Duration),
    /// `capture` takes effect, then never answers.
    HangAfterCapture,
    /// `complete_action` takes effect (a PayPal order is captured), then never answers.
    HangAfterCompleteAction,
    /// `authorize` fails as unavailable without reaching the provider.
    Unavailable,
    /// `authorize` charges, then its answer is lost: a timeout.
    TimeoutAfterAuthorize,
}

/// A refund answer: `None` makes the refund and then times out.
pub type RefundAnswer = Option<Result<RefundOutcome>>;

/// The sandbox with faults.
#[derive(Debug)]
pub struct Faulty {
    name: String,
    inner: Arc<dyn Provider>,
    faults: Vec<Fault>,
    refunds: Mutex<Vec<RefundAnswer>>,
}

impl Faulty {
    /// The sandbox `inner` with `faults`.
    pub fn new(inner: Arc<dyn Provider>, faults: &[Fault]) -> Self {
        Faulty {
            name: inner.name().to_owned(),
            inner,
            faults: faults.to_vec(),
            refunds: Mutex::new(Vec::new()),
        }
    }

    /// Registers under another name (it still charges the sandbox's tokens).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Refund calls take these answers in turn, then behave.
    pub fn with_refunds(self, answers: Vec<RefundAnswer>) -> Self {
        *self.refunds.lock().unwrap() = answers;
        self
    }

    fn has(&self, fault: Fault) -> bool {
        self.faults.contains(&fault)
    }
}

#[async_trait]
impl Authorizer for Faulty {
    async fn authorize(&self, request: &AuthorizeRequest) -> Result<ChargeOutcome> {
        for fault in &self.faults {
            if let Fault::SlowAuthorize(delay) = fault {
                tokio::time::sleep(*delay).await;
            }
        }
        if self.has(Fault::Unavailable) {
            return Err(Error::ProviderUnavailable {
                provider: self.name.clone(),
                reason: "connection refused".into(),
            });
        }
        if self.has(Fault::HangBeforeAuthorize) {
            std::future::pending::<()>().await;
        }
        let outcome = self.inner.authorizer().unwrap().authorize(request).await?;
        if self.has(Fault::HangAfterAuthorize) {
            std::future::pending::<()>().await;
        }
        if self.has(Fault::TimeoutAfterAuthorize) {
            return Err(Error::ProviderTimeout {
                provider: self.name.clone(),
            });
        }
        Ok(outcome)
    }

    async fn complete_action(&self, reference: &str) -> Result<ChargeOutcome> {
        let outcome = self
            .inner
            .authorizer()
            .unwrap()
            .complete_action(reference)
            .await?;
        if self.has(Fault::HangAfterCompleteAction) {
            std::future::pending::<()>().await;
        }
        Ok(outcome)
    }
}

#[async_trait]
impl Capturer for Faulty {
    async fn capture(
        &self,
        reference: &str,
        idempotency_key: &str,
        amount: i128,
        final_capture: bool,
    ) -> Result<()> {
        self.inner
            .capturer()
            .unwrap()
            .capture(reference, idempotency_key, amount, final_capture)
            .await?;
        if self.has(Fault::HangAfterCapture) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

#[async_trait]
impl Refunder for Faulty {
    async fn refund(
        &self,
        reference: &str,
        refund_id: &RefundId,
        amount: i128,
    ) -> Result<RefundOutcome> {
        let refunder = self.inner.refunder().unwrap();
        let scripted = {
            let mut answers = self.refunds.lock().unwrap();
            (!answers.is_empty()).then(|| answers.remove(0))
        };
        match scripted {
            None => refunder.refund(reference, refund_id, amount).await,
            Some(None) => {
                refunder.refund(reference, refund_id, amount).await?;
                Err(Error::ProviderTimeout {
                    provider: self.name.clone(),
                })
            }
            Some(Some(answer)) => answer,
        }
    }
}

impl Provider for Faulty {
    fn name(&self) -> &str {
        &self.name
    }
    fn mode(&self) -> crate::mode::Mode {
        self.inner.mode()
    }
    fn accepts_token(&self, token: &MethodToken, merchant: &crate::id::MerchantId) -> bool {
        self.inner.accepts_token(token, merchant)
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn tokenizer(&self) -> Option<&dyn Tokenizer> {
        self.inner.tokenizer()
    }
    fn authorizer(&self) -> Option<&dyn Authorizer> {
        Some(self)
    }
    fn capturer(&self) -> Option<&dyn Capturer> {
        Some(self)
    }
    fn canceler(&self) -> Option<&dyn Canceler> {
        self.inner.canceler()
    }
    fn refunder(&self) -> Option<&dyn Refunder> {
        Some(self)
    }
    fn status_sync(&self) -> Option<&dyn StatusSync> {
        self.inner.status_sync()
    }
    fn webhooks(&self) -> Option<&dyn WebhookParser> {
        self.inner.webhooks()
    }
    fn capture_fee(&self, asset: &crate::money::AssetCode, amount: i128) -> i128 {
        self.inner.capture_fee(asset, amount)
    }
}
