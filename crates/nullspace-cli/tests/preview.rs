//! `nullspace sandbox host|url|preview-url|preview-proxy-target` against a recording
//! fake server that keeps its grants: the seed's command lines become the spec's
//! requests, human output redacts every token while `--raw` and `--json` give them
//! whole, revoked grants show as revoked, and bad values are usage errors that send
//! nothing.

mod support;

use std::sync::{Arc, Mutex};

use nullspace_api::{
    ErrorCode, PreviewAuthMode, PreviewGrantInfo, PreviewGrantKind, PreviewGrantList,
    PreviewGrantState, PreviewProxyTarget, PreviewReadiness, PreviewTransport, PreviewUrl,
    ProxyTargetHeaders, RevokePreviewGrantResponse, TokenTransport,
};
use nullspace_client::test_server::{Recorded, Reply, TestServer};
use serde_json::json;
use support::{run, KEY};

/// The secret part of every token the fake signs: it must never show redacted.
const SECRET: &str = "5ec4e7516a7";

/// The fake's grants, newest first.
type Grants = Arc<Mutex<Vec<PreviewGrantInfo>>>;

fn token(grant: &str, scope: &str) -> String {
    format!("nspv1.{grant}.{scope}.1764003600.{SECRET}")
}

fn hint(grant: &str, scope: &str) -> String {
    format!("nspv1.{grant}.{scope}.1764003600.***")
}

/// The addresses of `port` of `id`, signed with `token` when there is one.
fn addresses(id: &str, port: u16, token: Option<&str>) -> PreviewUrl {
    let q = token.map_or(String::new(), |t| format!("?nullspace_preview_token={t}"));
    PreviewUrl {
        machine_id: id.into(),
        port,
        host: format!("{port}-{id}.localhost:7070"),
        url: format!("http://{port}-{id}.localhost:7070/{q}"),
        websocket_url: format!("ws://{port}-{id}.localhost:7070/{q}"),
        path_url: format!("http://localhost:7070/preview/{id}/{port}/{q}"),
        auth_mode: if id == "sb_priv" {
            PreviewAuthMode::Token
        } else {
            PreviewAuthMode::Public
        },
        token_transport: if token.is_some() {
            TokenTransport::Query
        } else {
            TokenTransport::None
        },
        token: token.map(str::to_owned),
        expires_at: None,
        grant: None,
    }
}

fn new_grant(grants: &Grants, id: &str, port: u16, kind: PreviewGrantKind) -> PreviewGrantInfo {
    let mut list = grants.lock().unwrap();
    let grant_id = format!("pvg_g{}", list.len() + 1);
    let scope = match kind {
        PreviewGrantKind::Url => "url",
        PreviewGrantKind::Proxy => "proxy-http",
    };
    let g = PreviewGrantInfo {
        token_hint: hint(&grant_id, scope),
        grant_id,
        machine_id: id.into(),
        port,
        kind,
        transports: vec![PreviewTransport::Http, PreviewTransport::Websocket],
        state: PreviewGrantState::Active,
        created_at: "2026-01-01T00:00:00Z".into(),
        expires_at: "2026-01-01T01:00:00Z".into(),
        revoked_at: None,
        disabled_at: None,
        request_count: 7,
        websocket_count: 2,
        denied_count: 1,
        last_used_at: Some("2026-01-01T00:10:00Z".into()),
        last_error: None,
    };
    list.insert(0, g.clone());
    g
}

fn readiness(id: &str, port: u16) -> PreviewReadiness {
    // Port 8080 answers; anything else runs but has no service.
    let up = port == 8080;
    PreviewReadiness {
        machine_id: id.into(),
        port,
        route_ready: true,
        service_ready: up,
        status: up.then_some(200),
        error: (!up).then(|| "connection refused".into()),
    }
}

