//! Forwarding of an admitted preview request to a machine port: HTTP/1.1 over a
//! connection made inside the machine's network, and a two-way byte pipe after
//! a WebSocket upgrade. Bodies stream both ways; nothing is held whole.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use nullspace_api::{
    ErrorCode, PREVIEW_TOKEN_HEADER, PREVIEW_TOKEN_PARAM, PROXY_TOKEN_HEADER, TRAFFIC_TOKEN_HEADER,
};
use nullspace_types::MachineId;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Headers that concern one hop only (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What the proxy tells the app about the original request.
#[derive(Debug, Clone, Default)]
pub struct Forwarded {
    /// The client's address.
    pub client: Option<std::net::IpAddr>,
    /// The host the client asked for.
    pub host: Option<String>,
    /// `http` or `https`.
    pub proto: String,
    /// The path prefix the proxy removed (path form).
    pub prefix: Option<String>,
}

/// Whether `headers` ask for a WebSocket (any) upgrade.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// `headers` less the hop-by-hop ones (and those `Connection` names).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::try_from(t.trim()).ok())
        .collect();
    for h in named {
        headers.remove(h);
    }
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
}

/// The `Cookie` header less the preview token cookie.
fn strip_token_cookie(headers: &mut HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.split('=').next() != Some(PREVIEW_TOKEN_PARAM))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, v);
        }
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The request headers the app sees.
fn upstream_headers(mut headers: HeaderMap, websocket: bool, fwd: &Forwarded) -> HeaderMap {
    let upgrade = headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut headers);
    for h in [
        PREVIEW_TOKEN_HEADER,
        PROXY_TOKEN_HEADER,
        TRAFFIC_TOKEN_HEADER,
    ] {
        headers.remove(h);
    }
    strip_token_cookie(&mut headers);
    if websocket {
        if let Some(u) = upgrade {
            headers.insert(header::UPGRADE, u);
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
    }
    if let Some(ip) = fwd.client {
        let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prior) => format!("{prior}, {ip}"),
            None => ip.to_string(),
        };
        set(&mut headers, "x-forwarded-for", &chain);
    }
    if let Some(host) = &fwd.host {
        set(&mut headers, "x-forwarded-host", host);
    }
    set(&mut headers, "x-forwarded-proto", &fwd.proto);
    if let Some(prefix) = &fwd.prefix {
        set(&mut headers, "x-forwarded-prefix", prefix);
    }
    headers
}

fn unavailable(id: &MachineId, port: u16, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::PreviewUpstreamUnavailable,
        format!("port {port} of machine {id}: {why}"),
    )
}

