//! The OpenAPI 3.1 document, made from the API table ([`super::api`]) and the JSON Schemas
//! the types derive; served at `/openapi.json` and kept in the repository
//! (`server/openapi.json`, checked by a test).

use std::sync::OnceLock;

use axum::Json;
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::api::{Operation, operations};

/// The error answer, as documented.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    /// The stable machine code (`insufficient_funds`, `idempotency_conflict`, …).
    code: String,
    /// A human-readable explanation.
    message: String,
    /// The request field at fault, when known.
    param: Option<String>,
}

/// The document.
pub fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut generator: SchemaGenerator = settings.into_generator();
    let error = generator.subschema_for::<ErrorBody>();
    let mut paths = Map::new();
    for operation in operations(&mut generator) {
        let entry = paths
            .entry(operation.path.to_owned())
            .or_insert_with(|| json!({}));
        if let Some(entry) = entry.as_object_mut() {
            entry.insert(operation.method.to_owned(), describe(&operation));
        }
    }
    let schemas = generator.take_definitions(true);
    link_creations(&mut paths, &schemas);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Obol",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Obol's REST API. Amounts are strings of minor units; every POST takes an \
                Idempotency-Key header; errors are {\"error\": {\"code\", \"message\", \"param\"}}.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An access token (JWT) from /v1/auth/login, or an API key (obol_sk_…).",
                },
            },
            "parameters": {
                "IdempotencyKey": idempotency_key(),
            },
            "responses": {
                "Error": {
                    "description": "Refused: the code says why.",
                    "content": {"application/json": {"schema": error}},
                },
            },
        },
    })
}

/// The `Idempotency-Key` header every POST takes, as the server checks it.
fn idempotency_key() -> Value {
    json!({
        "name": "Idempotency-Key", "in": "header", "required": false,
        "description": "1–255 printable ASCII characters: a retry with the same key answers the same.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]{1,255}$"},
    })
}

/// The query parameters of an operation: one per property of its parameters' object schema.
fn query_parameters(query: &Schema) -> Vec<Value> {
    let object = query.as_value();
    let required: Vec<&str> = object["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = object["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, schema)| {
            let mut schema = schema.clone();
            let description = schema
                .as_object_mut()
                .and_then(|fields| fields.remove("description"))
                .unwrap_or(Value::Null);
            json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "description": description,
                "schema": schema,
            })
        })
        .collect()
}

/// Adds OpenAPI links from each POST whose answer has an `id` to every operation whose path
/// parameter is that kind of id, so clients and contract testers (Schemathesis's stateful
/// phase) can follow a creation to what acts on it.
fn link_creations(paths: &mut Map<String, Value>, schemas: &Map<String, Value>) {
    let component = |reference: &Value| {
        let name = reference.as_str()?.strip_prefix("#/components/schemas/")?;
        schemas.get(name)
    };
    // (operation id, path parameter name, the parameter's schema reference)
    let mut consumers = Vec::new();
    for operations in paths.values() {
        for operation in operations.as_object().into_iter().flat_map(Map::values) {
            let in_path = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|parameter| parameter["in"] == "path");
            if let (Some(parameter), Some(id)) = (in_path, operation["operationId"].as_str()) {
                consumers.push((
                    id.to_owned(),
                    parameter["name"].clone(),
                    parameter["schema"]["$ref"].clone(),
                ));
            }
        }
    }
    for operations in paths.values_mut() {
        let Some(creation) = operations.get_mut("post") else {
            continue;
        };
        let Some(responses) = creation["responses"].as_object_mut() else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            if !status.starts_with('2') {
                continue;
            }
            let answer = &response["content"]["application/json"]["schema"]["$ref"];
            let Some(made) = component(answer).map(|schema| &schema["properties"]["id"]["$ref"])
            else {
                continue;
            };
            let links: Map<String, Value> = consumers
                .iter()
                .filter(|(_, _, takes)| takes.is_string() && takes == made)
                .filter_map(|(operation, name, _)| {
                    let name = name.as_str()?;
                    Some((
                        operation.clone(),
                        json!({
                            "operationId": operation,
                            "parameters": {format!("path.{name}"): "$response.body#/id"},
                        }),
                    ))
                })
                .collect();
            if !links.is_empty() {
                response["links"] = Value::Object(links);
            }
        }
    }
}

fn describe(operation: &Operation) -> Value {
    let mut parameters: Vec<Value> = operation
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let schema = operation
                .path_param
                .as_ref()
                .map_or_else(|| json!({"type": "string"}), |s| s.as_value().clone());
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    if let Some(query) = &operation.query {
        parameters.extend(query_parameters(query));
    }
    if operation.method == "post" {
        parameters.push(json!({"$ref": "#/components/parameters/IdempotencyKey"}));
    }
    let success = match &operation.response {
        Some(schema) => {
            json!({"description": "Success.", "content": {"application/json": {"schema": schema}}})
        }
        None => json!({"description": "Success, no body."}),
    };
    let mut described = json!({
        "tags": [operation.tag],
        "summary": operation.summary,
        "operationId": format!("{}_{}", operation.method, operation.path.trim_start_matches('/').replace(['/', '{', '}', '.'], "_")),
        "parameters": parameters,
        "responses": {
            operation.status.to_string(): success,
            "default": {"$ref": "#/components/responses/Error"},
        },
    });
    if let Some(schema) = &operation.request {
        described["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    if operation.auth {
        described["security"] = json!([{"bearer": []}]);
    }
    described
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<Value> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    Json(DOCUMENT.get_or_init(document).clone())
}