/// The fake API of the preview routes, with machines `sb_pub` (public) and `sb_priv`
/// (no public traffic).
fn api(grants: &Grants, r: &Recorded) -> Reply {
    if r.header("authorization") != Some(&format!("Bearer {KEY}")) {
        return Reply::error(ErrorCode::Unauthorized, "unknown API key");
    }
    let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    let (id, rest) = match parts.as_slice() {
        ["v1", "machines", id @ ("sb_pub" | "sb_priv"), rest @ ..] => (*id, rest),
        ["v1", "machines", id, ..] => {
            return Reply::error(ErrorCode::NotFound, &format!("no machine {id}"))
        }
        _ => return Reply::error(ErrorCode::NotFound, "no route"),
    };
    let body = r.json();
    match (r.method.as_str(), rest) {
        ("GET", ["previews", port]) => {
            Reply::json(200, &addresses(id, port.parse().unwrap(), None))
        }
        ("GET", ["previews", port, "readiness"]) => {
            Reply::json(200, &readiness(id, port.parse().unwrap()))
        }
        ("POST", ["previews"]) => {
            let port = body["port"].as_u64().unwrap() as u16;
            let g = new_grant(grants, id, port, PreviewGrantKind::Url);
            let mut signed = addresses(id, port, Some(&token(&g.grant_id, "url")));
            signed.expires_at = Some(g.expires_at.clone());
            signed.grant = Some(g);
            Reply::json(201, &signed)
        }
        ("GET", ["preview-grants"]) => {
            let port = r.query_param("port").map(|p| p.parse::<u16>().unwrap());
            let list: Vec<PreviewGrantInfo> = grants
                .lock()
                .unwrap()
                .iter()
                .filter(|g| g.machine_id == id && port.is_none_or(|p| g.port == p))
                .cloned()
                .collect();
            Reply::json(200, &PreviewGrantList { grants: list })
        }
        ("DELETE", ["preview-grants", grant_id]) => {
            let mut list = grants.lock().unwrap();
            match list.iter_mut().find(|g| g.grant_id == *grant_id) {
                Some(g) => {
                    g.state = PreviewGrantState::Revoked;
                    let at = g
                        .revoked_at
                        .get_or_insert_with(|| "2026-01-01T00:20:00Z".into())
                        .clone();
                    g.disabled_at = Some(at.clone());
                    Reply::json(
                        200,
                        &RevokePreviewGrantResponse {
                            grant_id: g.grant_id.clone(),
                            revoked: true,
                            revoked_at: at,
                        },
                    )
                }
                None => Reply::error(
                    ErrorCode::PreviewGrantNotFound,
                    &format!("no preview grant {grant_id}"),
                ),
            }
        }
        ("POST", ["preview-proxy-targets"]) => {
            let port = body["port"].as_u64().unwrap() as u16;
            let g = new_grant(grants, id, port, PreviewGrantKind::Proxy);
            let wanted: Vec<PreviewTransport> = serde_json::from_value(body["transports"].clone())
                .unwrap_or_else(|_| vec![PreviewTransport::Http, PreviewTransport::Websocket]);
            let header = |scope| {
                Some(
                    [(
                        "x-nullspace-preview-proxy-token".to_owned(),
                        token(&g.grant_id, scope),
                    )]
                    .into(),
                )
            };
            let headers = ProxyTargetHeaders {
                http: wanted
                    .contains(&PreviewTransport::Http)
                    .then(|| header("proxy-http"))
                    .flatten(),
                websocket: wanted
                    .contains(&PreviewTransport::Websocket)
                    .then(|| header("proxy-ws"))
                    .flatten(),
            };
            Reply::json(
                201,
                &PreviewProxyTarget {
                    machine_id: id.into(),
                    port,
                    grant_id: g.grant_id.clone(),
                    transports: wanted,
                    http_url: format!("http://{port}-{id}.localhost:7070"),
                    websocket_url: format!("ws://{port}-{id}.localhost:7070"),
                    header_name: "x-nullspace-preview-proxy-token".into(),
                    headers,
                    forwarded_headers: vec![
                        "x-forwarded-for".into(),
                        "x-forwarded-host".into(),
                        "x-forwarded-proto".into(),
                    ],
                    traffic_token_header: "x-nullspace-traffic-access-token".into(),
                    expires_at: g.expires_at.clone(),
                },
            )
        }
        _ => Reply::error(ErrorCode::NotFound, "no route"),
    }
}

