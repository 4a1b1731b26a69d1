use axum::http::{Method, StatusCode};
use obol::MerchantId;
use obol::auth::Scope;
use serde_json::{Value, json};

use crate::harness::Harness;

async fn account(h: &Harness, normal: &str, flags: Value) -> String {
    let answer = h
        .post(
            "/v1/ledger/accounts",
            None,
            json!({"asset": "USD", "normal_balance": normal, "flags": flags}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.str("id")
}

fn transfer(from: &str, to: &str, amount: &str) -> Value {
    json!({"entries": [
        {"account": from, "direction": "debit", "amount": amount, "asset": "USD"},
        {"account": to, "direction": "credit", "amount": amount, "asset": "USD"},
    ]})
}

#[tokio::test]
async fn accounts_transfers_holds_reversals_history() {
    let h = Harness::new().await;
    let funding = account(&h, "debit", json!({})).await;
    let wallet = account(
        &h,
        "credit",
        json!({"debits_must_not_exceed_credits": true, "credits_must_not_exceed_debits": false}),
    )
    .await;
    let shop = account(&h, "credit", json!({})).await;

    let funded = h
        .post(
            "/v1/ledger/transactions",
            Some("fund-1"),
            transfer(&funding, &wallet, "10000"),
        )
        .await;
    assert_eq!(funded.status, StatusCode::CREATED, "{}", funded.body);
    let again = h
        .post(
            "/v1/ledger/transactions",
            Some("fund-1"),
            transfer(&funding, &wallet, "10000"),
        )
        .await;
    assert_eq!(
        again.body["id"], funded.body["id"],
        "the key names the same transaction"
    );
    let conflict = h
        .post(
            "/v1/ledger/transactions",
            Some("fund-1"),
            transfer(&funding, &wallet, "1"),
        )
        .await;
    assert_eq!(conflict.code(), "idempotency_conflict");

    let broke = h
        .post(
            "/v1/ledger/transactions",
            None,
            transfer(&wallet, &shop, "20000"),
        )
        .await;
    assert_eq!(broke.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(broke.code(), "insufficient_funds");
    let unbalanced = h
        .post(
            "/v1/ledger/transactions",
            None,
            json!({"entries": [{"account": wallet, "direction": "debit", "amount": "5", "asset": "USD"}]}),
        )
        .await;
    assert_eq!(unbalanced.status, StatusCode::BAD_REQUEST);

    let view = h.get(&format!("/v1/ledger/accounts/{wallet}")).await;
    assert_eq!(view.body["balance"]["credits_posted"], "10000");
    assert_eq!(
        view.body["account"]["owner"],
        obol::payments::default_merchant().as_str()
    );

    let hold = h
        .post(
            "/v1/ledger/holds",
            Some("hold-1"),
            transfer(&wallet, &shop, "3000"),
        )
        .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let hid = hold.str("id");
    let posted = h
        .post(
            &format!("/v1/ledger/holds/{hid}/post"),
            None,
            json!({"amount": "1000", "release_remainder": false}),
        )
        .await;
    assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.body);
    let state = h.get(&format!("/v1/ledger/holds/{hid}")).await;
    assert_eq!(state.body["posted"][0], "1000");
    let voided = h
        .post(&format!("/v1/ledger/holds/{hid}/void"), None, json!({}))
        .await;
    assert_eq!(voided.status, StatusCode::CREATED, "{}", voided.body);
    let closed = h
        .post(&format!("/v1/ledger/holds/{hid}/void"), None, json!({}))
        .await;
    assert_eq!(closed.code(), "hold_not_pending");

    let tid = funded.str("id");
    let got = h.get(&format!("/v1/ledger/transactions/{tid}")).await;
    assert_eq!(got.body["entries"][0]["amount"], "10000");
    let reversed = h
        .post(
            &format!("/v1/ledger/transactions/{tid}/reverse"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(
        reversed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the wallet spent part of it: {}",
        reversed.body
    );

    let balance = h.get(&format!("/v1/ledger/accounts/{shop}/balance")).await;
    assert_eq!(balance.body["credits_posted"], "1000");
    let before = h
        .get(&format!("/v1/ledger/accounts/{shop}/balance?at=1"))
        .await;
    assert_eq!(before.body["credits_posted"], "0");

    let page = h
        .get(&format!("/v1/ledger/accounts/{wallet}/history?limit=1"))
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    let cursor = page.str("next_cursor");
    let next = h
        .get(&format!(
            "/v1/ledger/accounts/{wallet}/history?limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(next.body["items"][0]["amount"], "1000");
    let bad_cursor = h
        .get(&format!("/v1/ledger/accounts/{wallet}/history?cursor=zzz"))
        .await;
    assert_eq!(bad_cursor.code(), "invalid_cursor");

    let closing = h
        .post(
            &format!("/v1/ledger/accounts/{shop}/close"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(closing.body["closed"], true, "{}", closing.body);
}

#[tokio::test]
async fn tenants_never_touch_each_others_accounts() {
    let h = Harness::new().await;
    let mine = account(&h, "credit", json!({})).await;
    let source = account(&h, "debit", json!({})).await;
    let other = MerchantId::derived("other");
    h.user(&other, "o@other.test", Scope::ALL.into()).await;
    let theirs = h.login(Some(&other), "o@other.test").await;
    let read = h
        .get_as(&format!("/v1/ledger/accounts/{mine}"), &theirs)
        .await;
    assert_eq!(read.code(), "account_not_found");
    let their_account = h
        .post_as(
            "/v1/ledger/accounts",
            Some(&theirs),
            json!({"asset": "USD", "normal_balance": "debit"}),
        )
        .await
        .str("id");
    let steal = h
        .send(
            Method::POST,
            "/v1/ledger/transactions",
            Some(&theirs),
            None,
            Some(transfer(&their_account, &mine, "5")),
        )
        .await;
    assert_eq!(steal.code(), "account_not_found");
    let funded = h
        .post(
            "/v1/ledger/transactions",
            None,
            transfer(&source, &mine, "5"),
        )
        .await;
    let tid = funded.str("id");
    let peek = h
        .get_as(&format!("/v1/ledger/transactions/{tid}"), &theirs)
        .await;
    assert_eq!(peek.code(), "transaction_not_found");
    // Metadata is the caller's own: naming another merchant there owns nothing.
    let spoof = h
        .post(
            "/v1/ledger/accounts",
            None,
            json!({"asset": "USD", "normal_balance": "debit", "metadata": {"merchant": other.as_str()}}),
        )
        .await;
    assert_eq!(spoof.status, StatusCode::CREATED, "{}", spoof.body);
    assert_eq!(
        spoof.body["owner"],
        obol::payments::default_merchant().as_str()
    );
    let unseen = h
        .get_as(&format!("/v1/ledger/accounts/{}", spoof.str("id")), &theirs)
        .await;
    assert_eq!(unseen.code(), "account_not_found");
}
