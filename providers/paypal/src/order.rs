//! What an order's state means for the engine: waiting for the payer, approved (money not
//! moved yet), or completed with an authorization or a capture.

use obol_core::error::{Error, Result};
use obol_core::money::Asset;
use obol_core::payments::{CaptureMethod, ChargeOutcome};

use crate::PROVIDER;
use crate::api::Order;

/// Where an order stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OrderState {
    /// Money moved, is moving, or was refused: the engine's answer.
    Settled(ChargeOutcome),
    /// The payer approved; the order must now be captured or authorized.
    Approved,
}

/// An answer Obol cannot act on: an unknown outcome, settled later by status sync.
fn unreadable(order: &Order, why: &str) -> Error {
    tracing::warn!(order = %order.id, status = %order.status, why, "paypal order unreadable");
    Error::ProviderTimeout {
        provider: PROVIDER.into(),
    }
}

/// The intent an order is made with for a capture method.
pub(crate) fn intent_of(capture: CaptureMethod) -> &'static str {
    match capture {
        CaptureMethod::Automatic => "CAPTURE",
        CaptureMethod::Manual => "AUTHORIZE",
    }
}

/// Reads `order` (in `currency`); an approval link is shown to a payer only when `trusted`
/// says it is PayPal's.
pub(crate) fn order_state(
    order: &Order,
    currency: &Asset,
    trusted: &dyn Fn(&url::Url) -> bool,
) -> Result<OrderState> {
    let reference = order.id.clone();
    let declined = |code: &str| {
        OrderState::Settled(ChargeOutcome::Declined {
            reference: Some(reference.clone()),
            decline_code: code.to_owned(),
        })
    };
    match order.status.as_str() {
        "CREATED" | "PAYER_ACTION_REQUIRED" => {
            let link = order
                .approval_link()
                .ok_or_else(|| unreadable(order, "no approval link"))?;
            let url =
                url::Url::parse(link).map_err(|_| unreadable(order, "approval link not a URL"))?;
            // Shown to a customer: PayPal's own pages only.
            if !trusted(&url) {
                return Err(unreadable(order, "approval link not PayPal's"));
            }
            Ok(OrderState::Settled(ChargeOutcome::RequiresAction {
                reference,
                redirect_url: url.to_string(),
            }))
        }
        "APPROVED" => Ok(OrderState::Approved),
        "VOIDED" => Ok(declined("order_voided")),
        "COMPLETED" => completed(order, currency),
        _ => Err(unreadable(order, "unknown status")),
    }
}

