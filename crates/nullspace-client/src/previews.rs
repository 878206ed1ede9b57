//! Preview URLs of machine ports (`spec/previews.md`): addresses, signed grants and
//! their inventory, readiness, targets for a customer-run proxy, and the redaction of
//! preview tokens for anything shown to people.

use std::time::Duration;

use nullspace_api::{
    CreatePreviewRequest, CreateProxyTargetRequest, PreviewGrantList, PreviewProxyTarget,
    PreviewReadiness, PreviewTransport, PreviewUrl, RevokePreviewGrantResponse,
    PREVIEW_TOKEN_PARAM,
};
use nullspace_types::{MachineId, PreviewGrantId};
use reqwest::Method;

use crate::{Client, ClientError};

/// How often [`Client::wait_for_preview`] asks for the readiness.
pub const PREVIEW_POLL_INTERVAL: Duration = Duration::from_millis(400);

/// What every preview token starts with.
const TOKEN_PREFIX: &str = "nspv1.";
/// What stands for a redacted signature (or a credential that is not a token).
const REDACTED: &str = "***";

impl Client {
    /// `GET /v1/machines/{id}/previews/{port}`: the port's addresses, without a grant
    /// (no token, even when the machine takes only credentialed traffic).
    pub async fn preview_url(&self, id: &MachineId, port: u16) -> Result<PreviewUrl, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/previews/{port}"), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `POST /v1/machines/{id}/previews`: a new grant on `port` for
    /// `expires_in_seconds` (server default 3600, 60 – 604800), its token in the
    /// answer's URLs.
    pub async fn create_preview_url(
        &self,
        id: &MachineId,
        port: u16,
        expires_in_seconds: Option<u64>,
    ) -> Result<PreviewUrl, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/previews"), &[])?;
        let body = CreatePreviewRequest {
            port,
            expires_in_seconds,
        };
        self.json(self.request(Method::POST, &url).json(&body), &url)
            .await
    }

    /// `GET /v1/machines/{id}/previews/{port}/readiness`: whether the proxy can route to
    /// the machine, and whether the service on the port answers.
    pub async fn preview_readiness(
        &self,
        id: &MachineId,
        port: u16,
    ) -> Result<PreviewReadiness, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/previews/{port}/readiness"), &[])?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// Polls [`Client::preview_readiness`] every [`PREVIEW_POLL_INTERVAL`] until the
    /// service answers (or, without `require_service`, until the route is ready).
    /// Past `timeout` it fails with [`ClientError::PreviewNotReady`] carrying the last
    /// readiness read; a zero `timeout` asks once. An error of the API (the machine
    /// gone, say) is returned at once.
    pub async fn wait_for_preview(
        &self,
        id: &MachineId,
        port: u16,
        timeout: Duration,
        require_service: bool,
    ) -> Result<PreviewReadiness, ClientError> {
        let began = tokio::time::Instant::now();
        let deadline = began + timeout;
        loop {
            let readiness = self.preview_readiness(id, port).await?;
            if is_ready(&readiness, require_service) {
                return Ok(readiness);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(ClientError::PreviewNotReady {
                    machine_id: id.to_string(),
                    port,
                    require_service,
                    waited: now - began,
                    last: Box::new(readiness),
                });
            }
            tokio::time::sleep(PREVIEW_POLL_INTERVAL.min(deadline - now)).await;
        }
    }

    /// `GET /v1/machines/{id}/preview-grants`: the machine's grants (of `port` only when
    /// given), newest first, with their counters and never their tokens.
    pub async fn list_preview_grants(
        &self,
        id: &MachineId,
        port: Option<u16>,
    ) -> Result<PreviewGrantList, ClientError> {
        let query: Vec<(&str, String)> =
            port.map(|p| ("port", p.to_string())).into_iter().collect();
        let url = self.url(&format!("v1/machines/{id}/preview-grants"), &query)?;
        self.json(self.request(Method::GET, &url), &url).await
    }

    /// `DELETE /v1/machines/{id}/preview-grants/{grant_id}`: the grant stops working at
    /// once. Revoking a revoked grant answers the same; an unknown one is 404
    /// `preview_grant_not_found`.
    pub async fn revoke_preview_grant(
        &self,
        id: &MachineId,
        grant_id: &PreviewGrantId,
    ) -> Result<RevokePreviewGrantResponse, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/preview-grants/{grant_id}"), &[])?;
        self.json(self.request(Method::DELETE, &url), &url).await
    }

    /// `POST /v1/machines/{id}/preview-proxy-targets`: marker-only upstream URLs and a
    /// header token per transport (server default both) for a customer-run proxy.
    pub async fn create_preview_proxy_target(
        &self,
        id: &MachineId,
        port: u16,
        transports: Option<Vec<PreviewTransport>>,
        expires_in_seconds: Option<u64>,
    ) -> Result<PreviewProxyTarget, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/preview-proxy-targets"), &[])?;
        let body = CreateProxyTargetRequest {
            port,
            transports,
            expires_in_seconds,
        };
        self.json(self.request(Method::POST, &url).json(&body), &url)
            .await
    }
}

