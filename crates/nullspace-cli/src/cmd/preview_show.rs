//! What the preview commands print: fields and tables for people, with every token
//! redacted unless `raw`, and the JSON of a preview (the API's object as it is, plus
//! the transport asked for and the readiness waited for).

use std::collections::BTreeMap;

use nullspace_api::{
    PreviewAuthMode, PreviewGrantInfo, PreviewProxyTarget, PreviewReadiness, PreviewTransport,
    PreviewUrl,
};
use nullspace_client::{redact_preview_text, redact_preview_token, redact_preview_url};
use serde_json::{json, Value};

use crate::output::{self, fields, or_dash, wire_name};

/// The URL of `transport`.
pub fn selected(preview: &PreviewUrl, transport: PreviewTransport) -> &str {
    match transport {
        PreviewTransport::Http => &preview.url,
        PreviewTransport::Websocket => &preview.websocket_url,
    }
}

/// `url` whole when `raw`, else with its token redacted.
fn shown(url: &str, raw: bool) -> String {
    if raw {
        url.to_owned()
    } else {
        redact_preview_url(url)
    }
}

/// A preview as fields: the URL of `transport` first, then where else it is reached,
/// who may pass, its grant, and the readiness waited for.
pub fn preview(
    preview: &PreviewUrl,
    transport: PreviewTransport,
    raw: bool,
    readiness: Option<&PreviewReadiness>,
) -> String {
    let mut pairs = match transport {
        PreviewTransport::Http => vec![
            ("url", shown(&preview.url, raw)),
            ("path_url", shown(&preview.path_url, raw)),
        ],
        PreviewTransport::Websocket => {
            vec![("websocket_url", shown(&preview.websocket_url, raw))]
        }
    };
    pairs.push(("host", preview.host.clone()));
    let auth = match (preview.auth_mode, &preview.token) {
        (PreviewAuthMode::Public, _) => "public (no credential needed)".to_owned(),
        (PreviewAuthMode::Token, Some(_)) => "token (this link carries one)".to_owned(),
        (PreviewAuthMode::Token, None) => {
            "token (a credential is needed: `sandbox preview-url create` signs a link)".to_owned()
        }
    };
    pairs.push(("auth_mode", auth));
    if let Some(grant) = &preview.grant {
        pairs.push(("grant_id", grant.grant_id.clone()));
    }
    if let Some(end) = &preview.expires_at {
        pairs.push(("expires_at", end.clone()));
    }
    if let Some(r) = readiness {
        let ready = match r.status {
            Some(status) => format!("yes (the service answered HTTP {status})"),
            None => "yes".to_owned(),
        };
        pairs.push(("ready", ready));
    }
    fields(&pairs)
}

/// The JSON of a preview: the API's object with every value as it is, plus
/// `transport` and, after `--wait`, `readiness`.
pub fn preview_json(
    preview: &PreviewUrl,
    transport: PreviewTransport,
    readiness: Option<&PreviewReadiness>,
) -> Value {
    let mut value = json!(preview);
    value["transport"] = json!(transport);
    if let Some(r) = readiness {
        value["readiness"] = json!(r);
    }
    value
}

/// Grants as a table; tokens never show (the API does not send them).
pub fn grants(list: &[PreviewGrantInfo]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|g| {
            let last_error = g
                .last_error
                .as_ref()
                .map(|e| format!("{}: {}", e.code, redact_preview_text(&e.message)));
            vec![
                g.grant_id.clone(),
                g.port.to_string(),
                wire_name(&g.kind),
                wire_name(&g.state),
                g.request_count.to_string(),
                g.websocket_count.to_string(),
                g.denied_count.to_string(),
                g.expires_at.clone(),
                or_dash(last_error.as_ref()),
            ]
        })
        .collect();
    output::table(
        &[
            "GRANT",
            "PORT",
            "KIND",
            "STATE",
            "REQUESTS",
            "WS",
            "DENIED",
            "EXPIRES",
            "LAST_ERROR",
        ],
        &rows,
    )
}

