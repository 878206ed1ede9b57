//! The router: one table of routes, checked against `spec/openapi.yaml`.

mod archive;
mod commands;
mod files;
mod git;
mod lifecycle;
pub(crate) mod machines;
mod meta;
mod preview_proxy;
mod previews;
mod process_stream;
mod processes;
mod pty;
mod snapshots;
mod ssh_access;
mod templates;
mod tree;
mod uploads;
mod watch;

use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use nullspace_api::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

pub use meta::openapi_json;

/// Largest JSON body accepted.
const JSON_LIMIT: usize = 16 << 20;

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
        ("get", "/v1/templates", get(templates::list)),
        ("post", "/v1/templates/builds", post(templates::start_build)),
        (
            "get",
            "/v1/templates/builds/{id}",
            get(templates::get_build),
        ),
        (
            "get",
            "/v1/templates/builds/{id}/logs",
            get(templates::build_logs),
        ),
        (
            "get",
            "/v1/templates/builds/{id}/logs/stream",
            get(templates::stream_build_logs),
        ),
        (
            "delete",
            "/v1/templates/cache",
            delete(templates::prune_cache),
        ),
        (
            "put",
            "/v1/templates/contexts/{sha256}",
            put(templates::put_context),
        ),
        ("get", "/v1/templates/{ref}", get(templates::get)),
        ("delete", "/v1/templates/{ref}", delete(templates::delete)),
        ("get", "/v1/templates/{ref}/tags", get(templates::tags)),
        (
            "post",
            "/v1/templates/{ref}/tags",
            post(templates::assign_tags),
        ),
        (
            "delete",
            "/v1/templates/{ref}/tags/{tag}",
            delete(templates::remove_tag),
        ),
        ("post", "/v1/machines/{id}/previews", post(previews::create)),
        (
            "get",
            "/v1/machines/{id}/previews/{port}",
            get(previews::direct),
        ),
        (
            "get",
            "/v1/machines/{id}/previews/{port}/readiness",
            get(previews::readiness),
        ),
        (
            "get",
            "/v1/machines/{id}/preview-grants",
            get(previews::list),
        ),
        (
            "delete",
            "/v1/machines/{id}/preview-grants/{grant_id}",
            delete(previews::revoke),
        ),
        (
            "post",
            "/v1/machines/{id}/preview-proxy-targets",
            post(previews::proxy_target),
        ),
        (
            "post",
            "/v1/machines/{id}/ssh-access",
            post(ssh_access::create),
        ),
        (
            "delete",
            "/v1/machines/{id}/ssh-access/{access_id}",
            delete(ssh_access::revoke),
        ),
        ("post", "/v1/machines/{id}/commands", post(commands::run)),
        ("get", "/v1/machines/{id}/files", get(files::read)),
        ("put", "/v1/machines/{id}/files", put(files::write)),
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
        (
            "post",
            "/v1/machines/{id}/files/download-url",
            post(files::download_url),
        ),
        (
            "post",
            "/v1/machines/{id}/files/upload-url",
            post(files::upload_url),
        ),
        ("get", "/v1/machines/{id}/files/search", get(tree::search)),
        ("post", "/v1/machines/{id}/files/find", post(tree::find)),
        (
            "post",
            "/v1/machines/{id}/files/replace",
            post(tree::replace),
        ),
        ("get", "/v1/machines/{id}/files/watch", get(watch::watch)),
        (
            "get",
            "/v1/machines/{id}/files/archive",
            get(archive::download),
        ),
        (
            "put",
            "/v1/machines/{id}/files/archive",
            put(archive::upload),
        ),
        ("post", "/v1/machines/{id}/uploads", post(uploads::create)),
        (
            "get",
            "/v1/machines/{id}/uploads/{upload_id}",
            get(uploads::get),
        ),
        (
            "delete",
            "/v1/machines/{id}/uploads/{upload_id}",
            delete(uploads::abort),
        ),
        (
            "put",
            "/v1/machines/{id}/uploads/{upload_id}/chunks/{index}",
            put(uploads::chunk),
        ),
        (
            "post",
            "/v1/machines/{id}/uploads/{upload_id}/complete",
            post(uploads::complete),
        ),
        ("get", "/v1/signed/files", get(files::signed_read)),
        ("put", "/v1/signed/files", put(files::signed_write)),
        (
            "post",
            "/v1/machines/{id}/processes",
            post(processes::start),
        ),
        ("get", "/v1/machines/{id}/processes", get(processes::list)),
        (
            "get",
            "/v1/machines/{id}/processes/{pid}",
            get(processes::get),
        ),
        (
            "delete",
            "/v1/machines/{id}/processes/{pid}",
            delete(processes::kill),
        ),
        (
            "get",
            "/v1/machines/{id}/processes/{pid}/logs",
            get(processes::logs),
        ),
        (
            "post",
            "/v1/machines/{id}/processes/{pid}/stdin",
            post(processes::stdin),
        ),
        (
            "post",
            "/v1/machines/{id}/processes/{pid}/close-stdin",
            post(processes::close_stdin),
        ),
        (
            "post",
            "/v1/machines/{id}/processes/{pid}/signal",
            post(processes::signal),
        ),
        (
            "post",
            "/v1/machines/{id}/processes/{pid}/resize",
            post(processes::resize),
        ),
        (
            "get",
            "/v1/machines/{id}/processes/{pid}/stream",
            get(process_stream::stream),
        ),
        ("post", "/v1/machines/{id}/git/clone", post(git::clone)),
        ("post", "/v1/machines/{id}/git/init", post(git::init)),
        ("post", "/v1/machines/{id}/git/status", post(git::status)),
        ("post", "/v1/machines/{id}/git/log", post(git::log)),
        ("post", "/v1/machines/{id}/git/diff", post(git::diff)),
        ("post", "/v1/machines/{id}/git/add", post(git::add)),
        ("post", "/v1/machines/{id}/git/commit", post(git::commit)),
        (
            "post",
            "/v1/machines/{id}/git/checkout",
            post(git::checkout),
        ),
        (
            "post",
            "/v1/machines/{id}/git/branch/list",
            post(git::branches),
        ),
        (
            "post",
            "/v1/machines/{id}/git/branch/create",
            post(git::branch_create),
        ),
        (
            "post",
            "/v1/machines/{id}/git/branch/delete",
            post(git::branch_delete),
        ),
        ("post", "/v1/machines/{id}/git/pull", post(git::pull)),
        ("post", "/v1/machines/{id}/git/push", post(git::push)),
        ("post", "/v1/machines/{id}/git/fetch", post(git::fetch)),
        (
            "post",
            "/v1/machines/{id}/git/remote/list",
            post(git::remotes),
        ),
        (
            "post",
            "/v1/machines/{id}/git/remote/add",
            post(git::remote_add),
        ),
        (
            "post",
            "/v1/machines/{id}/git/remote/set-url",
            post(git::remote_set_url),
        ),
        (
            "post",
            "/v1/machines/{id}/git/remote/remove",
            post(git::remote_remove),
        ),
        (
            "post",
            "/v1/machines/{id}/git/config/get",
            post(git::config_get),
        ),
        (
            "post",
            "/v1/machines/{id}/git/config/set",
            post(git::config_set),
        ),
        ("post", "/v1/machines/{id}/pty", post(pty::create)),
        ("get", "/v1/machines/{id}/pty", get(pty::list)),
        ("get", "/v1/machines/{id}/pty/{pid}", get(pty::get)),
        (
            "delete",
            "/v1/machines/{id}/pty/{pid}",
            delete(processes::kill),
        ),
        (
            "post",
            "/v1/machines/{id}/pty/{pid}/resize",
            post(processes::resize),
        ),
        (
            "get",
            "/v1/machines/{id}/pty/{pid}/connect",
            get(process_stream::connect),
        ),
    ]
}

