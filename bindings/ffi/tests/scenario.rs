//! The binding scenario through the FFI surface from Rust (the same steps and figures as the
//! Python, Kotlin and Node versions), and what dropping the object does to the store.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::Arc;

use obol_ffi::{
    AuthError, CaptureMethod, CardInput, Direction, EntryInput, LedgerError, NewAccountInput,
    NewCustomerInput, NewPaymentInput, ObolOptions, PaymentError, StripeSettings, Tenant,
    generate_key_encryption_key, open_obol, verify_access_token_offline,
};

fn options() -> ObolOptions {
    ObolOptions {
        key_encryption_key: generate_key_encryption_key(),
        issuer: "obol-scenario".into(),
        audience: "obol-app".into(),
        stripe: None,
    }
}

fn transfer(debit: &str, credit: &str, amount: &str) -> Vec<EntryInput> {
    let entry = |account: &str, direction| EntryInput {
        account: account.into(),
        direction,
        amount: amount.into(),
        asset: "USD".into(),
    };
    vec![
        entry(debit, Direction::Debit),
        entry(credit, Direction::Credit),
    ]
}

async fn account(shop: &Tenant, normal_balance: Direction, no_overdraft: bool) -> String {
    let input = NewAccountInput {
        id: None,
        asset: "USD".into(),
        normal_balance,
        no_overdraft,
        metadata: HashMap::new(),
    };
    shop.create_account(input).await.unwrap().id
}

#[tokio::test]
async fn the_ledger_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let engine = open_obol(url, options()).await.unwrap();
    let shop = engine.act_as(None, None, "test".into()).unwrap();
    let cash = account(&shop, Direction::Debit, false).await;
    let wallet = account(&shop, Direction::Credit, true).await;
    let revenue = account(&shop, Direction::Credit, false).await;
    let none = HashMap::new;

    shop.transfer(None, transfer(&cash, &wallet, "10000"), none())
        .await
        .unwrap();
    let hold = shop
        .hold(None, transfer(&wallet, &revenue, "2500"), None, none())
        .await
        .unwrap();
    let posted = shop
        .post_hold(hold.id.clone(), Some("1500".into()), true, None)
        .await
        .unwrap();
    assert_eq!(posted.kind, "post_hold");
    assert_eq!(shop.get_hold(hold.id).await.unwrap().status, "posted");

    let refused = shop
        .transfer(None, transfer(&wallet, &revenue, "999999"), none())
        .await
        .unwrap_err();
    assert!(matches!(refused, LedgerError::Rejected { .. }));
    assert_eq!(refused.code(), "insufficient_funds");

    let key = Some("txn_01JD3Q4V5X6Y7Z8A9B0C1D2E3F".to_owned());
    let first = shop
        .transfer(key.clone(), transfer(&wallet, &revenue, "100"), none())
        .await
        .unwrap();
    let replay = shop
        .transfer(key.clone(), transfer(&wallet, &revenue, "100"), none())
        .await
        .unwrap();
    assert_eq!(replay.id, first.id);
    let clash = shop
        .transfer(key, transfer(&wallet, &revenue, "200"), none())
        .await
        .unwrap_err();
    assert!(matches!(clash, LedgerError::Conflict { .. }));
    assert_eq!(clash.code(), "idempotency_conflict");
    let bad = shop
        .transfer(None, transfer(&cash, &wallet, "12.50"), none())
        .await
        .unwrap_err();
    assert_eq!(bad.code(), "invalid_amount");

    assert_eq!(shop.balance(wallet.clone()).await.unwrap().posted, "8400");
    assert_eq!(shop.balance(revenue).await.unwrap().posted, "1600");
    assert_eq!(shop.balance(cash).await.unwrap().posted, "10000");
    let history = shop.history(wallet.clone(), None, 10).await.unwrap();
    let moves: Vec<_> = history
        .items
        .iter()
        .map(|item| (item.direction, item.amount.as_str()))
        .collect();
    assert_eq!(
        moves,
        [
            (Direction::Credit, "10000"),
            (Direction::Debit, "1500"),
            (Direction::Debit, "100")
        ]
    );

    engine.shutdown().await;
    let closed = shop.balance(wallet).await.unwrap_err();
    assert_eq!(closed.code(), "shut_down");
    engine.shutdown().await;
}