/// Whether `readiness` is what a wait asks for.
fn is_ready(readiness: &PreviewReadiness, require_service: bool) -> bool {
    readiness.service_ready || (!require_service && readiness.route_ready)
}

/// `readiness` in a few words, for messages:
/// `route_ready=true, service_ready=false, error: connection refused`.
pub(crate) fn describe_readiness(readiness: &PreviewReadiness) -> String {
    let mut text = format!(
        "route_ready={}, service_ready={}",
        readiness.route_ready, readiness.service_ready
    );
    if let Some(status) = readiness.status {
        text.push_str(&format!(", status {status}"));
    }
    if let Some(error) = &readiness.error {
        text.push_str(&format!(", error: {}", redact_preview_text(error)));
    }
    text
}

/// `token` with its signature (after its last `.`) replaced by `***`:
/// `nspv1.pvg_1.url.1764000000.***` still names the grant, scope and end. Only
/// `nspv1.` tokens change; any other string is returned as it is.
pub fn redact_preview_token(token: &str) -> String {
    match token.rsplit_once('.') {
        Some((head, _)) if token.starts_with(TOKEN_PREFIX) => format!("{head}.{REDACTED}"),
        _ => token.to_owned(),
    }
}

/// `url` with the value of its `nullspace_preview_token` query parameter redacted as
/// [`redact_preview_token`] does (a value that is not an `nspv1.` token is a credential
/// too, and becomes `***`). Every other byte of the URL is kept; a URL without that
/// parameter, or any other string, is returned unchanged, and a bare token is redacted.
pub fn redact_preview_url(url: &str) -> String {
    if url.starts_with(TOKEN_PREFIX) {
        return redact_preview_token(url);
    }
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (url, None),
    };
    let Some((head, query)) = before_fragment.split_once('?') else {
        return url.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if decoded(key) == PREVIEW_TOKEN_PARAM => {
                format!("{key}={}", redact_param(value))
            }
            _ => pair.to_owned(),
        })
        .collect();
    let mut out = format!("{head}?{}", pairs.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Every `nspv1.` token in `text` (a message, say) redacted.
pub fn redact_preview_text(text: &str) -> String {
    let token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '=');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(TOKEN_PREFIX) {
        out.push_str(&rest[..at]);
        let run = &rest[at..];
        let end = run.find(|c| !token_char(c)).unwrap_or(run.len());
        // A full stop after a token ends the sentence, not the token.
        let token = run[..end].trim_end_matches('.');
        out.push_str(&redact_preview_token(token));
        rest = &run[token.len()..];
    }
    out.push_str(rest);
    out
}