/// The methods of the route `path` reaches (upper case): of the templates that
/// match it, those the router prefers, a literal segment before a capture at the
/// first place they differ (`/v1/templates/cache` is not `/v1/templates/{ref}`).
fn allowed_methods(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let matching: Vec<(Vec<bool>, String)> = table()
        .into_iter()
        .filter_map(|(m, template, _)| {
            let t: Vec<&str> = template.split('/').collect();
            let fits = t.len() == parts.len()
                && t.iter()
                    .zip(&parts)
                    .all(|(t, p)| t.starts_with('{') || t == p);
            let captures = t.iter().map(|s| s.starts_with('{')).collect();
            fits.then(|| (captures, m.to_ascii_uppercase()))
        })
        .collect();
    let Some(best) = matching.iter().map(|(c, _)| c).min().cloned() else {
        return Vec::new();
    };
    let mut methods: Vec<String> = Vec::new();
    for (c, m) in matching {
        if c == best && !methods.contains(&m) {
            methods.push(m);
        }
    }
    if methods.iter().any(|m| m == "GET") {
        methods.push("HEAD".into());
    }
    methods
}

/// The application.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    for (_, path, handler) in table() {
        router = router.route(path, handler);
    }
    router
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|uri: Uri| async move {
            let allow = allowed_methods(uri.path());
            let mut e = ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{} takes only {}", uri.path(), allow.join(", ")),
            );
            e.allow = Some(allow.join(", "));
            e
        })
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            preview_proxy::divert,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::allowed_methods;

    #[test]
    fn allow_lists_the_methods_of_the_route_the_router_picks() {
        assert_eq!(allowed_methods("/v1/templates/cache"), ["DELETE"]);
        assert_eq!(allowed_methods("/v1/templates/builds"), ["POST"]);
        assert_eq!(
            allowed_methods("/v1/templates/web"),
            ["GET", "DELETE", "HEAD"]
        );
        assert_eq!(allowed_methods("/v1/templates"), ["GET", "HEAD"]);
        assert!(allowed_methods("/v1/nothing/here/at/all").is_empty());
    }
}
