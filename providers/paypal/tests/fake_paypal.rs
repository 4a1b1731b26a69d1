//! The provider conformance suite for PayPal, against the stateful fake of PayPal's API, on
//! SQLite and on PostgreSQL; plus the rail's own calls (the OAuth token, backoff, request-id
//! replays, voids, refunds over several captures, hostile webhooks).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use obol_core::Store;

async fn sqlite_store() -> Arc<dyn Store> {
    let dir = tempfile::tempdir().unwrap().keep();
    let url = format!("sqlite://{}", dir.join("ledger.db").display());
    Arc::new(obol_sqlite::SqliteStore::open(&url).await.unwrap())
}

async fn postgres_store() -> Arc<dyn Store> {
    Arc::new(obol_postgres::testing::fresh_store().await)
}

mod on_sqlite {
    obol_core::rail_conformance!(super::sqlite_store, obol_paypal::testing::PayPalRail::start);
}

mod on_postgres {
    obol_core::rail_conformance!(
        super::postgres_store,
        obol_paypal::testing::PayPalRail::start
    );
}

mod rail_calls {
    use std::time::Duration;

    use obol_core::id::{MerchantId, PaymentId, RefundId};
    use obol_core::mode::Mode;
    use obol_core::money::AssetCode;
    use obol_core::payments::{
        AuthorizeRequest, Authorizer, Canceler, CaptureMethod, ChargeOutcome, ChargeStatus,
        MethodKind, MethodToken, Provider, RefundOutcome,
    };
    use obol_core::testing::START;
    use obol_paypal::testing::{FakeFault, PayPalRail, Payer, approve, fake};
    use obol_paypal::{CHECKOUT, PayPal, PayPalConfig};
    use reqwest::Method;

    const ORDERS: &str = "/v2/checkout/orders";

    fn request(key: &str, amount: i128, capture: CaptureMethod) -> AuthorizeRequest {
        AuthorizeRequest {
            payment_id: PaymentId::derived(key),
            idempotency_key: format!("{key}:1"),
            amount,
            asset: AssetCode::new("USD").unwrap(),
            token: CHECKOUT.into(),
            capture_method: capture,
            merchant: MerchantId::derived("shop"),
        }
    }

    /// Creates an order, has the payer approve it, and completes it: the order id.
    async fn paid(rail: &PayPalRail, key: &str, amount: i128, capture: CaptureMethod) -> String {
        let authorizer = rail.paypal.authorizer().unwrap();
        let ChargeOutcome::RequiresAction {
            reference,
            redirect_url,
        } = authorizer
            .authorize(&request(key, amount, capture))
            .await
            .unwrap()
        else {
            panic!("an order waits for its payer")
        };
        approve(&redirect_url).await;
        let done = authorizer.complete_action(&reference).await.unwrap();
        assert_eq!(
            done,
            ChargeOutcome::Authorized {
                reference: reference.clone(),
                amount
            }
        );
        reference
    }

    #[tokio::test]
    async fn the_token_is_cached_refreshed_before_expiry_and_renewed_when_revoked() {
        let rail = PayPalRail::start().await;
        let authorizer = rail.paypal.authorizer().unwrap();
        for key in ["t1", "t2", "t3"] {
            authorizer
                .authorize(&request(key, 100, CaptureMethod::Automatic))
                .await
                .unwrap();
        }
        assert_eq!(rail.fake.token_requests(), 1, "one token for many calls");

        // A token PayPal revoked is fetched again once, and the call goes through.
        rail.fake.revoke_tokens();
        authorizer
            .authorize(&request("t4", 100, CaptureMethod::Automatic))
            .await
            .unwrap();
        assert_eq!(rail.fake.token_requests(), 2);
        assert_eq!(
            rail.fake.calls(Method::POST, ORDERS),
            5,
            "one refused, then sent again"
        );

        // A short-lived token is replaced before it expires: no call is refused for it.
        let short = PayPalRail::start().await;
        short.fake.set_token_lifetime(2);
        let authorizer = short.paypal.authorizer().unwrap();
        authorizer
            .authorize(&request("s1", 100, CaptureMethod::Automatic))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        authorizer
            .authorize(&request("s2", 100, CaptureMethod::Automatic))
            .await
            .unwrap();
        assert_eq!(short.fake.token_requests(), 2);
        assert_eq!(
            short.fake.calls(Method::POST, ORDERS),
            2,
            "no call was refused"
        );
    }

