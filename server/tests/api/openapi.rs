use axum::http::{Method, StatusCode};
use obol_server::rest::openapi::document;
use serde_json::Value;
use serde_json::json;

use crate::harness::Harness;

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

#[test]
fn the_committed_document_is_current() {
    let generated = serde_json::to_string_pretty(&document()).unwrap() + "\n";
    if std::env::var_os("OBOL_WRITE_OPENAPI").is_some() {
        std::fs::write(committed_path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "server/openapi.json is stale: run OBOL_WRITE_OPENAPI=1 cargo test -p obol-server --test api openapi"
    );
}

/// Every `$ref` in `value`.
fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => found.push(target.clone()),
                    _ => refs(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_and_amounts_are_strings() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50);
    for target in found {
        let pointer = target.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
    let schemas = &doc["components"]["schemas"];
    // Every amount is one schema: a decimal string of minor units.
    let amount = json!("#/components/schemas/MinorUnits");
    assert_eq!(
        schemas["PaymentState"]["properties"]["amount"]["$ref"],
        amount
    );
    assert_eq!(
        schemas["Balance"]["properties"]["credits_posted"]["$ref"],
        amount
    );
    assert_eq!(schemas["MinorUnits"]["type"], "string");
    assert_eq!(
        schemas["MinorUnits"]["pattern"],
        obol::money::AMOUNT_PATTERN
    );
    assert_eq!(schemas["PaymentId"]["type"], "string");
    let create = &doc["paths"]["/v1/payments"]["post"];
    assert!(
        create["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["$ref"] == "#/components/parameters/IdempotencyKey")
    );
    let key = &doc["components"]["parameters"]["IdempotencyKey"];
    assert_eq!(key["schema"]["maxLength"], 255);
    // Path and query parameters are typed: ids by their prefix, pages by their bounds.
    let get = &doc["paths"]["/v1/payments/{id}"]["get"]["parameters"][0];
    assert_eq!(get["schema"]["$ref"], "#/components/schemas/PaymentId");
    let list = doc["paths"]["/v1/payments"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let limit = list.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["schema"]["maximum"], 100);
    assert_eq!(create["security"][0]["bearer"], Value::Array(vec![]));
}

#[test]
fn creations_link_to_what_acts_on_them() {
    let doc = document();
    let operation_ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|operations| operations.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let links = &doc["paths"]["/v1/payments"]["post"]["responses"]["201"]["links"];
    let confirm = &links["post_v1_payments__id__confirm"];
    assert_eq!(confirm["parameters"]["path.id"], "$response.body#/id");
    let methods = &doc["paths"]["/v1/customers/{id}/payment_methods"]["post"]["responses"];
    let detach = methods
        .as_object()
        .unwrap()
        .values()
        .find_map(|response| response["links"].get("post_v1_payment_methods__id__detach"));
    assert!(detach.is_some(), "a saved card links to its detach");
    // Every link names an operation that exists, and never a different kind of id.
    for operations in doc["paths"].as_object().unwrap().values() {
        for operation in operations.as_object().unwrap().values() {
            for response in operation["responses"].as_object().unwrap().values() {
                for link in response["links"]
                    .as_object()
                    .into_iter()
                    .flat_map(|l| l.values())
                {
                    let target = link["operationId"].as_str().unwrap();
                    assert!(operation_ids.contains(&target), "{target}");
                }
            }
        }
    }
    assert!(
        links.get("get_v1_customers__id_").is_none(),
        "a payment id never feeds a customer path"
    );
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_served() {
    let h = Harness::new().await;
    let served = h.send(Method::GET, "/openapi.json", None, None, None).await;
    assert_eq!(served.body, document());
    let doc = document();
    let mut count = 0;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "x").replace("{provider}", "sandbox");
            let method: Method = method.to_uppercase().parse().unwrap();
            let body = (method == Method::POST).then(|| serde_json::json!({}));
            let answer = h
                .send(method.clone(), &concrete, Some(&h.token), None, body)
                .await;
            assert!(
                !(answer.status == StatusCode::NOT_FOUND && answer.code() == "not_found")
                    && answer.status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed"
            );
            count += 1;
        }
    }
    assert_eq!(count, 46, "every route of the table");
}
