//! A stateful local fake of PayPal's REST API, because no PayPal sandbox is reachable from the
//! machines Obol is tested on. It serves PayPal's documented paths with PayPal's answer shapes
//! and error names, and keeps what a real account keeps:
//!
//! - `POST /v1/oauth2/token` (client credentials over HTTP Basic; tokens expire and can be
//!   revoked), and a bearer token required everywhere else (`401 invalid_token`);
//! - Orders v2: create (`CAPTURE`/`AUTHORIZE`; `PAYER_ACTION_REQUIRED` with a `payer-action`
//!   link when a PayPal payment source with an experience context is sent, else `CREATED`
//!   with an `approve` link), read, capture, authorize;
//! - the payer's approval page (`GET /checkoutnow?token=…`), which approves the order as the
//!   configured [`Payer`] and redirects to the order's `return_url`;
//! - Payments v2: authorization capture (partial, `final_capture`) and void, capture read and
//!   refund (partial, several), refund read;
//! - `POST /v1/notifications/verify-webhook-signature`, which answers `SUCCESS` only for a
//!   delivery this fake signed, with the same bytes and webhook id;
//! - `PayPal-Request-Id`: a POST sent again under the same id is answered with the first 2xx
//!   answer and changes nothing, for as long as PayPal keeps ids (6 hours by default; a test
//!   can shorten it);
//! - captures may be left `PENDING` (and completed later), and an authorization may be
//!   captured up to 115% of its amount, as PayPal allows;
//! - injected faults: an error status before any effect (500, 429, 503…), a call that never
//!   answers, or one that takes effect and then never answers.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use obol_core::clock::Timestamp;
use obol_core::money::{Asset, ISO_4217};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::PayPalConfig;

/// The fake's REST app credentials and webhook id.
pub const CLIENT_ID: &str = "AfakeClientId-obol";
pub const CLIENT_SECRET: &str = "EfakeClientSecret-obol";
pub const WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";
/// The certificate URL the fake's deliveries name.
const CERT_PATH: &str = "v1/notifications/certs/CERT-360caa42-fc2c04e5-5e4bc1a2";
/// The key the fake signs deliveries with (PayPal uses a certificate; the fake an HMAC).
const SIGNING_KEY: &[u8] = b"fake-paypal-webhook-signing-key";

/// How the payer who approves the next orders pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payer {
    /// Their funding is good.
    Approves,
    /// Their funding is refused when the order is captured or authorized.
    Declines,
}

/// A failure to inject into the next matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeFault {
    /// Answered with this status and PayPal's error body; nothing takes effect.
    Status(u16),
    /// Never answered; nothing takes effect.
    Hang,
    /// Takes effect, then never answered.
    HangAfterEffect,
}

type Reply = (StatusCode, Value);

#[derive(Debug, Clone)]
struct Order {
    id: String,
    intent: String,
    status: String,
    currency: Asset,
    amount: i128,
    custom_id: Option<String>,
    return_url: Option<String>,
    payer_action: bool,
    payer: Option<Payer>,
    authorization: Option<String>,
    captures: Vec<String>,
}

#[derive(Debug, Clone)]
struct Authorization {
    id: String,
    order: String,
    amount: i128,
    captured: i128,
    status: String,
}

#[derive(Debug, Clone)]
struct Capture {
    id: String,
    order: String,
    authorization: Option<String>,
    amount: i128,
    refunded: i128,
    status: String,
    final_capture: bool,
    refunds: Vec<String>,
}

#[derive(Debug, Clone)]
struct Refund {
    id: String,
    capture: String,
    amount: i128,
    status: String,
    custom_id: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    base: String,
    seq: u64,
    token_lifetime: u64,
    tokens: HashMap<String, Instant>,
    token_requests: usize,
    payer: Option<Payer>,
    orders: BTreeMap<String, Order>,
    authorizations: HashMap<String, Authorization>,
    captures: HashMap<String, Capture>,
    refunds: HashMap<String, Refund>,
    replies: HashMap<(String, String), (Instant, Reply)>,
    retention: Duration,
    captures_pending: bool,
    faults: Vec<(Method, String, FakeFault)>,
    requests: Vec<(Method, String)>,
}