/// A new HTTP/1.1 connection to port `port` of machine `id` (upgradable).
async fn connect(state: &AppState, id: &MachineId, port: u16) -> ApiResult<SendRequest<Body>> {
    let stream = state.node.connect_port(id, port).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unavailable(id, port, e))?;
    tokio::spawn(async move {
        // The connection ends when either side does; nothing is left to report.
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

/// Whether a request with `parts` can be sent again as is (no body, a method
/// without side effects).
fn replayable(parts: &axum::http::request::Parts) -> bool {
    use axum::http::Method;
    let bodiless = !parts.headers.contains_key(header::CONTENT_LENGTH)
        && !parts.headers.contains_key(header::TRANSFER_ENCODING);
    bodiless && matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Forward `req` to port `port` of machine `id` as `target` (path and query).
pub async fn forward(
    state: &AppState,
    id: &MachineId,
    port: u16,
    mut req: Request<Body>,
    target: &str,
    fwd: &Forwarded,
) -> ApiResult<Response<Body>> {
    let websocket = is_upgrade(req.headers());
    let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let build = |body: Body| {
        let mut up = Request::builder()
            .method(parts.method.clone())
            .uri(target)
            .body(body)
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("request target: {e}")))?;
        *up.headers_mut() = upstream_headers(parts.headers.clone(), websocket, fwd);
        Ok::<_, ApiError>(up)
    };
    // A pooled connection may have been closed by the app just now: a request
    // that can be replayed goes again on a new one.
    let pooled = if websocket {
        None
    } else {
        state.proxy_pool.take(id, port)
    };
    let (sender, mut resp) = match pooled {
        Some(mut sender) => match sender.send_request(build(body)?).await {
            Ok(resp) => (sender, resp),
            Err(e) if replayable(&parts) => {
                tracing::debug!(error = %e, "pooled preview connection failed; reconnecting");
                let mut sender = connect(state, id, port).await?;
                let resp = sender
                    .send_request(build(Body::empty())?)
                    .await
                    .map_err(|e| unavailable(id, port, e))?;
                (sender, resp)
            }
            Err(e) => return Err(unavailable(id, port, e)),
        },
        None => {
            let mut sender = connect(state, id, port).await?;
            let resp = sender
                .send_request(build(body)?)
                .await
                .map_err(|e| unavailable(id, port, e))?;
            (sender, resp)
        }
    };
    if let (Some(client), StatusCode::SWITCHING_PROTOCOLS) = (client_upgrade, resp.status()) {
        let server = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            if let (Ok(client), Ok(server)) = tokio::join!(client, server) {
                let (mut a, mut b) = (TokioIo::new(client), TokioIo::new(server));
                // Either side closing ends the pipe.
                let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
            }
        });
        let (parts, _) = resp.into_parts();
        return Ok(Response::from_parts(parts, Body::empty()));
    }
    if !websocket {
        // Ready again once this answer's body has been read.
        if !sender.is_closed() {
            state.proxy_pool.give(id, port, sender);
        }
    }
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// Longest wait for a readiness probe's answer.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether the proxy can route to port `port` of machine `id`, and whether
/// something answers HTTP there (a paused machine is not woken).
pub async fn readiness(
    state: &AppState,
    tenant: &crate::auth::Tenant,
    id: &MachineId,
    port: u16,
) -> ApiResult<nullspace_api::PreviewReadiness> {
    use nullspace_types::MachineState;
    let row = crate::services::load(state, tenant, id).await?;
    let mut ready = nullspace_api::PreviewReadiness {
        machine_id: id.to_string(),
        port,
        route_ready: false,
        service_ready: false,
        status: None,
        error: None,
    };
    match row.state {
        MachineState::Running => ready.route_ready = true,
        MachineState::Paused if row.auto_resume => {
            ready.route_ready = true;
            ready.error = Some("the machine is paused; the first request wakes it".into());
            return Ok(ready);
        }
        s => {
            ready.error = Some(format!("the machine is {s}"));
            return Ok(ready);
        }
    }
    let probe = async {
        let mut sender = connect(state, id, port).await?;
        let req = Request::builder()
            .uri("/")
            .header(header::HOST, state.settings.preview.host_of(id, port))
            .body(Body::empty())
            .map_err(|e| unavailable(id, port, e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unavailable(id, port, e))?;
        Ok::<_, ApiError>(resp.status().as_u16())
    };
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(status)) => {
            ready.service_ready = true;
            ready.status = Some(status);
        }
        Ok(Err(e)) => ready.error = Some(e.message),
        Err(_) => ready.error = Some(format!("no answer within {PROBE_TIMEOUT:?}")),
    }
    Ok(ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hop_headers_never_reach_the_app() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-drop"),
        );
        h.insert("x-drop", HeaderValue::from_static("1"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        h.insert(PROXY_TOKEN_HEADER, HeaderValue::from_static("nspv1.x"));
        h.insert(TRAFFIC_TOKEN_HEADER, HeaderValue::from_static("nstt_x"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; nullspace_preview_token=nspv1.y; b=2"),
        );
        let fwd = Forwarded {
            client: Some("127.0.0.1".parse().unwrap()),
            host: Some("8080-sb_a.localhost".into()),
            proto: "http".into(),
            prefix: None,
        };
        let out = upstream_headers(h, false, &fwd);
        assert!(out.get("x-drop").is_none() && out.get(header::CONNECTION).is_none());
        assert!(out.get(PROXY_TOKEN_HEADER).is_none() && out.get(TRAFFIC_TOKEN_HEADER).is_none());
        assert_eq!(out["x-keep"], "1");
        assert_eq!(out[header::COOKIE], "a=1; b=2");
        assert_eq!(out["x-forwarded-for"], "127.0.0.1");
        assert_eq!(out["x-forwarded-host"], "8080-sb_a.localhost");
        let mut ws = HeaderMap::new();
        ws.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        ws.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_upgrade(&ws));
        let out = upstream_headers(ws, true, &fwd);
        assert_eq!(
            (
                out[header::CONNECTION].to_str().unwrap(),
                out[header::UPGRADE].to_str().unwrap()
            ),
            ("upgrade", "websocket")
        );
    }
}