fn server() -> TestServer {
    let grants: Grants = Arc::default();
    TestServer::start(move |r| api(&grants, r))
}

/// The value of field `key` in `key  value` lines.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim_start())
    })
}

fn routes(server: &TestServer) -> Vec<String> {
    server.requests().iter().map(Recorded::route).collect()
}

#[test]
fn host_and_url_print_one_value() {
    let s = server();
    let out = run(&s, &["sandbox", "host", "sb_pub", "8080"]);
    assert_eq!(
        (out.status, out.stdout.as_str()),
        (0, "8080-sb_pub.localhost:7070\n"),
        "{}",
        out.stderr
    );
    assert_eq!(routes(&s), ["GET /v1/machines/sb_pub/previews/8080"]);

    // A public machine's URL works as it is: nothing is signed.
    let out = run(&s, &["machine", "url", "sb_pub", "3000"]);
    assert_eq!(
        (out.status, out.stdout.as_str()),
        (0, "http://3000-sb_pub.localhost:7070/\n")
    );
    let out = run(&s, &["sandbox", "url", "sb_pub", "3000", "--websocket"]);
    assert_eq!(out.stdout, "ws://3000-sb_pub.localhost:7070/\n");
    assert_eq!(out.stderr, "", "no token, no note");
    assert!(
        !routes(&s).iter().any(|r| r.starts_with("POST")),
        "{:?}",
        routes(&s)
    );

    // A machine without public traffic gets a signed link, redacted unless --raw.
    let out = run(&s, &["sandbox", "url", "sb_priv", "8080"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "http://8080-sb_priv.localhost:7070/?nullspace_preview_token={}\n",
            hint("pvg_g1", "url")
        )
    );
    assert!(out.stderr.contains("--raw"), "{}", out.stderr);
    assert_eq!(s.last().route(), "POST /v1/machines/sb_priv/previews");
    assert_eq!(
        s.last().json(),
        json!({"port": 8080}),
        "the server's default life"
    );
    let out = run(
        &s,
        &[
            "sandbox",
            "url",
            "sb_priv",
            "8080",
            "--websocket",
            "--raw",
            "--expires",
            "15m",
        ],
    );
    assert_eq!(
        out.stdout,
        format!(
            "ws://8080-sb_priv.localhost:7070/?nullspace_preview_token={}\n",
            token("pvg_g2", "url")
        )
    );
    assert_eq!(
        s.last().json(),
        json!({"port": 8080, "expires_in_seconds": 900})
    );

    // --json: the API's object with the token whole, the transport, and the readiness
    // waited for.
    let out = run(
        &s,
        &["sandbox", "url", "sb_priv", "8080", "--wait", "--json"],
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["token"], token("pvg_g3", "url"));
    assert!(v["url"]
        .as_str()
        .unwrap()
        .ends_with(&token("pvg_g3", "url")));
    assert_eq!(v["auth_mode"], "token");
    assert_eq!(v["transport"], "http");
    assert_eq!(v["readiness"]["service_ready"], true);
    assert_eq!(v["readiness"]["status"], 200);
    assert!(routes(&s).contains(&"GET /v1/machines/sb_priv/previews/8080/readiness".to_owned()));
    let out = run(&s, &["sandbox", "host", "sb_pub", "8080", "--json"]);
    assert_eq!(out.json()["host"], "8080-sb_pub.localhost:7070");
}

