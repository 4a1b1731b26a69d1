//! Authorization conformance cases every Store must pass, through the tenant API every host
//! calls ([`crate::tenant::Tenant`]): merchants never reach each other's payments, customers,
//! tokens, accounts, keys or events; scopes hold and are never granted beyond their holder;
//! the engine's own accounts are out of reach; test and live mode stay apart; keyed requests
//! are kept per tenant; secrets are shown once. Each takes a fresh, empty store.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::auth::test_auth;
use super::test_ledger;
use crate::auth::{CreateApiKey, CreateUser, Principal, Profile, Scope};
use crate::error::Error;
use crate::id::{AccountId, CustomerId, MerchantId, TransactionId};
use crate::idempotency::{Claim, DEFAULT_LEASE, request_hash};
use crate::ledger::model::{Direction, Entry, LedgerCommand, NewAccount, NewTransaction};
use crate::mode::Mode;
use crate::money::AssetCode;
use crate::payments::{
    CardDetails, CardInput, CreatePayment, EventQuery, MethodInput, MethodToken, NewCustomer,
    NewPayment, Payment, PaymentQuery, PaymentRequest, PaymentStatus, Payments, ProviderRegistry,
    Sandbox,
};
use crate::store::Store;
use crate::tenant::Tenant;
use crate::tenant::keys::{self, Operation};

fn usd() -> AssetCode {
    AssetCode::new("USD").unwrap()
}

/// The engine's parts a tenant is made of, over `store`.
struct Parts {
    payments: Arc<Payments>,
    auth: crate::auth::Auth,
    clock: Arc<crate::clock::ManualClock>,
}

impl Parts {
    async fn new(store: Arc<dyn Store>, seed: u64) -> Self {
        let (ledger, clock) = test_ledger(store.clone(), seed).await;
        let mut providers = ProviderRegistry::new();
        providers.register(Arc::new(Sandbox::ephemeral()));
        let auth = test_auth(&store, &ledger);
        Parts {
            payments: Arc::new(Payments::new(Arc::new(ledger), providers)),
            auth,
            clock,
        }
    }

    fn tenant(&self, merchant: &MerchantId, scopes: &[Scope], mode: Mode) -> Tenant {
        let principal = Principal::host(merchant.clone(), scopes.iter().copied().collect(), mode);
        Tenant::new(self.payments.clone(), self.auth.clone(), principal)
    }

    fn all(&self, merchant: &MerchantId) -> Tenant {
        self.tenant(merchant, &Scope::ALL, Mode::Test)
    }
}

fn merchants() -> (MerchantId, MerchantId) {
    (
        MerchantId::derived("tenancy:a"),
        MerchantId::derived("tenancy:b"),
    )
}

fn card(number: &str) -> MethodInput {
    MethodInput::Card(CardInput {
        number: number.into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    })
}

/// A paid (automatically captured) card payment of `amount`, optionally the customer's.
async fn paid(tenant: &Tenant, amount: i128, customer: Option<CustomerId>) -> Payment {
    let mut request = CreatePayment::new(amount, usd());
    request.customer = customer;
    request.payment_method = Some(card("4242424242424242"));
    request.confirm = true;
    tenant.create_payment(None, request).await.unwrap()
}

fn code<T: std::fmt::Debug>(result: Result<T, Error>) -> &'static str {
    result.unwrap_err().code()
}

