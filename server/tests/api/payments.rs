use axum::http::{Method, StatusCode};
use obol::MerchantId;
use obol::auth::Scope;
use obol::payments::default_merchant;
use serde_json::json;

use crate::harness::{Harness, card};

#[tokio::test]
async fn pay_in_one_call_and_replay_the_answer() {
    let h = Harness::new().await;
    let body = json!({"amount": "1250", "asset": "USD", "payment_method": card("4242424242424242"), "confirm": true});
    let first = h.post("/v1/payments", Some("order-1"), body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["state"]["status"], "succeeded");
    assert_eq!(first.body["state"]["captured"], "1250");
    assert_eq!(first.body["method"]["card"]["last4"], "4242");
    assert!(
        !first.body.to_string().contains("4242424242424242"),
        "card numbers never come back"
    );

    let again = h.post("/v1/payments", Some("order-1"), body.clone()).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(h.payment_count().await, 1);

    let mut other = body.clone();
    other["amount"] = json!("99");
    let conflict = h.post("/v1/payments", Some("order-1"), other).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.code(), "idempotency_conflict");

    // The same key in another tenant is another request.
    let globex = MerchantId::derived("globex");
    h.user(&globex, "owner@globex.test", Scope::ALL.into())
        .await;
    let theirs = h.login(Some(&globex), "owner@globex.test").await;
    let separate = h
        .send(
            Method::POST,
            "/v1/payments",
            Some(&theirs),
            Some("order-1"),
            Some(body),
        )
        .await;
    assert_eq!(separate.status, StatusCode::CREATED);
    assert_ne!(separate.body["id"], first.body["id"]);
    assert_eq!(separate.body["merchant"], globex.as_str());

    // And cannot see the first tenant's payment.
    let id = first.str("id");
    let hidden = h.get_as(&format!("/v1/payments/{id}"), &theirs).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.code(), "payment_not_found");
    let refused = h
        .post_as(
            &format!("/v1/payments/{id}/cancel"),
            Some(&theirs),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn manual_capture_in_parts_then_refund() {
    let h = Harness::new().await;
    let created = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "1000", "asset": "USD", "capture_method": "manual"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["state"]["status"], "requires_payment_method");
    let id = created.str("id");

    let confirmed = h
        .post(
            &format!("/v1/payments/{id}/confirm"),
            None,
            json!({"payment_method": card("4242424242424242")}),
        )
        .await;
    assert_eq!(
        confirmed.body["state"]["status"], "requires_capture",
        "{}",
        confirmed.body
    );

    let part = h
        .post(
            &format!("/v1/payments/{id}/capture"),
            Some("cap-1"),
            json!({"amount": "300", "final_capture": false}),
        )
        .await;
    assert_eq!(part.status, StatusCode::OK, "{}", part.body);
    assert_eq!(part.body["state"]["captured"], "300");
    let replay = h
        .post(
            &format!("/v1/payments/{id}/capture"),
            Some("cap-1"),
            json!({"amount": "300", "final_capture": false}),
        )
        .await;
    assert_eq!(
        replay.body["state"]["captured"], "300",
        "a replay captures nothing more"
    );

    let too_much = h
        .post(
            &format!("/v1/payments/{id}/capture"),
            None,
            json!({"amount": "5000"}),
        )
        .await;
    assert_eq!(too_much.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_much.code(), "exceeds_authorized");

    let rest = h
        .post(
            &format!("/v1/payments/{id}/capture"),
            None,
            json!({"amount": "200"}),
        )
        .await;
    assert_eq!(rest.body["state"]["status"], "succeeded");
    assert_eq!(rest.body["state"]["captured"], "500");

    let refunded = h
        .post(
            &format!("/v1/payments/{id}/refunds"),
            Some("rf-1"),
            json!({"amount": "120", "reason": "damaged"}),
        )
        .await;
    assert_eq!(refunded.status, StatusCode::CREATED, "{}", refunded.body);
    assert_eq!(refunded.body["state"]["refunded"], "120");
    let over = h
        .post(
            &format!("/v1/payments/{id}/refunds"),
            None,
            json!({"amount": "1000"}),
        )
        .await;
    assert_eq!(over.code(), "exceeds_refundable");

    let refunds = h.get(&format!("/v1/payments/{id}/refunds")).await;
    assert_eq!(refunds.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(refunds.body["data"][0]["amount"], "120");

    // The rest, without an amount; its retry asks the same and refunds nothing more.
    let rest_refund = h
        .post(
            &format!("/v1/payments/{id}/refunds"),
            Some("rf-all"),
            json!({}),
        )
        .await;
    assert_eq!(
        rest_refund.body["state"]["refunded"], "500",
        "{}",
        rest_refund.body
    );
    let retried = h
        .post(
            &format!("/v1/payments/{id}/refunds"),
            Some("rf-all"),
            json!({}),
        )
        .await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(retried.body["state"]["refunded"], "500");

    let events = h.get(&format!("/v1/payments/{id}/events")).await;
    let kinds: Vec<&str> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"payment.created") && kinds.contains(&"payment.succeeded"),
        "{kinds:?}"
    );

    let balances = h.get("/v1/balances?assets=USD").await;
    assert_eq!(balances.body["data"][0]["balance"]["credits_posted"], "500");
    assert_eq!(
        balances.body["data"][0]["balance"]["debits_posted"], "500",
        "the sandbox refunds at once"
    );
}