/// A running fake PayPal on a free 127.0.0.1 port; stopped when dropped.
#[derive(Debug)]
pub struct FakePayPal {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for FakePayPal {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakePayPal {
    /// Starts a fake on a free 127.0.0.1 port of the current tokio runtime.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts a fake listening on `addr`.
    pub async fn start_on(addr: &str) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            base: format!("http://{addr}/"),
            token_lifetime: 32_400,
            retention: Duration::from_secs(6 * 3600),
            payer: Some(Payer::Approves),
            ..State::default()
        }));
        let router = Router::new().fallback(handle).with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        FakePayPal { addr, state, task }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// A test-mode configuration of the rail against this fake: short timeout and backoff.
    pub fn config(&self) -> PayPalConfig {
        PayPalConfig::new(
            CLIENT_ID,
            CLIENT_SECRET,
            WEBHOOK_ID,
            "https://shop.example/paypal/return",
            obol_core::mode::Mode::Test,
        )
        .unwrap()
        .with_api_base(&self.base_url())
        .unwrap()
        .with_timeout(Duration::from_secs(2))
        .with_backoff(crate::Backoff {
            retries: 3,
            first: Duration::from_millis(10),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// How the payers of the next approvals pay.
    pub fn set_payer(&self, payer: Payer) {
        self.with(|s| s.payer = Some(payer));
    }

    /// Seconds a new access token lives.
    pub fn set_token_lifetime(&self, seconds: u64) {
        self.with(|s| s.token_lifetime = seconds);
    }

    /// How long a `PayPal-Request-Id` is remembered.
    pub fn set_request_id_retention(&self, retention: Duration) {
        self.with(|s| s.retention = retention);
    }

    /// Leaves new captures `PENDING` (true) or completes them at once (false, the default).
    pub fn set_captures_pending(&self, pending: bool) {
        self.with(|s| s.captures_pending = pending);
    }

    /// Completes every pending capture, as PayPal does once the funds clear.
    pub fn complete_pending_captures(&self) {
        self.with(|s| {
            for capture in s.captures.values_mut() {
                if capture.status == "PENDING" {
                    capture.status = "COMPLETED".into();
                }
            }
        });
    }

    /// Captures `amount` of `order`'s authorization as a call Obol never heard the answer of.
    pub fn capture_out_of_band(&self, order: &str, amount: i128, final_capture: bool) {
        self.with(|s| {
            let authorization = s.orders[order].authorization.clone().unwrap();
            let currency = s.orders[order].currency.clone();
            let body = json!({"amount": money(amount, &currency), "final_capture": final_capture});
            let (status, _) = s.capture_authorization(&authorization, &body);
            assert!(status.is_success());
        });
    }

    /// Refunds `amount` of `capture` outside Obol (from PayPal's dashboard).
    pub fn refund_out_of_band(&self, capture: &str, amount: i128) {
        self.with(|s| {
            let currency = s.orders[&s.captures[capture].order].currency.clone();
            let (status, _) = s.refund(capture, &json!({"amount": money(amount, &currency)}));
            assert!(status.is_success());
        });
    }

    /// Makes every token issued so far invalid.
    pub fn revoke_tokens(&self) {
        self.with(|s| s.tokens.clear());
    }

    /// How many tokens were asked for.
    pub fn token_requests(&self) -> usize {
        self.with(|s| s.token_requests)
    }

    /// Fails the next `method` call to `path` (a trailing `*` matches a prefix).
    pub fn inject(&self, method: Method, path: &str, fault: FakeFault) {
        self.with(|s| s.faults.push((method, path.to_owned(), fault)));
    }

    /// How many `method` calls reached `path` (a trailing `*` matches a prefix), retries
    /// included.
    pub fn calls(&self, method: Method, path: &str) -> usize {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|(m, p)| *m == method && matches_path(path, p))
                .count()
        })
    }

    /// Minor units (captured, refunded) on `order`.
    pub fn totals(&self, order: &str) -> (i128, i128) {
        self.with(|s| {
            let Some(order) = s.orders.get(order) else {
                return (0, 0);
            };
            order
                .captures
                .iter()
                .filter_map(|id| s.captures.get(id))
                .fold((0, 0), |(captured, refunded), c| {
                    (captured + c.amount, refunded + c.refunded)
                })
        })
    }

    /// Orders made for `custom_id` (Obol's payment id) that moved money.
    pub fn charges_for(&self, custom_id: &str) -> usize {
        self.with(|s| {
            s.orders
                .values()
                .filter(|o| o.custom_id.as_deref() == Some(custom_id))
                .filter(|o| o.authorization.is_some() || !o.captures.is_empty())
                .count()
        })
    }

    /// Orders made for `custom_id`, whatever their state.
    pub fn orders_for(&self, custom_id: &str) -> usize {
        self.with(|s| {
            s.orders
                .values()
                .filter(|o| o.custom_id.as_deref() == Some(custom_id))
                .count()
        })
    }

    /// The captures of `order`, oldest first.
    pub fn captures_of(&self, order: &str) -> Vec<String> {
        self.with(|s| {
            s.orders
                .get(order)
                .map(|o| o.captures.clone())
                .unwrap_or_default()
        })
    }

    /// The first capture of `order`.
    pub fn first_capture(&self, order: &str) -> Option<String> {
        self.with(|s| s.orders.get(order)?.captures.first().cloned())
    }

    /// A `CUSTOMER.DISPUTE.CREATED` event for `amount` minor units of `capture`.
    pub fn dispute_created(&self, event_id: &str, capture: &str, amount: i128) -> Value {
        self.with(|s| {
            let c = &s.captures[capture];
            let currency = &s.orders[&c.order].currency;
            json!({
                "id": event_id,
                "event_version": "1.0",
                "resource_type": "dispute",
                "event_type": "CUSTOMER.DISPUTE.CREATED",
                "summary": "A new dispute opened with Case # PP-D-27803",
                "resource": {
                    "dispute_id": format!("PP-D-{}", &capture[1..]),
                    "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
                    "status": "OPEN",
                    "dispute_amount": money(amount, currency),
                    "disputed_transactions": [{"seller_transaction_id": capture}],
                },
            })
        })
    }

    /// A delivery of `event` as PayPal would send it at `now`: the transmission headers
    /// (signed by this fake) and the body.
    pub fn signed_delivery(
        &self,
        event: &Value,
        now: Timestamp,
    ) -> (Vec<(String, String)>, Vec<u8>) {
        let body = serde_json::to_vec(event).unwrap();
        let seconds = now.as_micros().div_euclid(1_000_000);
        let time = time::OffsetDateTime::from_unix_timestamp(seconds)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let (transmission, base) = self.with(|s| {
            s.seq += 1;
            (format!("{:08x}-fake-{}", s.seq, s.seq), s.base.clone())
        });
        let signature = sign(&transmission, &time, WEBHOOK_ID, &body);
        let headers = vec![
            ("PAYPAL-TRANSMISSION-ID".into(), transmission),
            ("PAYPAL-TRANSMISSION-TIME".into(), time),
            ("PAYPAL-TRANSMISSION-SIG".into(), signature),
            ("PAYPAL-CERT-URL".into(), format!("{base}{CERT_PATH}")),
            ("PAYPAL-AUTH-ALGO".into(), "SHA256withRSA".into()),
        ];
        (headers, body)
    }
}