fn order(amount: &str) -> NewPaymentInput {
    NewPaymentInput {
        amount: amount.into(),
        asset: "USD".into(),
        capture_method: CaptureMethod::Manual,
        customer: None,
        metadata: HashMap::new(),
    }
}

#[tokio::test]
async fn the_payment_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let engine = open_obol(url, options()).await.unwrap();
    let shop = engine.act_as(None, None, "test".into()).unwrap();
    let key = || Some("order-1".to_owned());

    let payment = shop.create_payment(order("5000"), key()).await.unwrap();
    assert_eq!(payment.status, "requires_payment_method");
    let card = CardInput {
        number: "4242 4242 4242 4242".into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    };
    let attached = shop
        .attach_card(payment.id.clone(), card, None)
        .await
        .unwrap();
    assert_eq!(attached.status, "requires_confirmation");
    let confirmed = shop.confirm(payment.id.clone(), None).await.unwrap();
    assert_eq!(
        (confirmed.status.as_str(), confirmed.authorized.as_str()),
        ("requires_capture", "5000")
    );
    let captured = shop
        .capture(payment.id.clone(), Some("3000".into()), true, None)
        .await
        .unwrap();
    assert_eq!(
        (captured.status.as_str(), captured.captured.as_str()),
        ("succeeded", "3000")
    );
    let refunded = shop
        .refund(
            payment.id.clone(),
            Some("1000".into()),
            Some("refund-1".into()),
        )
        .await
        .unwrap();
    assert_eq!(refunded.refunded, "1000");

    let replay = shop.create_payment(order("5000"), key()).await.unwrap();
    assert_eq!(replay.id, payment.id);
    let clash = shop.create_payment(order("6000"), key()).await.unwrap_err();
    assert!(matches!(clash, PaymentError::Conflict { .. }));
    assert_eq!(clash.code(), "idempotency_conflict");
    let too_much = shop
        .refund(payment.id.clone(), Some("5000".into()), None)
        .await
        .unwrap_err();
    assert!(matches!(too_much, PaymentError::Rejected { .. }));
    assert_eq!(too_much.code(), "exceeds_refundable");

    let merchant = shop.merchant_account("USD".into()).await.unwrap();
    assert_eq!(shop.balance(merchant).await.unwrap().posted, "2000");
    let listed = shop.payments(10, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].refunded, "1000");
    engine.shutdown().await;
}

