//! Drives the real `nullspace` binary through the machine lifecycle commands (fork,
//! snapshots, metrics, timeout actions, auto-resume) against a recording fake server.

mod support;

use nullspace_api::{ErrorCode, ForkResponse, Machine, Snapshot, SnapshotList, TimeoutAction};
use nullspace_client::test_server::{
    sample_machine, sample_metrics, sample_snapshot, Recorded, Reply, TestServer,
};
use serde_json::{json, Value};
use support::{pair, pairs, run, KEY};

/// The fake API of the lifecycle routes, shaped like the spec; machines and snapshots
/// echo the fields of the request that made them.
fn api(r: &Recorded) -> Reply {
    if r.header("authorization") != Some(&format!("Bearer {KEY}")) {
        return Reply::error(ErrorCode::Unauthorized, "unknown API key");
    }
    let body = r.json();
    match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/v1/machines") => created(&body),
        ("POST", "/v1/machines/sb_a/timeout") => {
            let action = match body["action"].as_str() {
                Some("pause") => TimeoutAction::Pause,
                _ => TimeoutAction::Kill,
            };
            Reply::json(
                200,
                &Machine {
                    timeout_action: action,
                    end_at: "2026-01-01T00:02:00Z".into(),
                    ..sample_machine("sb_a")
                },
            )
        }
        ("POST", "/v1/machines/sb_a/fork") => {
            let count = body["count"].as_u64().unwrap_or(1);
            let machines = (1..=count)
                .map(|i| Machine {
                    forked_from: Some("sb_a".parse().unwrap()),
                    ..sample_machine(&format!("sb_c{i}"))
                })
                .collect();
            Reply::json(
                201,
                &ForkResponse {
                    machines,
                    source_stall_ms: 42,
                },
            )
        }
        ("GET", "/v1/machines/sb_a/metrics") => Reply::json(200, &sample_metrics()),
        ("POST", "/v1/machines/sb_a/snapshots") => {
            let metadata = serde_json::from_value(body["metadata"].clone()).unwrap_or_default();
            Reply::json(
                201,
                &Snapshot {
                    metadata,
                    ..sample_snapshot("snap_s1", "sb_a")
                },
            )
        }
        ("POST", "/v1/machines/sb_dead/fork")
        | ("POST", "/v1/machines/sb_dead/snapshots")
        | ("GET", "/v1/machines/sb_dead/metrics") => {
            Reply::error(ErrorCode::MachineNotRunning, "machine sb_dead is killed")
        }
        ("GET", "/v1/snapshots") => {
            // Two pages: snap_s1 then, at cursor c2, snap_s2.
            let (snapshot, next_cursor) = match r.query_param("cursor").as_deref() {
                Some("c2") => ("snap_s2", None),
                _ => ("snap_s1", Some("c2".to_owned())),
            };
            Reply::json(
                200,
                &SnapshotList {
                    snapshots: vec![sample_snapshot(snapshot, "sb_a")],
                    next_cursor,
                },
            )
        }
        ("GET", "/v1/snapshots/snap_s1") => Reply::json(200, &sample_snapshot("snap_s1", "sb_a")),
        ("DELETE", "/v1/snapshots/snap_s1") => Reply::empty(204),
        ("DELETE", "/v1/snapshots/snap_used") => Reply::error(
            ErrorCode::SnapshotInUse,
            "snapshot snap_used is used by machine sb_new",
        ),
        ("GET", "/v1/snapshots/snap_bad") => Reply::error(
            ErrorCode::StateCorrupt,
            "snapshot snap_bad failed its checksum",
        ),
        _ => Reply::error(ErrorCode::NotFound, &format!("no {}", r.route())),
    }
}

/// The answer of a create: `sb_new`, with the request's lifecycle fields, or the error
/// of its snapshot.
fn created(body: &Value) -> Reply {
    let snapshot_id = body["snapshot_id"].as_str();
    match snapshot_id {
        Some("snap_missing") => {
            return Reply::error(ErrorCode::NotFound, "no snapshot snap_missing")
        }
        Some("snap_bad") => {
            return Reply::error(
                ErrorCode::StateCorrupt,
                "snapshot snap_bad failed its checksum",
            )
        }
        _ => {}
    }
    Reply::json(
        201,
        &Machine {
            snapshot_id: snapshot_id.map(|s| s.parse().unwrap()),
            timeout_action: serde_json::from_value(body["timeout_action"].clone())
                .unwrap_or_default(),
            auto_resume: body["auto_resume"].as_bool().unwrap_or(false),
            ..sample_machine("sb_new")
        },
    )
}

