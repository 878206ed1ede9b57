//! Regression tests of defects found by probing the API as a new user and as an
//! attacker, over the do-nothing node (each failed before its fix).

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{api, api_over, api_with_rate, code, Api};
use futures_util::stream;
use nullspace_api::MAX_FILE_BYTES;
use nullspace_server::node::FakeNode;
use nullspace_types::MachineState;
use serde_json::{json, Value};

/// Wait until the first tenant has a machine in `state`; returns its id.
async fn machine_in(api: &Api, state: &str) -> String {
    for _ in 0..200 {
        let (_, v) = api
            .call(Method::GET, &format!("/v1/machines?state={state}"), None)
            .await;
        if let Some(id) = v["machines"][0]["id"].as_str() {
            return id.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no machine became {state}");
}

#[tokio::test]
async fn a_kill_while_starting_cancels_the_create() {
    let api = api_over(FakeNode::with_delay(Duration::from_millis(400)), 10_000.0);
    let mut events = api.state.events.subscribe();
    let create = api.call(Method::POST, "/v1/machines", Some(json!({})));
    let kill = async {
        let id = machine_in(&api, "starting").await;
        let answer = api
            .call(Method::DELETE, &format!("/v1/machines/{id}"), None)
            .await;
        (id, answer)
    };
    let ((cs, cv), (id, (ks, kv))) = tokio::join!(create, kill);
    assert_eq!(ks, StatusCode::OK, "{kv}");
    assert_eq!(kv["outcome"], "create_cancelled");
    assert_eq!(kv["previous_state"], "starting");
    assert_eq!(
        (cs, code(&cv)),
        (StatusCode::CONFLICT, "machine_not_running"),
        "the create lost: {cv}"
    );
    let (_, m) = api
        .call(Method::GET, &format!("/v1/machines/{id}"), None)
        .await;
    assert_eq!(m["state"], "killed");
    assert!(
        !api.state.node.is_alive(&id.parse().unwrap()),
        "nothing of it runs"
    );
    // It never became running.
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let nullspace_server::services::Event::State(e) = e {
            seen.push((e.from, e.to));
        }
    }
    assert_eq!(
        seen,
        vec![
            (MachineState::Starting, MachineState::Killing),
            (MachineState::Killing, MachineState::Killed)
        ]
    );
}

#[tokio::test]
async fn operations_that_lose_a_race_with_a_kill_answer_409() {
    let api = api_over(FakeNode::with_delay(Duration::from_millis(300)), 10_000.0);
    for op in ["pause", "resume"] {
        let m = api.create(json!({})).await;
        let id = m["id"].as_str().unwrap().to_owned();
        if op == "resume" {
            let (s, v) = api
                .call(Method::POST, &format!("/v1/machines/{id}/pause"), None)
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        let uri = format!("/v1/machines/{id}/{op}");
        let racing = api.call(Method::POST, &uri, None);
        let kill = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            api.call(Method::DELETE, &format!("/v1/machines/{id}"), None)
                .await
        };
        let ((s, v), (ks, kv)) = tokio::join!(racing, kill);
        assert_eq!(
            (s, code(&v)),
            (StatusCode::CONFLICT, "machine_not_running"),
            "{op}: {v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains("killed"),
            "{v}"
        );
        assert_eq!(
            (ks, kv["outcome"].as_str()),
            (StatusCode::OK, Some("killed")),
            "{kv}"
        );
        let (_, m) = api
            .call(Method::GET, &format!("/v1/machines/{id}"), None)
            .await;
        assert_eq!(m["state"], "killed", "{op}");
    }
    // After the kill, everything answers 409 (never 5xx).
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    api.call(Method::DELETE, &format!("/v1/machines/{id}"), None)
        .await;
    for (method, path) in [
        (Method::POST, "snapshots"),
        (Method::POST, "fork"),
        (Method::GET, "metrics"),
        (Method::POST, "resume"),
        (Method::POST, "pause"),
    ] {
        let (s, v) = api
            .call(method, &format!("/v1/machines/{id}/{path}"), None)
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::CONFLICT, "machine_not_running"),
            "{path}: {v}"
        );
    }
}

