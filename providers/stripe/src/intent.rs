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
                // Shown to customers as a link: a web page only, never javascript: or data:.
                .filter(|url| {
                    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
                })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(status: &str, next_action: &str) -> PaymentIntent {
        let json = format!(
            r#"{{"id":"pi_1","object":"payment_intent","amount":500,"amount_capturable":0,
            "amount_received":0,"capture_method":"automatic","confirmation_method":"automatic",
            "created":1,"currency":"usd","livemode":false,"metadata":{{}},
            "payment_method_types":["card"],"status":"{status}","next_action":{next_action}}}"#
        );
        miniserde::json::from_str(&json).unwrap()
    }

    #[test]
    fn a_redirect_must_be_a_web_page() {
        let redirect = |url: &str| {
            format!(
                r#"{{"type":"redirect_to_url","redirect_to_url":{{"url":"{url}","return_url":null}}}}"#
            )
        };
        let ok = outcome(&intent(
            "requires_action",
            &redirect("https://hooks.stripe.com/3ds/x"),
        ));
        assert!(
            matches!(ok, Ok(ChargeOutcome::RequiresAction { .. })),
            "{ok:?}"
        );
        for hostile in [
            "javascript:alert(1)",
            "data:text/html,<script>",
            "//evil",
            "",
        ] {
            let err = outcome(&intent("requires_action", &redirect(hostile))).unwrap_err();
            assert_eq!(err.code(), "provider_timeout", "{hostile}");
        }
        let sdk = outcome(&intent("requires_action", r#"{"type":"use_stripe_sdk"}"#)).unwrap_err();
        assert_eq!(sdk.code(), "provider_timeout");
    }

    #[test]
    fn statuses_map_to_outcomes() {
        assert!(matches!(
            outcome(&intent("processing", "null")).unwrap(),
            ChargeOutcome::Processing { .. }
        ));
        let declined = outcome(&intent("requires_payment_method", "null")).unwrap();
        assert!(
            matches!(declined, ChargeOutcome::Declined { ref decline_code, .. } if decline_code == "generic_decline")
        );
        let unknown = outcome(&intent("requires_something_new", "null")).unwrap_err();
        assert_eq!(unknown.code(), "provider_timeout");
    }
}
