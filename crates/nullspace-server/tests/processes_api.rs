//! The process and PTY routes over the do-nothing node: shapes, defaults and
//! every bad input, with their stable codes.

mod common;

use axum::http::{Method, StatusCode};
use common::{api, code};
use serde_json::json;

#[tokio::test]
async fn processes_start_list_and_end() {
    let api = api();
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    let uri = format!("/v1/machines/{id}/processes");
    let (s, p) = api
        .call(
            Method::POST,
            &uri,
            Some(json!({"command": "sleep 100", "tag": "srv", "stdin": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["running"], true);
    assert_eq!(p["tag"], "srv");
    assert_eq!(p["user"], "user", "the default user");
    assert_eq!(p["cwd"], "/workspace", "the machine's cwd");
    let pid = p["pid"].as_u64().unwrap();
    // A second running process cannot take the tag.
    let (s, v) = api
        .call(
            Method::POST,
            &uri,
            Some(json!({"command": "sleep 5", "tag": "srv"})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "tag_in_use"), "{v}");
    let (s, done) = api
        .call(Method::POST, &uri, Some(json!({"args": ["echo", "hi"]})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{done}");
    let done_pid = done["pid"].as_u64().unwrap();
    let (s, list) = api.call(Method::GET, &uri, None).await;
    assert_eq!(s, StatusCode::OK);
    let pids: Vec<u64> = list["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids, [pid, done_pid]);

    // stdin is echoed by the fake; logs read it back, in both encodings.
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{uri}/{pid}/stdin"),
            Some(json!({"data": "typed\n"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, logs) = api
        .call(Method::GET, &format!("{uri}/{pid}/logs"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{logs}");
    assert_eq!(logs["stdout"], "sleep 100\ntyped\n");
    assert_eq!(logs["running"], true);
    let next = logs["stdout_next"].as_u64().unwrap();
    let (_, logs) = api
        .call(
            Method::GET,
            &format!("{uri}/{pid}/logs?stdout_offset=10&encoding=base64"),
            None,
        )
        .await;
    assert_eq!(logs["stdout"], "dHlwZWQK", "{logs}");
    assert_eq!(logs["stdout_next"], next);
    let (s, v) = api
        .call(
            Method::GET,
            &format!("{uri}/{pid}/logs?stdout_offset=99999"),
            None,
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
        "{v}"
    );

    // Kill, then everything that needs a running process says it exited.
    let (s, v) = api
        .call(Method::DELETE, &format!("{uri}/{pid}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"pid": pid, "killed": true}));
    let (s, v) = api
        .call(Method::DELETE, &format!("{uri}/{pid}"), None)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "process_exited"),
        "{v}"
    );
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{uri}/{pid}/signal"),
            Some(json!({"signal": "SIGTERM"})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "process_exited"),
        "{v}"
    );
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{uri}/{pid}/stdin"),
            Some(json!({"data": "x"})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "process_exited"),
        "{v}"
    );
    let (s, info) = api.call(Method::GET, &format!("{uri}/{pid}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (info["running"].clone(), info["signal"].clone()),
        (json!(false), json!(9))
    );
    let (_, info) = api
        .call(Method::GET, &format!("{uri}/{done_pid}"), None)
        .await;
    assert_eq!(info["exit_code"], 0, "{info}");
}

#[tokio::test]
async fn process_routes_refuse_bad_input() {
    let api = api();
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    let uri = format!("/v1/machines/{id}/processes");
    for (body, field) in [
        (json!({}), "command"),
        (json!({"command": "x", "args": ["y"]}), "command"),
        (json!({"command": "   "}), "command"),
        (json!({"args": []}), "command"),
        (json!({"command": "x", "tag": ""}), "tag"),
        (json!({"command": "x", "timeout": -1}), "timeout"),
        (
            json!({"command": "x", "pty": {"cols": 0, "rows": 24}}),
            "cols",
        ),
        (
            json!({"command": "x", "pty": {"cols": 80, "rows": 100000}}),
            "rows",
        ),
        (json!({"command": "x", "envs": {"A\u{0}": "b"}}), "envs"),
        (json!({"command": "x", "background": true}), "background"),
    ] {
        let (s, v) = api.call(Method::POST, &uri, Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{body}: {v}"
        );
    }
    // Unknown and malformed pids.
    let (s, v) = api.call(Method::GET, &format!("{uri}/4242"), None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::NOT_FOUND, "process_not_found"),
        "{v}"
    );
    let (s, v) = api.call(Method::DELETE, &format!("{uri}/4242"), None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::NOT_FOUND, "process_not_found"),
        "{v}"
    );
    for bad in ["0", "-1", "abc", "99999999999"] {
        let (s, v) = api.call(Method::GET, &format!("{uri}/{bad}"), None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
    }
    // Stdin: too much, both kinds, not base64, closed stdin.
    let (_, p) = api
        .call(Method::POST, &uri, Some(json!({"command": "sleep 9"})))
        .await;
    let pid = p["pid"].as_u64().unwrap();
    let big = "x".repeat(nullspace_api::MAX_STDIN_BYTES + 1);
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{uri}/{pid}/stdin"),
            Some(json!({"data": big})),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{uri}/{pid}/stdin"),
            Some(json!({"data": "a", "data_base64": "YQ=="})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{uri}/{pid}/stdin"),
            Some(json!({"data_base64": "!!"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{uri}/{pid}/stdin"),
            Some(json!({"data": "a"})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "stdin_closed"), "{v}");
    // Signals by name or number only.
    for bad in [
        json!({"signal": "SIGNOPE"}),
        json!({"signal": 0}),
        json!({"signal": 65}),
        json!({}),
    ] {
        let (s, v) = api
            .call(
                Method::POST,
                &format!("{uri}/{pid}/signal"),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
    }
    // A resize of a process without a terminal.
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{uri}/{pid}/resize"),
            Some(json!({"cols": 100, "rows": 30})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "not_a_pty"), "{v}");
    // The stream route is a WebSocket.
    let (s, v) = api
        .call(Method::GET, &format!("{uri}/{pid}/stream"), None)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{v}"
    );
    // Another tenant sees nothing; a killed machine has no processes.
    let (s, _) = api
        .send(Method::GET, &uri, Some(&api.other_key), None, false)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    api.call(Method::DELETE, &format!("/v1/machines/{id}"), None)
        .await;
    let (s, v) = api.call(Method::GET, &uri, None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "machine_not_running"),
        "{v}"
    );
}

#[tokio::test]
async fn pty_sessions_are_processes_with_a_terminal() {
    let api = api();
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    let uri = format!("/v1/machines/{id}/pty");
    let (s, v) = api.call(Method::POST, &uri, None).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sid = v["session_id"].as_u64().unwrap();
    assert_eq!(v["process"]["pid"], sid);
    assert_eq!(v["process"]["pty"], json!({"cols": 80, "rows": 24}));
    assert_eq!(v["process"]["args"], json!(["/bin/bash", "-l"]));
    let (s, v) = api
        .call(
            Method::POST,
            &uri,
            Some(json!({"cols": 120, "rows": 30, "user": "root"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let other = v["session_id"].as_u64().unwrap();
    // A plain process is not a session.
    let (_, plain) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/processes"),
            Some(json!({"command": "sleep 9"})),
        )
        .await;
    let (_, list) = api.call(Method::GET, &uri, None).await;
    let ids: Vec<u64> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [sid, other]);
    let (s, v) = api
        .call(Method::GET, &format!("{uri}/{}", plain["pid"]), None)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::NOT_FOUND, "process_not_found"),
        "{v}"
    );
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{uri}/{sid}/resize"),
            Some(json!({"cols": 100, "rows": 40})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (_, v) = api.call(Method::GET, &format!("{uri}/{sid}"), None).await;
    assert_eq!(v["process"]["pty"], json!({"cols": 100, "rows": 40}));
    for bad in [
        json!({"cols": 0, "rows": 0}),
        json!({"cols": 100000, "rows": 10}),
        json!({"cols": 10}),
    ] {
        let (s, v) = api
            .call(
                Method::POST,
                &format!("{uri}/{sid}/resize"),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
    }
    let (s, v) = api.call(Method::POST, &uri, Some(json!({"cols": 0}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = api
        .call(Method::DELETE, &format!("{uri}/{sid}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = api.call(Method::GET, &format!("{uri}/{sid}"), None).await;
    assert_eq!(v["process"]["running"], false);
}

#[tokio::test]
async fn a_process_that_ends_is_published_on_the_event_bus() {
    use nullspace_server::services::{Event, ProcessExited};
    let node = std::sync::Arc::new(nullspace_server::node::FakeNode::default());
    let api = common::api_over_shared(node.clone(), 10_000.0);
    tokio::spawn(nullspace_server::services::node_events::follow(
        api.state.clone(),
        nullspace_server::node::Node::subscribe(node.as_ref()),
    ));
    let mut events = api.state.events.subscribe();
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap();
    let uri = format!("/v1/machines/{id}/processes");
    let (s, p) = api
        .call(
            Method::POST,
            &uri,
            Some(json!({"command": "sleep 100", "tag": "bg"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let pid = p["pid"].as_u64().unwrap() as u32;
    let (s, v) = api
        .call(
            Method::POST,
            &format!("{uri}/{pid}/signal"),
            Some(json!({"signal": "SIGKILL"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let exited = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if let Event::ProcessExited(e) = events.recv().await.unwrap() {
                return e;
            }
        }
    })
    .await
    .expect("no process end was published");
    let ProcessExited {
        machine,
        pid: ended,
        tag,
        exit,
    } = exited;
    assert_eq!(machine.as_str(), id);
    assert_eq!((ended, tag.as_deref()), (pid, Some("bg")));
    assert_eq!((exit.exit_code, exit.signal), (None, Some(9)));
}
