//! The provider conformance suite for Stripe, against localstripe behind its compatibility
//! proxy, on SQLite and on PostgreSQL; plus the rail's own calls (idempotent replays, saved
//! cards, hostile tokens, an unreachable API).

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
    obol_core::rail_conformance!(super::sqlite_store, obol_stripe::testing::StripeRail::start);
}

mod on_postgres {
    obol_core::rail_conformance!(
        super::postgres_store,
        obol_stripe::testing::StripeRail::start
    );
}

mod one_capture_per_authorization {
    #[tokio::test]
    async fn a_partial_capture_releases_the_rest() {
        let rail = obol_stripe::testing::StripeRail::single_capture().await;
        obol_core::testing::providers::captures_in_parts_and_refunds(
            super::sqlite_store().await,
            &rail,
        )
        .await;
    }
}

mod rail_calls {
    use std::time::Duration;

    use obol_core::id::{CustomerId, MerchantId, PaymentId};
    use obol_core::money::AssetCode;
    use obol_core::payments::{
        AuthorizeRequest, CaptureMethod, CardDetails, ChargeOutcome, ChargeStatus, Provider,
    };
    use obol_core::testing::START;
    use obol_core::testing::providers::RailHarness;
    use obol_stripe::testing::{Localstripe, StripeRail, TEST_SECRET_KEY};
    use obol_stripe::{Stripe, StripeConfig};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use zeroize::Zeroizing;

    fn merchant(name: &str) -> MerchantId {
        MerchantId::derived(name)
    }

    async fn token(rail: &StripeRail, merchant: &MerchantId, number: &str) -> String {
        let card = CardDetails::new(number, 12, 2030, "123", START).unwrap();
        rail.stripe
            .tokenizer()
            .unwrap()
            .tokenize_card(merchant, &card)
            .await
            .unwrap()
            .token
    }

    fn request(token: &str, key: &str, merchant: MerchantId) -> AuthorizeRequest {
        AuthorizeRequest {
            payment_id: PaymentId::parse("pay_00000000000000000000000001").unwrap(),
            idempotency_key: key.into(),
            amount: 1250,
            asset: AssetCode::new("EUR").unwrap(),
            token: token.into(),
            capture_method: CaptureMethod::Automatic,
            merchant,
        }
    }

