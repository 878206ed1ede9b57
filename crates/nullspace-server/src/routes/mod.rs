//! The router: one table of routes, checked against `spec/openapi.yaml`.

mod commands;
mod files;
mod lifecycle;
pub(crate) mod machines;
mod meta;
mod snapshots;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use nullspace_api::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

pub use meta::openapi_json;

/// Largest JSON body accepted.
const JSON_LIMIT: usize = 16 << 20;
/// Largest raw file upload accepted.
const FILE_LIMIT: usize = 512 << 20;

/// Every route: method, path (OpenAPI syntax) and handler.
pub fn table() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("get", "/v1/health", get(meta::health)),
        ("get", "/v1/openapi.json", get(meta::openapi)),
        ("post", "/v1/machines", post(machines::create)),
        ("get", "/v1/machines", get(machines::list)),
        ("get", "/v1/machines/{id}", get(machines::get)),
        ("delete", "/v1/machines/{id}", delete(machines::kill)),
        (
            "post",
            "/v1/machines/{id}/timeout",
            post(machines::set_timeout),
        ),
        ("post", "/v1/machines/{id}/pause", post(lifecycle::pause)),
        ("post", "/v1/machines/{id}/resume", post(lifecycle::resume)),
        ("post", "/v1/machines/{id}/fork", post(lifecycle::fork)),
        ("get", "/v1/machines/{id}/metrics", get(lifecycle::metrics)),
        (
            "post",
            "/v1/machines/{id}/snapshots",
            post(snapshots::create),
        ),
        ("get", "/v1/snapshots", get(snapshots::list)),
        ("get", "/v1/snapshots/{id}", get(snapshots::get)),
        ("delete", "/v1/snapshots/{id}", delete(snapshots::delete)),
        ("post", "/v1/machines/{id}/commands", post(commands::run)),
        ("get", "/v1/machines/{id}/files", get(files::read)),
        (
            "put",
            "/v1/machines/{id}/files",
            put(files::write).layer(DefaultBodyLimit::max(FILE_LIMIT)),
        ),
        ("delete", "/v1/machines/{id}/files", delete(files::remove)),
        (
            "post",
            "/v1/machines/{id}/files/batch",
            post(files::write_batch),
        ),
        ("get", "/v1/machines/{id}/files/list", get(files::list)),
        ("get", "/v1/machines/{id}/files/exists", get(files::exists)),
        ("get", "/v1/machines/{id}/files/info", get(files::info)),
        ("post", "/v1/machines/{id}/files/mkdir", post(files::mkdir)),
        (
            "post",
            "/v1/machines/{id}/files/rename",
            post(files::rename),
        ),
        ("post", "/v1/machines/{id}/files/chmod", post(files::chmod)),
    ]
}

/// The application.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    for (_, path, handler) in table() {
        router = router.route(path, handler);
    }
    router
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::BadRequest, "method not allowed on this route")
        })
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .with_state(state)
}