#[tokio::test]
async fn nul_bytes_and_non_object_bodies_are_422_naming_the_field() {
    let api = api();
    for (body, field) in [
        (json!({"envs": {"A\u{0}B": "x"}}), "envs."),
        (json!({"envs": {"A": "x\u{0}"}}), "envs.A"),
        (json!({"cwd": "/work\u{0}space"}), "cwd"),
        (json!({"metadata": {"k": "v\u{0}"}}), "metadata.k"),
    ] {
        let (s, v) = api.call(Method::POST, "/v1/machines", Some(body)).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            "{v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with(field),
            "{field}: {v}"
        );
    }
    let m = api.create(json!({})).await;
    let cmds = format!("/v1/machines/{}/commands", m["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"command": "echo \u{0}"}), "command"),
        (json!({"args": ["echo", "a\u{0}"]}), "args[1]"),
        (json!({"command": "env", "envs": {"K\u{0}": "v"}}), "envs."),
        (json!({"command": "env", "envs": {"K": "\u{0}"}}), "envs.K"),
        (json!({"command": "pwd", "cwd": "/tmp\u{0}"}), "cwd"),
    ] {
        let (s, v) = api.call(Method::POST, &cmds, Some(body)).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            "{v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with(field),
            "{field}: {v}"
        );
    }
    for body in ["[]", "\"x\"", "3", "null"] {
        let (s, v) = api
            .send(
                Method::POST,
                "/v1/machines",
                Some(&api.key),
                Some(Body::from(body)),
                true,
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            "{body}: {v}"
        );
    }
    let (s, v) = api
        .send(
            Method::POST,
            "/v1/machines",
            Some(&api.key),
            Some(Body::from("{")),
            true,
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{v}"
    );
    let (_, list) = api.call(Method::GET, "/v1/machines", None).await;
    assert_eq!(
        list["machines"].as_array().unwrap().len(),
        1,
        "no machine from bad bodies"
    );
}

#[tokio::test]
async fn cursors_methods_and_rate_limits_answer_with_fitting_codes() {
    let api = api();
    for bad in ["c-1", "c0", "x", "c1.5"] {
        let (s, v) = api
            .call(Method::GET, &format!("/v1/machines?cursor={bad}"), None)
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            "{bad}"
        );
    }
    let (s, h, v) = api
        .raw(Method::PATCH, "/v1/machines", Body::empty(), &[])
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        "{v}"
    );
    let allow = h["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let (s, h, _) = api
        .raw(Method::PUT, "/v1/machines/sb_abc/pause", Body::empty(), &[])
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h["allow"], "POST");

    let limited = api_with_rate(1.0);
    let mut last = None;
    for _ in 0..5 {
        let (s, h, _) = limited
            .raw(Method::GET, "/v1/machines", Body::empty(), &[])
            .await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            last = Some(h);
            break;
        }
    }
    let h = last.expect("a 429");
    let secs: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
}

#[tokio::test]
async fn a_reused_idempotency_key_must_come_with_the_same_request() {
    let api = api();
    let key = [
        ("idempotency-key", "k1"),
        ("content-type", "application/json"),
    ];
    let body = || Body::from(json!({"timeout": 60}).to_string());
    let (s, _, first) = api.raw(Method::POST, "/v1/machines", body(), &key).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let (s, _, again) = api.raw(Method::POST, "/v1/machines", body(), &key).await;
    assert_eq!((s, &again["id"]), (StatusCode::OK, &first["id"]));
    let other = Body::from(json!({"timeout": 61}).to_string());
    let (s, _, v) = api.raw(Method::POST, "/v1/machines", other, &key).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
        "{v}"
    );
}