#[tokio::test]
async fn the_auth_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let engine = open_obol(url, options()).await.unwrap();
    let shop = engine.act_as(None, None, "test".into()).unwrap();
    let password = "correct horse battery staple";
    let user = engine
        .sign_up("Ada@Example.com".into(), password.into(), None)
        .await
        .unwrap();
    assert_eq!(user.email, "ada@example.com");
    let tokens = engine
        .log_in(
            "ada@example.com".into(),
            password.into(),
            "test".into(),
            None,
            None,
        )
        .await
        .unwrap();
    let jwks = engine.jwks().await.unwrap();
    let offline = verify_access_token_offline(
        jwks.clone(),
        tokens.access_token.clone(),
        "obol-scenario".into(),
        "obol-app".into(),
    )
    .unwrap();
    assert_eq!(
        (offline.kind.as_str(), offline.id.as_str()),
        ("user", user.id.as_str())
    );
    let wrong_audience = verify_access_token_offline(
        jwks,
        tokens.access_token.clone(),
        "obol-scenario".into(),
        "another-app".into(),
    )
    .unwrap_err();
    assert!(matches!(wrong_audience, AuthError::Unauthorized { .. }));
    let online = engine
        .verify_access_token(tokens.access_token.clone())
        .await
        .unwrap();
    assert_eq!(online, offline);

    let refreshed = engine.refresh(tokens.refresh_token.clone()).await.unwrap();
    let reused = engine.refresh(tokens.refresh_token).await.unwrap_err();
    assert_eq!(reused.code(), "unauthenticated");
    engine.log_out(refreshed.refresh_token).await.unwrap();
    let after = engine
        .verify_access_token(refreshed.access_token)
        .await
        .unwrap_err();
    assert_eq!(after.code(), "unauthenticated");
    let wrong = engine
        .log_in(
            "ada@example.com".into(),
            "not the password".into(),
            "test".into(),
            None,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(wrong, AuthError::Unauthorized { .. }));
    // Failures count per account and source: ten from one device stop that device only.
    let from = |source: &str, password: &str| {
        engine.log_in(
            "ada@example.com".into(),
            password.into(),
            "test".into(),
            None,
            Some(source.into()),
        )
    };
    for _ in 0..10 {
        from("device-a", "not the password").await.unwrap_err();
    }
    let stopped = from("device-a", password).await.unwrap_err();
    assert_eq!(stopped.code(), "too_many_attempts");
    from("device-b", password).await.unwrap();

    let key = engine
        .issue_api_key("till".into(), vec!["payments:write".into()])
        .await
        .unwrap();
    let principal = engine
        .authenticate_api_key(key.secret.unwrap())
        .await
        .unwrap();
    assert_eq!(
        (principal.kind.as_str(), principal.scopes.as_slice()),
        ("api_key", ["payments:write".to_owned()].as_slice())
    );
    let bad = engine
        .authenticate_api_key("obol_sk_test_nope".into())
        .await
        .unwrap_err();
    assert_eq!(bad.code(), "unauthenticated");

    // A tenant issues keys within what it holds; a key's holder acts through its tenant.
    let reader = shop
        .issue_api_key(
            "reports".into(),
            vec!["payments:read".into()],
            "test".into(),
            None,
        )
        .await
        .unwrap();
    assert!(reader.secret.is_some());
    let as_reader = engine.authenticate(reader.secret.unwrap()).await.unwrap();
    assert_eq!(as_reader.principal().kind, "api_key");
    let denied = as_reader
        .create_payment(order("100"), None)
        .await
        .unwrap_err();
    assert!(matches!(denied, PaymentError::Unauthorized { .. }));
    assert_eq!(denied.code(), "forbidden");
    let escalate = as_reader
        .issue_api_key(
            "more".into(),
            vec!["payments:read".into()],
            "test".into(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(escalate.code(), "forbidden");
    let live = shop
        .issue_api_key(
            "live".into(),
            vec!["payments:read".into()],
            "live".into(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        live.code(),
        "forbidden",
        "a test-mode tenant makes no live keys"
    );
    assert_eq!(shop.api_keys().await.unwrap().len(), 2, "till and reports");
    let nobody = engine.authenticate("not a credential".into()).await;
    assert_eq!(nobody.unwrap_err().code(), "unauthenticated");
    engine.shutdown().await;
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_merchant() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let engine = open_obol(url, options()).await.unwrap();
    let merchant = |seed: &str| obol::MerchantId::derived(seed).to_string();
    let a = engine
        .act_as(Some(merchant("a")), None, "test".into())
        .unwrap();
    let b = engine
        .act_as(Some(merchant("b")), None, "test".into())
        .unwrap();
    let card = || CardInput {
        number: "4242 4242 4242 4242".into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    };
    let paid = a.create_payment(order("700"), None).await.unwrap();
    a.attach_card(paid.id.clone(), card(), None).await.unwrap();
    a.confirm(paid.id.clone(), None).await.unwrap();

    let unseen = b.payment(paid.id.clone()).await.unwrap_err();
    assert!(matches!(unseen, PaymentError::NotFound { .. }));
    assert_eq!(unseen.code(), "payment_not_found");
    let refund = b.refund(paid.id.clone(), None, None).await.unwrap_err();
    assert_eq!(refund.code(), "payment_not_found");
    assert!(b.payments(10, None).await.unwrap().is_empty());
    assert!(b.events(0, 100, None).await.unwrap().is_empty());
    let wallet = account(&a, Direction::Credit, false).await;
    let peek = b.balance(wallet.clone()).await.unwrap_err();
    assert_eq!(peek.code(), "account_not_found");
    let their_balance = a.merchant_account("USD".into()).await.unwrap();
    assert_eq!(
        b.balance(their_balance.clone()).await.unwrap_err().code(),
        "account_not_found"
    );
    assert_eq!(a.balance(their_balance).await.unwrap().posted, "0");

    // Live mode reaches no sandbox: card details are refused, and test payments are unseen.
    let live = engine
        .act_as(Some(merchant("a")), None, "live".into())
        .unwrap();
    assert_eq!(
        live.payment(paid.id.clone()).await.unwrap_err().code(),
        "payment_not_found"
    );
    let fresh = live.create_payment(order("100"), None).await.unwrap();
    let refused = live
        .attach_card(fresh.id.clone(), card(), None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "invalid_payment_method");
    // An empty scope list grants nothing (absent means every scope).
    let nothing = engine.act_as(None, Some(vec![]), "test".into()).unwrap();
    let denied = nothing.create_payment(order("100"), None).await;
    assert_eq!(denied.unwrap_err().code(), "forbidden");
    let bad_mode = engine.act_as(None, None, "sandbox".into());
    assert_eq!(bad_mode.unwrap_err().code(), "invalid_request");
    engine.shutdown().await;
}

#[test]
fn eight_threads_of_500_transfers_keep_the_totals() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let (shop, source, pool) = runtime.block_on(async {
        let engine = open_obol(url, options()).await.unwrap();
        let shop = engine.act_as(None, None, "test".into()).unwrap();
        let source = account(&shop, Direction::Debit, false).await;
        let pool = account(&shop, Direction::Credit, false).await;
        (shop, source, pool)
    });
    // Plain threads outside any Tokio runtime, each driving its own calls, as an app's
    // threads would: the library must not need the caller's runtime.
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (shop, source, pool) = (Arc::clone(&shop), source.clone(), pool.clone());
            std::thread::spawn(move || {
                futures::executor::block_on(async {
                    for _ in 0..500 {
                        shop.transfer(None, transfer(&source, &pool, "1"), HashMap::new())
                            .await
                            .unwrap();
                    }
                })
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    runtime.block_on(async {
        assert_eq!(shop.balance(pool.clone()).await.unwrap().posted, "4000");
        assert_eq!(shop.balance(source).await.unwrap().posted, "4000");
        let history = shop.history(pool, None, 1000).await.unwrap();
        assert_eq!(history.items.len(), 4000 / 4);
    });
}

#[tokio::test]
async fn dropping_the_object_closes_the_store_and_keeps_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let kek = generate_key_encryption_key();
    let options = || ObolOptions {
        key_encryption_key: kek.clone(),
        ..self::options()
    };
    let engine = open_obol(url.clone(), options()).await.unwrap();
    let shop = engine.act_as(None, None, "test".into()).unwrap();
    let cash = account(&shop, Direction::Debit, false).await;
    let wallet = account(&shop, Direction::Credit, false).await;
    for _ in 0..20 {
        shop.transfer(None, transfer(&cash, &wallet, "5"), HashMap::new())
            .await
            .unwrap();
    }
    drop(shop);
    drop(engine);
    let reopened = open_obol(url, options()).await.unwrap();
    let reopened_shop = reopened.act_as(None, None, "test".into()).unwrap();
    assert_eq!(reopened_shop.balance(wallet).await.unwrap().posted, "100");
    reopened.shutdown().await;
}

#[tokio::test]
async fn the_customer_and_events_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let engine = open_obol(url, options()).await.unwrap();
    let shop = engine.act_as(None, None, "test".into()).unwrap();

    let input = |email: &str| NewCustomerInput {
        id: None,
        email: Some(email.into()),
        name: Some("Ada".into()),
        metadata: HashMap::new(),
    };
    let customer = shop
        .create_customer(input("ada@example.com"))
        .await
        .unwrap();
    let read = shop.customer(customer.id.clone()).await.unwrap();
    assert_eq!(
        (read.email.as_deref(), read.name.as_deref()),
        (Some("ada@example.com"), Some("Ada"))
    );
    let bad = shop.create_customer(input("not-an-email")).await;
    assert_eq!(bad.unwrap_err().code(), "invalid_customer");

    let card = CardInput {
        number: "4242 4242 4242 4242".into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    };
    let saved = shop
        .save_card(customer.id.clone(), card, None)
        .await
        .unwrap();
    assert_eq!(
        (saved.brand.as_deref(), saved.last4.as_deref()),
        (Some("visa"), Some("4242"))
    );
    assert_eq!(
        shop.saved_cards(customer.id.clone()).await.unwrap().len(),
        1
    );

    let mut order = order("2500");
    order.capture_method = CaptureMethod::Automatic;
    order.customer = Some(customer.id.clone());
    let payment = shop.create_payment(order, None).await.unwrap();
    assert_eq!(payment.customer.as_deref(), Some(customer.id.as_str()));
    shop.attach_saved_card(payment.id.clone(), saved.id.clone(), None)
        .await
        .unwrap();
    let paid = shop.confirm(payment.id.clone(), None).await.unwrap();
    assert_eq!(
        (paid.status.as_str(), paid.captured.as_str()),
        ("succeeded", "2500")
    );

    let events = shop.events(0, 100, Some(payment.id.clone())).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, EVENT_KINDS);
    assert!(events.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert_eq!(events.last().unwrap().payment.status, "succeeded");
    let next = shop.events(events[0].sequence, 1, None).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].id, events[1].id);

    let detached = shop.detach_card(saved.id.clone()).await.unwrap();
    assert!(detached.detached);
    assert!(
        shop.saved_cards(customer.id.clone())
            .await
            .unwrap()
            .is_empty()
    );
    let again = shop.detach_card(saved.id.clone()).await.unwrap_err();
    assert!(matches!(again, PaymentError::NotFound { .. }));
    assert_eq!(again.code(), "payment_method_not_found");
    engine.shutdown().await;
}

