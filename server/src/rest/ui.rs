//! The web console (`ui/` at the repository root, shared with the desktop app), built into
//! the binary so it serves from anywhere: `/` and `/ui/{file}`.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Every file of the console: name, content type, content.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../../ui/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/api.js"),
    ),
    (
        "transport.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/transport.js"),
    ),
    (
        "money.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../ui/money.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../../ui/style.css"),
    ),
];

/// Scripts, styles and calls only from this origin: injected markup could not run.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => {
            let mut response = (StatusCode::OK, *body).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(POLICY),
            );
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        None => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file").into_response(),
    }
}

/// The console's page.
pub async fn index() -> Response {
    file("index.html")
}

/// One of the console's files.
pub async fn asset(Path(name): Path<String>) -> Response {
    file(&name)
}
