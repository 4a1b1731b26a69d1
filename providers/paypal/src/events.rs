//! PayPal's webhooks: a delivery is checked by PayPal itself (the verify-webhook-signature
//! call, with the body passed byte for byte, since PayPal signs the bytes it sent), after Obol
//! checked its headers and that it is fresh. Then disputes and capture results become the
//! engine's provider events; the rest is acknowledged and ignored.

use obol_core::clock::Timestamp;
use obol_core::error::{Error, Result};
use obol_core::payments::{ChargeOutcome, ProviderEvent, ProviderEventKind};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::api::{Amount, Capture, Verification, is_paypal_id};
use crate::client::{Call, Failure};
use crate::config::WEBHOOK_TOLERANCE;
use crate::provider::PayPal;

fn invalid(reason: &str) -> Error {
    Error::WebhookSignatureInvalid {
        reason: reason.into(),
    }
}

/// The transmission headers of a delivery.
#[derive(Debug, Serialize)]
struct VerifyRequest<'a> {
    auth_algo: &'a str,
    cert_url: &'a str,
    transmission_id: &'a str,
    transmission_sig: &'a str,
    transmission_time: &'a str,
    webhook_id: &'a str,
    webhook_event: &'a RawValue,
}

/// The one value of header `name`, printable ASCII of at most `max` bytes.
fn header<'h>(headers: &'h [(String, String)], name: &str, max: usize) -> Result<&'h str> {
    let mut found = headers
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case(name));
    match (found.next(), found.next()) {
        (Some((_, value)), None)
            if !value.is_empty()
                && value.len() <= max
                && value.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(value)
        }
        _ => Err(invalid(&format!(
            "exactly one printable {name} header is expected"
        ))),
    }
}

/// Refuses a transmission time not within the tolerance of `now`.
fn fresh(text: &str, now: Timestamp) -> Result<()> {
    let sent = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| invalid("PAYPAL-TRANSMISSION-TIME is not an RFC 3339 time"))?;
    let sent_micros = sent.unix_timestamp_nanos() / 1000;
    let skew = (i128::from(now.as_micros()) - sent_micros).unsigned_abs();
    if skew > WEBHOOK_TOLERANCE.as_micros() {
        return Err(invalid("the delivery is too old or from the future"));
    }
    Ok(())
}

/// An event as PayPal sends it.
#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    event_type: String,
    #[serde(default)]
    resource: serde_json::Value,
}

/// The parts of a dispute Obol reads.
#[derive(Debug, Deserialize)]
struct Dispute {
    #[serde(default)]
    disputed_transactions: Vec<DisputedTransaction>,
    #[serde(default)]
    dispute_amount: Option<Amount>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    dispute_outcome: Option<DisputeOutcome>,
}

