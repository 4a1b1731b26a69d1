//! One error shape for every answer that is not a success:
//! `{"error": {"code", "message", "param"}}`, with the status the code implies. Engine errors
//! are mapped here once; internal details are logged, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use obol::{Error, ErrorClass};
use serde::Serialize;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable machine code (`insufficient_funds`).
    pub code: String,
    /// A human-readable explanation (no secrets).
    pub message: String,
    /// The request field at fault, when known.
    pub param: Option<String>,
    /// Seconds to wait before retrying (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    param: Option<&'a str>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    /// A malformed request (400).
    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Names the field at fault.
    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    /// Asks the client to wait.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

/// The status an engine error answers with.
pub fn status_of(error: &Error) -> StatusCode {
    match error.class() {
        ErrorClass::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
        ErrorClass::Declined => StatusCode::PAYMENT_REQUIRED,
        ErrorClass::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorClass::Conflict => StatusCode::CONFLICT,
        ErrorClass::Rejected => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorClass::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Invalid => StatusCode::BAD_REQUEST,
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let status = status_of(&error);
        let message = if status.is_server_error() {
            tracing::error!(code = error.code(), %error, "request failed");
            match status {
                StatusCode::INTERNAL_SERVER_ERROR => "internal error".to_owned(),
                _ => error.to_string(),
            }
        } else {
            error.to_string()
        };
        let retry_after = match &error {
            Error::TooManyAttempts {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            e if e.is_retryable() => Some(1),
            _ => None,
        };
        ApiError {
            status,
            code: error.code().to_owned(),
            message,
            param: None,
            retry_after,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope {
            error: Body {
                code: &self.code,
                message: &self.message,
                param: self.param.as_deref(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_codes_map_to_statuses() {
        let cases = [
            (Error::Unauthenticated, 401),
            (Error::PaymentNotFound { id: "p".into() }, 404),
            (
                Error::InvalidId {
                    input: "x".into(),
                    reason: "prefix".into(),
                },
                400,
            ),
            // Well formed, refused by a rule no schema states.
            (Error::InvalidCursor, 422),
            (
                Error::Unbalanced {
                    asset: "USD".into(),
                    debits: "1".into(),
                    credits: "2".into(),
                },
                422,
            ),
            (
                Error::InvalidCard {
                    reason: "check digit".into(),
                },
                402,
            ),
            (
                Error::WebhookSignatureInvalid {
                    reason: "no match".into(),
                },
                401,
            ),
            (Error::IdempotencyConflict { id: "k".into() }, 409),
            (
                Error::TooManyAttempts {
                    retry_after_seconds: 7,
                },
                429,
            ),
            (Error::ShutDown, 503),
            (Error::corrupt("secret detail"), 500),
        ];
        for (error, status) in cases {
            assert_eq!(status_of(&error).as_u16(), status, "{error}");
        }
        let hidden = ApiError::from(Error::corrupt("secret detail"));
        assert_eq!(hidden.message, "internal error");
        let wait = ApiError::from(Error::TooManyAttempts {
            retry_after_seconds: 7,
        });
        assert_eq!(wait.retry_after, Some(7));
    }
}
