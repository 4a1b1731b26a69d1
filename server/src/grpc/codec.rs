//! What crosses the gRPC edge besides the generated types, both ways: engine values as JSON
//! (`Value`), the caller and the idempotency key in metadata, and engine errors inside
//! statuses, so a refusal reaches the gateway with its stable code intact.

use obol::Error;
use obol::auth::Principal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use super::proto::{Value, Values};

/// Metadata carrying the caller (`Principal` JSON).
pub const PRINCIPAL: &str = "obol-principal-bin";
/// Metadata carrying the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Metadata carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// An engine value as a `Value`.
pub fn value<T: Serialize>(value: &T) -> Result<Value, Error> {
    serde_json::to_vec(value)
        .map(|json| Value { json })
        .map_err(|e| Error::Corrupt {
            reason: format!("cannot encode a value: {e}"),
        })
}

/// Engine values as `Values`.
pub fn values<T: Serialize>(items: &[T]) -> Result<Values, Error> {
    let json = items
        .iter()
        .map(|item| value(item).map(|v| v.json))
        .collect::<Result<_, _>>()?;
    Ok(Values { json })
}

/// Reads a required `Value` field named `field`.
pub fn decode<T: DeserializeOwned>(value: Option<Value>, field: &str) -> Result<T, Error> {
    let value = value.ok_or_else(|| Error::InvalidRequest {
        reason: format!("{field} is missing"),
    })?;
    decode_json(&value.json, field)
}

/// Reads one JSON document of a `Value` or `Values`.
pub fn decode_json<T: DeserializeOwned>(json: &[u8], field: &str) -> Result<T, Error> {
    serde_json::from_slice(json).map_err(|e| Error::InvalidRequest {
        reason: format!("{field}: {e}"),
    })
}

/// Reads a request a caller sent as one JSON document: by the engine's rule for request
/// bodies ([`obol::request_body`]), so it must be an object, as over REST.
pub fn decode_request<T: DeserializeOwned>(json: &[u8], field: &str) -> Result<T, Error> {
    obol::request_body::json_object(json).map_err(|error| Error::InvalidRequest {
        reason: match error {
            obol::request_body::BodyError::NotJson => format!("{field}: not valid JSON"),
            obol::request_body::BodyError::NotAnObject => format!("{field}: not a JSON object"),
            obol::request_body::BodyError::Invalid { detail, .. } => format!("{field}: {detail}"),
        },
    })
}

/// Reads a required request `Value` field named `field` (see [`decode_request`]).
pub fn decode_request_value<T: DeserializeOwned>(
    value: Option<Value>,
    field: &str,
) -> Result<T, Error> {
    let value = value.ok_or_else(|| Error::InvalidRequest {
        reason: format!("{field} is missing"),
    })?;
    decode_request(&value.json, field)
}

/// Reads every document of a `Values`.
pub fn decode_all<T: DeserializeOwned>(values: Values, field: &str) -> Result<Vec<T>, Error> {
    values
        .json
        .iter()
        .map(|json| decode_json(json, field))
        .collect()
}

/// Puts the caller into a request's metadata.
pub fn put_principal(metadata: &mut MetadataMap, who: &Principal) -> Result<(), Error> {
    let json = serde_json::to_vec(who).map_err(|e| Error::Corrupt {
        reason: format!("cannot encode the principal: {e}"),
    })?;
    metadata.insert_bin(PRINCIPAL, MetadataValue::from_bytes(&json));
    Ok(())
}

/// The caller a request names; a request without one is unauthenticated.
pub fn principal(metadata: &MetadataMap) -> Result<Principal, Error> {
    let value = metadata.get_bin(PRINCIPAL).ok_or(Error::Unauthenticated)?;
    let bytes = value.to_bytes().map_err(|_| Error::Unauthenticated)?;
    serde_json::from_slice(&bytes).map_err(|_| Error::Unauthenticated)
}

/// Puts an ASCII value (an idempotency key, a request id) into metadata; a value metadata
/// cannot carry is refused rather than dropped.
pub fn put_text(metadata: &mut MetadataMap, name: &'static str, text: &str) -> Result<(), Error> {
    let value = text.parse().map_err(|_| Error::InvalidRequest {
        reason: format!("{name} must be printable ASCII"),
    })?;
    metadata.insert(name, value);
    Ok(())
}

/// An ASCII metadata value, if present.
pub fn text(metadata: &MetadataMap, name: &str) -> Option<String> {
    metadata
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The status an engine error travels in: the gRPC code of its class, the message, and the
/// error itself as JSON in the details.
pub fn to_status(error: &Error) -> Status {
    let code = grpc_code(error);
    if code == Code::Internal {
        tracing::error!(code = error.code(), %error, "call failed");
    }
    match serde_json::to_vec(error) {
        Ok(details) => Status::with_details(code, error.to_string(), details.into()),
        Err(_) => Status::new(code, error.to_string()),
    }
}

/// The engine error a status carries; a status from the transport itself (the service is
/// down, the call timed out) becomes a retryable `unavailable`.
pub fn from_status(status: &Status) -> Error {
    if let Ok(error) = serde_json::from_slice::<Error>(status.details()) {
        return error;
    }
    match status.code() {
        Code::Unauthenticated => Error::Unauthenticated,
        Code::PermissionDenied => Error::Forbidden {
            reason: status.message().to_owned(),
        },
        code => Error::Unavailable {
            reason: format!("service call failed ({code:?}): {}", status.message()),
        },
    }
}

fn grpc_code(error: &Error) -> Code {
    use axum::http::StatusCode;
    match crate::rest::error::status_of(error) {
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::CONFLICT => Code::Aborted,
        StatusCode::PAYMENT_REQUIRED | StatusCode::UNPROCESSABLE_ENTITY => Code::FailedPrecondition,
        StatusCode::TOO_MANY_REQUESTS => Code::ResourceExhausted,
        StatusCode::GATEWAY_TIMEOUT => Code::DeadlineExceeded,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        StatusCode::INTERNAL_SERVER_ERROR => Code::Internal,
        _ => Code::InvalidArgument,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obol::MerchantId;

    #[test]
    fn engine_errors_survive_a_status() {
        let errors = [
            Error::InsufficientFunds {
                account: "acct_1".into(),
            },
            Error::IdempotencyConflict { id: "k".into() },
            Error::Unauthenticated,
            Error::TooManyAttempts {
                retry_after_seconds: 7,
            },
            Error::CardDeclined {
                decline_code: "generic_decline".into(),
            },
        ];
        for error in errors {
            let status = to_status(&error);
            assert_eq!(from_status(&status), error);
        }
        assert_eq!(
            to_status(&Error::PaymentNotFound { id: "p".into() }).code(),
            Code::NotFound
        );
    }

    #[test]
    fn transport_failures_are_retryable() {
        let error = from_status(&Status::unavailable("connection refused"));
        assert_eq!(error.code(), "unavailable");
        assert!(error.is_retryable());
    }

    #[test]
    fn the_principal_travels_in_metadata() {
        let who = Principal {
            actor: obol::auth::Actor::ApiKey {
                key: obol::ApiKeyId::derived("test key"),
            },
            merchant: MerchantId::derived("test merchant"),
            scopes: obol::auth::Scope::ALL.into_iter().collect(),
            mode: obol::Mode::Live,
        };
        let mut metadata = MetadataMap::new();
        assert_eq!(principal(&metadata), Err(Error::Unauthenticated));
        put_principal(&mut metadata, &who).unwrap();
        assert_eq!(principal(&metadata).unwrap(), who);
    }
}