#[tokio::test]
async fn three_d_secure_declines_and_cancel() {
    let h = Harness::new().await;
    let action = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "700", "asset": "USD", "payment_method": card("4000002500003155"), "confirm": true}),
        )
        .await;
    assert_eq!(
        action.body["state"]["status"], "requires_action",
        "{}",
        action.body
    );
    assert!(action.body["next_action_url"].is_string());
    let id = action.str("id");
    let done = h
        .post(
            &format!("/v1/payments/{id}/complete_action"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(done.body["state"]["status"], "succeeded", "{}", done.body);

    let declined = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "700", "asset": "USD", "payment_method": card("4000000000000002"), "confirm": true}),
        )
        .await;
    assert_eq!(declined.body["state"]["status"], "requires_payment_method");
    assert_eq!(declined.body["last_decline"], "generic_decline");
    // One call, one try of the card: a decline is the answer, not a reason to try again.
    assert_eq!(declined.body["attempt"], 1, "{}", declined.body);
    let id = declined.str("id");
    let events = h.get(&format!("/v1/payments/{id}/events")).await;
    let failed = events.body["data"].as_array().map(|events| {
        events
            .iter()
            .filter(|event| event["kind"] == "payment.payment_failed")
            .count()
    });
    assert_eq!(failed, Some(1), "{}", events.body);
    let canceled = h
        .post(
            &format!("/v1/payments/{id}/cancel"),
            None,
            json!({"reason": "abandoned"}),
        )
        .await;
    assert_eq!(canceled.body["state"]["status"], "canceled");
    let twice = h
        .post(&format!("/v1/payments/{id}/cancel"), None, json!({}))
        .await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(twice.code(), "invalid_transition");

    let bad_card = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "700", "asset": "USD", "payment_method": card("4242424242424241"), "confirm": true}),
        )
        .await;
    assert_eq!(bad_card.code(), "invalid_card");
    let unconfirmable = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "700", "asset": "USD", "confirm": true}),
        )
        .await;
    assert_eq!(unconfirmable.code(), "invalid_transition");
    assert_eq!(h.payment_count().await, 2, "refused requests wrote nothing");
}

