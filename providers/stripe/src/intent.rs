//! A PaymentIntent as the engine's [`ChargeOutcome`]: the PaymentIntent id is Obol's
//! reference for a Stripe charge.

use obol_core::error::{Error, Result};
use obol_core::payments::ChargeOutcome;
use stripe_shared::{PaymentIntent, PaymentIntentStatus};

/// An intent Obol cannot read: it exists, so its outcome is unknown (never "not charged").
fn unknown() -> Error {
    Error::ProviderTimeout {
        provider: crate::PROVIDER.into(),
    }
}

/// What the PaymentIntent says about the charge (an intent Obol cannot read is an unknown
/// outcome, left to status sync and the operator).
pub(crate) fn outcome(intent: &PaymentIntent) -> Result<ChargeOutcome> {
    let reference = intent.id.as_str().to_owned();
    Ok(match &intent.status {
        PaymentIntentStatus::Succeeded => ChargeOutcome::Authorized {
            reference,
            amount: i128::from(intent.amount_received),
        },
        PaymentIntentStatus::RequiresCapture => ChargeOutcome::Authorized {
            reference,
            amount: i128::from(intent.amount_capturable),
        },
        PaymentIntentStatus::RequiresAction => {
            let redirect_url = intent
                .next_action
                .as_ref()
                .and_then(|action| action.redirect_to_url.as_ref())
                .and_then(|redirect| redirect.url.clone())
                .ok_or_else(|| {
                    tracing::warn!(%reference, "stripe asks for an action without a redirect URL");
                    unknown()
                })?;
            ChargeOutcome::RequiresAction {
                reference,
                redirect_url,
            }
        }
        // Confirmed payments only: an unconfirmed one is still on its way.
        PaymentIntentStatus::Processing | PaymentIntentStatus::RequiresConfirmation => {
            ChargeOutcome::Processing { reference }
        }
        // The attempt failed (a decline, a failed 3-D Secure); the intent waits for another
        // method, which Obol never sends: a new attempt makes a new intent.
        PaymentIntentStatus::RequiresPaymentMethod => ChargeOutcome::Declined {
            reference: Some(reference),
            decline_code: intent
                .last_payment_error
                .as_ref()
                .and_then(|e| {
                    e.decline_code
                        .clone()
                        .or_else(|| e.code.as_ref().map(|c| c.as_str().to_owned()))
                })
                .unwrap_or_else(|| "generic_decline".into()),
        },
        PaymentIntentStatus::Canceled => ChargeOutcome::Declined {
            reference: Some(reference),
            decline_code: "canceled".into(),
        },
        other => {
            tracing::warn!(%reference, status = other.as_str(), "stripe reports an unknown status");
            return Err(unknown());
        }
    })
}