/// A query component, percent- and plus-decoded.
fn decoded(component: &str) -> String {
    url::form_urlencoded::parse(format!("k={component}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The raw value of a `nullspace_preview_token` parameter, redacted.
fn redact_param(raw: &str) -> String {
    let value = decoded(raw);
    if value.is_empty() {
        raw.to_owned()
    } else if value.starts_with(TOKEN_PREFIX) {
        url::form_urlencoded::byte_serialize(redact_preview_token(&value).as_bytes()).collect()
    } else {
        REDACTED.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use nullspace_api::ErrorCode;
    use serde_json::json;

    use super::*;
    use crate::test_server::{Reply, TestServer};

    const TOKEN: &str = "nspv1.pvg_abc123.url.1764000000.0123456789abcdef";

    fn id() -> MachineId {
        "sb_a".parse().unwrap()
    }

    fn readiness(route: bool, service: bool) -> serde_json::Value {
        json!({
            "machine_id": "sb_a", "port": 8080, "route_ready": route,
            "service_ready": service, "status": if service { json!(200) } else { json!(null) },
            "error": if service { json!(null) } else { json!("connection refused") },
        })
    }

    fn preview(token: Option<&str>) -> serde_json::Value {
        let q = token.map_or(String::new(), |t| format!("?{PREVIEW_TOKEN_PARAM}={t}"));
        json!({
            "machine_id": "sb_a", "port": 8080, "host": "8080-sb_a.localhost:7070",
            "url": format!("http://8080-sb_a.localhost:7070/{q}"),
            "websocket_url": format!("ws://8080-sb_a.localhost:7070/{q}"),
            "path_url": format!("http://localhost:7070/preview/sb_a/8080/{q}"),
            "auth_mode": "public", "token_transport": if token.is_some() { "query" } else { "none" },
            "token": token, "expires_at": null, "grant": null,
        })
    }

    #[test]
    fn tokens_keep_everything_but_the_signature() {
        assert_eq!(
            redact_preview_token(TOKEN),
            "nspv1.pvg_abc123.url.1764000000.***"
        );
        assert_eq!(redact_preview_token("nspv1.x"), "nspv1.***");
        for other in ["", "ns_live_key", "nstt_abc.def", "nspv1", "http://x/?a=b"] {
            assert_eq!(redact_preview_token(other), other);
        }
    }

    #[test]
    fn urls_redact_the_token_parameter_only() {
        let url =
            format!("http://8080-sb_a.localhost:7070/p?x=1&{PREVIEW_TOKEN_PARAM}={TOKEN}&y=2#top");
        assert_eq!(
            redact_preview_url(&url),
            format!("http://8080-sb_a.localhost:7070/p?x=1&{PREVIEW_TOKEN_PARAM}=nspv1.pvg_abc123.url.1764000000.***&y=2#top")
        );
        // Percent-encoded names and values are recognised.
        let encoded = format!(
            "ws://h/?nullspace%5Fpreview%5Ftoken={}",
            TOKEN.replace('.', "%2E")
        );
        assert_eq!(
            redact_preview_url(&encoded),
            "ws://h/?nullspace%5Fpreview%5Ftoken=nspv1.pvg_abc123.url.1764000000.***"
        );
        // Something else in the token's place is a credential too.
        assert_eq!(
            redact_preview_url(&format!("http://h/?{PREVIEW_TOKEN_PARAM}=secret")),
            format!("http://h/?{PREVIEW_TOKEN_PARAM}=***")
        );
        assert_eq!(redact_preview_url(TOKEN), redact_preview_token(TOKEN));
        for same in [
            "http://8080-sb_a.localhost:7070/",
            "http://h/?other_token=nspv1.a.b",
            "http://h/#nullspace_preview_token=x",
            "not a url",
            "",
        ] {
            assert_eq!(redact_preview_url(same), same);
        }
    }

    #[test]
    fn text_redacts_every_token_in_it() {
        let text = format!("grant {TOKEN} refused; also {TOKEN}.");
        assert_eq!(
            redact_preview_text(&text),
            "grant nspv1.pvg_abc123.url.1764000000.*** refused; also nspv1.pvg_abc123.url.1764000000.***."
        );
        assert_eq!(redact_preview_text("no token here"), "no token here");
    }

    #[tokio::test]
    async fn routes_bodies_and_queries_follow_the_spec() {
        let server = TestServer::start(|r| match r.route().as_str() {
            "GET /v1/machines/sb_a/previews/8080" => Reply::json(200, &preview(None)),
            "POST /v1/machines/sb_a/previews" => Reply::json(201, &preview(Some(TOKEN))),
            "GET /v1/machines/sb_a/preview-grants" => Reply::json(200, &json!({"grants": []})),
            "DELETE /v1/machines/sb_a/preview-grants/pvg_abc123" => Reply::json(
                200,
                &json!({"grant_id": "pvg_abc123", "revoked": true, "revoked_at": "2026-01-01T00:00:00Z"}),
            ),
            "POST /v1/machines/sb_a/preview-proxy-targets" => Reply::json(
                201,
                &json!({
                    "machine_id": "sb_a", "port": 8080, "grant_id": "pvg_abc123",
                    "transports": ["http"], "http_url": "http://8080-sb_a.localhost:7070",
                    "websocket_url": "ws://8080-sb_a.localhost:7070",
                    "header_name": "x-nullspace-preview-proxy-token",
                    "headers": {"http": {"x-nullspace-preview-proxy-token": "nspv1.pvg_abc123.proxy-http.1.s"}},
                    "forwarded_headers": ["x-forwarded-for"],
                    "traffic_token_header": "x-nullspace-traffic-access-token",
                    "expires_at": "2026-01-01T01:00:00Z",
                }),
            ),
            _ => Reply::error(ErrorCode::NotFound, "no route"),
        });
        let client = Client::new(server.url(), "k").unwrap();
        let direct = client.preview_url(&id(), 8080).await.unwrap();
        assert_eq!(direct.host, "8080-sb_a.localhost:7070");
        assert_eq!(direct.token, None);
        assert_eq!(server.last().header("authorization"), Some("Bearer k"));

        let signed = client
            .create_preview_url(&id(), 8080, Some(900))
            .await
            .unwrap();
        assert_eq!(signed.token.as_deref(), Some(TOKEN));
        assert_eq!(
            server.last().json(),
            json!({"port": 8080, "expires_in_seconds": 900})
        );
        client.create_preview_url(&id(), 8080, None).await.unwrap();
        assert_eq!(
            server.last().json(),
            json!({"port": 8080}),
            "the server's default"
        );

        client.list_preview_grants(&id(), Some(8080)).await.unwrap();
        assert_eq!(server.last().query, "port=8080");
        let all = client.list_preview_grants(&id(), None).await.unwrap();
        assert!(all.grants.is_empty());
        assert_eq!(server.last().query, "");

        let revoked = client
            .revoke_preview_grant(&id(), &"pvg_abc123".parse().unwrap())
            .await
            .unwrap();
        assert!(revoked.revoked);

        let target = client
            .create_preview_proxy_target(&id(), 8080, Some(vec![PreviewTransport::Http]), Some(60))
            .await
            .unwrap();
        assert_eq!(target.transports, [PreviewTransport::Http]);
        assert!(target.headers.websocket.is_none());
        assert_eq!(
            server.last().json(),
            json!({"port": 8080, "transports": ["http"], "expires_in_seconds": 60})
        );
        client
            .create_preview_proxy_target(&id(), 8080, None, None)
            .await
            .unwrap();
        assert_eq!(server.last().json(), json!({"port": 8080}));
    }

    /// A server whose readiness of port 8080 is `answers[n]` on the n-th poll (the last
    /// one from then on).
    fn polled(answers: Vec<serde_json::Value>) -> (TestServer, Arc<AtomicUsize>) {
        let polls = Arc::new(AtomicUsize::new(0));
        let count = polls.clone();
        let server = TestServer::start(move |r| {
            assert_eq!(r.route(), "GET /v1/machines/sb_a/previews/8080/readiness");
            let n = count.fetch_add(1, Ordering::SeqCst);
            Reply::json(200, &answers[n.min(answers.len() - 1)])
        });
        (server, polls)
    }

    #[tokio::test]
    async fn waits_poll_until_the_service_answers() {
        let (server, polls) = polled(vec![
            readiness(false, false),
            readiness(true, false),
            readiness(true, true),
        ]);
        let client = Client::new(server.url(), "k").unwrap();
        let began = std::time::Instant::now();
        let ready = client
            .wait_for_preview(&id(), 8080, Duration::from_secs(30), true)
            .await
            .unwrap();
        assert!(ready.service_ready);
        assert_eq!(ready.status, Some(200));
        assert_eq!(polls.load(Ordering::SeqCst), 3);
        // Two pauses between three polls.
        assert!(
            began.elapsed() >= 2 * PREVIEW_POLL_INTERVAL,
            "{:?}",
            began.elapsed()
        );
    }

    #[tokio::test]
    async fn waits_for_the_route_only_when_asked() {
        let (server, polls) = polled(vec![readiness(false, false), readiness(true, false)]);
        let client = Client::new(server.url(), "k").unwrap();
        let ready = client
            .wait_for_preview(&id(), 8080, Duration::from_secs(30), false)
            .await
            .unwrap();
        assert!(ready.route_ready && !ready.service_ready);
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_wait_times_out_with_the_last_readiness() {
        let (server, polls) = polled(vec![readiness(false, false), readiness(true, false)]);
        let client = Client::new(server.url(), "k").unwrap();
        let err = client
            .wait_for_preview(&id(), 8080, Duration::from_millis(1000), true)
            .await
            .unwrap_err();
        let ClientError::PreviewNotReady {
            machine_id,
            port,
            waited,
            last,
            require_service,
        } = &err
        else {
            panic!("unexpected {err:?}");
        };
        assert_eq!(
            (machine_id.as_str(), *port, *require_service),
            ("sb_a", 8080, true)
        );
        assert!(*waited >= Duration::from_millis(1000), "{waited:?}");
        assert!(last.route_ready && !last.service_ready, "{last:?}");
        let text = err.to_string();
        assert!(
            text.contains("route_ready=true, service_ready=false"),
            "{text}"
        );
        assert!(text.contains("connection refused"), "{text}");
        assert_eq!(err.status(), None);
        // Polled along the way, not once and then slept out.
        let n = polls.load(Ordering::SeqCst);
        assert!((3..=5).contains(&n), "{n} polls");
        // A zero timeout asks once.
        let before = polls.load(Ordering::SeqCst);
        let err = client
            .wait_for_preview(&id(), 8080, Duration::ZERO, true)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::PreviewNotReady { .. }),
            "{err:?}"
        );
        assert_eq!(polls.load(Ordering::SeqCst), before + 1);
    }

    #[tokio::test]
    async fn a_wait_returns_api_errors_at_once() {
        let polls = Arc::new(AtomicUsize::new(0));
        let count = polls.clone();
        let server = TestServer::start(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
            Reply::error(ErrorCode::MachineNotRunning, "machine sb_a is killed")
        });
        let client = Client::new(server.url(), "k").unwrap();
        let err = client
            .wait_for_preview(&id(), 8080, Duration::from_secs(30), true)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::MachineNotRunning));
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    }
}
