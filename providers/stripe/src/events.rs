//! Stripe's webhook events as the engine's [`ProviderEvent`]s: a PaymentIntent that settles
//! (`payment_intent.succeeded`, `.amount_capturable_updated`, `.payment_failed`) and a dispute
//! opened or decided (`charge.dispute.created`, `.closed`). Every other event type is verified
//! and acknowledged but not acted on (`None`). Events are matched to payments by the
//! PaymentIntent id, Obol's reference for a Stripe charge.

use obol_core::error::{Error, Result};
use obol_core::payments::{ChargeOutcome, ProviderEvent, ProviderEventKind};
use serde::Deserialize;

/// The envelope of every Stripe event.
#[derive(Debug, Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    livemode: bool,
    data: Data,
}

#[derive(Debug, Deserialize)]
struct Data {
    object: serde_json::Value,
}

/// The PaymentIntent fields an event is read by.
#[derive(Debug, Deserialize)]
struct Intent {
    id: String,
    #[serde(default)]
    amount_received: Option<i64>,
    #[serde(default)]
    amount_capturable: Option<i64>,
    #[serde(default)]
    last_payment_error: Option<PaymentError>,
}

#[derive(Debug, Deserialize)]
struct PaymentError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
}

/// The Dispute fields an event is read by.
#[derive(Debug, Deserialize)]
struct Dispute {
    amount: i64,
    reason: String,
    status: String,
    payment_intent: Option<String>,
}

fn malformed(reason: impl std::fmt::Display) -> Error {
    Error::InvalidRequest {
        reason: format!("Stripe event: {reason}"),
    }
}

fn positive(amount: Option<i64>, field: &str) -> Result<i128> {
    match amount {
        Some(amount) if amount > 0 => Ok(i128::from(amount)),
        _ => Err(malformed(format!("{field} is not a positive amount"))),
    }
}