pub async fn merchants_never_reach_each_others_payments_customers_or_events(store: Arc<dyn Store>) {
    let parts = Parts::new(store, 71).await;
    let (a_id, b_id) = merchants();
    let (a, b) = (parts.all(&a_id), parts.all(&b_id));
    let customer = a
        .create_customer(None, NewCustomer::new(CustomerId::derived("tenancy:cus")))
        .await
        .unwrap();
    let saved = a
        .save_method(None, &customer.id, card("4242424242424242"))
        .await
        .unwrap();
    let payment = paid(&a, 900, Some(customer.id.clone())).await;

    assert_eq!(code(b.payment(&payment.id).await), "payment_not_found");
    assert_eq!(code(b.children(&payment.id).await), "payment_not_found");
    for request in [
        PaymentRequest::Refund {
            payment: payment.id.clone(),
            amount: None,
            reason: None,
        },
        PaymentRequest::Capture {
            payment: payment.id.clone(),
            amount: None,
            final_capture: true,
        },
        PaymentRequest::Confirm {
            payment: payment.id.clone(),
        },
    ] {
        assert_eq!(code(b.execute(None, request).await), "payment_not_found");
    }
    assert_eq!(
        code(b.confirm_payment(None, &payment.id, None).await),
        "payment_not_found"
    );
    let listed = b
        .payments(PaymentQuery::merchant(a_id.clone(), 100))
        .await
        .unwrap();
    assert!(listed.is_empty(), "the query's merchant is the caller's");
    let events = b
        .events(EventQuery {
            merchant: a_id.clone(),
            mode: None,
            payment: Some(payment.id.clone()),
            after: 0,
            limit: 100,
        })
        .await
        .unwrap();
    assert!(events.is_empty());

    assert_eq!(code(b.customer(&customer.id).await), "customer_not_found");
    assert_eq!(
        code(b.saved_methods(&customer.id).await),
        "customer_not_found"
    );
    assert_eq!(
        code(
            b.save_method(None, &customer.id, card("4242424242424242"))
                .await
        ),
        "customer_not_found"
    );
    assert_eq!(
        code(b.detach_method(&saved.id).await),
        "payment_method_not_found"
    );
    let mut theirs = CreatePayment::new(100, usd());
    theirs.customer = Some(customer.id.clone());
    assert_eq!(
        code(b.create_payment(None, theirs).await),
        "customer_not_found"
    );
    let mine = b
        .create_payment(None, CreatePayment::new(100, usd()))
        .await
        .unwrap();
    assert_eq!(
        code(
            b.attach_method(None, &mine.id, MethodInput::Saved(saved.id.clone()))
                .await
        ),
        "payment_method_not_found"
    );
    // A's own calls still work, and B changed nothing of A's.
    assert_eq!(a.payment(&payment.id).await.unwrap(), payment);
    assert_eq!(a.saved_methods(&customer.id).await.unwrap().len(), 1);
}

pub async fn provider_tokens_are_good_for_their_merchant_only(store: Arc<dyn Store>) {
    let parts = Parts::new(store, 72).await;
    let (a_id, b_id) = merchants();
    let (a, b) = (parts.all(&a_id), parts.all(&b_id));
    let customer = a
        .create_customer(None, NewCustomer::new(CustomerId::derived("tenancy:tok")))
        .await
        .unwrap();
    let token = a
        .save_method(None, &customer.id, card("4242424242424242"))
        .await
        .unwrap()
        .token;
    let with = |method: MethodToken| {
        let mut request = CreatePayment::new(300, usd());
        request.payment_method = Some(MethodInput::Token(method));
        request.confirm = true;
        request
    };
    let stolen = b.create_payment(None, with(token.clone())).await;
    assert_eq!(code(stolen), "invalid_payment_method");
    let made_up = MethodToken {
        token: "tok_sandbox_succeeds_1".into(),
        ..token.clone()
    };
    assert_eq!(
        code(b.create_payment(None, with(made_up)).await),
        "invalid_payment_method"
    );
    let elsewhere = MethodToken {
        provider: "nowhere".into(),
        ..token.clone()
    };
    assert_eq!(
        code(b.create_payment(None, with(elsewhere)).await),
        "provider_not_found"
    );
    // Attaching through the generic request is checked the same way.
    let open = b
        .create_payment(None, CreatePayment::new(300, usd()))
        .await
        .unwrap();
    let attach = PaymentRequest::AttachMethod {
        payment: open.id.clone(),
        method: token.clone(),
    };
    assert_eq!(
        code(b.execute(None, attach).await),
        "invalid_payment_method"
    );
    // Nothing was charged for B; A pays with its own token.
    let mine = a.create_payment(None, with(token)).await.unwrap();
    assert_eq!(mine.state.captured, 300);
    assert_eq!(
        b.payments(PaymentQuery::merchant(b_id, 10))
            .await
            .unwrap()
            .len(),
        1,
        "only the payment B opened: the refused ones wrote nothing"
    );
}

