//! A server app over an in-memory store, driven request by request (no socket), with a
//! signed-in user of the default tenant.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use obol::auth::{KeyEncryptionKey, NewUser, Password, Profile, Scope};
use obol::payments::default_merchant;
use obol::{MemoryStore, MerchantId};
use obol_server::config::Config;
use obol_server::engine::Engine;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery staple";

/// The sandbox's webhook secret in tests (a deployment's own, from its configuration).
pub const SANDBOX_SECRET: &str = "whsec_dGVzdC1vbmx5LXNhbmRib3gtd2ViaG9vay1zZWNyZXQh";

pub struct Harness {
    pub app: Router,
    pub engine: Arc<Engine>,
    /// An access token of a user with every scope in the default tenant.
    pub token: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// A string field of the body.
    pub fn str(&self, field: &str) -> String {
        self.body[field].as_str().unwrap_or_default().to_owned()
    }
}

pub fn test_config() -> Config {
    Config {
        dev: true,
        sandbox_webhook_secret: Some(SANDBOX_SECRET.into()),
        rate_limit_per_second: 100_000,
        rate_limit_burst: 100_000,
        ..Config::default()
    }
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_config(test_config()).await
    }

    pub async fn with_config(config: Config) -> Self {
        let store = Arc::new(MemoryStore::new());
        let engine = Engine::on_store(store, &config, KeyEncryptionKey::random())
            .await
            .unwrap();
        engine.auth().rotate_keys().await.unwrap();
        let engine = Arc::new(engine);
        let app = obol_server::serve::app(&engine, &config);
        let mut harness = Harness {
            app,
            engine,
            token: String::new(),
        };
        harness
            .user(&default_merchant(), "owner@acme.test", Scope::ALL.into())
            .await;
        harness.token = harness.login(None, "owner@acme.test").await;
        harness
    }

    /// Creates a user directly in the engine.
    pub async fn user(&self, merchant: &MerchantId, email: &str, scopes: BTreeSet<Scope>) {
        self.engine
            .auth()
            .create_user(NewUser {
                merchant: merchant.clone(),
                email: email.to_owned(),
                password: Password::new(PASSWORD),
                profile: Profile::default(),
                scopes,
                live: false,
            })
            .await
            .unwrap();
    }

    /// Signs in over the API and returns the access token.
    pub async fn login(&self, merchant: Option<&MerchantId>, email: &str) -> String {
        let answer = self.login_answer(merchant, email).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.str("access_token")
    }

    /// The answer to a sign-in.
    pub async fn login_answer(&self, merchant: Option<&MerchantId>, email: &str) -> Answer {
        let mut body = json!({"email": email, "password": PASSWORD});
        if let Some(merchant) = merchant {
            body["merchant"] = json!(merchant.as_str());
        }
        self.send(Method::POST, "/v1/auth/login", None, None, Some(body))
            .await
    }

    /// A request with optional bearer credential, idempotency key and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        credential: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let body = body.map(|b| b.to_string());
        let request = request(
            method,
            path,
            credential,
            key,
            body.as_deref(),
            "application/json",
        );
        self.call(request).await
    }

    /// Sends a request as built.
    pub async fn call(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// GET as the default user.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, Some(&self.token), None, None)
            .await
    }

    /// GET with another credential.
    pub async fn get_as(&self, path: &str, credential: &str) -> Answer {
        self.send(Method::GET, path, Some(credential), None, None)
            .await
    }

    /// POST with another credential (`None`: anonymous).
    pub async fn post_as(&self, path: &str, credential: Option<&str>, body: Value) -> Answer {
        self.send(Method::POST, path, credential, None, Some(body))
            .await
    }

    /// POST as the default user, with an optional idempotency key.
    pub async fn post(&self, path: &str, key: Option<&str>, body: Value) -> Answer {
        self.send(Method::POST, path, Some(&self.token), key, Some(body))
            .await
    }

    /// How many payments the default tenant has (to prove a refusal wrote nothing).
    pub async fn payment_count(&self) -> usize {
        let query = obol::payments::PaymentQuery::merchant(default_merchant(), 10_000);
        self.engine.payments().list(&query).await.unwrap().len()
    }
}

/// A request with optional bearer credential, idempotency key and body.
pub fn request(
    method: Method,
    path: &str,
    credential: Option<&str>,
    key: Option<&str>,
    body: Option<&str>,
    content_type: &str,
) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(credential) = credential {
        request = request.header("authorization", format!("Bearer {credential}"));
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    match body {
        Some(body) => request
            .header("content-type", content_type)
            .body(Body::from(body.to_owned())),
        None => request.body(Body::empty()),
    }
    .unwrap()
}

/// An anonymous GET carrying one extra header.
pub fn get_with_header(path: &str, name: &'static str, value: &str) -> Request<Body> {
    let mut call = request(Method::GET, path, None, None, None, "application/json");
    call.headers_mut().insert(name, value.parse().unwrap());
    call
}

/// A card payment method body.
pub fn card(number: &str) -> Value {
    json!({"card": {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}})
}