/// The fake's signature: PayPal signs `id|time|webhook_id|crc32(body)` with its certificate's
/// key; the fake with an HMAC.
fn sign(transmission: &str, time: &str, webhook_id: &str, body: &[u8]) -> String {
    let message = format!(
        "{transmission}|{time}|{webhook_id}|{}",
        crc32fast::hash(body)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_KEY).unwrap();
    mac.update(message.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn matches_path(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == pattern,
    }
}

fn money(minor: i128, currency: &Asset) -> Value {
    json!({"currency_code": currency.code.as_str(), "value": currency.format_amount(minor)})
}

/// PayPal's error body.
fn problem(status: StatusCode, issue: &str, description: &str) -> Reply {
    let (name, message) = match status.as_u16() {
        400 => (
            "INVALID_REQUEST",
            "Request is not well-formed, syntactically incorrect, or violates schema.",
        ),
        403 => (
            "NOT_AUTHORIZED",
            "Authorization failed due to insufficient permissions.",
        ),
        404 => (
            "RESOURCE_NOT_FOUND",
            "The specified resource does not exist.",
        ),
        422 => (
            "UNPROCESSABLE_ENTITY",
            "The requested action could not be performed, semantically incorrect, or failed business validation.",
        ),
        429 => (
            "RATE_LIMIT_REACHED",
            "Too many requests. Blocked due to rate limiting.",
        ),
        503 => ("SERVICE_UNAVAILABLE", "Service Unavailable."),
        _ => (
            "INTERNAL_SERVER_ERROR",
            "An internal server error occurred.",
        ),
    };
    (
        status,
        json!({
            "name": name,
            "message": message,
            "debug_id": "f1a2b3c4d5e6f",
            "details": [{"issue": issue, "description": description}],
            "links": [{
                "href": format!("https://developer.paypal.com/docs/api/orders/v2/#error-{issue}"),
                "rel": "information_link",
                "method": "GET",
            }],
        }),
    )
}

fn unprocessable(issue: &str, description: &str) -> Reply {
    problem(StatusCode::UNPROCESSABLE_ENTITY, issue, description)
}

fn not_found() -> Reply {
    problem(
        StatusCode::NOT_FOUND,
        "INVALID_RESOURCE_ID",
        "Specified resource ID does not exist. Please check the resource ID and try again.",
    )
}

fn invalid(issue: &str, description: &str) -> Reply {
    problem(StatusCode::BAD_REQUEST, issue, description)
}

fn reply(reply: Reply) -> Response {
    (reply.0, axum::Json(reply.1)).into_response()
}

async fn handle(
    Shared(state): Shared<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let fault = {
        let mut s = state.lock().unwrap();
        s.requests.push((method.clone(), path.clone()));
        let found = s
            .faults
            .iter()
            .position(|(m, p, _)| *m == method && matches_path(p, &path));
        found.map(|at| s.faults.remove(at).2)
    };
    match fault {
        Some(FakeFault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap();
            let mut response = reply(problem(status, "INJECTED", "A fault the test injected."));
            if code == 429 {
                response
                    .headers_mut()
                    .insert("retry-after", axum::http::HeaderValue::from_static("0"));
            }
            return response;
        }
        Some(FakeFault::Hang) => std::future::pending::<()>().await,
        _ => {}
    }
    let answer = {
        let mut s = state.lock().unwrap();
        s.route(&method, &path, uri.query().unwrap_or(""), &headers, &body)
    };
    if fault == Some(FakeFault::HangAfterEffect) {
        std::future::pending::<()>().await;
    }
    answer
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl State {
    fn next_id(&mut self, prefix: char) -> String {
        self.seq += 1;
        format!("{prefix}{:016}", self.seq)
    }

    fn route(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        raw: &[u8],
    ) -> Response {
        if *method == Method::POST && path == "/v1/oauth2/token" {
            return self.token(headers, raw);
        }
        if *method == Method::GET && path == "/checkoutnow" {
            return self.approve(query);
        }
        let bearer = header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer "));
        let valid = bearer
            .and_then(|token| self.tokens.get(token))
            .is_some_and(|expiry| Instant::now() < *expiry);
        if !valid {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({
                    "error": "invalid_token",
                    "error_description": "Token signature verification failed",
                })),
            )
                .into_response();
        }
        let request_id = header(headers, "paypal-request-id").map(str::to_owned);
        let retention = self.retention;
        self.replies.retain(|_, (at, _)| at.elapsed() < retention);
        if *method == Method::POST
            && let Some(id) = &request_id
            && let Some((_, earlier)) = self.replies.get(&(path.to_owned(), id.clone()))
        {
            return reply(earlier.clone());
        }
        let body: Value = if raw.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(raw) {
                Ok(value) => value,
                Err(_) => {
                    return reply(invalid(
                        "MALFORMED_REQUEST_JSON",
                        "The request JSON is not well formed.",
                    ));
                }
            }
        };
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let answer = match (method.as_str(), parts.as_slice()) {
            ("POST", ["v2", "checkout", "orders"]) => self.create_order(&body),
            ("GET", ["v2", "checkout", "orders", id]) => self.show_order(id),
            ("POST", ["v2", "checkout", "orders", id, "capture"]) => self.complete(id, "CAPTURE"),
            ("POST", ["v2", "checkout", "orders", id, "authorize"]) => {
                self.complete(id, "AUTHORIZE")
            }
            ("GET", ["v2", "payments", "authorizations", id]) => match self.authorizations.get(*id)
            {
                Some(a) => (StatusCode::OK, self.authorization_json(a)),
                None => not_found(),
            },
            ("POST", ["v2", "payments", "authorizations", id, "capture"]) => {
                self.capture_authorization(id, &body)
            }
            ("POST", ["v2", "payments", "authorizations", id, "void"]) => {
                let prefer = header(headers, "prefer") == Some("return=representation");
                self.void(id, prefer)
            }
            ("GET", ["v2", "payments", "captures", id]) => match self.captures.get(*id) {
                Some(c) => (StatusCode::OK, self.capture_json(c)),
                None => not_found(),
            },
            ("POST", ["v2", "payments", "captures", id, "refund"]) => self.refund(id, &body),
            ("GET", ["v2", "payments", "refunds", id]) => match self.refunds.get(*id) {
                Some(r) => (StatusCode::OK, self.refund_json(r)),
                None => not_found(),
            },
            ("POST", ["v1", "notifications", "verify-webhook-signature"]) => self.verify(raw),
            _ => not_found(),
        };
        // PayPal-Request-Id: the first successful answer is the answer to every repeat.
        if *method == Method::POST
            && answer.0.is_success()
            && let Some(id) = request_id
        {
            self.replies
                .insert((path.to_owned(), id), (Instant::now(), answer.clone()));
        }
        if answer.0 == StatusCode::NO_CONTENT {
            return StatusCode::NO_CONTENT.into_response();
        }
        reply(answer)
    }

    fn token(&mut self, headers: &HeaderMap, body: &[u8]) -> Response {
        let expected = base64::engine::general_purpose::STANDARD
            .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
        let basic = header(headers, "authorization").and_then(|v| v.strip_prefix("Basic "));
        if basic != Some(expected.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({
                    "error": "invalid_client",
                    "error_description": "Client Authentication failed",
                })),
            )
                .into_response();
        }
        if body != b"grant_type=client_credentials" {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({
                    "error": "unsupported_grant_type",
                    "error_description": "Grant Type is NULL",
                })),
            )
                .into_response();
        }
        self.token_requests += 1;
        let token = format!("A21AAFAKE{}", &self.next_id('T')[1..]);
        let lifetime = self.token_lifetime;
        self.tokens.insert(
            token.clone(),
            Instant::now() + Duration::from_secs(lifetime),
        );
        axum::Json(json!({
            "scope": "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": lifetime,
            "nonce": "2026-11-30T00:00:00Zfake",
        }))
        .into_response()
    }

    /// The payer at PayPal's approval page.
    fn approve(&mut self, query: &str) -> Response {
        let id = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .unwrap_or_default()
            .to_owned();
        let payer = self.payer;
        let Some(order) = self.orders.get_mut(&id) else {
            return (StatusCode::NOT_FOUND, "no such checkout").into_response();
        };
        if !matches!(order.status.as_str(), "CREATED" | "PAYER_ACTION_REQUIRED") {
            return (StatusCode::CONFLICT, "this checkout is over").into_response();
        }
        order.status = "APPROVED".into();
        order.payer = payer;
        match order.return_url.as_deref().map(url::Url::parse) {
            Some(Ok(mut back)) => {
                back.query_pairs_mut()
                    .append_pair("token", &id)
                    .append_pair("PayerID", "FAKEPAYER42");
                (StatusCode::FOUND, [("location", back.to_string())]).into_response()
            }
            Some(Err(_)) => (StatusCode::BAD_REQUEST, "bad return_url").into_response(),
            None => (StatusCode::OK, "approved").into_response(),
        }
    }

    fn currency(code: &str) -> Option<Asset> {
        let digits = ISO_4217.iter().find(|(iso, _)| *iso == code)?.1;
        Asset::new(code, digits).ok()
    }

    /// Reads `{"currency_code", "value"}`: PayPal refuses other decimals and non-positive sums.
    fn amount(value: &Value, currency: Option<&Asset>) -> Result<(Asset, i128), Reply> {
        let code = value["currency_code"].as_str().unwrap_or_default();
        let text = value["value"].as_str().unwrap_or_default();
        let asset = Self::currency(code).ok_or_else(|| {
            unprocessable("CURRENCY_NOT_SUPPORTED", "Currency code is not supported.")
        })?;
        if currency.is_some_and(|c| c.code != asset.code) {
            return Err(unprocessable(
                "CURRENCY_MISMATCH",
                "The currency code does not match the original transaction.",
            ));
        }
        let read = crate::api::Amount {
            currency_code: code.to_owned(),
            value: text.to_owned(),
        };
        let minor = read.minor_units(&asset).map_err(|_| {
            invalid(
                "DECIMAL_PRECISION",
                "The value field has too many decimals.",
            )
        })?;
        if minor <= 0 {
            return Err(unprocessable(
                "CANNOT_BE_ZERO_OR_NEGATIVE",
                "Must be greater than zero.",
            ));
        }
        Ok((asset, minor))
    }

    /// The part of `remaining` a capture or refund asks for: all of it when no amount is
    /// given, else the amount, refused with `too_much` above what remains.
    fn part(
        amount: &Value,
        currency: &Asset,
        remaining: i128,
        too_much: (&str, &str),
    ) -> Result<i128, Reply> {
        if amount.is_null() {
            return Ok(remaining);
        }
        let (_, amount) = Self::amount(amount, Some(currency))?;
        if amount > remaining {
            return Err(unprocessable(too_much.0, too_much.1));
        }
        Ok(amount)
    }

    fn create_order(&mut self, body: &Value) -> Reply {
        let intent = body["intent"].as_str().unwrap_or_default();
        if !matches!(intent, "CAPTURE" | "AUTHORIZE") {
            return invalid(
                "INVALID_PARAMETER_VALUE",
                "intent must be CAPTURE or AUTHORIZE.",
            );
        }
        let units = body["purchase_units"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if units.len() != 1 {
            return invalid(
                "INVALID_ARRAY_MAX_ITEMS",
                "The fake takes exactly one purchase unit.",
            );
        }
        let (currency, amount) = match Self::amount(&units[0]["amount"], None) {
            Ok(found) => found,
            Err(problem) => return problem,
        };
        let custom_id = units[0]["custom_id"].as_str().map(str::to_owned);
        if custom_id.as_ref().is_some_and(|id| id.len() > 127) {
            return invalid("INVALID_STRING_MAX_LENGTH", "custom_id is too long.");
        }
        let context = &body["payment_source"]["paypal"]["experience_context"];
        let id = self.next_id('O');
        let order = Order {
            id: id.clone(),
            intent: intent.to_owned(),
            status: if context.is_object() {
                "PAYER_ACTION_REQUIRED".into()
            } else {
                "CREATED".into()
            },
            currency,
            amount,
            custom_id,
            return_url: context["return_url"].as_str().map(str::to_owned),
            payer_action: context.is_object(),
            payer: None,
            authorization: None,
            captures: Vec::new(),
        };
        let shown = self.order_json(&order);
        self.orders.insert(id, order);
        (StatusCode::CREATED, shown)
    }

    fn show_order(&self, id: &str) -> Reply {
        match self.orders.get(id) {
            Some(order) => (StatusCode::OK, self.order_json(order)),
            None => not_found(),
        }
    }

    /// Captures or authorizes an approved order.
    fn complete(&mut self, id: &str, action: &str) -> Reply {
        let Some(order) = self.orders.get(id).cloned() else {
            return not_found();
        };
        if order.intent != action {
            return unprocessable(
                "ACTION_DOES_NOT_MATCH_INTENT",
                "Order was created with an intent that does not match this action.",
            );
        }
        match order.status.as_str() {
            "APPROVED" => {}
            "COMPLETED" if action == "CAPTURE" => {
                return unprocessable("ORDER_ALREADY_CAPTURED", "Order already captured.");
            }
            "COMPLETED" => {
                return unprocessable("ORDER_ALREADY_AUTHORIZED", "Order already authorized.");
            }
            _ => {
                return unprocessable(
                    "ORDER_NOT_APPROVED",
                    "Payer has not yet approved the Order for payment.",
                );
            }
        }
        if order.payer == Some(Payer::Declines) {
            return unprocessable(
                "INSTRUMENT_DECLINED",
                "The instrument presented was either declined by the processor or bank, or it can't be used for this payment.",
            );
        }
        if action == "CAPTURE" {
            let capture = self.next_id('C');
            self.captures.insert(
                capture.clone(),
                Capture {
                    id: capture.clone(),
                    order: id.to_owned(),
                    authorization: None,
                    amount: order.amount,
                    refunded: 0,
                    status: "COMPLETED".into(),
                    final_capture: true,
                    refunds: Vec::new(),
                },
            );
            self.orders.get_mut(id).unwrap().captures.push(capture);
        } else {
            let authorization = self.next_id('A');
            self.authorizations.insert(
                authorization.clone(),
                Authorization {
                    id: authorization.clone(),
                    order: id.to_owned(),
                    amount: order.amount,
                    captured: 0,
                    status: "CREATED".into(),
                },
            );
            self.orders.get_mut(id).unwrap().authorization = Some(authorization);
        }
        self.orders.get_mut(id).unwrap().status = "COMPLETED".into();
        (StatusCode::CREATED, self.order_json(&self.orders[id]))
    }

    pub(crate) fn capture_authorization(&mut self, id: &str, body: &Value) -> Reply {
        let Some(authorization) = self.authorizations.get(id).cloned() else {
            return not_found();
        };
        match authorization.status.as_str() {
            "CREATED" | "PARTIALLY_CAPTURED" => {}
            "VOIDED" => {
                return unprocessable(
                    "AUTHORIZATION_VOIDED",
                    "A voided authorization cannot be captured.",
                );
            }
            "CAPTURED" => {
                return unprocessable(
                    "AUTHORIZATION_ALREADY_CAPTURED",
                    "Authorization has previously been captured.",
                );
            }
            _ => {
                return unprocessable(
                    "AUTHORIZATION_EXPIRED",
                    "An expired authorization cannot be captured.",
                );
            }
        }
        let currency = self.orders[&authorization.order].currency.clone();
        // PayPal lets an authorization be captured up to 115% of its amount.
        let allowed = authorization.amount * 115 / 100;
        let amount = match Self::part(
            &body["amount"],
            &currency,
            allowed - authorization.captured,
            (
                "MAX_CAPTURE_AMOUNT_EXCEEDED",
                "Capture amount exceeds allowable limit.",
            ),
        ) {
            Ok(amount) => amount,
            Err(problem) => return problem,
        };
        let final_capture = body["final_capture"].as_bool().unwrap_or(false);
        let capture = self.next_id('C');
        let record = Capture {
            id: capture.clone(),
            order: authorization.order.clone(),
            authorization: Some(id.to_owned()),
            amount,
            refunded: 0,
            status: if self.captures_pending {
                "PENDING".into()
            } else {
                "COMPLETED".into()
            },
            final_capture,
            refunds: Vec::new(),
        };
        let shown = self.capture_json(&record);
        self.captures.insert(capture.clone(), record);
        self.orders
            .get_mut(&authorization.order)
            .unwrap()
            .captures
            .push(capture);
        let held = self.authorizations.get_mut(id).unwrap();
        held.captured += amount;
        held.status = if final_capture || held.captured >= held.amount {
            "CAPTURED".into()
        } else {
            "PARTIALLY_CAPTURED".into()
        };
        (StatusCode::CREATED, shown)
    }

    fn void(&mut self, id: &str, representation: bool) -> Reply {
        let Some(authorization) = self.authorizations.get_mut(id) else {
            return not_found();
        };
        match authorization.status.as_str() {
            "CREATED" | "PARTIALLY_CAPTURED" => authorization.status = "VOIDED".into(),
            "VOIDED" => {
                return unprocessable(
                    "PREVIOUSLY_VOIDED",
                    "Authorization has been previously voided.",
                );
            }
            _ => {
                return unprocessable(
                    "PREVIOUSLY_CAPTURED",
                    "Authorization has been previously captured and hence cannot be voided.",
                );
            }
        }
        if representation {
            let shown = self.authorization_json(&self.authorizations[id]);
            (StatusCode::OK, shown)
        } else {
            (StatusCode::NO_CONTENT, Value::Null)
        }
    }

    pub(crate) fn refund(&mut self, id: &str, body: &Value) -> Reply {
        let Some(capture) = self.captures.get(id).cloned() else {
            return not_found();
        };
        match capture.status.as_str() {
            "COMPLETED" | "PARTIALLY_REFUNDED" => {}
            "REFUNDED" => {
                return unprocessable(
                    "CAPTURE_FULLY_REFUNDED",
                    "The capture has already been fully refunded.",
                );
            }
            _ => {
                return unprocessable(
                    "REFUND_NOT_ALLOWED",
                    "Refund cannot be issued for this capture.",
                );
            }
        }
        let currency = self.orders[&capture.order].currency.clone();
        let amount = match Self::part(
            &body["amount"],
            &currency,
            capture.amount - capture.refunded,
            (
                "REFUND_AMOUNT_EXCEEDED",
                "The refund amount must be less than or equal to the capture amount that has not yet been refunded.",
            ),
        ) {
            Ok(amount) => amount,
            Err(problem) => return problem,
        };
        let custom_id = body["custom_id"].as_str().map(str::to_owned);
        if custom_id.as_ref().is_some_and(|c| c.len() > 127) {
            return invalid("INVALID_STRING_MAX_LENGTH", "custom_id is too long.");
        }
        let refund = self.next_id('R');
        let record = Refund {
            id: refund.clone(),
            capture: id.to_owned(),
            amount,
            status: "COMPLETED".into(),
            custom_id,
        };
        let shown = self.refund_json(&record);
        self.refunds.insert(refund.clone(), record);
        let held = self.captures.get_mut(id).unwrap();
        held.refunded += amount;
        held.refunds.push(refund);
        held.status = if held.refunded == held.amount {
            "REFUNDED".into()
        } else {
            "PARTIALLY_REFUNDED".into()
        };
        (StatusCode::CREATED, shown)
    }

    fn verify(&self, raw: &[u8]) -> Reply {
        let text = std::str::from_utf8(raw).unwrap_or_default();
        let body: Value = serde_json::from_str(text).unwrap_or_default();
        let field = |name: &str| body[name].as_str().map(str::to_owned);
        let (Some(algo), Some(cert), Some(id), Some(sig), Some(time), Some(webhook)) = (
            field("auth_algo"),
            field("cert_url"),
            field("transmission_id"),
            field("transmission_sig"),
            field("transmission_time"),
            field("webhook_id"),
        ) else {
            return invalid("MISSING_REQUIRED_PARAMETER", "A required field is missing.");
        };
        // The event exactly as it was sent (serde_json's RawValue keeps its bytes).
        #[derive(serde::Deserialize)]
        struct Raw<'a> {
            #[serde(borrow)]
            webhook_event: &'a serde_json::value::RawValue,
        }
        let Ok(raw) = serde_json::from_str::<Raw<'_>>(text) else {
            return invalid("MISSING_REQUIRED_PARAMETER", "webhook_event is missing.");
        };
        let genuine = algo == "SHA256withRSA"
            && cert == format!("{}{CERT_PATH}", self.base)
            && webhook == WEBHOOK_ID
            && sig == sign(&id, &time, &webhook, raw.webhook_event.get().as_bytes());
        (
            StatusCode::OK,
            json!({"verification_status": if genuine { "SUCCESS" } else { "FAILURE" }}),
        )
    }

    fn link(&self, path: &str, rel: &str, method: &str) -> Value {
        json!({"href": format!("{}{path}", self.base), "rel": rel, "method": method})
    }

    fn order_json(&self, order: &Order) -> Value {
        let currency = &order.currency;
        let mut unit = json!({
            "reference_id": "default",
            "amount": money(order.amount, currency),
        });
        if let Some(custom) = &order.custom_id {
            unit["custom_id"] = json!(custom);
        }
        let authorizations: Vec<Value> = order
            .authorization
            .iter()
            .filter_map(|id| self.authorizations.get(id))
            .map(|a| self.authorization_json(a))
            .collect();
        let captures: Vec<&Capture> = order
            .captures
            .iter()
            .filter_map(|id| self.captures.get(id))
            .collect();
        let refunds: Vec<Value> = captures
            .iter()
            .flat_map(|c| c.refunds.iter())
            .filter_map(|id| self.refunds.get(id))
            .map(|r| self.refund_json(r))
            .collect();
        if !authorizations.is_empty() || !captures.is_empty() {
            let mut payments = json!({});
            if !authorizations.is_empty() {
                payments["authorizations"] = json!(authorizations);
            }
            if !captures.is_empty() {
                payments["captures"] = json!(
                    captures
                        .iter()
                        .map(|c| self.capture_json(c))
                        .collect::<Vec<_>>()
                );
            }
            if !refunds.is_empty() {
                payments["refunds"] = json!(refunds);
            }
            unit["payments"] = payments;
        }
        let mut links = vec![self.link(&format!("v2/checkout/orders/{}", order.id), "self", "GET")];
        if matches!(order.status.as_str(), "CREATED" | "PAYER_ACTION_REQUIRED") {
            let rel = if order.payer_action {
                "payer-action"
            } else {
                "approve"
            };
            links.push(self.link(&format!("checkoutnow?token={}", order.id), rel, "GET"));
        }
        if order.status == "APPROVED" {
            let action = if order.intent == "CAPTURE" {
                "capture"
            } else {
                "authorize"
            };
            links.push(self.link(
                &format!("v2/checkout/orders/{}/{action}", order.id),
                action,
                "POST",
            ));
        }
        json!({
            "id": order.id,
            "intent": order.intent,
            "status": order.status,
            "payment_source": {"paypal": {}},
            "purchase_units": [unit],
            "links": links,
        })
    }

    fn authorization_json(&self, a: &Authorization) -> Value {
        let currency = &self.orders[&a.order].currency;
        json!({
            "id": a.id,
            "status": a.status,
            "amount": money(a.amount, currency),
            "supplementary_data": {"related_ids": {"order_id": a.order}},
            "links": [
                self.link(&format!("v2/payments/authorizations/{}", a.id), "self", "GET"),
                self.link(&format!("v2/payments/authorizations/{}/capture", a.id), "capture", "POST"),
                self.link(&format!("v2/payments/authorizations/{}/void", a.id), "void", "POST"),
                self.link(&format!("v2/checkout/orders/{}", a.order), "up", "GET"),
            ],
        })
    }

    fn capture_json(&self, c: &Capture) -> Value {
        let currency = &self.orders[&c.order].currency;
        let mut related = json!({"order_id": c.order});
        if let Some(authorization) = &c.authorization {
            related["authorization_id"] = json!(authorization);
        }
        let up = match &c.authorization {
            Some(a) => format!("v2/payments/authorizations/{a}"),
            None => format!("v2/checkout/orders/{}", c.order),
        };
        json!({
            "id": c.id,
            "status": c.status,
            "amount": money(c.amount, currency),
            "final_capture": c.final_capture,
            "seller_protection": {"status": "ELIGIBLE"},
            "supplementary_data": {"related_ids": related},
            "links": [
                self.link(&format!("v2/payments/captures/{}", c.id), "self", "GET"),
                self.link(&format!("v2/payments/captures/{}/refund", c.id), "refund", "POST"),
                self.link(&up, "up", "GET"),
            ],
        })
    }

    fn refund_json(&self, r: &Refund) -> Value {
        let order = &self.captures[&r.capture].order;
        let currency = &self.orders[order].currency;
        let mut shown = json!({
            "id": r.id,
            "status": r.status,
            "amount": money(r.amount, currency),
            "links": [
                self.link(&format!("v2/payments/refunds/{}", r.id), "self", "GET"),
                self.link(&format!("v2/payments/captures/{}", r.capture), "up", "GET"),
            ],
        });
        if let Some(custom) = &r.custom_id {
            shown["custom_id"] = json!(custom);
        }
        shown
    }
}