pub async fn scopes_hold_and_are_never_granted_beyond_their_holder(store: Arc<dyn Store>) {
    let parts = Parts::new(store, 73).await;
    let (a_id, _) = merchants();
    let owner = parts.all(&a_id);
    let payment = paid(&owner, 500, None).await;
    let reader = parts.tenant(&a_id, &[Scope::PaymentsRead], Mode::Test);
    assert!(reader.payment(&payment.id).await.is_ok());
    assert_eq!(
        code(
            reader
                .create_payment(None, CreatePayment::new(1, usd()))
                .await
        ),
        "forbidden"
    );
    assert_eq!(
        code(reader.refund(None, &payment.id, None, None).await),
        "forbidden"
    );
    assert_eq!(code(reader.balances(&[usd()]).await), "forbidden");
    assert_eq!(code(reader.endpoints().await), "forbidden");
    let writer = parts.tenant(&a_id, &[Scope::PaymentsWrite], Mode::Test);
    assert_eq!(
        code(writer.refund(None, &payment.id, None, None).await),
        "forbidden",
        "refunds need refunds:write"
    );
    assert_eq!(payment.state.refunded, 0);

    // An admin grants at most what it holds, and a test-mode admin nothing live.
    let admin = parts.tenant(&a_id, &[Scope::UsersAdmin, Scope::PaymentsRead], Mode::Test);
    let key = |scopes: &[Scope], mode| CreateApiKey {
        name: "k".into(),
        mode,
        scopes: scopes.iter().copied().collect(),
        expires_at: None,
    };
    assert!(
        admin
            .issue_api_key(None, key(&[Scope::PaymentsRead], Mode::Test))
            .await
            .is_ok()
    );
    assert_eq!(
        code(
            admin
                .issue_api_key(None, key(&[Scope::LedgerWrite], Mode::Test))
                .await
        ),
        "forbidden"
    );
    assert_eq!(
        code(
            admin
                .issue_api_key(None, key(&[Scope::PaymentsRead], Mode::Live))
                .await
        ),
        "forbidden"
    );
    let user = |scopes: &[Scope], live| CreateUser {
        email: format!("u{}@example.com", scopes.len()),
        password: "correct horse battery staple".into(),
        profile: Profile::default(),
        scopes: scopes.iter().copied().collect(),
        live,
    };
    assert_eq!(
        code(admin.create_user(None, user(&Scope::ALL, false)).await),
        "forbidden"
    );
    assert_eq!(
        code(
            admin
                .create_user(None, user(&[Scope::PaymentsRead], true))
                .await
        ),
        "forbidden"
    );
    assert!(
        admin
            .create_user(None, user(&[Scope::PaymentsRead], false))
            .await
            .is_ok()
    );
    assert_eq!(
        admin.api_keys().await.unwrap().len(),
        1,
        "refusals wrote nothing"
    );
    let live_admin = parts.tenant(&a_id, &[Scope::UsersAdmin, Scope::PaymentsRead], Mode::Live);
    assert!(
        live_admin
            .issue_api_key(None, key(&[Scope::PaymentsRead], Mode::Live))
            .await
            .is_ok()
    );
}

