//! The preview proxy and its grants over the do-nothing node, whose machine
//! ports are loopback servers of the test: routing by host and by path,
//! tokens, revocation, counters, proxy targets, WebSockets, auto-resume.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::get;
use common::{api_over_shared, code, Api};
use futures_util::{SinkExt, StreamExt};
use nullspace_server::node::FakeNode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An upstream app: `/…` answers what it was sent, `/ws` echoes WebSocket text.
async fn upstream() -> SocketAddr {
    async fn echo(uri: axum::http::Uri, headers: HeaderMap) -> axum::Json<Value> {
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
            .collect();
        axum::Json(json!({"target": uri.to_string(), "headers": headers}))
    }
    async fn ws(up: WebSocketUpgrade) -> axum::response::Response {
        up.on_upgrade(|mut socket| async move {
            while let Some(Ok(Message::Text(t))) = socket.recv().await {
                if socket
                    .send(Message::Text(format!("echo {t}").into()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    }
    let app = axum::Router::new().route("/ws", get(ws)).fallback(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The app served on a real loopback port (upgrades need a real connection).
async fn serve(api: &Api) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = api
        .app
        .clone()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One HTTP/1.1 request to `server` with `host`; status, headers and body.
async fn get_via(
    server: SocketAddr,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(server).await.unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap_or("0").parse().unwrap();
    // Small bodies of these tests come chunked or whole; unwrap one chunk.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split_once("\r\n")
            .map(|(_, rest)| rest.rsplit_once("\r\n0\r\n").map_or(rest, |(b, _)| b))
            .unwrap_or("")
            .to_owned()
    } else {
        body.to_owned()
    };
    (status, head.to_owned(), body)
}

struct Setup {
    api: Api,
    node: Arc<FakeNode>,
    server: SocketAddr,
    id: String,
    upstream: SocketAddr,
}

async fn setup(create: Value) -> Setup {
    let node = Arc::new(FakeNode::default());
    let api = api_over_shared(node.clone(), 10_000.0);
    let server = serve(&api).await;
    let m = api.create(create).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let upstream = upstream().await;
    node.expose(&id.parse().unwrap(), 8080, upstream);
    Setup {
        api,
        node,
        server,
        id,
        upstream,
    }
}

fn host(id: &str, port: u16) -> String {
    format!("{port}-{id}.localhost")
}

#[tokio::test]
async fn public_ports_answer_by_host_and_by_path_with_forwarded_headers() {
    let t = setup(json!({"template": "base"})).await;
    let (s, _, body) = get_via(t.server, &host(&t.id, 8080), "/a/b?x=1", &[]).await;
    assert_eq!(s, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["target"], "/a/b?x=1");
    assert_eq!(seen["headers"]["x-forwarded-host"], host(&t.id, 8080));
    assert_eq!(seen["headers"]["x-forwarded-proto"], "http");
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");
    // Path form: the prefix is stripped and told.
    let path = format!("/preview/{}/8080/c?y=2", t.id);
    let (s, _, body) = get_via(t.server, "127.0.0.1", &path, &[]).await;
    assert_eq!(s, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["target"], "/c?y=2");
    assert_eq!(
        seen["headers"]["x-forwarded-prefix"],
        format!("/preview/{}/8080", t.id)
    );
    let (s, head, _) = get_via(
        t.server,
        "127.0.0.1",
        &format!("/preview/{}/8080", t.id),
        &[],
    )
    .await;
    assert_eq!(s, 308);
    assert!(head.contains(&format!("/preview/{}/8080/", t.id)), "{head}");
    // The API beside it is untouched.
    let (s, _, _) = get_via(t.server, "127.0.0.1", "/v1/health", &[]).await;
    assert_eq!(s, 200);
    // Bad ports and machines.
    let (s, _, body) = get_via(t.server, "127.0.0.1", &format!("/preview/{}/0/", t.id), &[]).await;
    assert_eq!(s, 422, "{body}");
    let (s, _, body) = get_via(t.server, &host("sb_nosuchmachine", 8080), "/", &[]).await;
    assert_eq!(s, 404, "{body}");
    let (s, _, body) = get_via(t.server, &host(&t.id, 9999), "/", &[]).await;
    assert_eq!(s, 502, "{body}");
    assert!(body.contains("preview_upstream_unavailable"), "{body}");
    let _ = (&t.node, t.upstream);
}

#[tokio::test]
async fn signed_links_set_a_cookie_count_their_use_and_stop_when_revoked() {
    let t = setup(json!({"template": "base"})).await;
    let (s, direct) = t
        .api
        .call(
            Method::GET,
            &format!("/v1/machines/{}/previews/8080", t.id),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{direct}");
    assert_eq!(direct["auth_mode"], "public");
    assert_eq!(direct["host"], host(&t.id, 8080));
    assert_eq!(direct["url"], format!("http://{}/", host(&t.id, 8080)));
    assert!(direct["token"].is_null() && direct["grant"].is_null());
    let (s, link) = t
        .api
        .call(
            Method::POST,
            &format!("/v1/machines/{}/previews", t.id),
            Some(json!({"port": 8080, "expires_in_seconds": 600})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    let token = link["token"].as_str().unwrap().to_owned();
    let grant = link["grant"]["grant_id"].as_str().unwrap().to_owned();
    assert!(link["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("?nullspace_preview_token={token}")));
    assert!(
        !link["grant"].to_string().contains(&token),
        "the grant never shows the token"
    );
    assert!(link["grant"]["token_hint"]
        .as_str()
        .unwrap()
        .ends_with(".***"));
    let target = format!("/page?nullspace_preview_token={token}&keep=1");
    let (s, head, body) = get_via(t.server, &host(&t.id, 8080), &target, &[]).await;
    assert_eq!(s, 200, "{body}");
    assert!(
        head.contains("set-cookie: nullspace_preview_token="),
        "{head}"
    );
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        seen["target"], "/page?keep=1",
        "the app never sees the token"
    );
    // The cookie works for the rest of the visit, and never reaches the app.
    let cookie = format!("theme=dark; nullspace_preview_token={token}");
    let (s, _, body) = get_via(
        t.server,
        &host(&t.id, 8080),
        "/next",
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(s, 200);
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["headers"]["cookie"], "theme=dark");
    // Another port: refused and counted.
    t.node.expose(&t.id.parse().unwrap(), 9090, t.upstream);
    let (s, _, body) = get_via(t.server, &host(&t.id, 9090), &target, &[]).await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body.contains("preview_token_invalid") && body.contains("port 8080"),
        "{body}"
    );
    // A forged signature (its last character changed, whatever it was).
    let last = if token.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    let (s, _, _) = get_via(
        t.server,
        &host(&t.id, 8080),
        "/",
        &[("x-nullspace-preview-token", &forged)],
    )
    .await;
    assert_eq!(s, 403);
    let (s, list) = t
        .api
        .call(
            Method::GET,
            &format!("/v1/machines/{}/preview-grants?port=8080", t.id),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let g = &list["grants"][0];
    assert_eq!(
        (g["grant_id"].as_str(), g["state"].as_str()),
        (Some(grant.as_str()), Some("active"))
    );
    assert_eq!(
        (g["request_count"].as_u64(), g["denied_count"].as_u64()),
        (Some(2), Some(2)),
        "{g}"
    );
    assert!(g["last_used_at"].is_string());
    // Revoked: the very next request is refused.
    let uri = format!("/v1/machines/{}/preview-grants/{grant}", t.id);
    let (s, r) = t.api.call(Method::DELETE, &uri, None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["revoked"], true);
    let (s, again) = t.api.call(Method::DELETE, &uri, None).await;
    assert_eq!(
        (s, &again["revoked_at"]),
        (StatusCode::OK, &r["revoked_at"])
    );
    let (s, _, body) = get_via(t.server, &host(&t.id, 8080), &target, &[]).await;
    assert_eq!(s, 403);
    assert!(body.contains("revoked"), "{body}");
    let (_, list) = t
        .api
        .call(
            Method::GET,
            &format!("/v1/machines/{}/preview-grants", t.id),
            None,
        )
        .await;
    assert_eq!(list["grants"][0]["state"], "revoked");
    assert!(list["grants"][0]["disabled_at"].is_string());
    let (s, v) = t
        .api
        .call(
            Method::DELETE,
            &format!("/v1/machines/{}/preview-grants/pvg_nosuchgrant", t.id),
            None,
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::NOT_FOUND, "preview_grant_not_found")
    );
    // Another tenant sees nothing of it.
    let (s, _) = t
        .api
        .send(
            Method::GET,
            &format!("/v1/machines/{}/preview-grants", t.id),
            Some(&t.api.other_key),
            None,
            false,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_grant_requests_are_refused() {
    let t = setup(json!({"template": "base"})).await;
    let uri = format!("/v1/machines/{}/previews", t.id);
    for (body, want) in [
        (json!({"port": 0}), "validation_error"),
        (json!({"port": 70000}), "validation_error"),
        (
            json!({"port": 80, "expires_in_seconds": 5}),
            "validation_error",
        ),
        (
            json!({"port": 80, "expires_in_seconds": 999999999}),
            "validation_error",
        ),
        (json!({"port": 80, "nope": 1}), "validation_error"),
    ] {
        let (s, v) = t.api.call(Method::POST, &uri, Some(body.clone())).await;
        assert_eq!(code(&v), want, "{body}: {v}");
        assert_eq!(s.as_u16(), 422);
    }
    let (s, v) = t
        .api
        .call(
            Method::POST,
            &format!("/v1/machines/{}/preview-proxy-targets", t.id),
            Some(json!({"port": 80, "transports": []})),
        )
        .await;
    assert_eq!((s.as_u16(), code(&v)), (422, "validation_error"));
    let (s, v) = t
        .api
        .call(
            Method::GET,
            &format!("/v1/machines/{}/previews/abc", t.id),
            None,
        )
        .await;
    assert_eq!((s.as_u16(), code(&v)), (422, "validation_error"));
    let (s, v) = t
        .api
        .call(Method::GET, "/v1/machines/sb_nosuch/previews/80", None)
        .await;
    assert_eq!((s.as_u16(), code(&v)), (404, "not_found"));
}

#[tokio::test]
async fn proxy_targets_take_header_tokens_per_transport_only() {
    let t = setup(json!({"template": "base"})).await;
    let (s, target) = t
        .api
        .call(
            Method::POST,
            &format!("/v1/machines/{}/preview-proxy-targets", t.id),
            Some(json!({"port": 8080, "transports": ["http"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{target}");
    assert_eq!(target["http_url"], format!("http://{}", host(&t.id, 8080)));
    assert!(
        !target["http_url"].as_str().unwrap().contains("nspv1"),
        "marker-only"
    );
    assert!(target["headers"]["websocket"].is_null());
    let token = target["headers"]["http"]["x-nullspace-preview-proxy-token"]
        .as_str()
        .unwrap()
        .to_owned();
    let h = host(&t.id, 8080);
    let (s, _, body) = get_via(
        t.server,
        &h,
        "/",
        &[("x-nullspace-preview-proxy-token", &token)],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert!(seen["headers"]
        .get("x-nullspace-preview-proxy-token")
        .is_none());
    // In a URL it is refused: edge tokens never live in address bars.
    let (s, _, body) = get_via(
        t.server,
        &h,
        &format!("/?nullspace_preview_token={token}"),
        &[],
    )
    .await;
    assert_eq!(s, 403, "{body}");
    assert!(
        body.contains("only in x-nullspace-preview-proxy-token"),
        "{body}"
    );
    // An HTTP-only grant opens no WebSocket.
    let (s, _, body) = get_via(
        t.server,
        &h,
        "/ws",
        &[
            ("x-nullspace-preview-proxy-token", &token),
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    )
    .await;
    assert_eq!(s, 403, "{body}");
}

#[tokio::test]
async fn websockets_pass_through_the_proxy() {
    let t = setup(json!({"template": "base"})).await;
    let stream = tokio::net::TcpStream::connect(t.server).await.unwrap();
    let url = format!("ws://{}:{}/ws", host(&t.id, 8080), t.server.port());
    let (mut ws, resp) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(resp.status(), 101);
    for word in ["one", "two"] {
        ws.send(tokio_tungstenite::tungstenite::Message::Text(word.into()))
            .await
            .unwrap();
        let got = ws.next().await.unwrap().unwrap();
        assert_eq!(got.into_text().unwrap().as_str(), format!("echo {word}"));
    }
}

#[tokio::test]
async fn paused_machines_wake_on_traffic_only_with_auto_resume() {
    let t = setup(json!({"template": "base", "auto_resume": true})).await;
    let other = t.api.create(json!({"template": "base"})).await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    t.node.expose(&other_id.parse().unwrap(), 8080, t.upstream);
    // Upstream connections are kept for the next request, and dropped when the
    // machine leaves `running` (its network goes with its VM).
    for _ in 0..3 {
        assert_eq!(get_via(t.server, &host(&t.id, 8080), "/", &[]).await.0, 200);
    }
    assert_eq!(t.api.state.proxy_pool.len(), 1, "one connection, reused");
    // An idle connection outlives a sweep within its timeout, not past it.
    let now = std::time::Instant::now();
    assert_eq!(t.api.state.proxy_pool.sweep(now), 0);
    let idle = nullspace_server::services::proxy_pool::IDLE_TIMEOUT;
    assert_eq!(t.api.state.proxy_pool.sweep(now + idle), 1);
    assert!(t.api.state.proxy_pool.is_empty());
    assert_eq!(get_via(t.server, &host(&t.id, 8080), "/", &[]).await.0, 200);
    assert_eq!(t.api.state.proxy_pool.len(), 1, "a new one after the sweep");
    for id in [&t.id, &other_id] {
        let (s, v) = t
            .api
            .call(Method::POST, &format!("/v1/machines/{id}/pause"), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    assert!(t.api.state.proxy_pool.is_empty());
    let (s, _, body) = get_via(t.server, &host(&other_id, 8080), "/", &[]).await;
    assert_eq!(s, 409, "{body}");
    assert!(body.contains("machine_not_running"), "{body}");
    let (_, r) = t
        .api
        .call(
            Method::GET,
            &format!("/v1/machines/{}/previews/8080/readiness", t.id),
            None,
        )
        .await;
    assert_eq!(
        (r["route_ready"].as_bool(), r["service_ready"].as_bool()),
        (Some(true), Some(false)),
        "{r}"
    );
    // Concurrent requests all wait for the one resume.
    let h = host(&t.id, 8080);
    let calls = (0..4).map(|i| {
        let h = h.clone();
        let server = t.server;
        async move { get_via(server, &h, &format!("/r{i}"), &[]).await.0 }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert_eq!(statuses, [200, 200, 200, 200]);
    let (_, m) = t
        .api
        .call(Method::GET, &format!("/v1/machines/{}", t.id), None)
        .await;
    assert_eq!(m["state"], "running");
    let (_, r) = t
        .api
        .call(
            Method::GET,
            &format!("/v1/machines/{}/previews/8080/readiness", t.id),
            None,
        )
        .await;
    assert_eq!(
        (r["service_ready"].as_bool(), r["status"].as_u64()),
        (Some(true), Some(200)),
        "{r}"
    );
}

#[tokio::test]
async fn private_machines_take_only_signed_links_and_their_traffic_token() {
    let t = setup(json!({"template": "base", "network": {"allow_public_traffic": false}})).await;
    let uri = format!("/v1/machines/{}", t.id);
    let (s, got) = t.api.call(Method::GET, &uri, None).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["network"]["allow_public_traffic"], false);
    let token = got["traffic_access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("nstt_"), "{token}");
    // Lists never carry the token.
    let (_, list) = t.api.call(Method::GET, "/v1/machines", None).await;
    assert!(!list.to_string().contains(&token), "{list}");
    let h = host(&t.id, 8080);
    let (s, _, body) = get_via(t.server, &h, "/", &[]).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("preview_token_required"), "{body}");
    let (s, _, body) = get_via(
        t.server,
        &h,
        "/",
        &[("x-nullspace-traffic-access-token", "nstt_forged")],
    )
    .await;
    assert_eq!(s, 403, "{body}");
    let (s, _, body) = get_via(
        t.server,
        &h,
        "/p",
        &[("x-nullspace-traffic-access-token", &token)],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert!(
        seen["headers"]
            .get("x-nullspace-traffic-access-token")
            .is_none(),
        "credentials never reach the upstream: {seen}"
    );
    // Another machine's token is not this one's.
    let other = t
        .api
        .create(json!({"network": {"allow_public_traffic": false}}))
        .await;
    let other_token = other["traffic_access_token"].as_str().unwrap();
    assert_ne!(other_token, token);
    let (s, _, _) = get_via(
        t.server,
        &h,
        "/",
        &[("x-nullspace-traffic-access-token", other_token)],
    )
    .await;
    assert_eq!(s, 403);
    // The preview API says what a client needs.
    let (_, p) = t
        .api
        .call(Method::GET, &format!("{uri}/previews/8080"), None)
        .await;
    assert_eq!(p["auth_mode"], "token", "{p}");
    // A signed link opens it.
    let (s, link) = t
        .api
        .call(
            Method::POST,
            &format!("{uri}/previews"),
            Some(json!({"port": 8080, "expires_in_seconds": 60})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    let signed = link["token"].as_str().unwrap();
    let (s, _, body) = get_via(
        t.server,
        &h,
        &format!("/?nullspace_preview_token={signed}"),
        &[],
    )
    .await;
    assert_eq!(s, 200, "{body}");
}