#[tokio::test]
async fn lists_show_live_machines_and_failed_ones_say_why() {
    let api = api();
    let a = api.create(json!({})).await;
    let b = api.create(json!({})).await;
    let b_id = b["id"].as_str().unwrap();
    let (s, killed) = api
        .call(Method::DELETE, &format!("/v1/machines/{b_id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{killed}");
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/machines",
            Some(json!({"template": "broken"})),
        )
        .await;
    assert_eq!(s.as_u16() / 100, 5, "a create that dies is a 5xx: {v}");
    let ids = |v: &Value| -> Vec<String> {
        v["machines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, live) = api.call(Method::GET, "/v1/machines", None).await;
    assert_eq!(ids(&live), vec![a["id"].as_str().unwrap().to_owned()]);
    assert!(live["machines"][0]["failure_reason"].is_null());
    let (_, gone) = api
        .call(Method::GET, "/v1/machines?state=killed,failed", None)
        .await;
    assert_eq!(gone["machines"].as_array().unwrap().len(), 2, "{gone}");
    let failed = gone["machines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["state"] == "failed")
        .expect("the failed machine");
    let why = failed["failure_reason"].as_str().expect("a reason");
    assert!(why.contains("kernel panic"), "{why}");
    let killed = gone["machines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["state"] == "killed")
        .unwrap();
    assert!(killed["failure_reason"].is_null());
    assert!(
        killed["end_at"].as_str().unwrap() < b["end_at"].as_str().unwrap(),
        "a killed machine ended when it was killed, not at its old timeout: {killed}"
    );
    let (s, v) = api
        .call(Method::GET, "/v1/machines?state=asleep", None)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error")
    );
    // Past the retention the records go.
    let mut settings = (*api.state.settings).clone();
    settings.history_retention_secs = -10;
    let mut state = api.state.clone();
    state.settings = std::sync::Arc::new(settings);
    nullspace_server::reaper::purge(&state).await;
    let (_, gone) = api
        .call(Method::GET, "/v1/machines?state=killed,failed", None)
        .await;
    assert!(gone["machines"].as_array().unwrap().is_empty(), "{gone}");
}

#[tokio::test]
async fn transfers_are_bounded_and_file_errors_have_stable_codes() {
    const LIMIT: u64 = 8 << 20;
    let api = common::api_with_upload_limit(LIMIT);
    let m = api.create(json!({})).await;
    let files = format!("/v1/machines/{}/files", m["id"].as_str().unwrap());
    // An endless file streams for as long as it is read, or a range of it.
    let (s, head) = api
        .read_some(&format!("{files}?path=/dev/zero"), 4 << 20)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(head.len() >= 4 << 20 && head.iter().all(|b| *b == 0));
    let (s, h, v) = api
        .raw(
            Method::GET,
            &format!("{files}?path=/dev/zero&limit=10"),
            Body::empty(),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v.as_str().map(str::len), Some(10), "{v}");
    assert!(h.get("content-length").is_none(), "a read is streamed");
    // A read that breaks off after its first bytes cuts the body short: the
    // client sees an error, never an end.
    let req = axum::http::Request::builder()
        .uri(format!("{files}?path=/cut/file"))
        .header("authorization", format!("Bearer {}", api.key))
        .body(Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(api.app.clone(), req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let collected = http_body_util::BodyExt::collect(resp.into_body()).await;
    assert!(collected.is_err(), "a cut read ends in an error");
    // No read is too large to stream.
    let (s, _) = api
        .read_some(
            &format!("{files}?path=/dev/zero&limit={}", MAX_FILE_BYTES + 1),
            1 << 20,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // A declared length over the limit is refused before the body is read.
    let too_big = (LIMIT + 1).to_string();
    let (s, _, v) = api
        .raw(
            Method::PUT,
            &format!("{files}?path=/workspace/big"),
            Body::from("tiny"),
            &[("content-length", &too_big)],
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        "{v}"
    );
    // A chunked body is cut at the limit, with the JSON envelope.
    let chunk = axum::body::Bytes::from(vec![7u8; 1 << 20]);
    let chunks = (LIMIT >> 20) + 2;
    let body = Body::from_stream(stream::iter(
        (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    ));
    let (s, _, v) = api
        .raw(
            Method::PUT,
            &format!("{files}?path=/workspace/big"),
            body,
            &[],
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        "{v}"
    );
    let (s, _) = api
        .call(
            Method::GET,
            &format!("{files}/info?path=/workspace/big"),
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "nothing of the cut upload was kept"
    );
    // The user's rights apply; root must be named.
    let (s, v) = api
        .call(Method::GET, &format!("{files}?path=/etc/shadow"), None)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "permission_denied"),
        "{v}"
    );
    let (s, v) = api
        .call(
            Method::GET,
            &format!("{files}?path=/etc/shadow&user=root"),
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"), "{v}");
    let (s, v) = api
        .send(
            Method::PUT,
            &format!("{files}?path=/full/x"),
            Some(&api.key),
            Some(Body::from("data")),
            false,
        )
        .await;
    assert_eq!((s.as_u16(), code(&v)), (507, "no_space"), "{v}");
    let (s, v) = api
        .call(Method::GET, &format!("{files}?path=/x&user="), None)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "{v}"
    );
}

#[tokio::test]
async fn commands_cut_short_return_what_they_printed() {
    let api = api();
    let m = api.create(json!({})).await;
    let cmds = format!("/v1/machines/{}/commands", m["id"].as_str().unwrap());
    let (s, v) = api
        .call(
            Method::POST,
            &cmds,
            Some(json!({"command": "timeout before"})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::GATEWAY_TIMEOUT, "command_timeout"),
        "{v}"
    );
    assert_eq!(v["error"]["output"]["stdout"], "timeout before");
    assert_eq!(v["error"]["output"]["truncated"], true);
    let (s, v) = api
        .call(Method::POST, &cmds, Some(json!({"command": "flood yes"})))
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "output_limit_exceeded")
    );
    assert_eq!(v["error"]["output"]["stdout"], "flood yes");
}