    #[tokio::test]
    async fn a_retried_authorization_is_the_same_charge() {
        let rail = StripeRail::start().await;
        let acme = merchant("acme");
        let token = token(&rail, &acme, "4242424242424242").await;
        let authorizer = rail.stripe.authorizer().unwrap();
        let first = authorizer
            .authorize(&request(&token, "pay_1:1", acme.clone()))
            .await
            .unwrap();
        let again = authorizer
            .authorize(&request(&token, "pay_1:1", acme.clone()))
            .await
            .unwrap();
        assert_eq!(first, again);
        let ChargeOutcome::Authorized { reference, amount } = &first else {
            panic!("{first:?}")
        };
        assert!(reference.starts_with("pi_") && *amount == 1250);
        // Status sync finds it by the attempt key; an unknown key was never charged.
        let sync = rail.stripe.status_sync().unwrap();
        assert_eq!(
            sync.charge_status("pay_1:1").await.unwrap(),
            ChargeStatus::Found(first)
        );
        assert_eq!(
            sync.charge_status("pay_2:1").await.unwrap(),
            ChargeStatus::NotFound
        );
        // Hostile keys never reach a search query.
        for bad in ["pay_1:1' OR 'a'='a", "", "pay\\1", &"k".repeat(300)] {
            assert_eq!(
                sync.charge_status(bad).await.unwrap_err().code(),
                "invalid_request",
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn a_refund_asked_again_is_looked_up_not_paid_twice() {
        let rail = StripeRail::start().await;
        let acme = merchant("acme");
        let token = token(&rail, &acme, "4242424242424242").await;
        let paid = rail
            .stripe
            .authorizer()
            .unwrap()
            .authorize(&request(&token, "pay_9:1", acme))
            .await
            .unwrap();
        let ChargeOutcome::Authorized { reference, .. } = paid else {
            panic!("{paid:?}")
        };
        let refunder = rail.stripe.refunder().unwrap();
        let id = obol_core::id::RefundId::parse("rfd_00000000000000000000000001").unwrap();
        for _ in 0..3 {
            let outcome = refunder.refund(&reference, &id, 400).await.unwrap();
            assert_eq!(outcome, obol_core::payments::RefundOutcome::Succeeded);
        }
        assert_eq!(
            rail.view(&reference).await.refunded,
            400,
            "one refund at Stripe"
        );
        // Hostile references never reach Stripe's paths.
        for bad in ["pi_../../v1/charges", "ch_1", "", "pi_"] {
            let err = refunder.refund(bad, &id, 1).await.unwrap_err();
            assert_eq!(err.code(), "invalid_transaction", "{bad}");
        }
    }

    /// A PaymentMethod made as Stripe.js makes it, from the customer's browser.
    async fn browser_method(rail: &StripeRail, number: &str) -> String {
        let answer = reqwest::Client::new()
            .post(format!("{}/v1/payment_methods", rail.localstripe.base))
            .bearer_auth(TEST_SECRET_KEY)
            .form(&[
                ("type", "card"),
                ("card[number]", number),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2030"),
                ("card[cvc]", "123"),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        answer["id"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn a_method_made_by_stripe_js_is_adopted_for_one_merchant() {
        let rail = StripeRail::start().await;
        let acme = merchant("acme");
        let globex = merchant("globex");
        let tokenizer = rail.stripe.tokenizer().unwrap();
        let pm = browser_method(&rail, "4242424242424242").await;
        assert!(tokenizer.adopts(&pm));
        let adopted = tokenizer.adopt(&acme, &pm).await.unwrap();
        assert_eq!(adopted.card.as_ref().unwrap().last4, "4242");
        assert!(rail.stripe.accepts_token(&adopted, &acme));
        assert!(!rail.stripe.accepts_token(&adopted, &globex));
        let paid = rail
            .stripe
            .authorizer()
            .unwrap()
            .authorize(&request(&adopted.token, "pay_10:1", acme.clone()))
            .await
            .unwrap();
        assert!(
            matches!(paid, ChargeOutcome::Authorized { amount: 1250, .. }),
            "{paid:?}"
        );

        // Once adopted it is claimed: another merchant cannot adopt it too.
        let err = tokenizer.adopt(&globex, &pm).await.unwrap_err();
        assert_eq!(err.code(), "invalid_payment_method", "{err}");
        // A method Obol made for one merchant, or saved for its customer, is not another's.
        let acme_token = token(&rail, &acme, "4242424242424242").await;
        let acme_pm = acme_token.split('.').next().unwrap();
        let err = tokenizer.adopt(&globex, acme_pm).await.unwrap_err();
        assert_eq!(err.code(), "invalid_payment_method", "{err}");
        let alice = CustomerId::parse("cus_00000000000000000000000002").unwrap();
        let card = CardDetails::new("4242424242424242", 12, 2030, "123", START).unwrap();
        let fresh = tokenizer.tokenize_card(&acme, &card).await.unwrap();
        let saved = tokenizer
            .keep_for_customer(&acme, &alice, fresh)
            .await
            .unwrap();
        let saved_pm = saved.token.split('.').next().unwrap();
        assert_eq!(
            tokenizer.adopt(&globex, saved_pm).await.unwrap_err().code(),
            "invalid_payment_method"
        );
        // Unknown ids and junk never become tokens (junk never reaches Stripe).
        let err = tokenizer.adopt(&acme, "pm_doesnotexist").await.unwrap_err();
        assert_eq!(err.code(), "invalid_payment_method", "{err}");
        for junk in ["", "pm_", "pm_a/../b", "tok_visa", "pm_1.abc"] {
            assert!(!tokenizer.adopts(junk), "{junk}");
        }
    }

    #[tokio::test]
    async fn a_token_is_good_for_its_own_merchant_only() {
        let rail = StripeRail::start().await;
        let acme = merchant("acme");
        let text = token(&rail, &acme, "4242424242424242").await;
        let authorizer = rail.stripe.authorizer().unwrap();
        let stolen = authorizer
            .authorize(&request(&text, "pay_3:1", merchant("globex")))
            .await
            .unwrap_err();
        assert_eq!(stolen.code(), "invalid_card");
        // A raw Stripe PaymentMethod id, or a token with another id spliced in, is refused.
        let pm = text.split('.').next().unwrap().to_owned();
        let spliced = text.replacen(&pm, "pm_card_visa", 1);
        for forged in [
            pm.as_str(),
            "pm_card_visa",
            spliced.as_str(),
            "",
            "pm_x.y.z.w",
        ] {
            let err = authorizer
                .authorize(&request(forged, "pay_4:1", acme.clone()))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "invalid_card", "{forged}");
        }
    }

    #[tokio::test]
    async fn a_saved_card_lives_on_one_stripe_customer_per_obol_customer() {
        let rail = StripeRail::start().await;
        let acme = merchant("acme");
        let tokenizer = rail.stripe.tokenizer().unwrap();
        let alice = CustomerId::parse("cus_00000000000000000000000001").unwrap();
        let mut saved = Vec::new();
        for number in ["4242424242424242", "5555555555554444"] {
            let card = CardDetails::new(number, 12, 2030, "123", START).unwrap();
            let token = tokenizer.tokenize_card(&acme, &card).await.unwrap();
            let kept = tokenizer
                .keep_for_customer(&acme, &alice, token)
                .await
                .unwrap();
            saved.push(kept.token);
        }
        let customers: Vec<&str> = saved.iter().map(|t| t.split('.').nth(1).unwrap()).collect();
        assert!(customers[0].starts_with("cus_"));
        assert_eq!(customers[0], customers[1], "one Stripe Customer for alice");
        // A saved card pays again and again (it is attached to its customer).
        let authorizer = rail.stripe.authorizer().unwrap();
        for attempt in ["pay_5:1", "pay_6:1"] {
            let paid = authorizer
                .authorize(&request(&saved[0], attempt, acme.clone()))
                .await
                .unwrap();
            assert!(
                matches!(paid, ChargeOutcome::Authorized { amount: 1250, .. }),
                "{paid:?}"
            );
        }
    }

    /// An HTTP server answering every request with `status` and `body` (`None`: never).
    async fn fixed_server(answer: Option<(&'static str, &'static str)>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 16384];
                    let _ = socket.read(&mut buffer).await;
                    match answer {
                        Some((status, body)) => {
                            let text = format!(
                                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = socket.write_all(text.as_bytes()).await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(60)).await,
                    }
                });
            }
        });
        format!("http://127.0.0.1:{port}")
    }

    fn rail_at(base: &str) -> Stripe {
        let config = StripeConfig::new(
            TEST_SECRET_KEY,
            obol_stripe::testing::TEST_WEBHOOK_SECRET,
            "https://shop.example/paid",
            Zeroizing::new([42; 32]),
        )
        .unwrap()
        .with_api_base(base)
        .unwrap()
        .with_timeout(Duration::from_millis(500));
        Stripe::new(config).unwrap()
    }

    #[tokio::test]
    async fn failures_say_whether_the_call_took_effect() {
        let localstripe = Localstripe::start().await;
        let good = Stripe::new(localstripe.config(false)).unwrap();
        let acme = merchant("acme");
        let card = CardDetails::new("4242424242424242", 12, 2030, "123", START).unwrap();
        let token = good
            .tokenizer()
            .unwrap()
            .tokenize_card(&acme, &card)
            .await
            .unwrap()
            .token;
        let attempt = request(&token, "pay_7:1", acme);

        // Nothing listens: the call did not happen, another provider may be tried.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            drop(listener);
            format!("http://127.0.0.1:{port}")
        };
        let err = rail_at(&closed)
            .authorizer()
            .unwrap()
            .authorize(&attempt)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "provider_unavailable", "{err}");