#[tokio::test]
async fn lists_filter_and_page() {
    let h = Harness::new().await;
    // Reading a balance never paid into opens nothing.
    let empty = h.get("/v1/balances?assets=EUR,USD").await;
    assert_eq!(
        empty.body["data"][1]["balance"]["credits_posted"], "0",
        "{}",
        empty.body
    );
    let account = empty.body["data"][0]["account"]
        .as_str()
        .unwrap()
        .to_owned();
    let unopened = h.get(&format!("/v1/ledger/accounts/{account}")).await;
    assert_eq!(unopened.code(), "account_not_found");
    let mut ids = Vec::new();
    for i in 0..5 {
        let answer = h
            .post(
                "/v1/payments",
                None,
                json!({"amount": format!("{}", 100 + i), "asset": "USD"}),
            )
            .await;
        ids.push(answer.str("id"));
    }
    let id = &ids[1];
    h.post(&format!("/v1/payments/{id}/cancel"), None, json!({}))
        .await;

    let mut seen = Vec::new();
    let mut path = "/v1/payments?limit=2".to_owned();
    loop {
        let page = h.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for p in page.body["data"].as_array().unwrap() {
            seen.push(p["id"].as_str().unwrap().to_owned());
        }
        if !page.body["has_more"].as_bool().unwrap() {
            break;
        }
        path = format!(
            "/v1/payments?limit=2&starting_after={}",
            page.str("next_cursor")
        );
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, every payment once");

    let canceled = h.get("/v1/payments?status=canceled").await;
    assert_eq!(canceled.body["data"].as_array().unwrap().len(), 1);
    let bad_status = h.get("/v1/payments?status=lost").await;
    assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_status.body["error"]["param"], "status");
    let bad_limit = h.get("/v1/payments?limit=0").await;
    assert_eq!(bad_limit.body["error"]["param"], "limit");
    let bad_cursor = h.get("/v1/payments?starting_after=nope").await;
    assert_eq!(bad_cursor.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_cursor.body["error"]["param"], "starting_after");

    let events = h.get("/v1/events?limit=3").await;
    assert_eq!(events.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(events.body["has_more"], true);
    let after = events.body["data"][2]["sequence"].as_i64().unwrap();
    let rest = h.get(&format!("/v1/events?after={after}&limit=100")).await;
    assert_eq!(
        rest.body["data"].as_array().unwrap().len(),
        3,
        "5 created + 1 canceled"
    );
}

#[tokio::test]
async fn customers_save_cards_and_pay_with_them() {
    let h = Harness::new().await;
    let customer = h
        .post(
            "/v1/customers",
            Some("cus-1"),
            json!({"email": "ann@example.com", "name": "Ann"}),
        )
        .await;
    assert_eq!(customer.status, StatusCode::CREATED, "{}", customer.body);
    let replay = h
        .post(
            "/v1/customers",
            Some("cus-1"),
            json!({"email": "ann@example.com", "name": "Ann"}),
        )
        .await;
    assert_eq!(replay.body["id"], customer.body["id"]);
    let cid = customer.str("id");
    assert_eq!(
        h.get(&format!("/v1/customers/{cid}")).await.body["email"],
        "ann@example.com"
    );
    let invalid = h
        .post("/v1/customers", None, json!({"email": "not-an-email"}))
        .await;
    assert_eq!(invalid.code(), "invalid_customer");

    let saved = h
        .post(
            &format!("/v1/customers/{cid}/payment_methods"),
            Some("pm-1"),
            json!({"payment_method": card("4242424242424242")}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    let saved_again = h
        .post(
            &format!("/v1/customers/{cid}/payment_methods"),
            Some("pm-1"),
            json!({"payment_method": card("4242424242424242")}),
        )
        .await;
    assert_eq!(
        saved_again.body["id"], saved.body["id"],
        "a retry saves nothing more"
    );
    let pm = saved.str("id");
    let methods = h.get(&format!("/v1/customers/{cid}/payment_methods")).await;
    assert_eq!(methods.body["data"].as_array().unwrap().len(), 1);

    let paid = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "900", "asset": "USD", "customer": cid, "payment_method": {"saved": pm}, "confirm": true}),
        )
        .await;
    assert_eq!(paid.body["state"]["status"], "succeeded", "{}", paid.body);
    let mine = h.get(&format!("/v1/payments?customer={cid}")).await;
    assert_eq!(mine.body["data"].as_array().unwrap().len(), 1);

    // Without the customer the saved method is not usable.
    let stranger = h
        .post(
            "/v1/payments",
            None,
            json!({"amount": "900", "asset": "USD", "payment_method": {"saved": pm}}),
        )
        .await;
    assert_eq!(stranger.code(), "payment_method_not_found");

    let detached = h
        .post(&format!("/v1/payment_methods/{pm}/detach"), None, json!({}))
        .await;
    assert_eq!(detached.body["detached"], true);
    let gone = h
        .post(&format!("/v1/payment_methods/{pm}/detach"), None, json!({}))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // Another tenant sees none of it.
    let other = MerchantId::derived("other");
    h.user(&other, "x@other.test", Scope::ALL.into()).await;
    let theirs = h.login(Some(&other), "x@other.test").await;
    let hidden = h.get_as(&format!("/v1/customers/{cid}"), &theirs).await;
    assert_eq!(hidden.code(), "customer_not_found");
    let _ = default_merchant();
}
