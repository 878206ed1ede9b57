//! The preview proxy's front: requests for `{port}-{machine}.{preview host}` or
//! `/preview/{machine}/{port}/…` are admitted and forwarded; the rest go on to
//! the API.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nullspace_api::{
    PREVIEW_TOKEN_HEADER, PREVIEW_TOKEN_PARAM, PROXY_TOKEN_HEADER, TRAFFIC_TOKEN_HEADER,
};
use nullspace_types::MachineId;

use crate::error::ApiError;
use crate::params;
use crate::services::previews::{self, Credentials};
use crate::services::proxy::{self, Forwarded};
use crate::state::AppState;

/// Prefix of the path form.
const PATH_PREFIX: &str = "/preview/";

/// Divert preview traffic to the proxy; pass everything else on.
pub async fn divert(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .map(str::to_owned);
    if let Some((id, port)) = host
        .as_deref()
        .and_then(|h| state.settings.preview.parse_host(h))
    {
        let target = upstream_target(req.uri(), req.uri().path());
        return serve(&state, id, port, req, target, None).await;
    }
    if let Some(rest) = req.uri().path().strip_prefix(PATH_PREFIX) {
        return match path_form(rest) {
            Ok((id, port, tail)) => {
                let prefix = format!("{PATH_PREFIX}{id}/{port}");
                if tail.is_empty() {
                    // `/preview/sb_…/8080` → `…/8080/`, so relative links resolve.
                    let query = req
                        .uri()
                        .query()
                        .map(|q| format!("?{q}"))
                        .unwrap_or_default();
                    return redirect(&format!("{prefix}/{query}"));
                }
                let target = upstream_target(req.uri(), &tail);
                serve(&state, id, port, req, target, Some(prefix)).await
            }
            Err(e) => e.into_response(),
        };
    }
    next.run(req).await
}

/// `sb_…/8080/rest` → machine, port and `/rest` (empty if nothing follows the port).
fn path_form(rest: &str) -> Result<(MachineId, u16, String), ApiError> {
    let (id, after) = rest.split_once('/').unwrap_or((rest, ""));
    let id = params::machine_id(id)?;
    let (port, tail) = match after.split_once('/') {
        Some((p, t)) => (p, format!("/{t}")),
        None => (after, String::new()),
    };
    let port = params::port(port)?;
    Ok((id, port, tail))
}

fn redirect(location: &str) -> Response {
    let mut r = StatusCode::PERMANENT_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `path` with the request's query less the preview token.
fn upstream_target(uri: &Uri, path: &str) -> String {
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some(PREVIEW_TOKEN_PARAM))
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The credentials `req` carries.
fn credentials(req: &Request) -> Credentials {
    let from_pairs = |s: &str, sep: char| {
        s.split(sep)
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == PREVIEW_TOKEN_PARAM)
            .map(|(_, v)| v.to_owned())
    };
    let h = req.headers();
    Credentials {
        query: req.uri().query().and_then(|q| from_pairs(q, '&')),
        cookie: h
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| from_pairs(c, ';')),
        header: header_value(h, PREVIEW_TOKEN_HEADER),
        proxy: header_value(h, PROXY_TOKEN_HEADER),
        traffic: header_value(h, TRAFFIC_TOKEN_HEADER),
    }
}

/// Admit and forward one request for port `port` of machine `id`.
async fn serve(
    state: &AppState,
    id: MachineId,
    port: u16,
    req: Request,
    target: String,
    prefix: Option<String>,
) -> Response {
    let creds = credentials(&req);
    let websocket = proxy::is_upgrade(req.headers());
    let admitted = match previews::admit(state, &id, port, &creds, websocket).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let base = &state.settings.preview;
    let fwd = Forwarded {
        client: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
        host: header_value(req.headers(), "host"),
        proto: base.scheme.clone(),
        prefix: prefix.clone(),
    };
    let req = req.map(Body::new);
    match proxy::forward(state, &id, port, req, &target, &fwd).await {
        Ok(mut resp) => {
            if let Some((token, end)) = admitted.keep {
                let (_, now) = crate::store::now();
                let path = prefix.map_or_else(|| "/".to_owned(), |p| format!("{p}/"));
                let secure = if base.scheme == "https" {
                    "; Secure"
                } else {
                    ""
                };
                let cookie = format!(
                    "{PREVIEW_TOKEN_PARAM}={token}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
                    (end - now).max(0)
                );
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Err(e) => {
            if let Some(g) = &admitted.grant {
                previews::note_error(state, g, &e).await;
            }
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nullspace_api::ErrorCode;

    #[test]
    fn path_form_and_targets_parse() {
        let (id, port, tail) = path_form("sb_abc/8080/x/y").unwrap();
        assert_eq!((id.as_str(), port, tail.as_str()), ("sb_abc", 8080, "/x/y"));
        assert_eq!(path_form("sb_abc/8080").unwrap().2, "");
        assert_eq!(
            path_form("sb_abc/0/").unwrap_err().code,
            ErrorCode::ValidationError
        );
        assert_eq!(path_form("nope/80/").unwrap_err().code, ErrorCode::NotFound);
        let uri: Uri = "/a?x=1&nullspace_preview_token=t&y=2".parse().unwrap();
        assert_eq!(upstream_target(&uri, "/a"), "/a?x=1&y=2");
        let uri: Uri = "/a?nullspace_preview_token=t".parse().unwrap();
        assert_eq!(upstream_target(&uri, "/b"), "/b");
    }
}
