//! `/v1/health` and `/v1/openapi.json`.

use std::sync::OnceLock;

use axum::Json;
use serde_json::{json, Value};

/// The OpenAPI document this server implements.
pub const OPENAPI_YAML: &str = include_str!("../../../../spec/openapi.yaml");

/// The OpenAPI document as JSON (parsed once).
pub fn openapi_json() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_yaml::from_str(OPENAPI_YAML).expect("spec/openapi.yaml is valid YAML"))
}

/// `GET /v1/health`.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// `GET /v1/openapi.json`.
pub async fn openapi() -> Json<Value> {
    Json(openapi_json().clone())
}