/// Runs `args`, then `args --json`, and checks both report `code` with `exit`.
fn assert_error(server: &TestServer, args: &[&str], exit: i32, code: &str) {
    let r = run(server, args);
    assert_eq!(r.status, exit, "{args:?}: {}", r.stderr);
    assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    assert!(
        r.stderr.starts_with("error: ") && r.stderr.trim_end().ends_with(&format!("({code})")),
        "{args:?}: {}",
        r.stderr
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let r = run(server, &json_args);
    assert_eq!(r.status, exit, "{json_args:?}: {}", r.stderr);
    let error = &r.error_json()["error"];
    assert_eq!(error["code"], code, "{json_args:?}");
    assert_eq!(error["exit_code"], exit, "{json_args:?}");
}

#[test]
fn create_sends_snapshot_timeout_action_and_auto_resume() {
    let server = TestServer::start(api);
    let r = run(
        &server,
        &[
            "sandbox",
            "create",
            "--snapshot-id",
            "snap_s1",
            "--on-timeout",
            "hibernate",
            "--auto-resume",
            "--timeout",
            "300",
            "--json",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        server.last().json(),
        json!({"snapshot_id": "snap_s1", "timeout": 300, "timeout_action": "pause",
               "auto_resume": true}),
        "no template: the snapshot's is used"
    );
    let machine = r.json();
    assert_eq!(machine["snapshot_id"], "snap_s1");
    assert_eq!(machine["timeout_action"], "pause");
    assert_eq!(machine["auto_resume"], true);
    assert_eq!(machine["forked_from"], Value::Null);

    let r = run(
        &server,
        &[
            "machine",
            "create",
            "--timeout-action",
            "pause",
            "--auto-resume",
            "--no-auto-resume",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        server.last().json(),
        json!({"template": "base", "timeout_action": "pause", "auto_resume": false})
    );
    // One `key  value` line each, whatever the column width.
    let lines: Vec<Vec<&str>> = r
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for pair in [
        ["timeout_action", "pause"],
        ["auto_resume", "false"],
        ["snapshot_id", "-"],
        ["internet_access", "true"],
    ] {
        assert!(lines.contains(&pair.to_vec()), "{pair:?} in {}", r.stdout);
    }

    run(&server, &["sandbox", "create", "--on-timeout", "kill"]);
    assert_eq!(
        server.last().json(),
        json!({"template": "base", "timeout_action": "kill"})
    );
}

#[test]
fn bad_values_are_usage_errors_before_any_request() {
    let server = TestServer::start(api);
    let cases: [(&[&str], &str); 14] = [
        (
            &["sandbox", "create", "--on-timeout", "sleep"],
            "--on-timeout",
        ),
        (
            &["sandbox", "create", "--timeout-action", "stop"],
            "--timeout-action",
        ),
        (
            &[
                "sandbox",
                "create",
                "--on-timeout",
                "pause",
                "--timeout-action",
                "pause",
            ],
            "cannot be used with",
        ),
        (&["sandbox", "create", "--snapshot-id", "sb_a"], "snap_"),
        (&["sandbox", "fork", "sb_a", "--count", "0"], "--count"),
        (&["sandbox", "fork", "sb_a", "--count", "17"], "1..=16"),
        (&["machine", "fork", "sb_a", "--timeout", "0"], "--timeout"),
        (&["sandbox", "fork", "snap_a"], "sb_"),
        (
            &[
                "sandbox",
                "timeout",
                "set",
                "sb_a",
                "--seconds",
                "5",
                "--action",
                "sleep",
            ],
            "--action",
        ),
        (&["sandbox", "metrics", "snap_a"], "sb_"),
        (&["sandbox", "resume", "snap_"], "snap_"),
        (&["snapshot", "get", "sb_a"], "snap_"),
        (&["snapshot", "list", "--limit", "0"], "--limit"),
        (
            &["snapshot", "create", "sb_a", "--metadata", "novalue"],
            "KEY=VALUE",
        ),
    ];
    for (args, needle) in cases {
        let r = run(&server, args);
        assert_eq!(r.status, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(needle),
            "{needle:?} in {args:?}: {}",
            r.stderr
        );
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn timeout_set_sends_the_action() {
    let server = TestServer::start(api);
    let r = run(
        &server,
        &[
            "sandbox",
            "timeout",
            "set",
            "sb_a",
            "--seconds",
            "120",
            "--action",
            "hibernate",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().route(), "POST /v1/machines/sb_a/timeout");
    assert_eq!(
        server.last().json(),
        json!({"timeout": 120, "action": "pause"})
    );
    assert_eq!(
        r.stdout,
        "sb_a reaches its timeout at 2026-01-01T00:02:00Z, then: pause\n"
    );

    let r = run(
        &server,
        &[
            "machine", "timeout", "set", "sb_a", "60", "--action", "kill", "--json",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        server.last().json(),
        json!({"timeout": 60, "action": "kill"})
    );
    assert_eq!(r.json()["timeout_action"], "kill");

    run(&server, &["sandbox", "timeout", "set", "sb_a", "30"]);
    assert_eq!(
        server.last().json(),
        json!({"timeout": 30}),
        "action unchanged"
    );
}

#[test]
fn fork_prints_the_children() {
    let server = TestServer::start(api);
    let r = run(
        &server,
        &[
            "sandbox",
            "fork",
            "sb_a",
            "--count",
            "2",
            "--metadata",
            "role=child",
            "--metadata",
            "n=1",
            "--timeout",
            "600",
            "--json",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().route(), "POST /v1/machines/sb_a/fork");
    assert_eq!(
        server.last().json(),
        json!({"count": 2, "metadata": {"role": "child", "n": "1"}, "timeout": 600})
    );
    let forked = r.json();
    assert_eq!(forked["source_stall_ms"], 42);
    let children = forked["machines"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    assert_eq!(children[0]["id"], "sb_c1");
    assert_eq!(children[1]["forked_from"], "sb_a");

    let r = run(&server, &["machine", "fork", "sb_a"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        server.last().json(),
        json!({}),
        "children keep the source's labels"
    );
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("ID"), "{}", r.stdout);
    assert!(lines[1].starts_with("sb_c1"), "{}", r.stdout);
    assert_eq!(
        lines.last().unwrap(),
        &"forked sb_a into 1 machine (source stalled 42 ms)"
    );
}

#[test]
fn metrics_print_with_units_or_as_json() {
    let server = TestServer::start(api);
    let r = run(&server, &["sandbox", "metrics", "sb_a"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().route(), "GET /v1/machines/sb_a/metrics");
    for needle in [
        "12.5% of 2 vCPUs",
        "128.0 MiB / 512.0 MiB (25.0%)",
        "1.5 GiB / 4.0 GiB (37.5%)",
        "1h 2m 3s",
    ] {
        assert!(r.stdout.contains(needle), "{needle:?} in {}", r.stdout);
    }
    let r = run(&server, &["machine", "metrics", "sb_a", "--json"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.json(), serde_json::to_value(sample_metrics()).unwrap());
}

#[test]
fn snapshot_commands_become_the_right_requests() {
    let server = TestServer::start(api);
    for args in [
        &[
            "snapshot",
            "create",
            "sb_a",
            "--metadata",
            "purpose=checkpoint",
        ][..],
        &[
            "sandbox",
            "snapshot",
            "create",
            "sb_a",
            "--metadata",
            "purpose=checkpoint",
        ][..],
        &[
            "machine",
            "snapshot",
            "create",
            "sb_a",
            "--metadata-json",
            r#"{"purpose":"checkpoint"}"#,
        ][..],
    ] {
        let r = run(&server, args);
        assert_eq!(r.status, 0, "{args:?}: {}", r.stderr);
        assert_eq!(server.last().route(), "POST /v1/machines/sb_a/snapshots");
        assert_eq!(
            server.last().json(),
            json!({"metadata": {"purpose": "checkpoint"}})
        );
        assert!(r.stdout.starts_with("id "), "{}", r.stdout);
        assert!(r.stdout.contains("snap_s1"), "{}", r.stdout);
        assert!(r.stdout.contains("64.0 MiB"), "{}", r.stdout);
    }
    let r = run(&server, &["snapshot", "create", "sb_a", "--json"]);
    assert_eq!(server.last().json(), json!({}));
    assert_eq!(r.json()["id"], "snap_s1");
    assert_eq!(r.json()["machine_id"], "sb_a");

    let r = run(
        &server,
        &[
            "snapshot",
            "list",
            "--sandbox-id",
            "sb_a",
            "--metadata",
            "purpose=checkpoint",
            "--metadata",
            "a=b",
            "--limit",
            "5",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().route(), "GET /v1/snapshots");
    assert_eq!(
        pairs(&server.last()),
        vec![
            pair("machine_id", "sb_a"),
            pair("metadata", "purpose=checkpoint"),
            pair("metadata", "a=b"),
            pair("limit", "5"),
        ]
    );
    assert!(r.stdout.starts_with("ID"), "{}", r.stdout);
    assert!(r.stdout.contains("snap_s1"), "{}", r.stdout);
    assert!(r.stdout.contains("more: --cursor c2"), "{}", r.stdout);

    let r = run(&server, &["snapshot", "list", "--all", "--json"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let page = r.json();
    let ids: Vec<&Value> = page["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(ids, [&json!("snap_s1"), &json!("snap_s2")]);
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(pairs(&server.last()), vec![pair("cursor", "c2")]);

    let r = run(&server, &["snapshot", "get", "snap_s1", "--json"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.json()["size_bytes"], 64 << 20);
    assert_eq!(server.last().route(), "GET /v1/snapshots/snap_s1");

    let r = run(&server, &["snapshot", "delete", "snap_s1"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "deleted snap_s1\n");
    assert_eq!(server.last().route(), "DELETE /v1/snapshots/snap_s1");
    let r = run(&server, &["snapshot", "delete", "snap_s1", "--json"]);
    assert_eq!(r.json(), json!({"id": "snap_s1", "deleted": true}));
}

#[test]
fn resume_of_a_snapshot_starts_a_new_machine() {
    let server = TestServer::start(api);
    let r = run(&server, &["sandbox", "resume", "snap_s1"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().route(), "POST /v1/machines");
    assert_eq!(server.last().json(), json!({"snapshot_id": "snap_s1"}));
    assert!(r.stdout.contains("sb_new"), "{}", r.stdout);
    assert!(r.stdout.contains("snap_s1"), "{}", r.stdout);

    let r = run(&server, &["machine", "resume", "snap_s1", "--json"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.json()["id"], "sb_new");
    assert_eq!(r.json()["snapshot_id"], "snap_s1");
}

#[test]
fn lifecycle_errors_map_to_documented_exit_codes() {
    let server = TestServer::start(api);
    assert_error(
        &server,
        &["snapshot", "delete", "snap_used"],
        6,
        "snapshot_in_use",
    );
    assert_error(
        &server,
        &["snapshot", "get", "snap_bad"],
        6,
        "state_corrupt",
    );
    assert_error(
        &server,
        &["sandbox", "create", "--snapshot-id", "snap_bad"],
        6,
        "state_corrupt",
    );
    assert_error(
        &server,
        &["snapshot", "get", "snap_missing"],
        5,
        "not_found",
    );
    assert_error(
        &server,
        &["snapshot", "delete", "snap_missing"],
        5,
        "not_found",
    );
    assert_error(
        &server,
        &["sandbox", "resume", "snap_missing"],
        5,
        "not_found",
    );
    assert_error(
        &server,
        &["sandbox", "create", "--snapshot-id", "snap_missing"],
        5,
        "not_found",
    );
    assert_error(
        &server,
        &["sandbox", "fork", "sb_dead"],
        6,
        "machine_not_running",
    );
    assert_error(
        &server,
        &["snapshot", "create", "sb_dead"],
        6,
        "machine_not_running",
    );
    assert_error(
        &server,
        &["sandbox", "metrics", "sb_dead"],
        6,
        "machine_not_running",
    );
    assert_error(
        &server,
        &["sandbox", "metrics", "sb_missing"],
        5,
        "not_found",
    );
    assert_error(&server, &["sandbox", "fork", "sb_missing"], 5, "not_found");

    let r = run(&server, &["snapshot", "delete", "snap_used", "--json"]);
    assert_eq!(r.error_json()["error"]["status"], 409);
    assert_eq!(
        r.error_json()["error"]["message"],
        "snapshot snap_used is used by machine sb_new"
    );
}