pub async fn the_engines_own_accounts_are_out_of_reach(store: Arc<dyn Store>) {
    let parts = Parts::new(store, 74).await;
    let (a_id, b_id) = merchants();
    let (a, b) = (parts.all(&a_id), parts.all(&b_id));
    paid(&a, 1_000, None).await;
    let balance = &a.balances(&[usd()]).await.unwrap()[0];
    let takings = balance.account.clone();
    assert!(takings.is_reserved(), "{takings}");
    // The merchant reads its own payment balance, nobody writes to it.
    let (account, read) = a.account(&takings).await.unwrap();
    assert_eq!(read, balance.balance);
    assert_eq!(account.owner, crate::AccountOwner::System);
    assert_eq!(code(b.account(&takings).await), "account_not_found");
    assert_eq!(
        code(b.history(&takings, None, 10).await),
        "account_not_found"
    );
    let wallet = a
        .create_account(
            None,
            NewAccount::new(AccountId::generate(a.ids()), usd(), Direction::Debit),
        )
        .await
        .unwrap();
    assert_eq!(
        wallet.owner,
        crate::AccountOwner::Merchant(a_id.clone(), Mode::Test),
        "owned by the caller, whatever it asked"
    );
    let forge = NewTransaction::new(
        TransactionId::generate(a.ids()),
        Entry::transfer(&wallet.id, &takings, 1_000_000, &usd()).to_vec(),
    );
    let forged = a.submit(LedgerCommand::Transfer(forge)).await;
    assert_eq!(code(forged), "account_not_found");
    assert_eq!(code(a.close_account(&takings).await), "account_not_found");
    assert_eq!(a.account(&takings).await.unwrap().1, balance.balance);

    // Nobody names an account in the engine's range, or one another tenant holds.
    let squat = NewAccount::new(
        AccountId::reserved("obol:payments:provider_clearing:test:EUR"),
        AssetCode::new("EUR").unwrap(),
        Direction::Debit,
    );
    assert_eq!(code(b.create_account(None, squat).await), "invalid_account");
    let taken = NewAccount::new(wallet.id.clone(), usd(), Direction::Debit);
    assert_eq!(
        code(b.create_account(None, taken).await),
        "idempotency_conflict"
    );
    assert_eq!(code(b.account(&wallet.id).await), "account_not_found");
    assert_eq!(code(b.close_account(&wallet.id).await), "account_not_found");
    // B's EUR payments still find their clearing account.
    let mut eur = CreatePayment::new(250, AssetCode::new("EUR").unwrap());
    eur.payment_method = Some(card("4242424242424242"));
    eur.confirm = true;
    assert_eq!(
        b.create_payment(None, eur).await.unwrap().state.captured,
        250
    );
}