/// Reads a verified event body. `live` is the mode of the keys the provider was configured
/// with: an event of the other mode is refused (a test endpoint never moves live payments).
pub fn read_event(body: &[u8], live: bool) -> Result<Option<ProviderEvent>> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(malformed)?;
    if envelope.livemode != live {
        return Err(Error::WebhookSignatureInvalid {
            reason: "the event's livemode is not the provider's mode".into(),
        });
    }
    let object = envelope.data.object;
    let intent = || serde_json::from_value::<Intent>(object.clone()).map_err(malformed);
    let (reference, kind) = match envelope.kind.as_str() {
        // Captured (automatic capture) or held for capture (manual): funds are authorized.
        "payment_intent.succeeded" | "payment_intent.amount_capturable_updated" => {
            let intent = intent()?;
            let amount = if envelope.kind == "payment_intent.succeeded" {
                positive(intent.amount_received, "amount_received")?
            } else {
                positive(intent.amount_capturable, "amount_capturable")?
            };
            let outcome = ChargeOutcome::Authorized {
                reference: intent.id.clone(),
                amount,
            };
            (intent.id, ProviderEventKind::ChargeSettled(outcome))
        }
        "payment_intent.payment_failed" => {
            let intent = intent()?;
            let error = intent.last_payment_error;
            let decline_code = error
                .and_then(|e| e.decline_code.or(e.code))
                .unwrap_or_else(|| "generic_decline".to_owned());
            let outcome = ChargeOutcome::Declined {
                reference: Some(intent.id.clone()),
                decline_code,
            };
            (intent.id, ProviderEventKind::ChargeSettled(outcome))
        }
        "charge.dispute.created" | "charge.dispute.closed" => {
            let dispute: Dispute = serde_json::from_value(object).map_err(malformed)?;
            let reference = dispute
                .payment_intent
                .ok_or_else(|| malformed("the dispute names no payment_intent"))?;
            let kind = match (envelope.kind.as_str(), dispute.status.as_str()) {
                ("charge.dispute.created", _) => ProviderEventKind::DisputeOpened {
                    amount: positive(Some(dispute.amount), "amount")?,
                    reason: dispute.reason,
                },
                (_, "won") => ProviderEventKind::DisputeWon,
                (_, "lost") => ProviderEventKind::DisputeLost,
                // warning_closed and the like decide nothing about money.
                _ => return Ok(None),
            };
            (reference, kind)
        }
        _ => return Ok(None),
    };
    Ok(Some(ProviderEvent {
        id: envelope.id,
        reference,
        kind,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, object: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"id": "evt_1", "object": "event", "type": kind,
            "livemode": false, "data": {"object": object}}))
        .unwrap()
    }

    #[test]
    fn settlements_and_disputes_become_engine_events() {
        let succeeded = event(
            "payment_intent.succeeded",
            json!({"id": "pi_1", "object": "payment_intent", "amount_received": 1250}),
        );
        let read = read_event(&succeeded, false).unwrap().unwrap();
        assert_eq!(read.id, "evt_1");
        assert_eq!(read.reference, "pi_1");
        assert_eq!(
            read.kind,
            ProviderEventKind::ChargeSettled(ChargeOutcome::Authorized {
                reference: "pi_1".into(),
                amount: 1250
            })
        );
        let failed = event(
            "payment_intent.payment_failed",
            json!({"id": "pi_2", "last_payment_error": {"code": "card_declined",
                "decline_code": "insufficient_funds"}}),
        );
        assert_eq!(
            read_event(&failed, false).unwrap().unwrap().kind,
            ProviderEventKind::ChargeSettled(ChargeOutcome::Declined {
                reference: Some("pi_2".into()),
                decline_code: "insufficient_funds".into()
            })
        );
        let opened = event(
            "charge.dispute.created",
            json!({"id": "dp_1", "amount": 500, "reason": "fraudulent",
                "status": "needs_response", "payment_intent": "pi_1"}),
        );
        assert_eq!(
            read_event(&opened, false).unwrap().unwrap().kind,
            ProviderEventKind::DisputeOpened {
                amount: 500,
                reason: "fraudulent".into()
            }
        );
        let won = event(
            "charge.dispute.closed",
            json!({"id": "dp_1", "amount": 500, "reason": "fraudulent", "status": "won",
                "payment_intent": "pi_1"}),
        );
        assert_eq!(
            read_event(&won, false).unwrap().unwrap().kind,
            ProviderEventKind::DisputeWon
        );
    }

    #[test]
    fn other_events_are_acknowledged_and_ignored() {
        for kind in [
            "customer.created",
            "payment_intent.created",
            "charge.refunded",
        ] {
            assert_eq!(
                read_event(&event(kind, json!({"id": "x"})), false).unwrap(),
                None
            );
        }
        let warning = event(
            "charge.dispute.closed",
            json!({"id": "dp_1", "amount": 5, "reason": "x", "status": "warning_closed",
                "payment_intent": "pi_1"}),
        );
        assert_eq!(read_event(&warning, false).unwrap(), None);
    }

    #[test]
    fn hostile_events_are_refused() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("not JSON", b"{".to_vec()),
            ("an array", b"[1,2]".to_vec()),
            (
                "no data",
                br#"{"id":"evt","type":"payment_intent.succeeded","livemode":false}"#.to_vec(),
            ),
            (
                "zero received",
                event(
                    "payment_intent.succeeded",
                    json!({"id": "pi", "amount_received": 0}),
                ),
            ),
            (
                "negative received",
                event(
                    "payment_intent.succeeded",
                    json!({"id": "pi", "amount_received": -5}),
                ),
            ),
            (
                "received as text",
                event(
                    "payment_intent.succeeded",
                    json!({"id": "pi", "amount_received": "5"}),
                ),
            ),
            (
                "received too large",
                event(
                    "payment_intent.succeeded",
                    json!({"id": "pi", "amount_received": 1e30}),
                ),
            ),
            (
                "no intent id",
                event("payment_intent.succeeded", json!({"amount_received": 5})),
            ),
            (
                "dispute without intent",
                event(
                    "charge.dispute.created",
                    json!({"id": "dp", "amount": 5, "reason": "x", "status": "needs_response"}),
                ),
            ),
            (
                "negative dispute",
                event(
                    "charge.dispute.created",
                    json!({"id": "dp", "amount": -5, "reason": "x", "status": "needs_response", "payment_intent": "pi"}),
                ),
            ),
        ];
        for (name, body) in cases {
            assert!(read_event(&body, false).is_err(), "{name}");
        }
        let live = event(
            "payment_intent.succeeded",
            json!({"id": "pi", "amount_received": 5}),
        );
        let err = read_event(&live, true).unwrap_err();
        assert_eq!(
            err.code(),
            "webhook_signature_invalid",
            "a test event at a live provider"
        );
    }
}