    #[tokio::test]
    async fn refused_credentials_and_a_closed_port_are_unavailable() {
        let rail = PayPalRail::start().await;
        let wrong = PayPal::new(
            PayPalConfig::new(
                fake::CLIENT_ID,
                "not-the-secret",
                fake::WEBHOOK_ID,
                "https://shop.example/",
                Mode::Test,
            )
            .unwrap()
            .with_api_base(&rail.fake.base_url())
            .unwrap(),
        )
        .unwrap();
        let refused = wrong
            .authorizer()
            .unwrap()
            .authorize(&request("w1", 100, CaptureMethod::Automatic))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "provider_unavailable", "{refused}");
        assert_eq!(rail.fake.calls(Method::POST, ORDERS), 0);

        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let nowhere = PayPal::new(
            rail.fake
                .config()
                .with_api_base(&format!("http://127.0.0.1:{closed}"))
                .unwrap(),
        )
        .unwrap();
        let down = nowhere
            .authorizer()
            .unwrap()
            .authorize(&request("w2", 100, CaptureMethod::Automatic))
            .await
            .unwrap_err();
        assert_eq!(down.code(), "provider_unavailable", "{down}");
    }

    #[tokio::test]
    async fn rate_limits_and_5xx_are_retried_with_backoff_under_the_same_request_id() {
        let rail = PayPalRail::start().await;
        let authorizer = rail.paypal.authorizer().unwrap();
        rail.fake
            .inject(Method::POST, ORDERS, FakeFault::Status(429));
        rail.fake
            .inject(Method::POST, ORDERS, FakeFault::Status(503));
        let outcome = authorizer
            .authorize(&request("b1", 100, CaptureMethod::Automatic))
            .await
            .unwrap();
        assert!(matches!(outcome, ChargeOutcome::RequiresAction { .. }));
        assert_eq!(rail.fake.calls(Method::POST, ORDERS), 3);
        assert_eq!(
            rail.fake.orders_for(&PaymentId::derived("b1").to_string()),
            1
        );

        // Rate limited past the last try: nothing happened, another rail may be tried.
        for _ in 0..4 {
            rail.fake
                .inject(Method::POST, ORDERS, FakeFault::Status(429));
        }
        let limited = authorizer
            .authorize(&request("b2", 100, CaptureMethod::Automatic))
            .await
            .unwrap_err();
        assert_eq!(limited.code(), "provider_unavailable", "{limited}");

        // A 500 past the last try may have run: unknown, and status sync replays the call.
        for _ in 0..4 {
            rail.fake
                .inject(Method::POST, ORDERS, FakeFault::Status(500));
        }
        let attempt = request("b3", 100, CaptureMethod::Automatic);
        let unknown = authorizer.authorize(&attempt).await.unwrap_err();
        assert_eq!(unknown.code(), "provider_timeout", "{unknown}");
        let status = rail
            .paypal
            .status_sync()
            .unwrap()
            .attempt_status(&attempt, None)
            .await
            .unwrap();
        assert!(matches!(
            status,
            ChargeStatus::Found(ChargeOutcome::RequiresAction { .. })
        ));
    }

    #[tokio::test]
    async fn a_lost_answer_is_settled_by_replaying_the_same_request_id() {
        let rail = PayPalRail::start().await;
        let attempt = request("lost", 700, CaptureMethod::Automatic);
        rail.fake
            .inject(Method::POST, ORDERS, FakeFault::HangAfterEffect);
        let lost = rail
            .paypal
            .authorizer()
            .unwrap()
            .authorize(&attempt)
            .await
            .unwrap_err();
        assert_eq!(lost.code(), "provider_timeout");
        let custom = attempt.payment_id.to_string();
        assert_eq!(rail.fake.orders_for(&custom), 1);
        let sync = rail.paypal.status_sync().unwrap();
        let ChargeStatus::Found(ChargeOutcome::RequiresAction {
            reference,
            redirect_url,
        }) = sync.attempt_status(&attempt, None).await.unwrap()
        else {
            panic!("the replay finds the order")
        };
        assert_eq!(
            rail.fake.orders_for(&custom),
            1,
            "the replay made no second order"
        );

        // The payer approves; the capture's answer is lost; status sync reads the order.
        approve(&redirect_url).await;
        rail.fake.inject(
            Method::POST,
            "/v2/checkout/orders/*",
            FakeFault::HangAfterEffect,
        );
        let lost = rail
            .paypal
            .authorizer()
            .unwrap()
            .complete_action(&reference)
            .await
            .unwrap_err();
        assert_eq!(lost.code(), "provider_timeout");
        assert_eq!(
            sync.attempt_status(&attempt, Some(&reference))
                .await
                .unwrap(),
            ChargeStatus::Found(ChargeOutcome::Authorized {
                reference: reference.clone(),
                amount: 700
            })
        );
        assert_eq!(rail.fake.totals(&reference), (700, 0), "captured once");
        // The key-only lookup is honest about what PayPal cannot do.
        assert_eq!(
            sync.charge_status("any").await.unwrap_err().code(),
            "unsupported"
        );
    }

    #[tokio::test]
    async fn a_declined_funding_source_is_a_decline() {
        let rail = PayPalRail::start().await;
        rail.fake.set_payer(Payer::Declines);
        let authorizer = rail.paypal.authorizer().unwrap();
        let ChargeOutcome::RequiresAction {
            reference,
            redirect_url,
        } = authorizer
            .authorize(&request("d1", 100, CaptureMethod::Automatic))
            .await
            .unwrap()
        else {
            panic!("an order waits for its payer")
        };
        // Before the payer approves, completing leaves it waiting.
        assert!(matches!(
            authorizer.complete_action(&reference).await.unwrap(),
            ChargeOutcome::RequiresAction { .. }
        ));
        approve(&redirect_url).await;
        assert_eq!(
            authorizer.complete_action(&reference).await.unwrap(),
            ChargeOutcome::Declined {
                reference: Some(reference.clone()),
                decline_code: "instrument_declined".into()
            }
        );
        assert_eq!(rail.fake.totals(&reference), (0, 0));
    }

    #[tokio::test]
    async fn captures_in_parts_void_and_refunds_over_several_captures() {
        let rail = PayPalRail::start().await;
        let order = paid(&rail, "c1", 1000, CaptureMethod::Manual).await;
        let capturer = rail.paypal.capturer().unwrap();
        capturer
            .capture(&order, "c1:cap:1", 300, false)
            .await
            .unwrap();
        // The same capture key again captures nothing more.
        capturer
            .capture(&order, "c1:cap:1", 300, false)
            .await
            .unwrap();
        assert_eq!(rail.fake.totals(&order), (300, 0));
        capturer
            .capture(&order, "c1:cap:2", 500, true)
            .await
            .unwrap();
        assert_eq!(rail.fake.totals(&order), (800, 0));
        let over = capturer
            .capture(&order, "c1:cap:3", 100, true)
            .await
            .unwrap_err();
        assert_eq!(over.code(), "invalid_transaction", "{over}");

        // 700 back: all of the first capture, 400 of the second; asked again, nothing more.
        let refunder = rail.paypal.refunder().unwrap();
        let refund = RefundId::derived("a");
        for _ in 0..2 {
            assert_eq!(
                refunder.refund(&order, &refund, 700).await.unwrap(),
                RefundOutcome::Succeeded
            );
        }
        assert_eq!(rail.fake.totals(&order), (800, 700));
        let second = RefundId::derived("b");
        refunder.refund(&order, &second, 100).await.unwrap();
        assert_eq!(rail.fake.totals(&order), (800, 800));
        let third = RefundId::derived("c");
        assert!(refunder.refund(&order, &third, 1).await.is_err());

        // An authorization not captured is voided, once.
        let held = paid(&rail, "c2", 400, CaptureMethod::Manual).await;
        let canceler = rail.paypal.canceler().unwrap();
        canceler.cancel(&held).await.unwrap();
        canceler.cancel(&held).await.unwrap();
        let voided = capturer
            .capture(&held, "c2:cap", 100, true)
            .await
            .unwrap_err();
        assert_eq!(voided.code(), "invalid_transaction", "{voided}");
        // An order never approved has nothing to void.
        let ChargeOutcome::RequiresAction { reference, .. } = rail
            .paypal
            .authorizer()
            .unwrap()
            .authorize(&request("c3", 100, CaptureMethod::Manual))
            .await
            .unwrap()
        else {
            panic!()
        };
        canceler.cancel(&reference).await.unwrap();
    }

    #[tokio::test]
    async fn hostile_tokens_and_references_never_reach_paypal() {
        let rail = PayPalRail::start().await;
        let merchant = MerchantId::derived("shop");
        let paypal = rail.paypal.as_ref();
        let token = |provider: &str, token: &str, kind| MethodToken {
            provider: provider.into(),
            token: token.into(),
            kind,
            card: None,
        };
        assert!(paypal.accepts_token(&PayPal::checkout_method(), &merchant));
        for bad in [
            token("paypal", "CHECKOUT", MethodKind::Wallet),
            token("paypal", "checkout", MethodKind::Card),
            token("stripe", "checkout", MethodKind::Wallet),
            token("paypal", "pm_123", MethodKind::Wallet),
        ] {
            assert!(!paypal.accepts_token(&bad, &merchant), "{bad:?}");
        }
        let mut attempt = request("h1", 100, CaptureMethod::Automatic);
        attempt.token = "tok_other".into();
        let refused = paypal.authorize(&attempt).await.unwrap_err();
        assert_eq!(refused.code(), "invalid_payment_method");
        let mut yen = request("h2", 100, CaptureMethod::Automatic);
        yen.asset = AssetCode::new("KWD").unwrap();
        assert!(paypal.authorize(&yen).await.is_err());
        for hostile in ["../v1/oauth2/token", "O1/capture", "O1?x=1", "", "é"] {
            let refused = paypal.complete_action(hostile).await.unwrap_err();
            assert_eq!(refused.code(), "invalid_request", "{hostile:?}");
            let refused = paypal.cancel(hostile).await.unwrap_err();
            assert_eq!(refused.code(), "invalid_request", "{hostile:?}");
        }
        assert_eq!(rail.fake.calls(Method::GET, "*"), 0, "nothing was sent");
        assert_eq!(rail.fake.calls(Method::POST, ORDERS), 0);
    }

    fn event(id: &str, kind: &str, resource: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"id": id, "event_type": kind, "resource": resource})
    }

    #[tokio::test]
    async fn webhooks_are_verified_by_paypal_and_read() {
        let rail = PayPalRail::start().await;
        let order = paid(&rail, "w1", 600, CaptureMethod::Automatic).await;
        let capture = rail.fake.first_capture(&order).unwrap();
        let parser = rail.paypal.webhooks().unwrap();
        let now = START;

        let dispute = rail.fake.dispute_created("WH-1A", &capture, 250);
        let (headers, body) = rail.fake.signed_delivery(&dispute, now);
        let read = parser
            .parse_webhook(&headers, &body, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.id, "WH-1A");
        assert_eq!(read.reference, order);
        assert_eq!(
            read.kind,
            obol_core::payments::ProviderEventKind::DisputeOpened {
                amount: 250,
                reason: "merchandise_or_service_not_received".into()
            }
        );

        let refused = |headers: Vec<(String, String)>, body: Vec<u8>| async move {
            parser
                .parse_webhook(&headers, &body, now)
                .await
                .unwrap_err()
                .code()
        };
        // Another body under the same signature.
        let other = rail.fake.dispute_created("WH-1A", &capture, 600);
        assert_eq!(
            refused(headers.clone(), serde_json::to_vec(&other).unwrap()).await,
            "webhook_signature_invalid"
        );
        // A forged signature, a missing or doubled header, a stale delivery.
        let mut forged = headers.clone();
        forged[2].1 = "Zm9yZ2Vk".into();
        assert_eq!(
            refused(forged, body.clone()).await,
            "webhook_signature_invalid"
        );
        assert_eq!(
            refused(headers[1..].to_vec(), body.clone()).await,
            "webhook_signature_invalid"
        );
        let mut doubled = headers.clone();
        doubled.push(headers[0].clone());
        assert_eq!(
            refused(doubled, body.clone()).await,
            "webhook_signature_invalid"
        );
        let (stale, stale_body) = rail
            .fake
            .signed_delivery(&dispute, obol_core::clock::Timestamp::from_micros(0));
        assert_eq!(
            refused(stale, stale_body).await,
            "webhook_signature_invalid"
        );
        // Not JSON at all.
        let (junk_headers, _) = rail.fake.signed_delivery(&dispute, now);
        assert_eq!(
            refused(junk_headers, b"\xff\xfe not json".to_vec()).await,
            "webhook_signature_invalid"
        );

        // Genuine, but nothing for Obol: an event type it ignores, a capture it never made.
        for ignored in [
            event("WH-2B", "BILLING.PLAN.CREATED", serde_json::json!({})),
            rail.fake
                .dispute_created("WH-3C", &capture, 100)
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o["resource"]["disputed_transactions"][0]["seller_transaction_id"] =
                        "C9999999999999999".into();
                    serde_json::Value::Object(o)
                })
                .unwrap(),
        ] {
            let (headers, body) = rail.fake.signed_delivery(&ignored, now);
            assert_eq!(
                parser.parse_webhook(&headers, &body, now).await.unwrap(),
                None
            );
        }
        // A hostile capture id in a genuine event never reaches a URL.
        let hostile = rail
            .fake
            .dispute_created("WH-4D", &capture, 100)
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o["resource"]["disputed_transactions"][0]["seller_transaction_id"] =
                    "../../v1/oauth2/token".into();
                serde_json::Value::Object(o)
            })
            .unwrap();
        let (headers, body) = rail.fake.signed_delivery(&hostile, now);
        assert_eq!(
            parser.parse_webhook(&headers, &body, now).await.unwrap(),
            None
        );

        // A certificate from anywhere but PayPal is refused before PayPal is asked.
        let verify = "/v1/notifications/verify-webhook-signature";
        let asked = rail.fake.calls(Method::POST, verify);
        let (mut foreign, body) = rail.fake.signed_delivery(&dispute, now);
        foreign[3].1 = "https://evil.example/cert.pem".into();
        assert_eq!(refused(foreign, body).await, "webhook_signature_invalid");
        assert_eq!(rail.fake.calls(Method::POST, verify), asked);
        // Verification is never retried (anyone can post deliveries).
        rail.fake
            .inject(Method::POST, verify, FakeFault::Status(429));
        let (headers, body) = rail.fake.signed_delivery(&dispute, now);
        assert_eq!(refused(headers, body).await, "provider_unavailable");
        assert_eq!(rail.fake.calls(Method::POST, verify), asked + 1);

        // PayPal down while verifying: refused for now, so PayPal delivers again.
        rail.fake.inject(
            Method::POST,
            "/v1/notifications/verify-webhook-signature",
            FakeFault::Hang,
        );
        let (headers, body) = rail.fake.signed_delivery(&dispute, now);
        assert_eq!(refused(headers, body).await, "provider_timeout");
    }

    #[tokio::test]
    async fn a_refund_split_over_captures_is_never_undone_halfway() {
        let rail = PayPalRail::start().await;
        let order = paid(&rail, "r1", 1000, CaptureMethod::Manual).await;
        let capturer = rail.paypal.capturer().unwrap();
        capturer
            .capture(&order, "r1:cap:1", 300, false)
            .await
            .unwrap();
        capturer
            .capture(&order, "r1:cap:2", 500, true)
            .await
            .unwrap();
        let refunder = rail.paypal.refunder().unwrap();
        let refund = RefundId::derived("split");
        // The first part goes through, the second meets a PayPal that keeps failing.
        for _ in 0..4 {
            rail.fake.inject(
                Method::POST,
                &format!(
                    "/v2/payments/captures/{}/refund",
                    capture_n(&rail, &order, 1)
                ),
                FakeFault::Status(500),
            );
        }
        let unknown = refunder.refund(&order, &refund, 700).await.unwrap_err();
        assert_eq!(unknown.code(), "provider_timeout", "{unknown}");
        assert_eq!(rail.fake.totals(&order), (800, 300), "part of it went back");
        // Asked again (status sync does), the part made is counted and the rest sent.
        assert_eq!(
            refunder.refund(&order, &refund, 700).await.unwrap(),
            RefundOutcome::Succeeded
        );
        assert_eq!(rail.fake.totals(&order), (800, 700));

        // Refunded outside Obol: what PayPal can still give back is less than asked, and
        // nothing is sent.
        rail.fake
            .refund_out_of_band(&capture_n(&rail, &order, 1), 100);
        let short = refunder
            .refund(&order, &RefundId::derived("short"), 100)
            .await
            .unwrap_err();
        assert_eq!(short.code(), "invalid_transaction", "{short}");
        assert_eq!(rail.fake.totals(&order), (800, 800));
    }

    /// The id of `order`'s capture number `n` (0-based).
    fn capture_n(rail: &PayPalRail, order: &str, n: usize) -> String {
        rail.fake.captures_of(order)[n].clone()
    }

    #[tokio::test]
    async fn a_5xx_then_a_refusal_is_unknown_not_unavailable() {
        let rail = PayPalRail::start().await;
        let order = paid(&rail, "u1", 500, CaptureMethod::Automatic).await;
        let path = format!(
            "/v2/payments/captures/{}/refund",
            capture_n(&rail, &order, 0)
        );
        rail.fake
            .inject(Method::POST, &path, FakeFault::Status(500));
        for _ in 0..3 {
            rail.fake
                .inject(Method::POST, &path, FakeFault::Status(429));
        }
        let refused = rail
            .paypal
            .refunder()
            .unwrap()
            .refund(&order, &RefundId::derived("u1"), 200)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "provider_timeout", "{refused}");
    }

    #[tokio::test]
    async fn a_capture_paypal_already_took_is_never_cancelled_or_miscounted() {
        let rail = PayPalRail::start().await;
        let order = paid(&rail, "x1", 1000, CaptureMethod::Manual).await;
        // A capture whose answer Obol never got, then a cancel: refused, money was taken.
        rail.fake.capture_out_of_band(&order, 1000, true);
        let refused = rail
            .paypal
            .canceler()
            .unwrap()
            .cancel(&order)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "invalid_transaction", "{refused}");

        // The same capture key asked for another amount: PayPal replays the first answer,
        // which is not this capture.
        let other = paid(&rail, "x2", 1000, CaptureMethod::Manual).await;
        let capturer = rail.paypal.capturer().unwrap();
        capturer
            .capture(&other, "x2:cap:0", 500, false)
            .await
            .unwrap();
        let conflict = capturer
            .capture(&other, "x2:cap:0", 300, false)
            .await
            .unwrap_err();
        assert_eq!(conflict.code(), "idempotency_conflict", "{conflict}");
        assert_eq!(rail.fake.totals(&other), (500, 0));
    }

    #[tokio::test]
    async fn a_pending_capture_is_unknown_until_paypal_completes_it() {
        let rail = PayPalRail::start().await;
        let order = paid(&rail, "p1", 900, CaptureMethod::Manual).await;
        rail.fake.set_captures_pending(true);
        let capturer = rail.paypal.capturer().unwrap();
        let waiting = capturer
            .capture(&order, "p1:cap:0", 900, true)
            .await
            .unwrap_err();
        assert_eq!(waiting.code(), "provider_timeout");
        rail.fake.complete_pending_captures();
        capturer
            .capture(&order, "p1:cap:0", 900, true)
            .await
            .unwrap();
        assert_eq!(rail.fake.totals(&order), (900, 0), "captured once");
    }

    #[tokio::test]
    async fn a_request_id_paypal_forgot_makes_a_fresh_order_that_moves_no_money() {
        let rail = PayPalRail::start().await;
        let attempt = request("forgot", 300, CaptureMethod::Automatic);
        rail.fake
            .inject(Method::POST, ORDERS, FakeFault::HangAfterEffect);
        assert!(
            rail.paypal
                .authorizer()
                .unwrap()
                .authorize(&attempt)
                .await
                .is_err()
        );
        // PayPal keeps order request ids for hours; past that, the replay is a new order.
        rail.fake.set_request_id_retention(Duration::ZERO);
        let ChargeStatus::Found(ChargeOutcome::RequiresAction {
            reference,
            redirect_url,
        }) = rail
            .paypal
            .status_sync()
            .unwrap()
            .attempt_status(&attempt, None)
            .await
            .unwrap()
        else {
            panic!("the replay waits for the payer")
        };
        let custom = attempt.payment_id.to_string();
        assert_eq!(rail.fake.orders_for(&custom), 2);
        assert_eq!(
            rail.fake.charges_for(&custom),
            0,
            "neither order moved money"
        );
        approve(&redirect_url).await;
        rail.paypal
            .authorizer()
            .unwrap()
            .complete_action(&reference)
            .await
            .unwrap();
        assert_eq!(
            rail.fake.charges_for(&custom),
            1,
            "only the order shown was paid"
        );
    }
}