pub async fn test_and_live_mode_stay_apart(store: Arc<dyn Store>) {
    let parts = Parts::new(store, 75).await;
    let (a_id, _) = merchants();
    let test = parts.all(&a_id);
    let live = parts.tenant(&a_id, &Scope::ALL, Mode::Live);
    let payment = paid(&test, 800, None).await;
    assert_eq!(code(live.payment(&payment.id).await), "payment_not_found");
    assert_eq!(
        code(live.refund(None, &payment.id, None, None).await),
        "payment_not_found"
    );
    assert!(
        live.payments(PaymentQuery::merchant(a_id.clone(), 10))
            .await
            .unwrap()
            .is_empty()
    );
    // Live mode takes no card details and reaches no sandbox, even with a good token.
    let mut by_card = CreatePayment::new(100, usd());
    by_card.payment_method = Some(card("4242424242424242"));
    assert_eq!(
        code(live.create_payment(None, by_card).await),
        "invalid_payment_method"
    );
    let token = payment.method.clone().unwrap();
    let mut by_token = CreatePayment::new(100, usd());
    by_token.payment_method = Some(MethodInput::Token(token));
    by_token.confirm = true;
    assert_eq!(
        code(live.create_payment(None, by_token).await),
        "provider_not_found"
    );
    // Balances are per mode: test takings never show in live.
    let live_balance = &live.balances(&[usd()]).await.unwrap()[0];
    let test_balance = &test.balances(&[usd()]).await.unwrap()[0];
    assert_ne!(live_balance.account, test_balance.account);
    assert_eq!(live_balance.balance, Default::default());
    assert_eq!(test_balance.balance.posted(Direction::Credit), 800);

    // An idempotency key used in test mode claims nothing in live mode.
    let in_test = test
        .create_payment(Some("order-9"), CreatePayment::new(100, usd()))
        .await
        .unwrap();
    let in_live = live
        .create_payment(Some("order-9"), CreatePayment::new(100, usd()))
        .await
        .unwrap();
    assert_ne!(in_live.id, in_test.id);
    assert_eq!((in_test.mode, in_live.mode), (Mode::Test, Mode::Live));
    let other_terms = live
        .create_payment(Some("order-10"), CreatePayment::new(555, usd()))
        .await
        .unwrap();
    test.create_payment(Some("order-10"), CreatePayment::new(100, usd()))
        .await
        .unwrap();
    assert_eq!(other_terms.state.amount, 555);

    // Customers, ledger accounts, webhook endpoints and API keys are kept per mode too.
    let customer = test
        .create_customer(None, NewCustomer::new(CustomerId::generate(test.ids())))
        .await
        .unwrap();
    assert_eq!(
        code(live.customer(&customer.id).await),
        "customer_not_found"
    );
    let mut for_customer = CreatePayment::new(100, usd());
    for_customer.customer = Some(customer.id.clone());
    assert_eq!(
        code(live.create_payment(None, for_customer).await),
        "customer_not_found"
    );
    let books = live
        .create_account(
            None,
            NewAccount::new(AccountId::generate(live.ids()), usd(), Direction::Debit),
        )
        .await
        .unwrap();
    let scratch = test
        .create_account(
            None,
            NewAccount::new(AccountId::generate(test.ids()), usd(), Direction::Credit),
        )
        .await
        .unwrap();
    assert_eq!(code(test.account(&books.id).await), "account_not_found");
    let across = NewTransaction::new(
        TransactionId::generate(test.ids()),
        Entry::transfer(&books.id, &scratch.id, 1_000, &usd()).to_vec(),
    );
    assert_eq!(
        code(test.submit(LedgerCommand::Transfer(across)).await),
        "account_not_found"
    );
    assert_eq!(live.account(&books.id).await.unwrap().1, Default::default());
    let hook = live
        .add_endpoint(None, "https://example.com/live-hooks")
        .await
        .unwrap();
    assert_eq!(hook.endpoint.mode, Mode::Live);
    assert!(test.endpoints().await.unwrap().is_empty());
    assert_eq!(live.endpoints().await.unwrap().len(), 1);
    let live_key = live
        .issue_api_key(
            None,
            CreateApiKey {
                name: "live".into(),
                mode: Mode::Live,
                scopes: BTreeSet::from([Scope::PaymentsRead]),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    assert!(test.api_keys().await.unwrap().is_empty());
    assert_eq!(
        code(test.revoke_api_key(&live_key.key.id).await),
        "api_key_not_found"
    );
    assert_eq!(live.api_keys().await.unwrap().len(), 1);

    // A user allowed into live mode is unknown to test-mode admins.
    let live_user = live
        .create_user(
            None,
            CreateUser {
                email: "live@example.com".into(),
                password: "correct horse battery staple".into(),
                profile: Profile::default(),
                scopes: BTreeSet::from([Scope::PaymentsRead]),
                live: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(code(test.user(&live_user.id).await), "user_not_found");
    let renamed = Profile {
        name: Some("renamed from test mode".into()),
        ..Profile::default()
    };
    assert_eq!(
        code(test.update_profile(&live_user.id, renamed).await),
        "user_not_found"
    );
    assert!(live.user(&live_user.id).await.unwrap().live);
}

pub async fn a_keyed_payment_taken_over_is_found_not_made_again(store: Arc<dyn Store>) {
    let parts = Parts::new(store.clone(), 77).await;
    let (a_id, _) = merchants();
    let a = parts.all(&a_id);
    let mut request = CreatePayment::new(500, usd());
    request.payment_method = Some(card("4242424242424242"));
    request.confirm = true;
    // The first request claimed its key, paid, and died before it stored its answer.
    let now = parts.payments.ledger().now();
    let scoped = keys::scoped_key(&a_id, Mode::Test, Operation::CreatePayment, "order-9");
    let hash = request_hash(&request.fingerprint()).unwrap();
    let claim = store
        .claim_key(&scoped, &hash, now, now.plus(DEFAULT_LEASE))
        .await
        .unwrap();
    assert_eq!(claim, Claim::first(now));
    let ids = parts.payments.ledger().ids();
    let id = keys::payment_id(&a_id, Mode::Test, Some("order-9"), Some(now), ids.as_ref());
    let details = CardDetails::new("4242424242424242", 12, 2099, "123", now).unwrap();
    let token = parts
        .payments
        .tokenize_card("sandbox", &a_id, &details)
        .await
        .unwrap();
    let new = NewPayment::new(id, 500, usd()).for_merchant(a_id.clone());
    let first = parts.payments.create_and_confirm(new, token).await.unwrap();
    assert_eq!(first.state.status, PaymentStatus::Succeeded);
    // Its lease runs out; the retry takes the key over and finds that payment, paying nothing
    // again.
    parts.clock.advance(DEFAULT_LEASE + Duration::from_secs(1));
    let retried = a.create_payment(Some("order-9"), request).await.unwrap();
    assert_eq!(retried, first);
    let all = a
        .payments(PaymentQuery::merchant(a_id.clone(), 10))
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
}

pub async fn keyed_requests_are_kept_per_tenant(store: Arc<dyn Store>) {
    let parts = Parts::new(store, 76).await;
    let (a_id, b_id) = merchants();
    let (a, b) = (parts.all(&a_id), parts.all(&b_id));
    let first = a
        .create_payment(Some("order-1"), CreatePayment::new(100, usd()))
        .await
        .unwrap();
    // The same key at another tenant is another request, not a conflict or a replay.
    let other = b
        .create_payment(Some("order-1"), CreatePayment::new(999, usd()))
        .await
        .unwrap();
    assert_ne!(other.id, first.id);
    assert_eq!(other.merchant, b_id);
    let again = a
        .create_payment(Some("order-1"), CreatePayment::new(100, usd()))
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(
        code(
            a.create_payment(Some("order-1"), CreatePayment::new(101, usd()))
                .await
        ),
        "idempotency_conflict"
    );

    // Secrets are shown once: a replay answers without them.
    let endpoint = a
        .add_endpoint(Some("hook-1"), "https://example.com/hooks")
        .await
        .unwrap();
    assert!(endpoint.secret.as_deref().unwrap().starts_with("whsec_"));
    let replayed = a
        .add_endpoint(Some("hook-1"), "https://example.com/hooks")
        .await
        .unwrap();
    assert_eq!(replayed.endpoint, endpoint.endpoint);
    assert_eq!(replayed.secret, None);
    assert!(b.endpoints().await.unwrap().is_empty());
    let request = CreateApiKey {
        name: "ci".into(),
        mode: Mode::Test,
        scopes: BTreeSet::from([Scope::PaymentsRead]),
        expires_at: None,
    };
    let key = a
        .issue_api_key(Some("key-1"), request.clone())
        .await
        .unwrap();
    assert!(key.secret.is_some());
    let replay = a.issue_api_key(Some("key-1"), request).await.unwrap();
    assert_eq!(
        code(b.revoke_api_key(&replay.key.id).await),
        "api_key_not_found"
    );
    assert_eq!((replay.key.id, replay.secret), (key.key.id, None));
}

/// A keyed sign-up keeps no hash a copy of the database could test password guesses against:
/// the stored request hash is not the one an unsalted SHA-256 of the password (the old rule)
/// or the password itself would give, and only the deployment's own key reproduces it.
pub async fn a_keyed_sign_up_keeps_no_guessable_password_hash(store: Arc<dyn Store>) {
    use sha2::{Digest, Sha256};
    let parts = Parts::new(store.clone(), 77).await;
    let (a_id, _) = merchants();
    let password = "correct horse battery staple";
    let request = || CreateUser {
        email: "signup@example.com".into(),
        password: password.into(),
        profile: Profile::default(),
        scopes: BTreeSet::from([Scope::PaymentsRead]),
        live: false,
    };
    parts
        .all(&a_id)
        .create_user(Some("signup-1"), request())
        .await
        .unwrap();
    let record = keys::scoped_key(&a_id, Mode::Test, Operation::CreateUser, "signup-1");
    let r = request();
    let hash_with =
        |secret: String| request_hash(&(&r.email, secret, &r.profile, &r.scopes, r.live)).unwrap();
    let now = parts.payments.ledger().now();
    let lease = now.plus(DEFAULT_LEASE);
    let unsalted = hash_with(hex::encode(Sha256::digest(password.as_bytes())));
    let plain = hash_with(password.to_owned());
    // Another deployment (another key-encryption key) computing the same fingerprint rule.
    let (other_ledger, _) = test_ledger(store.clone(), 78).await;
    let other = test_auth(&store, &other_ledger)
        .secret_fingerprint(password)
        .unwrap();
    for guess in [unsalted, plain, hash_with(other)] {
        assert_eq!(
            store.claim_key(&record, &guess, now, lease).await.unwrap(),
            Claim::Conflict,
            "the stored request hash was reproduced without the deployment's key"
        );
    }
    // The check above can tell: the deployment's own fingerprint finds the record.
    let own = hash_with(parts.auth.secret_fingerprint(password).unwrap());
    assert!(matches!(
        store.claim_key(&record, &own, now, lease).await.unwrap(),
        Claim::Completed(_)
    ));
}