#[test]
fn create_list_revoke_and_list_again() {
    let s = server();
    let out = run(
        &s,
        &[
            "sandbox",
            "preview-url",
            "create",
            "sb_pub",
            "8080",
            "--expires",
            "15m",
        ],
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(s.last().route(), "POST /v1/machines/sb_pub/previews");
    assert_eq!(
        s.last().json(),
        json!({"port": 8080, "expires_in_seconds": 900})
    );
    assert!(!out.stdout.contains(SECRET), "redacted: {}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "nullspace_preview_token={}",
            hint("pvg_g1", "url")
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        field(&out.stdout, "grant_id"),
        Some("pvg_g1"),
        "{}",
        out.stdout
    );
    assert_eq!(
        field(&out.stdout, "expires_at"),
        Some("2026-01-01T01:00:00Z"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("redacted"), "{}", out.stderr);

    let out = run(
        &s,
        &[
            "sandbox",
            "preview-url",
            "create",
            "sb_pub",
            "8080",
            "--expires",
            "2h",
            "--raw",
        ],
    );
    assert_eq!(s.last().json()["expires_in_seconds"], 7200);
    assert!(
        out.stdout.contains(&token("pvg_g2", "url")),
        "{}",
        out.stdout
    );
    assert_eq!(out.stderr, "");

    let out = run(
        &s,
        &[
            "sandbox",
            "preview-url",
            "create",
            "sb_pub",
            "8080",
            "--expires",
            "90",
            "--wait",
            "--websocket",
            "--json",
        ],
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["token"], token("pvg_g3", "url"));
    assert_eq!(v["grant"]["grant_id"], "pvg_g3");
    assert_eq!(
        (
            v["transport"].as_str(),
            v["readiness"]["service_ready"].as_bool()
        ),
        (Some("websocket"), Some(true))
    );
    assert_eq!(s.last().json()["expires_in_seconds"], 90);
    let waited = routes(&s);
    let poll = waited
        .iter()
        .position(|r| r.ends_with("/readiness"))
        .unwrap();
    assert_eq!(
        waited[poll + 1],
        "POST /v1/machines/sb_pub/previews",
        "waits, then signs: {waited:?}"
    );

    // The list: a table of use, never a token.
    let out = run(&s, &["sandbox", "preview-url", "list", "sb_pub"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    for head in [
        "GRANT",
        "PORT",
        "KIND",
        "STATE",
        "REQUESTS",
        "WS",
        "DENIED",
        "EXPIRES",
        "LAST_ERROR",
    ] {
        assert!(lines[0].contains(head), "{}", lines[0]);
    }
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        first,
        [
            "pvg_g3",
            "8080",
            "url",
            "active",
            "7",
            "2",
            "1",
            "2026-01-01T01:00:00Z",
            "-"
        ]
    );
    assert!(!out.stdout.contains("nspv1"), "{}", out.stdout);

    let out = run(
        &s,
        &["sandbox", "preview-url", "revoke", "sb_pub", "pvg_g1"],
    );
    assert_eq!(
        (out.status, out.stdout.as_str()),
        (0, "revoked pvg_g1 (at 2026-01-01T00:20:00Z)\n"),
        "{}",
        out.stderr
    );
    assert_eq!(
        s.last().route(),
        "DELETE /v1/machines/sb_pub/preview-grants/pvg_g1"
    );
    let out = run(
        &s,
        &[
            "sandbox",
            "preview-url",
            "revoke",
            "sb_pub",
            "pvg_g1",
            "--json",
        ],
    );
    assert_eq!(
        out.json(),
        json!({"grant_id": "pvg_g1", "revoked": true, "revoked_at": "2026-01-01T00:20:00Z"})
    );

    let out = run(
        &s,
        &[
            "sandbox",
            "preview-url",
            "list",
            "sb_pub",
            "--port",
            "8080",
            "--json",
        ],
    );
    assert_eq!(s.last().query, "port=8080");
    let v = out.json();
    let states: Vec<(&str, &str)> = v["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["grant_id"].as_str().unwrap(),
                g["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("pvg_g3", "active"),
            ("pvg_g2", "active"),
            ("pvg_g1", "revoked")
        ]
    );
    let out = run(&s, &["sandbox", "preview-url", "list", "sb_pub"]);
    let last: Vec<&str> = out
        .stdout
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!((last[0], last[3]), ("pvg_g1", "revoked"), "{}", out.stdout);

    let out = run(
        &s,
        &["sandbox", "preview-url", "list", "sb_pub", "--port", "9090"],
    );
    assert_eq!(out.stdout, "no preview grants on port 9090 of sb_pub\n");

    // Unknown grants and machines exit 5 with the API's code.
    let out = run(
        &s,
        &[
            "sandbox",
            "preview-url",
            "revoke",
            "sb_pub",
            "pvg_nosuch",
            "--json",
        ],
    );
    assert_eq!(out.status, 5, "{}", out.stderr);
    assert_eq!(out.error_json()["error"]["code"], "preview_grant_not_found");
    let out = run(&s, &["sandbox", "preview-url", "get", "sb_gone", "8080"]);
    assert_eq!(out.status, 5, "{}", out.stderr);
    assert!(out.stderr.contains("(not_found)"), "{}", out.stderr);
}

#[test]
fn get_describes_the_addresses_without_a_grant() {
    let s = server();
    let out = run(&s, &["sandbox", "preview-url", "get", "sb_priv", "8080"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("url "),
        "the URL first: {}",
        out.stdout
    );
    assert_eq!(
        field(&out.stdout, "url"),
        Some("http://8080-sb_priv.localhost:7070/")
    );
    assert_eq!(
        field(&out.stdout, "path_url"),
        Some("http://localhost:7070/preview/sb_priv/8080/")
    );
    assert!(
        out.stdout.contains("preview-url create"),
        "says how to sign: {}",
        out.stdout
    );
    assert_eq!(
        routes(&s),
        ["GET /v1/machines/sb_priv/previews/8080"],
        "get never signs"
    );
    let out = run(
        &s,
        &[
            "sandbox",
            "preview-url",
            "get",
            "sb_pub",
            "8080",
            "--websocket",
            "--json",
        ],
    );
    let v = out.json();
    assert_eq!(
        (v["websocket_url"].as_str(), v["transport"].as_str()),
        (Some("ws://8080-sb_pub.localhost:7070/"), Some("websocket"))
    );
    assert!(v["token"].is_null() && v.get("readiness").is_none(), "{v}");
}

#[test]
fn proxy_targets_redact_header_tokens_unless_raw() {
    let s = server();
    let out = run(
        &s,
        &[
            "sandbox",
            "preview-proxy-target",
            "create",
            "sb_pub",
            "8080",
            "--transport",
            "http",
            "--transport",
            "websocket",
        ],
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(
        s.last().route(),
        "POST /v1/machines/sb_pub/preview-proxy-targets"
    );
    assert_eq!(
        s.last().json(),
        json!({"port": 8080, "transports": ["http", "websocket"]})
    );
    assert!(!out.stdout.contains(SECRET), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "x-nullspace-preview-proxy-token: {}",
            hint("pvg_g1", "proxy-http")
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "x-nullspace-preview-proxy-token: {}",
            hint("pvg_g1", "proxy-ws")
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        field(&out.stdout, "http_url"),
        Some("http://8080-sb_pub.localhost:7070"),
        "{}",
        out.stdout
    );

    let out = run(
        &s,
        &[
            "sandbox",
            "preview-proxy-target",
            "create",
            "sb_pub",
            "8080",
            "--transport",
            "websocket",
            "--expires",
            "1d",
            "--raw",
        ],
    );
    assert_eq!(
        s.last().json(),
        json!({"port": 8080, "transports": ["websocket"], "expires_in_seconds": 86400})
    );
    assert!(
        out.stdout.contains(&token("pvg_g2", "proxy-ws")),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("http_url"),
        "only the granted transport: {}",
        out.stdout
    );

    let out = run(
        &s,
        &[
            "sandbox",
            "preview-proxy-target",
            "create",
            "sb_pub",
            "8080",
            "--json",
        ],
    );
    assert_eq!(
        s.last().json(),
        json!({"port": 8080}),
        "both, the server's default"
    );
    let v = out.json();
    assert_eq!(
        v["headers"]["http"]["x-nullspace-preview-proxy-token"],
        token("pvg_g3", "proxy-http")
    );
    assert_eq!(v["grant_id"], "pvg_g3");
}

#[test]
fn a_wait_past_its_timeout_exits_8_and_signs_nothing() {
    let s = server();
    let out = run(
        &s,
        &[
            "sandbox",
            "preview-url",
            "create",
            "sb_pub",
            "9090",
            "--wait",
            "--wait-timeout",
            "1s",
            "--json",
        ],
    );
    assert_eq!(out.status, 8, "{}", out.stderr);
    let e = out.error_json();
    assert_eq!(e["error"]["code"], "wait_timeout");
    assert_eq!(e["error"]["exit_code"], 8);
    assert_eq!(e["error"]["readiness"]["error"], "connection refused");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("port 9090"),
        "{e}"
    );
    let polls = routes(&s);
    assert!(
        polls.len() >= 2
            && polls
                .iter()
                .all(|r| r.ends_with("/previews/9090/readiness")),
        "{polls:?}"
    );
    let out = run(
        &s,
        &[
            "sandbox",
            "url",
            "sb_pub",
            "9090",
            "--wait",
            "--wait-timeout",
            "0",
        ],
    );
    assert_eq!(out.status, 8, "{}", out.stderr);
    assert!(
        out.stderr.contains("service_ready=false") && out.stderr.contains("(wait_timeout)"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_values_are_usage_errors_and_send_nothing() {
    let s = server();
    for (args, says) in [
        (
            &["sandbox", "host", "sb_pub", "0"][..],
            "0 is not in 1..=65535",
        ),
        (&["sandbox", "url", "sb_pub", "70000"], "65535"),
        (
            &[
                "sandbox",
                "preview-url",
                "create",
                "sb_pub",
                "8080",
                "--expires",
                "5s",
            ],
            "1m to 7d",
        ),
        (
            &[
                "sandbox",
                "preview-url",
                "create",
                "sb_pub",
                "8080",
                "--expires",
                "fortnight",
            ],
            "90s, 15m, 2h, 1d",
        ),
        (
            &[
                "sandbox",
                "preview-url",
                "create",
                "sb_pub",
                "8080",
                "--wait-timeout",
                "5s",
            ],
            "--wait",
        ),
        (
            &[
                "sandbox",
                "preview-proxy-target",
                "create",
                "sb_pub",
                "8080",
                "--transport",
                "ftp",
            ],
            "ftp",
        ),
        (
            &["sandbox", "preview-url", "revoke", "sb_pub", "g1"],
            "pvg_",
        ),
        (
            &["sandbox", "preview-url", "list", "sb_pub", "--port", "0"],
            "0 is not in",
        ),
    ] {
        let out = run(&s, args);
        assert_eq!(out.status, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
    let json = vec![
        "sandbox",
        "preview-url",
        "create",
        "sb_pub",
        "8080",
        "--expires",
        "8d",
        "--json",
    ];
    let out = run(&s, &json);
    assert_eq!(
        (out.status, out.error_json()["error"]["code"].as_str()),
        (2, Some("usage"))
    );
    assert!(
        s.requests().is_empty(),
        "nothing was sent: {:?}",
        routes(&s)
    );
}