        // Refused before running (rate limit, a refused key): nothing happened.
        for (status, body) in [
            (
                "429 Too Many Requests",
                r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"slow down"}}"#,
            ),
            (
                "401 Unauthorized",
                r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}"#,
            ),
        ] {
            let base = fixed_server(Some((status, body))).await;
            let err = rail_at(&base)
                .authorizer()
                .unwrap()
                .authorize(&attempt)
                .await
                .unwrap_err();
            assert_eq!(err.code(), "provider_unavailable", "{status}: {err}");
        }
        // A request Stripe refused as invalid is an error of the call, not a charge.
        let invalid = fixed_server(Some((
            "400 Bad Request",
            r#"{"error":{"type":"invalid_request_error","code":"parameter_invalid_integer","message":"bad amount"}}"#,
        )))
        .await;
        let err = rail_at(&invalid)
            .authorizer()
            .unwrap()
            .authorize(&attempt)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_transaction", "{err}");

        // Stripe failed, answered nonsense, or never answered: the outcome is unknown.
        for answer in [
            Some(("500 Internal Server Error", "{}")),
            // An earlier call with this key ran.
            Some((
                "400 Bad Request",
                r#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}"#,
            )),
            Some(("200 OK", r#"{"id":"pi_"#)),
            None,
        ] {
            let base = fixed_server(answer).await;
            let err = rail_at(&base)
                .authorizer()
                .unwrap()
                .authorize(&attempt)
                .await
                .unwrap_err();
            assert_eq!(err.code(), "provider_timeout", "{answer:?}: {err}");
        }
    }

    #[tokio::test]
    async fn localstripes_own_webhooks_verify_and_settle() {
        // localstripe signs and sends its events; the proxy relays them to this listener.
        let rail = StripeRail::start().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        rail.localstripe
            .register_webhook(&format!("http://127.0.0.1:{port}/hook"))
            .await;
        let acme = merchant("acme");
        let token = token(&rail, &acme, "4242424242424242").await;
        let paid = rail
            .stripe
            .authorizer()
            .unwrap()
            .authorize(&request(&token, "pay_8:1", acme))
            .await
            .unwrap();
        let (mut socket, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .unwrap()
            .unwrap();
        let mut raw = Vec::new();
        let mut buffer = vec![0u8; 65536];
        loop {
            let n = socket.read(&mut buffer).await.unwrap();
            raw.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&raw);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap();
                if body.len() >= length {
                    break;
                }
            }
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let now = obol_core::clock::Timestamp::from_micros(
            i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_micros(),
            )
            .unwrap(),
        );
        let event = rail
            .stripe
            .webhooks()
            .unwrap()
            .parse_webhook(&headers, body.as_bytes(), now)
            .await
            .unwrap()
            .expect("payment_intent.succeeded settles a charge");
        let ChargeOutcome::Authorized { reference, .. } = paid else {
            panic!()
        };
        assert_eq!(event.reference, reference);
    }
}
