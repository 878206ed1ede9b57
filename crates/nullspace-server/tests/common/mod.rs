//! The HTTP app over the do-nothing node, driven in-process.

#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use nullspace_server::node::FakeNode;
use nullspace_server::store::Store;
use nullspace_server::{app, AppState, RateLimiter};
use serde_json::Value;
use tower::ServiceExt;

/// The app and two tenants' keys.
pub struct Api {
    pub app: Router,
    pub key: String,
    pub other_key: String,
    pub state: AppState,
}

/// An app whose tenants may send `rate` requests per second.
pub fn api_with_rate(rate: f64) -> Api {
    api_over(FakeNode::default(), rate)
}

/// An app over `node` whose tenants may send `rate` requests per second.
pub fn api_over(node: FakeNode, rate: f64) -> Api {
    api_over_shared(Arc::new(node), rate)
}

/// Like [`api_over`], over a node the test keeps a handle to.
pub fn api_over_shared(node: Arc<FakeNode>, rate: f64) -> Api {
    let store = Store::in_memory().unwrap();
    let key = store.create_key("alpha").unwrap().secret;
    let other_key = store.create_key("beta").unwrap().secret;
    let state = AppState::new(store, node, RateLimiter::new(rate, rate));
    Api {
        app: app(state.clone()),
        state,
        key,
        other_key,
    }
}

/// An app whose file uploads take at most `max` bytes.
pub fn api_with_upload_limit(max: u64) -> Api {
    let mut api = api();
    let mut state = api.state.clone();
    let mut settings = (*state.settings).clone();
    settings.max_upload_bytes = max;
    state.settings = Arc::new(settings);
    api.app = app(state.clone());
    api.state = state;
    api
}

/// An app with no practical rate limit.
pub fn api() -> Api {
    api_with_rate(10_000.0)
}

impl Api {
    /// Send a request.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        key: Option<&str>,
        body: Option<Body>,
        json: bool,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        if json {
            req = req.header("content-type", "application/json");
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body.unwrap_or_else(Body::empty)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    /// Send a request as the first tenant with extra headers; returns the
    /// answer's headers too.
    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        body: Body,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {}", self.key));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, value)
    }

    /// Send a request as the first tenant and read at most `max` bytes of the
    /// answer's body (the rest is never read).
    pub async fn read_some(&self, uri: &str, max: usize) -> (StatusCode, Vec<u8>) {
        let req = Request::builder()
            .uri(uri)
            .header("authorization", format!("Bearer {}", self.key));
        let resp = self
            .app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let mut body = resp.into_body();
        let mut got = Vec::new();
        while got.len() < max {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        got.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => panic!("{uri}: {e}"),
                None => break,
            }
        }
        (status, got)
    }

    /// Send a request as the first tenant.
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let json = body.is_some();
        self.send(
            method,
            uri,
            Some(&self.key),
            body.map(|b| Body::from(b.to_string())),
            json,
        )
        .await
    }

    /// Create a machine (must answer 201).
    pub async fn create(&self, body: Value) -> Value {
        let (s, v) = self.call(Method::POST, "/v1/machines", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }
}

/// The error code of an error body.
pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}