/// The events of a customer's card payment: created, attached, sent to the provider, paid.
const EVENT_KINDS: [&str; 4] = [
    "payment.created",
    "payment.requires_confirmation",
    "payment.processing",
    "payment.succeeded",
];

#[tokio::test]
async fn an_app_opens_the_engine_with_stripe_and_pays_through_it() {
    use obol_core::testing::providers::RailHarness;
    let rail = obol_stripe::testing::StripeRail::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let mut with_stripe = options();
    with_stripe.stripe = Some(StripeSettings {
        secret_key: obol_stripe::testing::TEST_SECRET_KEY.into(),
        webhook_secret: obol_stripe::testing::TEST_WEBHOOK_SECRET.into(),
        return_url: "https://app.example/paid".into(),
        api_base: Some(rail.localstripe.base.clone()),
        multicapture: false,
        currencies: None,
    });
    let engine = open_obol(url.clone(), with_stripe).await.unwrap();
    let shop = engine.act_as(None, None, "test".into()).unwrap();
    let payment = shop.create_payment(order("5000"), None).await.unwrap();
    let card = CardInput {
        number: "4242424242424242".into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    };
    shop.attach_card(payment.id.clone(), card, None)
        .await
        .unwrap();
    let confirmed = shop.confirm(payment.id.clone(), None).await.unwrap();
    assert_eq!(confirmed.status, "requires_capture");
    let captured = shop
        .capture(payment.id.clone(), Some("3000".into()), true, None)
        .await
        .unwrap();
    assert_eq!(captured.captured, "3000");
    let id = obol_core::id::PaymentId::parse(&payment.id).unwrap();
    assert_eq!(rail.charges_for(&id).await, 1, "the charge is at Stripe");

    // A bad Stripe configuration is refused when the engine opens.
    let mut bad = options();
    bad.stripe = Some(StripeSettings {
        secret_key: "pk_test_publishable".into(),
        webhook_secret: obol_stripe::testing::TEST_WEBHOOK_SECRET.into(),
        return_url: "https://app.example/paid".into(),
        api_base: None,
        multicapture: false,
        currencies: None,
    });
    let refused = open_obol(
        format!("sqlite://{}", dir.path().join("other.db").display()),
        bad,
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), "config");
}
