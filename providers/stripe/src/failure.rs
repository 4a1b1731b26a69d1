//! What a failed Stripe call means for the engine (the provider seam's failure contract):
//! a decline is an answer; rate limits, refused connections and refused keys did not take
//! effect (`provider_unavailable`, another provider may be tried); timeouts, Stripe's 5xx and
//! answers that cannot be read leave the outcome unknown (`provider_timeout`, settled by
//! status sync).

use obol_core::error::Error;
use stripe::StripeError;
use stripe_shared::{ApiErrors, ApiErrorsCode};

use crate::PROVIDER;

/// A Stripe call that did not return what was asked for.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Stripe answered with an error about the request (4xx other than 401/403/429).
    Answered {
        /// The HTTP status.
        status: u16,
        /// Stripe's error object.
        error: Box<ApiErrors>,
    },
    /// The call did not take effect.
    Unavailable(String),
    /// Nobody knows whether the call took effect.
    Unknown,
    /// Obol's configuration is unusable.
    Config(String),
}

impl Failure {
    /// Sorts an error of the Stripe client.
    pub(crate) fn of(error: StripeError) -> Failure {
        tracing::debug!(%error, "stripe call failed");
        match error {
            StripeError::Stripe(error, status) => {
                let rate_limited =
                    status == 429 || matches!(error.code, Some(ApiErrorsCode::RateLimit));
                if rate_limited {
                    Failure::Unavailable("Stripe is rate limiting".into())
                } else if status == 401 || status == 403 {
                    Failure::Unavailable(format!("Stripe refused the key ({status})"))
                } else if status >= 500 || error.type_.as_str() == "idempotency_error" {
                    // A 5xx may have run; an idempotency error means an earlier call did.
                    Failure::Unknown
                } else {
                    Failure::Answered { status, error }
                }
            }
            // hyper's connector failed: nothing was sent.
            StripeError::ClientError(text) if text.contains("(Connect)") => {
                Failure::Unavailable("Stripe could not be reached".into())
            }
            StripeError::ConfigError(text) => Failure::Config(text),
            StripeError::ClientError(_)
            | StripeError::JSONDeserialize(_)
            | StripeError::Timeout => Failure::Unknown,
        }
    }

    /// The engine's error for a call whose failure is not a decline.
    pub(crate) fn into_error(self) -> Error {
        match self {
            Failure::Answered { status, error } => Error::InvalidTransaction {
                reason: format!(
                    "stripe refused the call ({status}{}): {}",
                    error
                        .code
                        .as_ref()
                        .map(|c| format!(", {}", c.as_str()))
                        .unwrap_or_default(),
                    error.message.as_deref().unwrap_or("no message")
                ),
            },
            Failure::Unavailable(reason) => Error::ProviderUnavailable {
                provider: PROVIDER.into(),
                reason,
            },
            Failure::Unknown => Error::ProviderTimeout {
                provider: PROVIDER.into(),
            },
            Failure::Config(reason) => Error::Config {
                reason: format!("providers.stripe: {reason}"),
            },
        }
    }
}

/// The decline code of a card error: Stripe's `decline_code`, else its `code`.
pub(crate) fn decline_code(error: &ApiErrors) -> Option<String> {
    let code = error.code.as_ref().map(|c| c.as_str().to_owned());
    let declined = matches!(
        error.code,
        Some(
            ApiErrorsCode::CardDeclined | ApiErrorsCode::ExpiredCard | ApiErrorsCode::IncorrectCvc
        )
    ) || error.decline_code.is_some()
        || error.type_.as_str() == "card_error";
    declined.then(|| {
        error
            .decline_code
            .clone()
            .or(code)
            .unwrap_or_else(|| "card_declined".into())
    })
}