/// A completed order: its authorization (intent `AUTHORIZE`) or its capture.
fn completed(order: &Order, currency: &Asset) -> Result<OrderState> {
    let reference = order.id.clone();
    let payments = order
        .payments()
        .ok_or_else(|| unreadable(order, "completed without payments"))?;
    let settled = |outcome| Ok(OrderState::Settled(outcome));
    let declined = |code: &str| {
        settled(ChargeOutcome::Declined {
            reference: Some(reference.clone()),
            decline_code: code.to_owned(),
        })
    };
    if order.intent.as_deref() == Some("AUTHORIZE") {
        let authorization = payments
            .authorizations
            .first()
            .ok_or_else(|| unreadable(order, "no authorization"))?;
        let amount = authorization
            .amount
            .as_ref()
            .ok_or_else(|| unreadable(order, "authorization without amount"))?
            .minor_units(currency)
            .map_err(|_| unreadable(order, "authorization amount"))?;
        return match authorization.status.as_str() {
            "CREATED" | "CAPTURED" | "PARTIALLY_CAPTURED" => settled(ChargeOutcome::Authorized {
                reference: reference.clone(),
                amount,
            }),
            "PENDING" => settled(ChargeOutcome::Processing {
                reference: reference.clone(),
            }),
            "DENIED" => declined("authorization_denied"),
            "VOIDED" => declined("authorization_voided"),
            "EXPIRED" => declined("authorization_expired"),
            _ => Err(unreadable(order, "authorization status")),
        };
    }
    let capture = payments
        .captures
        .first()
        .ok_or_else(|| unreadable(order, "no capture"))?;
    match capture.status.as_str() {
        _ if capture.took_money() => {
            let amount = payments
                .captures
                .iter()
                .filter(|c| c.took_money())
                .map(|c| {
                    c.amount
                        .as_ref()
                        .ok_or_else(|| unreadable(order, "capture without amount"))?
                        .minor_units(currency)
                        .map_err(|_| unreadable(order, "capture amount"))
                })
                .sum::<Result<i128>>()?;
            settled(ChargeOutcome::Authorized { reference, amount })
        }
        "PENDING" => settled(ChargeOutcome::Processing { reference }),
        "DECLINED" => declined("capture_declined"),
        "FAILED" => declined("capture_failed"),
        _ => Err(unreadable(order, "capture status")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(value: serde_json::Value) -> Order {
        serde_json::from_value(value).unwrap()
    }

    fn usd() -> Asset {
        Asset::new("USD", 2).unwrap()
    }

    fn paypal(url: &url::Url) -> bool {
        url.scheme() == "https" && url.host_str() == Some("www.paypal.com")
    }

    #[test]
    fn a_new_order_waits_for_the_payer_at_a_web_page() {
        let waiting = order(serde_json::json!({
            "id": "O1", "status": "PAYER_ACTION_REQUIRED",
            "links": [{"href": "https://www.paypal.com/checkoutnow?token=O1", "rel": "payer-action"}]
        }));
        assert_eq!(
            order_state(&waiting, &usd(), &paypal).unwrap(),
            OrderState::Settled(ChargeOutcome::RequiresAction {
                reference: "O1".into(),
                redirect_url: "https://www.paypal.com/checkoutnow?token=O1".into()
            })
        );
        for hostile in [
            "javascript:alert(1)",
            "data:text/html,x",
            "not a url",
            "https://phish.example/checkoutnow",
        ] {
            let bad = order(serde_json::json!({
                "id": "O1", "status": "CREATED", "links": [{"href": hostile, "rel": "approve"}]
            }));
            assert_eq!(
                order_state(&bad, &usd(), &paypal).unwrap_err().code(),
                "provider_timeout",
                "{hostile}"
            );
        }
    }

    #[test]
    fn completed_orders_name_what_moved() {
        let captured = order(serde_json::json!({
            "id": "O2", "status": "COMPLETED", "intent": "CAPTURE",
            "purchase_units": [{"payments": {"captures": [
                {"id": "C1", "status": "COMPLETED", "amount": {"currency_code": "USD", "value": "12.34"}}
            ]}}]
        }));
        assert_eq!(
            order_state(&captured, &usd(), &paypal).unwrap(),
            OrderState::Settled(ChargeOutcome::Authorized {
                reference: "O2".into(),
                amount: 1234
            })
        );
        let in_euros = order(serde_json::json!({
            "id": "O3", "status": "COMPLETED", "intent": "CAPTURE",
            "purchase_units": [{"payments": {"captures": [
                {"id": "C1", "status": "COMPLETED", "amount": {"currency_code": "EUR", "value": "12.34"}}
            ]}}]
        }));
        assert_eq!(
            order_state(&in_euros, &usd(), &paypal).unwrap_err().code(),
            "provider_timeout"
        );
        let denied = order(serde_json::json!({
            "id": "O4", "status": "COMPLETED", "intent": "AUTHORIZE",
            "purchase_units": [{"payments": {"authorizations": [
                {"id": "A1", "status": "DENIED", "amount": {"currency_code": "USD", "value": "1.00"}}
            ]}}]
        }));
        assert!(matches!(
            order_state(&denied, &usd(), &paypal).unwrap(),
            OrderState::Settled(ChargeOutcome::Declined { .. })
        ));
    }
}