/// `name: token` lines of a transport's headers, tokens redacted unless `raw`.
fn headers(headers: &BTreeMap<String, String>, raw: bool) -> String {
    headers
        .iter()
        .map(|(name, token)| {
            let token = if raw {
                token.clone()
            } else {
                redact_preview_token(token)
            };
            format!("{name}: {token}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A proxy target as fields: per granted transport its upstream and the header its
/// requests carry.
pub fn proxy_target(target: &PreviewProxyTarget, raw: bool) -> String {
    let mut pairs = vec![("grant_id", target.grant_id.clone())];
    let granted = |t| target.transports.contains(&t);
    if granted(PreviewTransport::Http) {
        pairs.push(("http_url", target.http_url.clone()));
        if let Some(h) = &target.headers.http {
            pairs.push(("http_header", headers(h, raw)));
        }
    }
    if granted(PreviewTransport::Websocket) {
        pairs.push(("websocket_url", target.websocket_url.clone()));
        if let Some(h) = &target.headers.websocket {
            pairs.push(("websocket_header", headers(h, raw)));
        }
    }
    pairs.push(("forwarded_headers", target.forwarded_headers.join(", ")));
    pairs.push(("expires_at", target.expires_at.clone()));
    fields(&pairs)
}

#[cfg(test)]
mod tests {
    use nullspace_api::{
        PreviewGrantError, PreviewGrantKind, PreviewGrantState, ProxyTargetHeaders, TokenTransport,
    };

    use super::*;

    const TOKEN: &str = "nspv1.pvg_g1.url.1764000000.feedface";
    const HINT: &str = "nspv1.pvg_g1.url.1764000000.***";

    fn grant(state: PreviewGrantState) -> PreviewGrantInfo {
        PreviewGrantInfo {
            grant_id: "pvg_g1".into(),
            machine_id: "sb_a".into(),
            port: 8080,
            kind: PreviewGrantKind::Url,
            transports: vec![PreviewTransport::Http, PreviewTransport::Websocket],
            token_hint: HINT.into(),
            state,
            created_at: "2026-01-01T00:00:00Z".into(),
            expires_at: "2026-01-01T01:00:00Z".into(),
            revoked_at: None,
            disabled_at: None,
            request_count: 12,
            websocket_count: 3,
            denied_count: 1,
            last_used_at: None,
            last_error: None,
        }
    }

    fn signed() -> PreviewUrl {
        let q = format!("?nullspace_preview_token={TOKEN}");
        PreviewUrl {
            machine_id: "sb_a".into(),
            port: 8080,
            host: "8080-sb_a.localhost:7070".into(),
            url: format!("http://8080-sb_a.localhost:7070/{q}"),
            websocket_url: format!("ws://8080-sb_a.localhost:7070/{q}"),
            path_url: format!("http://localhost:7070/preview/sb_a/8080/{q}"),
            auth_mode: PreviewAuthMode::Token,
            token_transport: TokenTransport::Query,
            token: Some(TOKEN.into()),
            expires_at: Some("2026-01-01T01:00:00Z".into()),
            grant: Some(grant(PreviewGrantState::Active)),
        }
    }

    #[test]
    fn previews_redact_their_urls_unless_raw() {
        let p = signed();
        let text = preview(&p, PreviewTransport::Http, false, None);
        assert!(!text.contains("feedface"), "{text}");
        assert!(
            text.starts_with(&format!(
                "url         http://8080-sb_a.localhost:7070/?nullspace_preview_token={HINT}"
            )),
            "{text}"
        );
        assert!(text.contains("grant_id    pvg_g1"), "{text}");
        assert!(text.contains("expires_at  2026-01-01T01:00:00Z"), "{text}");
        assert!(!text.contains("ready"), "{text}");
        let raw = preview(&p, PreviewTransport::Http, true, None);
        assert_eq!(raw.matches(TOKEN).count(), 2, "url and path_url: {raw}");
        let ws = preview(&p, PreviewTransport::Websocket, false, None);
        assert!(
            ws.starts_with("websocket_url  ws://8080-sb_a.localhost:7070/?"),
            "{ws}"
        );
        assert!(!ws.contains("feedface") && !ws.contains("path_url"), "{ws}");
    }

    #[test]
    fn readiness_and_auth_modes_are_told() {
        let mut p = signed();
        let ready = PreviewReadiness {
            machine_id: "sb_a".into(),
            port: 8080,
            route_ready: true,
            service_ready: true,
            status: Some(404),
            error: None,
        };
        let text = preview(&p, PreviewTransport::Http, false, Some(&ready));
        assert!(
            text.ends_with("ready       yes (the service answered HTTP 404)"),
            "{text}"
        );
        p.token = None;
        p.grant = None;
        assert!(preview(&p, PreviewTransport::Http, false, None).contains("preview-url create"));
        p.auth_mode = PreviewAuthMode::Public;
        assert!(preview(&p, PreviewTransport::Http, false, None).contains("public"));
    }

    #[test]
    fn json_keeps_every_value_and_adds_transport_and_readiness() {
        let p = signed();
        let v = preview_json(&p, PreviewTransport::Websocket, None);
        assert_eq!(v["token"], TOKEN);
        assert_eq!(v["url"], p.url);
        assert_eq!(v["transport"], "websocket");
        assert!(v.get("readiness").is_none());
        let r = PreviewReadiness {
            machine_id: "sb_a".into(),
            port: 8080,
            route_ready: true,
            service_ready: true,
            status: Some(200),
            error: None,
        };
        let v = preview_json(&p, PreviewTransport::Http, Some(&r));
        assert_eq!(v["readiness"]["status"], 200);
        assert_eq!(v["transport"], "http");
    }

    #[test]
    fn grant_tables_show_use_and_last_errors() {
        let mut failed = grant(PreviewGrantState::Revoked);
        failed.grant_id = "pvg_g2".into();
        failed.last_error = Some(PreviewGrantError {
            code: "preview_upstream_unavailable".into(),
            message: "nothing listens on port 8080".into(),
            at: "2026-01-01T00:30:00Z".into(),
        });
        let table = grants(&[grant(PreviewGrantState::Active), failed]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        let cells = |line: &str| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cells(lines[0]),
            [
                "GRANT",
                "PORT",
                "KIND",
                "STATE",
                "REQUESTS",
                "WS",
                "DENIED",
                "EXPIRES",
                "LAST_ERROR"
            ]
        );
        assert_eq!(
            cells(lines[1]),
            [
                "pvg_g1",
                "8080",
                "url",
                "active",
                "12",
                "3",
                "1",
                "2026-01-01T01:00:00Z",
                "-"
            ]
        );
        assert_eq!(cells(lines[2])[3], "revoked");
        assert!(
            lines[2].ends_with("preview_upstream_unavailable: nothing listens on port 8080"),
            "{table}"
        );
        assert!(!table.contains("nspv1"), "{table}");
    }

    #[test]
    fn proxy_targets_redact_header_tokens_unless_raw() {
        let token = "nspv1.pvg_g1.proxy-http.1764000000.cafe";
        let target = PreviewProxyTarget {
            machine_id: "sb_a".into(),
            port: 8080,
            grant_id: "pvg_g1".into(),
            transports: vec![PreviewTransport::Http],
            http_url: "http://8080-sb_a.localhost:7070".into(),
            websocket_url: "ws://8080-sb_a.localhost:7070".into(),
            header_name: "x-nullspace-preview-proxy-token".into(),
            headers: ProxyTargetHeaders {
                http: Some([("x-nullspace-preview-proxy-token".into(), token.into())].into()),
                websocket: None,
            },
            forwarded_headers: vec!["x-forwarded-for".into(), "x-forwarded-host".into()],
            traffic_token_header: "x-nullspace-traffic-access-token".into(),
            expires_at: "2026-01-01T01:00:00Z".into(),
        };
        let text = proxy_target(&target, false);
        assert!(!text.contains("cafe"), "{text}");
        assert!(
            text.contains(
                "http_header        x-nullspace-preview-proxy-token: nspv1.pvg_g1.proxy-http.1764000000.***"
            ),
            "{text}"
        );
        assert!(
            !text.contains("websocket"),
            "only the granted transport: {text}"
        );
        assert!(text.contains("x-forwarded-for, x-forwarded-host"), "{text}");
        assert!(proxy_target(&target, true).contains(token));
    }
}