#[derive(Debug, Deserialize)]
struct DisputedTransaction {
    #[serde(default)]
    seller_transaction_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DisputeOutcome {
    #[serde(default)]
    outcome_code: String,
}

/// Verifies a delivery with PayPal and reads its event.
pub(crate) async fn verified_event(
    paypal: &PayPal,
    headers: &[(String, String)],
    body: &[u8],
    now: Timestamp,
) -> Result<Option<ProviderEvent>> {
    let transmission_id = header(headers, "paypal-transmission-id", 128)?;
    let transmission_time = header(headers, "paypal-transmission-time", 64)?;
    let transmission_sig = header(headers, "paypal-transmission-sig", 2048)?;
    let cert_url = header(headers, "paypal-cert-url", 2048)?;
    let auth_algo = header(headers, "paypal-auth-algo", 64)?;
    fresh(transmission_time, now)?;
    // PayPal fetches the certificate itself; one from anywhere else marks a forgery, which
    // is refused before PayPal is asked (anyone can post here).
    let trusted_cert = url::Url::parse(cert_url)
        .ok()
        .is_some_and(|url| paypal.config().is_paypal_url(&url));
    if !trusted_cert {
        return Err(invalid("PAYPAL-CERT-URL is not PayPal's"));
    }
    let text = std::str::from_utf8(body).map_err(|_| invalid("the body is not UTF-8"))?;
    let raw: &RawValue =
        serde_json::from_str(text).map_err(|_| invalid("the body is not a JSON event"))?;
    let request = VerifyRequest {
        auth_algo,
        cert_url,
        transmission_id,
        transmission_sig,
        transmission_time,
        webhook_id: &paypal.config().webhook_id,
        webhook_event: raw,
    };
    let call = Call::post(
        "v1/notifications/verify-webhook-signature".into(),
        &request,
        None,
    )?
    .once();
    let verification: Verification = paypal.send(&call).await.map_err(|failure| match failure {
        // PayPal refused to look at it (a malformed delivery): not genuine.
        Failure::Answered { .. } => invalid("PayPal refused to verify the delivery"),
        // PayPal could not be asked: the delivery is refused for now and PayPal sends it again.
        other => other.into_error(),
    })?;
    if verification.verification_status != "SUCCESS" {
        return Err(invalid("PayPal did not verify the signature"));
    }
    let event: Event =
        serde_json::from_str(text).map_err(|_| invalid("the body is not a PayPal event"))?;
    if !is_paypal_id(&event.id) {
        return Err(invalid("the event id is not PayPal's"));
    }
    read(paypal, event).await
}

/// The engine's event for a verified PayPal event, `None` for types Obol does not act on.
async fn read(paypal: &PayPal, event: Event) -> Result<Option<ProviderEvent>> {
    let id = event.id;
    let unreadable = || Error::InvalidRequest {
        reason: format!("PayPal event {id} cannot be read"),
    };
    let made = |reference: String, kind| {
        Some(ProviderEvent {
            id: id.clone(),
            reference,
            kind,
        })
    };
    match event.event_type.as_str() {
        "CUSTOMER.DISPUTE.CREATED" | "CUSTOMER.DISPUTE.RESOLVED" => {
            let dispute: Dispute =
                serde_json::from_value(event.resource).map_err(|_| unreadable())?;
            let capture_id = dispute
                .disputed_transactions
                .first()
                .and_then(|t| t.seller_transaction_id.clone())
                .ok_or_else(unreadable)?;
            let Some(capture) = own_capture(paypal, &capture_id).await? else {
                return Ok(None);
            };
            let Some(reference) = order_of(&capture) else {
                return Ok(None);
            };
            if event.event_type == "CUSTOMER.DISPUTE.RESOLVED" {
                let kind = match dispute.dispute_outcome.map(|o| o.outcome_code).as_deref() {
                    Some("RESOLVED_SELLER_FAVOUR") => ProviderEventKind::DisputeWon,
                    Some("RESOLVED_BUYER_FAVOUR") => ProviderEventKind::DisputeLost,
                    _ => return Ok(None),
                };
                return Ok(made(reference, kind));
            }
            let disputed = dispute.dispute_amount.ok_or_else(unreadable)?;
            // Disputed in the currency the capture was made in, or not read at all.
            let captured_in = capture.amount.as_ref().map(|a| a.currency_code.as_str());
            if captured_in != Some(disputed.currency_code.as_str()) {
                return Err(unreadable());
            }
            let amount = disputed.minor_units(paypal.currency(&disputed.currency_code)?)?;
            if amount <= 0 {
                return Err(unreadable());
            }
            let reason = dispute
                .reason
                .unwrap_or_else(|| "unknown".into())
                .chars()
                .take(64)
                .collect::<String>()
                .to_ascii_lowercase();
            Ok(made(
                reference,
                ProviderEventKind::DisputeOpened { amount, reason },
            ))
        }
        "PAYMENT.CAPTURE.COMPLETED" | "PAYMENT.CAPTURE.DENIED" | "PAYMENT.CAPTURE.DECLINED" => {
            let sent: Capture = serde_json::from_value(event.resource).map_err(|_| unreadable())?;
            // The event's copy is only a hint: the capture is read from PayPal.
            let Some(capture) = own_capture(paypal, &sent.id).await? else {
                return Ok(None);
            };
            let Some(reference) = order_of(&capture) else {
                return Ok(None);
            };
            let outcome = if capture.took_money() {
                let order = paypal
                    .order(&reference)
                    .await
                    .map_err(Failure::into_error)?;
                match paypal.state(&order, paypal.order_currency(&order)?)? {
                    crate::order::OrderState::Settled(outcome) => outcome,
                    crate::order::OrderState::Approved => return Ok(None),
                }
            } else if matches!(capture.status.as_str(), "DECLINED" | "FAILED") {
                ChargeOutcome::Declined {
                    reference: Some(reference.clone()),
                    decline_code: "capture_declined".into(),
                }
            } else {
                return Ok(None);
            };
            Ok(made(reference, ProviderEventKind::ChargeSettled(outcome)))
        }
        _ => Ok(None),
    }
}

/// The capture `id` as PayPal holds it, `None` when PayPal does not know it on this account.
async fn own_capture(paypal: &PayPal, id: &str) -> Result<Option<Capture>> {
    if !is_paypal_id(id) {
        return Ok(None);
    }
    match paypal.capture_of(id).await {
        Ok(capture) => Ok(Some(capture)),
        Err(failure) if failure.is_not_found() => Ok(None),
        Err(failure) => Err(failure.into_error()),
    }
}

/// The order a capture belongs to.
fn order_of(capture: &Capture) -> Option<String> {
    capture
        .supplementary_data
        .as_ref()?
        .related_ids
        .order_id
        .clone()
        .filter(|id| is_paypal_id(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(time: &str) -> Vec<(String, String)> {
        vec![
            ("PAYPAL-TRANSMISSION-ID".into(), "69cd13f0-d67a-11e5".into()),
            ("PAYPAL-TRANSMISSION-TIME".into(), time.into()),
            ("PAYPAL-TRANSMISSION-SIG".into(), "c2lnbmF0dXJl".into()),
            (
                "PAYPAL-CERT-URL".into(),
                "https://api.paypal.com/v1/notifications/certs/CERT-360caa42".into(),
            ),
            ("PAYPAL-AUTH-ALGO".into(), "SHA256withRSA".into()),
        ]
    }

    #[test]
    fn headers_must_be_single_and_printable() {
        let good = headers("2026-01-01T00:00:00Z");
        assert!(header(&good, "paypal-transmission-id", 128).is_ok());
        let mut twice = good.clone();
        twice.push(("paypal-transmission-id".into(), "other".into()));
        assert!(header(&twice, "paypal-transmission-id", 128).is_err());
        let mut hostile = good.clone();
        hostile[0].1 = "a\u{0}b".into();
        assert!(header(&hostile, "paypal-transmission-id", 128).is_err());
        hostile[0].1 = "x".repeat(129);
        assert!(header(&hostile, "paypal-transmission-id", 128).is_err());
        assert!(header(&[], "paypal-transmission-id", 128).is_err());
    }

    #[test]
    fn stale_future_and_absurd_times_are_refused() {
        let now = Timestamp::from_micros(1_767_225_600_000_000); // 2026-01-01T00:00:00Z
        assert!(fresh("2026-01-01T00:00:00Z", now).is_ok());
        assert!(fresh("2025-12-31T23:55:00Z", now).is_ok());
        for bad in [
            "2025-12-31T23:00:00Z",
            "2026-01-01T01:00:00Z",
            "-9999-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "yesterday",
            "",
            "2026-01-01 00:00:00",
        ] {
            assert_eq!(
                fresh(bad, now).unwrap_err().code(),
                "webhook_signature_invalid",
                "{bad:?}"
            );
        }
        assert!(fresh("2026-01-01T00:00:00Z", Timestamp::from_micros(i64::MIN)).is_err());
    }
}
