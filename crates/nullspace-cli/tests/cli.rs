//! Drives the real `nullspace` binary against a recording fake server.

mod support;

use nullspace_api::{
    CommandResult, ErrorCode, ListResponse, Machine, MachineList, PartialOutput, WriteFilesResponse,
};
use nullspace_client::test_server::{
    sample_entry, sample_kill, sample_machine, Recorded, Reply, TestServer,
};
use nullspace_types::MachineState;
use serde_json::{json, Value};
use support::{pair, pairs, run, run_in, run_stdin, run_with, Input, KEY};

/// The machines of the fake API: one in each of running, paused, killed and failed.
fn machines() -> Vec<Machine> {
    vec![
        sample_machine("sb_a"),
        Machine {
            state: MachineState::Paused,
            ..sample_machine("sb_p")
        },
        Machine {
            state: MachineState::Killed,
            ..sample_machine("sb_k")
        },
        Machine {
            state: MachineState::Failed,
            failure_reason: Some("the VMM exited (signal 9)".into()),
            ..sample_machine("sb_f")
        },
    ]
}

/// The machines of `GET /v1/machines` with the query of `r`: those in the states it
/// names (repeated or comma-separated), else the live ones, as the server does.
fn listed(r: &Recorded) -> Vec<Machine> {
    let wanted: Vec<String> = r
        .query_pairs()
        .into_iter()
        .filter(|(k, _)| k == "state")
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    machines()
        .into_iter()
        .filter(|m| {
            let state = serde_json::to_value(m.state).unwrap();
            if wanted.is_empty() {
                !matches!(m.state, MachineState::Killed | MachineState::Failed)
            } else {
                wanted.iter().any(|w| state == w.as_str())
            }
        })
        .collect()
}

/// What a command cut short printed before: a timeout's last line has no newline.
fn partial(stdout: &str, stderr: &str) -> PartialOutput {
    PartialOutput {
        stdout: stdout.into(),
        stderr: stderr.into(),
        truncated: true,
    }
}

/// The fake API: just enough routes, shaped like the spec.
fn api(r: &Recorded) -> Reply {
    if r.path == "/v1/health" {
        return Reply::json(200, &json!({"status":"ok","version":"9.9.9"}));
    }
    if r.header("authorization") != Some(&format!("Bearer {KEY}")) {
        return Reply::error(ErrorCode::Unauthorized, "unknown API key");
    }
    let body = r.json();
    match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/v1/machines") => Reply::json(201, &sample_machine("sb_new")),
        ("GET", "/v1/machines") => Reply::json(
            200,
            &MachineList {
                machines: listed(r),
                next_cursor: None,
            },
        ),
        ("GET", "/v1/machines/sb_a") | ("POST", "/v1/machines/sb_a/timeout") => {
            Reply::json(200, &sample_machine("sb_a"))
        }
        ("GET", "/v1/machines/sb_f") => Reply::json(200, &machines()[3]),
        ("GET", "/v1/machines/sb_busy") => {
            Reply::error(ErrorCode::RateLimited, "too many requests")
                .with_header("retry-after", "3")
        }
        ("DELETE", "/v1/machines/sb_a") | ("DELETE", "/v1/machines/sb_new") => {
            let id = r.path.rsplit('/').next().unwrap();
            Reply::json(200, &sample_kill(id, MachineState::Running))
        }
        ("DELETE", "/v1/machines/sb_starting") => {
            Reply::json(200, &sample_kill("sb_starting", MachineState::Starting))
        }
        ("DELETE", "/v1/machines/sb_old") => Reply::empty(204),
        ("POST", "/v1/machines/sb_a/pause") => Reply::json(
            200,
            &Machine {
                state: MachineState::Paused,
                ..sample_machine("sb_a")
            },
        ),
        ("POST", "/v1/machines/sb_a/resume") => Reply::json(200, &sample_machine("sb_a")),
        ("POST", "/v1/machines/sb_dead/pause") | ("POST", "/v1/machines/sb_dead/resume") => {
            Reply::error(ErrorCode::MachineNotRunning, "machine sb_dead is killed")
        }
        ("POST", "/v1/machines/sb_dead/commands") => {
            Reply::error(ErrorCode::MachineNotRunning, "machine sb_dead is killed")
        }
        ("POST", "/v1/machines/sb_a/commands") | ("POST", "/v1/machines/sb_new/commands") => {
            if body["cwd"] == "/nope" {
                return Reply::error(ErrorCode::CwdNotFound, "no directory /nope");
            }
            if body["command"] == "sleep 100" {
                return Reply::error(ErrorCode::CommandTimeout, "killed after 1s");
            }
            if body["command"] == "slow" {
                return Reply::error_with_output(
                    ErrorCode::CommandTimeout,
                    "command timed out after 1s",
                    partial("step 1\nstep 2\n", "warn: slow"),
                );
            }
            if body["command"] == "yes" {
                return Reply::error_with_output(
                    ErrorCode::OutputLimitExceeded,
                    "output passed 16 MiB",
                    partial("y\ny\ny", ""),
                );
            }
            let exit_code = if body["command"] == "exit 3" { 3 } else { 0 };
            Reply::json(
                200,
                &CommandResult {
                    stdout: "hello\n".into(),
                    stderr: "warn\n".into(),
                    exit_code,
                    duration_ms: 4,
                },
            )
        }
        ("GET", "/v1/machines/sb_a/files") if r.query_param("path").as_deref() == Some("/big") => {
            Reply::error(
                ErrorCode::FileTooLarge,
                "/big is larger than 134217728 bytes",
            )
        }
        ("GET", "/v1/machines/sb_a/files") => Reply::bytes(vec![b'h', b'i', 0xff]),
        ("PUT", "/v1/machines/sb_a/files") => Reply::json(200, &sample_entry("/workspace/h")),
        ("DELETE", "/v1/machines/sb_a/files") => Reply::empty(204),
        ("POST", "/v1/machines/sb_a/files/batch") => Reply::json(
            200,
            &WriteFilesResponse {
                files: vec![sample_entry("/a"), sample_entry("/b")],
            },
        ),
        ("GET", "/v1/machines/sb_a/files/list") => Reply::json(
            200,
            &ListResponse {
                entries: vec![sample_entry("/workspace/a.txt")],
            },
        ),
        ("GET", "/v1/machines/sb_a/files/exists") => Reply::json(200, &json!({"exists": false})),
        ("POST", "/v1/machines/sb_a/files/mkdir") => Reply::json(200, &json!({"created": true})),
        ("POST", "/v1/machines/sb_a/files/rename")
        | ("POST", "/v1/machines/sb_a/files/chmod")
        | ("GET", "/v1/machines/sb_a/files/info") => {
            Reply::json(200, &sample_entry("/workspace/x"))
        }
        _ => Reply::error(ErrorCode::NotFound, &format!("no {}", r.route())),
    }
}

#[test]
fn create_flags_become_the_request_and_json_prints_the_machine() {
    let server = TestServer::start(api);
    let r = run(
        &server,
        &[
            "sandbox",
            "create",
            "--template",
            "base",
            "--timeout",
            "60",
            "--cwd",
            "/w",
            "--env",
            "A=1",
            "--env-json",
            r#"{"A":"0","B":"2"}"#,
            "--metadata",
            "team=eval",
            "--metadata-json",
            r#"{"x":"y"}"#,
            "--idempotency-key",
            "once",
            "--cpu-count",
            "2",
            "--memory-mb",
            "1024",
            "--json",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.json()["id"], "sb_new");
    let req = server.last();
    assert_eq!(req.route(), "POST /v1/machines");
    assert_eq!(req.header("idempotency-key"), Some("once"));
    assert_eq!(
        req.json(),
        json!({
            "template": "base", "timeout": 60, "cwd": "/w", "cpu_count": 2, "memory_mb": 1024,
            "envs": {"A": "1", "B": "2"}, "metadata": {"team": "eval", "x": "y"},
            "idempotency_key": "once",
        })
    );
}

#[test]
fn machine_alias_get_and_human_output() {
    let server = TestServer::start(api);
    let r = run(&server, &["machine", "get", "sb_a"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stdout.contains("sb_a"), "{}", r.stdout);
    assert!(r.stdout.contains("running"), "{}", r.stdout);
    assert!(r.stdout.contains("/workspace"), "{}", r.stdout);
}

#[test]
fn list_filters_become_the_query() {
    let server = TestServer::start(api);
    let r = run(
        &server,
        &[
            "sandbox",
            "list",
            "--state",
            "running",
            "--template",
            "base",
            "--metadata",
            "team=eval",
            "--metadata",
            "a=b",
            "--limit",
            "5",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("ID"), "{}", r.stdout);
    assert!(r.stdout.contains("sb_a"));
    assert_eq!(
        pairs(&server.last()),
        vec![
            pair("state", "running"),
            pair("template", "base"),
            pair("metadata", "team=eval"),
            pair("metadata", "a=b"),
            pair("limit", "5"),
        ]
    );
    let r = run(&server, &["sandbox", "list", "--all", "--json"]);
    assert_eq!(r.json()["machines"][0]["id"], "sb_a");
}

#[test]
fn exec_passes_its_flags_and_exits_with_the_command_code() {
    let server = TestServer::start(api);
    let r = run(&server, &["sandbox", "exec", "sb_a", "--shell", "exit 3"]);
    assert_eq!(r.status, 3);
    assert_eq!(r.stdout, "hello\n");
    assert_eq!(r.stderr, "warn\n");
    assert_eq!(server.last().json(), json!({"command": "exit 3"}));

    let r = run_stdin(
        &server,
        &[
            "sandbox",
            "exec",
            "sb_a",
            "--cwd",
            "/w",
            "--env",
            "A=1",
            "--user",
            "root",
            "--timeout",
            "2.5",
            "--stdin-file",
            "-",
            "--json",
            "--",
            "cat",
            "-n",
        ],
        "data",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.json()["exit_code"], 0);
    assert_eq!(r.json()["stdout"], "hello\n");
    assert_eq!(
        server.last().json(),
        json!({"args": ["cat", "-n"], "cwd": "/w", "envs": {"A": "1"}, "user": "root",
               "timeout": 2.5, "stdin": "data"})
    );
}

#[test]
fn api_errors_map_to_documented_exit_codes() {
    let server = TestServer::start(api);
    let cases: [(&[&str], i32, &str); 5] = [
        (&["sandbox", "get", "sb_missing"], 5, "not_found"),
        (
            &["sandbox", "exec", "sb_dead", "--shell", "true"],
            6,
            "machine_not_running",
        ),
        (
            &["sandbox", "exec", "sb_a", "--cwd", "/nope", "--shell", "ls"],
            7,
            "cwd_not_found",
        ),
        (
            &["sandbox", "exec", "sb_a", "--shell", "sleep 100"],
            8,
            "command_timeout",
        ),
        (&["sandbox", "exec", "sb_a", "--", "true"], 0, ""),
    ];
    for (args, status, code) in cases {
        let r = run(&server, args);
        assert_eq!(r.status, status, "{args:?}: {}", r.stderr);
        if !code.is_empty() {
            assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
            assert!(
                r.stderr.trim_end().ends_with(&format!("({code})")),
                "{}",
                r.stderr
            );
            let mut json_args = args.to_vec();
            json_args.push("--json");
            let r = run(&server, &json_args);
            assert_eq!(r.status, status);
            assert_eq!(r.error_json()["error"]["code"], code);
        }
    }
}

#[test]
fn unauthorized_not_configured_refused_and_usage_exit_codes() {
    let server = TestServer::start(api);
    let dir = tempfile::tempdir().unwrap();
    let r = run_in(
        dir.path(),
        &[
            ("NULLSPACE_API_URL", server.url()),
            ("NULLSPACE_API_KEY", "ns_live_wrong"),
        ],
        &["sandbox", "list", "--json"],
        "",
    );
    assert_eq!(r.status, 4, "{}", r.stderr);
    assert_eq!(r.error_json()["error"]["code"], "unauthorized");
    assert_eq!(r.error_json()["error"]["status"], 401);

    let r = run_in(
        dir.path(),
        &[("NULLSPACE_API_URL", server.url())],
        &["sandbox", "list"],
        "",
    );
    assert_eq!(r.status, 3);
    assert!(r.stderr.contains("not_configured"), "{}", r.stderr);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let r = run_in(
        dir.path(),
        &[("NULLSPACE_API_URL", &url), ("NULLSPACE_API_KEY", KEY)],
        &["sandbox", "get", "sb_a"],
        "",
    );
    assert_eq!(r.status, 9, "{}", r.stderr);
    assert!(r.stderr.contains("network_error"), "{}", r.stderr);

    let r = run(&server, &["sandbox", "get", "not-an-id"]);
    assert_eq!(r.status, 2);
    let r = run(&server, &["sandbox", "create", "--env", "novalue"]);
    assert_eq!(r.status, 2);
    let r = run(&server, &["sandbox", "file", "chmod", "sb_a", "/x", "999"]);
    assert_eq!(r.status, 2);
}

#[test]
fn file_commands_become_the_right_requests() {
    let server = TestServer::start(api);
    let r = run_stdin(
        &server,
        &[
            "sandbox",
            "file",
            "write",
            "sb_a",
            "/workspace/h",
            "--mode",
            "0600",
        ],
        "hello",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let req = server.last();
    assert_eq!(req.route(), "PUT /v1/machines/sb_a/files");
    assert_eq!(req.body, b"hello");
    assert_eq!(
        pairs(&req),
        vec![pair("path", "/workspace/h"), pair("mode", "0600")]
    );

    run(
        &server,
        &[
            "sandbox",
            "file",
            "write",
            "sb_a",
            "/workspace/h",
            "--content",
            "x",
        ],
    );
    assert_eq!(server.last().body, b"x");

    let r = run(
        &server,
        &[
            "sandbox",
            "file",
            "write-files",
            "sb_a",
            r#"[["/a","a\n"],["/b","b\n"]]"#,
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        server.last().json(),
        json!({"files": [{"path": "/a", "content": "a\n"}, {"path": "/b", "content": "b\n"}]})
    );
    assert_eq!(r.stdout.lines().count(), 2);

    let r = run(
        &server,
        &["sandbox", "file", "read", "sb_a", "/workspace/h"],
    );
    assert_eq!(r.status, 0);
    assert_eq!(r.stdout, "hi\u{fffd}");
    let r = run(
        &server,
        &[
            "sandbox",
            "file",
            "read",
            "sb_a",
            "/workspace/h",
            "--encoding",
            "base64",
            "--json",
        ],
    );
    assert_eq!(r.json()["content"], "aGn/");
    assert_eq!(r.json()["encoding"], "base64");

    let r = run(
        &server,
        &[
            "sandbox",
            "file",
            "list",
            "sb_a",
            "/workspace",
            "--depth",
            "2",
            "--json",
        ],
    );
    assert_eq!(r.json()["entries"][0]["path"], "/workspace/a.txt");
    assert_eq!(
        pairs(&server.last()),
        vec![pair("path", "/workspace"), pair("depth", "2")]
    );

    let r = run(&server, &["sandbox", "file", "exists", "sb_a", "/x"]);
    assert_eq!(r.stdout, "false\n");
    run(&server, &["sandbox", "file", "info", "sb_a", "/x"]);
    assert_eq!(server.last().route(), "GET /v1/machines/sb_a/files/info");
    run(&server, &["sandbox", "file", "mkdir", "sb_a", "/d"]);
    assert_eq!(server.last().json(), json!({"path": "/d"}));
    run(&server, &["sandbox", "file", "mv", "sb_a", "/a", "/b"]);
    assert_eq!(
        server.last().json(),
        json!({"source": "/a", "destination": "/b"})
    );
    run(&server, &["sandbox", "file", "chmod", "sb_a", "/a", "755"]);
    assert_eq!(server.last().json(), json!({"path": "/a", "mode": "0755"}));
    run(&server, &["sandbox", "file", "rm", "sb_a", "/a"]);
    assert_eq!(
        pairs(&server.last()),
        vec![pair("path", "/a"), pair("recursive", "true")]
    );
    run(
        &server,
        &["sandbox", "file", "rm", "sb_a", "/d", "--recursive"],
    );
    assert_eq!(
        pairs(&server.last()),
        vec![pair("path", "/d"), pair("recursive", "true")]
    );
}

#[test]
fn kill_timeout_and_quickstart() {
    let server = TestServer::start(api);
    let r = run(&server, &["sandbox", "kill", "sb_a"]);
    assert_eq!(r.status, 0);
    assert_eq!(r.stdout, "killed sb_a (was running)\n");
    assert_eq!(server.last().route(), "DELETE /v1/machines/sb_a");

    let r = run(&server, &["sandbox", "timeout", "set", "sb_a", "120"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().json(), json!({"timeout": 120}));

    let r = run(&server, &["quickstart", "--json"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.json()["machine"]["id"], "sb_new");
    assert_eq!(r.json()["result"]["stdout"], "hello\n");
    let routes: Vec<String> = server.requests().iter().map(Recorded::route).collect();
    let tail = &routes[routes.len() - 3..];
    assert_eq!(
        tail,
        [
            "POST /v1/machines",
            "POST /v1/machines/sb_new/commands",
            "DELETE /v1/machines/sb_new"
        ]
    );
    let run_body = &server.requests()[routes.len() - 2];
    assert_eq!(run_body.json()["args"], json!(["python3", "--version"]));
}

#[test]
fn pause_and_resume() {
    let server = TestServer::start(api);
    let r = run(&server, &["sandbox", "pause", "sb_a"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "paused sb_a\n");
    assert_eq!(server.last().route(), "POST /v1/machines/sb_a/pause");
    assert!(server.last().body.is_empty());

    let r = run(&server, &["sandbox", "pause", "sb_a", "--json"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.json()["id"], "sb_a");
    assert_eq!(r.json()["state"], "paused");

    let r = run(&server, &["machine", "hibernate", "sb_a"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().route(), "POST /v1/machines/sb_a/pause");

    let r = run(&server, &["sandbox", "resume", "sb_a"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "resumed sb_a\n");
    assert_eq!(server.last().route(), "POST /v1/machines/sb_a/resume");

    let r = run(&server, &["sandbox", "resume", "sb_a", "--json"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.json()["state"], "running");

    let r = run(&server, &["sandbox", "list", "--state", "paused"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(pairs(&server.last()), [pair("state", "paused")]);

    // 409 machine_not_running -> 6, 404 -> 5, bad id -> usage (2)
    for (args, status, code) in [
        (
            &["sandbox", "pause", "sb_dead"][..],
            6,
            "machine_not_running",
        ),
        (
            &["sandbox", "resume", "sb_dead"][..],
            6,
            "machine_not_running",
        ),
        (&["sandbox", "pause", "sb_missing"][..], 5, "not_found"),
        (&["sandbox", "resume", "sb_missing"][..], 5, "not_found"),
    ] {
        let r = run(&server, args);
        assert_eq!(r.status, status, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.trim_end().ends_with(&format!("({code})")),
            "{}",
            r.stderr
        );
        let mut json_args = args.to_vec();
        json_args.push("--json");
        let r = run(&server, &json_args);
        assert_eq!(r.status, status);
        assert_eq!(r.error_json()["error"]["code"], code);
    }
    assert_eq!(run(&server, &["sandbox", "pause", "not-an-id"]).status, 2);
}

#[test]
fn schema_and_completion() {
    let server = TestServer::start(api);
    let r = run(&server, &["schema"]);
    assert_eq!(r.status, 0);
    let schema = r.json();
    let commands = schema["commands"].as_array().unwrap();
    let exec = commands
        .iter()
        .find(|c| c["command"] == "sandbox exec")
        .unwrap();
    for flag in ["--shell", "--no-stdin", "--json", "--api-key", "--api-url"] {
        assert!(
            exec["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["long"] == flag),
            "{flag}"
        );
    }
    assert_eq!(schema["exit_codes"][8]["code"], 8);

    let r = run(&server, &["schema", "sandbox", "file"]);
    assert_eq!(r.json()["commands"][0]["command"], "sandbox file");

    let r = run(&server, &["completion", "bash"]);
    assert_eq!(r.status, 0);
    assert!(r.stdout.contains("complete"), "{}", r.stdout);
    assert!(r.stdout.contains("sandbox"));
    assert!(server.requests().is_empty());
}

/// Records the key each request carried.
fn key_echo() -> TestServer {
    TestServer::start(|_| {
        Reply::json(
            200,
            &MachineList {
                machines: vec![],
                next_cursor: None,
            },
        )
    })
}

#[test]
fn config_precedence_flag_env_dotenv_user_legacy() {
    let server = key_echo();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let write = |rel: &str, text: &str| {
        let p = home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let used_key = |env: &[(&str, &str)], args: &[&str]| {
        let mut all = vec!["sandbox", "list"];
        all.extend_from_slice(args);
        let r = run_in(home, env, &all, "");
        assert_eq!(r.status, 0, "{}", r.stderr);
        server.last().header("authorization").unwrap().to_owned()
    };
    write(
        ".nullspace/config.json",
        &format!(r#"{{"api_key":"legacy","api_url":"{}"}}"#, server.url()),
    );
    assert_eq!(used_key(&[], &[]), "Bearer legacy");
    write(".config/nullspace/config.json", r#"{"api_key":"user"}"#);
    assert_eq!(used_key(&[], &[]), "Bearer user");
    write(".env", "NULLSPACE_API_KEY=dotenv\n");
    assert_eq!(used_key(&[], &[]), "Bearer dotenv");
    assert_eq!(used_key(&[("NULLSPACE_API_KEY", "env")], &[]), "Bearer env");
    assert_eq!(
        used_key(&[("NULLSPACE_API_KEY", "env")], &["--api-key", "flag"]),
        "Bearer flag"
    );

    let r = run_in(
        home,
        &[("NULLSPACE_API_KEY", "env")],
        &["auth", "status", "--json"],
        "",
    );
    let status = r.json();
    assert_eq!(status["api_key"]["source"], "environment");
    assert_eq!(
        status["api_url"]["source"],
        home.join(".nullspace/config.json").display().to_string()
    );
    assert_eq!(
        status["server"]["reachable"], false,
        "the echo server has no health route"
    );
}

#[test]
fn auth_login_verifies_and_saves_the_key() {
    let server = TestServer::start(api);
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let r = run_in(
        home,
        &[],
        &["auth", "login", "--api-url", server.url()],
        "ns_live_wrong\n",
    );
    assert_eq!(r.status, 4, "{}", r.stderr);
    let config = home.join(".config/nullspace/config.json");
    assert!(!config.exists());

    let r = run_in(
        home,
        &[],
        &["auth", "login", "--api-url", server.url()],
        &format!("{KEY}\n"),
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(!r.stdout.contains(KEY), "the key is masked: {}", r.stdout);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(saved["api_key"], KEY);
    assert_eq!(saved["api_url"], server.url());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let r = run_in(home, &[], &["auth", "status"], "");
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("valid"), "{}", r.stdout);
    assert!(r.stdout.contains("9.9.9"), "{}", r.stdout);
    assert!(r.stdout.contains("ns_live_…1234"), "{}", r.stdout);

    let r = run_in(home, &[], &["doctor", "--json"], "");
    let report = r.json();
    let check = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(check("server"), "ok");
    assert_eq!(check("api_key"), "ok");
    assert_eq!(check("guest_image"), "fail", "NULLSPACE_DATA_DIR is empty");
    assert_eq!(r.status, 1);
}

/// The usage line of `sandbox exec`, as clap prints it with a usage error.
const EXEC_USAGE: &str = "Usage: nullspace sandbox exec [OPTIONS] <ID> <COMMAND> [ARGS]...";

#[test]
fn exec_takes_the_command_without_a_double_dash() {
    let server = TestServer::start(api);
    let r = run(&server, &["sandbox", "exec", "sb_a", "ls", "-la"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "hello\n");
    assert_eq!(server.last().json(), json!({"args": ["ls", "-la"]}));

    // nullspace's options go before the command; after it, they are the command's.
    let r = run(
        &server,
        &[
            "sandbox", "exec", "--cwd", "/w", "sb_a", "--user", "root", "grep", "--user", "-r",
            "--json", "x",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "hello\n", "--json after the command is grep's");
    assert_eq!(
        server.last().json(),
        json!({"args": ["grep", "--user", "-r", "--json", "x"], "cwd": "/w", "user": "root"})
    );

    // `--` and --shell work as before.
    let r = run(&server, &["sandbox", "exec", "sb_a", "--", "ls", "-l"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().json(), json!({"args": ["ls", "-l"]}));
    let r = run(
        &server,
        &["machine", "exec", "sb_a", "--shell", "echo hi | wc -c"],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().json(), json!({"command": "echo hi | wc -c"}));
}

#[test]
fn exec_usage_errors_explain_and_send_nothing() {
    let server = TestServer::start(api);
    let cases: [(&[&str], &str); 6] = [
        (
            &["sandbox", "exec", "sb_a"],
            "required arguments were not provided",
        ),
        (
            &["sandbox", "exec", "sb_a", "--shell", "ls", "ls"],
            "cannot be used with",
        ),
        (
            &["sandbox", "exec", "sb_a", "--tiemout", "5", "ls"],
            "'--tiemout'",
        ),
        (
            &["sandbox", "exec", "sb_a", "--timeout", "-1", "ls"],
            "0 or more",
        ),
        (
            &["sandbox", "exec", "sb_a", "--user", "", "ls"],
            "user name",
        ),
        (
            &[
                "sandbox",
                "exec",
                "sb_a",
                "--no-stdin",
                "--stdin-file",
                "f",
                "cat",
            ],
            "cannot be used with",
        ),
    ];
    for (args, says) in cases {
        let r = run(&server, args);
        assert_eq!(r.status, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    let r = run(&server, &["sandbox", "exec", "sb_a"]);
    assert!(r.stderr.contains(EXEC_USAGE), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("nullspace sandbox exec [OPTIONS] <ID> --shell <CMD>"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("<--shell"), "{}", r.stderr);

    // With --json, a usage error is the JSON error body too.
    let r = run(&server, &["sandbox", "exec", "--json", "sb_a"]);
    assert_eq!(r.status, 2, "{}", r.stderr);
    let body = r.error_json();
    assert_eq!(body["error"]["code"], "usage");
    assert_eq!(body["error"]["exit_code"], 2);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&EXEC_USAGE["Usage: ".len()..]),
        "{body}"
    );
    assert!(server.requests().is_empty(), "usage errors send no request");
}

#[test]
fn exec_sends_piped_or_redirected_stdin() {
    let server = TestServer::start(api);
    let r = run_stdin(&server, &["sandbox", "exec", "sb_a", "cat"], "hi");
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        server.last().json(),
        json!({"args": ["cat"], "stdin": "hi"})
    );
    let r = run_stdin(
        &server,
        &["sandbox", "exec", "sb_a", "--shell", "wc -c"],
        "abc",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        server.last().json(),
        json!({"command": "wc -c", "stdin": "abc"})
    );

    // `… < file`: a regular file on standard input.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.txt");
    std::fs::write(&file, "from a file\n").unwrap();
    let r = run_with(
        &server,
        &["sandbox", "exec", "sb_a", "cat"],
        Input::File(&file),
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        server.last().json(),
        json!({"args": ["cat"], "stdin": "from a file\n"})
    );

    // Nothing is sent with --no-stdin, from /dev/null, or from an empty pipe.
    for (args, input) in [
        (
            &["sandbox", "exec", "sb_a", "--no-stdin", "cat"][..],
            Input::Pipe(b"hi"),
        ),
        (&["sandbox", "exec", "sb_a", "cat"][..], Input::Null),
        (&["sandbox", "exec", "sb_a", "cat"][..], Input::Pipe(b"")),
    ] {
        let r = run_with(&server, args, input);
        assert_eq!(r.status, 0, "{args:?}: {}", r.stderr);
        assert_eq!(server.last().json(), json!({"args": ["cat"]}), "{args:?}");
    }

    // --stdin-file names the input, over a pipe; an empty file is sent as empty.
    let path = file.to_str().unwrap();
    let r = run_stdin(
        &server,
        &["sandbox", "exec", "sb_a", "--stdin-file", path, "cat"],
        "piped",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().json()["stdin"], "from a file\n");
    std::fs::write(&file, "").unwrap();
    let r = run_with(
        &server,
        &["sandbox", "exec", "sb_a", "--stdin-file", path, "cat"],
        Input::Null,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().json()["stdin"], "");

    // Binary input is refused before any request: the command takes text.
    let before = server.requests().len();
    let r = run_with(
        &server,
        &["sandbox", "exec", "sb_a", "cat"],
        Input::Pipe(&[0xff, 0xfe, 0x00]),
    );
    assert_eq!(r.status, 7, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("error: standard input is not valid UTF-8 (invalid_input)\nhint: "),
        "{}",
        r.stderr
    );
    let missing = dir.path().join("none");
    let r = run(
        &server,
        &[
            "sandbox",
            "exec",
            "sb_a",
            "--stdin-file",
            missing.to_str().unwrap(),
            "cat",
        ],
    );
    assert_eq!(r.status, 7, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
    assert_eq!(server.requests().len(), before);
}

#[test]
fn commands_cut_short_print_what_they_printed() {
    let server = TestServer::start(api);
    let r = run(&server, &["sandbox", "exec", "sb_a", "--shell", "slow"]);
    assert_eq!(r.status, 8, "{}", r.stderr);
    assert_eq!(r.stdout, "step 1\nstep 2\n");
    assert_eq!(
        r.stderr,
        "warn: slow\nerror: command timed out after 1s; output cut: what the command printed \
         before it was stopped is above (command_timeout)\n"
    );

    let r = run(&server, &["sandbox", "exec", "sb_a", "--shell", "yes"]);
    assert_eq!(r.status, 7, "{}", r.stderr);
    assert_eq!(r.stdout, "y\ny\ny");
    assert!(
        r.stderr
            .starts_with("\nerror: output passed 16 MiB; output cut:"),
        "the error starts on its own line: {:?}",
        r.stderr
    );
    assert!(
        r.stderr.trim_end().ends_with("(output_limit_exceeded)"),
        "{}",
        r.stderr
    );

    // With --json: stdout stays empty, the error body carries the output.
    let r = run(
        &server,
        &["sandbox", "exec", "sb_a", "--json", "--shell", "slow"],
    );
    assert_eq!(r.status, 8, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    let body = r.error_json();
    assert_eq!(body["error"]["code"], "command_timeout");
    assert_eq!(body["error"]["exit_code"], 8);
    assert_eq!(body["error"]["status"], 504);
    assert_eq!(
        body["error"]["output"],
        json!({"stdout": "step 1\nstep 2\n", "stderr": "warn: slow", "truncated": true})
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("is in error.output"),
        "{body}"
    );

    // A server that sends no output: the plain error.
    let r = run(
        &server,
        &["sandbox", "exec", "sb_a", "--shell", "sleep 100"],
    );
    assert_eq!(r.status, 8);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr, "error: killed after 1s (command_timeout)\n");
}

#[test]
fn file_rm_is_recursive_by_default() {
    let server = TestServer::start(api);
    for (extra, recursive) in [
        (&[][..], "true"),
        (&["--recursive"][..], "true"),
        (&["-r"][..], "true"),
        (&["--no-recursive"][..], "false"),
    ] {
        let mut args = vec!["sandbox", "file", "rm", "sb_a", "/d"];
        args.extend_from_slice(extra);
        let r = run(&server, &args);
        assert_eq!(r.status, 0, "{extra:?}: {}", r.stderr);
        assert_eq!(r.stdout, "removed /d\n");
        let req = server.last();
        assert_eq!(req.route(), "DELETE /v1/machines/sb_a/files");
        assert_eq!(
            pairs(&req),
            vec![pair("path", "/d"), pair("recursive", recursive)],
            "{extra:?}"
        );
    }
    let before = server.requests().len();
    let r = run(
        &server,
        &[
            "sandbox",
            "file",
            "rm",
            "sb_a",
            "/d",
            "-r",
            "--no-recursive",
        ],
    );
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert_eq!(server.requests().len(), before);
}

#[test]
fn list_shows_live_machines_unless_states_are_named() {
    let server = TestServer::start(api);
    let r = run(&server, &["sandbox", "list"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().query, "", "no state: the server's default");
    let ids: Vec<&str> = r
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids, ["sb_a", "sb_p"], "{}", r.stdout);

    let r = run(&server, &["sandbox", "list", "--state", "killed"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(pairs(&server.last()), [pair("state", "killed")]);
    assert!(
        r.stdout.contains("sb_k") && !r.stdout.contains("sb_a"),
        "{}",
        r.stdout
    );

    let r = run(
        &server,
        &["sandbox", "list", "--state", "killed,failed", "--json"],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        pairs(&server.last()),
        [pair("state", "killed"), pair("state", "failed")]
    );
    let listed = r.json();
    assert_eq!(listed["machines"][0]["id"], "sb_k");
    assert_eq!(listed["machines"][0]["failure_reason"], Value::Null);
    assert_eq!(listed["machines"][1]["id"], "sb_f");
    assert_eq!(
        listed["machines"][1]["failure_reason"],
        "the VMM exited (signal 9)"
    );

    run(
        &server,
        &["sandbox", "list", "--state", "running", "--state", "paused"],
    );
    assert_eq!(
        pairs(&server.last()),
        [pair("state", "running"), pair("state", "paused")]
    );

    let before = server.requests().len();
    let r = run(&server, &["sandbox", "list", "--state", "running,asleep"]);
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(r.stderr.contains("'asleep'"), "{}", r.stderr);
    assert_eq!(server.requests().len(), before);

    let empty = key_echo();
    let r = run(&empty, &["sandbox", "list"]);
    assert_eq!(
        r.stdout,
        "no live machines (killed and failed ones: --state killed,failed)\n"
    );
    let r = run(&empty, &["sandbox", "list", "--state", "killed"]);
    assert_eq!(r.stdout, "no machines\n");
}

#[test]
fn get_shows_why_a_machine_failed() {
    let server = TestServer::start(api);
    let r = run(&server, &["sandbox", "get", "sb_f"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("failure_reason"))
        .unwrap_or_else(|| panic!("no failure_reason: {}", r.stdout));
    assert!(line.ends_with(" the VMM exited (signal 9)"), "{line}");
    assert!(r.stdout.contains("failed"), "{}", r.stdout);
    let r = run(&server, &["sandbox", "get", "sb_f", "--json"]);
    assert_eq!(r.json()["failure_reason"], "the VMM exited (signal 9)");

    let r = run(&server, &["sandbox", "get", "sb_a"]);
    assert!(!r.stdout.contains("failure_reason"), "{}", r.stdout);
}

#[test]
fn kill_says_whether_it_killed_or_cancelled_a_create() {
    let server = TestServer::start(api);
    let r = run(&server, &["sandbox", "kill", "sb_a", "--json"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        r.json(),
        json!({"id": "sb_a", "outcome": "killed", "previous_state": "running"})
    );

    let r = run(&server, &["sandbox", "kill", "sb_starting"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "cancelled the create of sb_starting: it was still starting and never became usable\n"
    );
    let r = run(&server, &["sandbox", "kill", "sb_starting", "--json"]);
    assert_eq!(r.json()["outcome"], "create_cancelled");
    assert_eq!(r.json()["previous_state"], "starting");

    // A server older than the kill answer says 204 and nothing more.
    let r = run(&server, &["sandbox", "kill", "sb_old"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "killed sb_old\n");
    let r = run(&server, &["sandbox", "kill", "sb_old", "--json"]);
    assert_eq!(
        r.json(),
        json!({"id": "sb_old", "outcome": "killed", "previous_state": null})
    );

    let r = run(&server, &["sandbox", "kill", "sb_missing"]);
    assert_eq!(r.status, 5, "{}", r.stderr);
}

#[test]
fn file_commands_take_the_user_and_read_a_range() {
    let server = TestServer::start(api);
    let as_root = |args: &[&str]| {
        let mut all = vec!["sandbox", "file"];
        all.extend_from_slice(args);
        all.extend(["--user", "root"]);
        let r = run(&server, &all);
        assert_eq!(r.status, 0, "{args:?}: {}", r.stderr);
        server.last()
    };
    for args in [
        &["read", "sb_a", "/f"][..],
        &["write", "sb_a", "/f", "--content", "x"][..],
        &["list", "sb_a", "/"][..],
        &["exists", "sb_a", "/f"][..],
        &["info", "sb_a", "/f"][..],
        &["rm", "sb_a", "/f"][..],
    ] {
        let req = as_root(args);
        assert_eq!(
            req.query_param("user").as_deref(),
            Some("root"),
            "{args:?}: {}",
            req.query
        );
    }
    for args in [
        &["write-files", "sb_a", r#"[["/a","x"]]"#][..],
        &["mkdir", "sb_a", "/d"][..],
        &["mv", "sb_a", "/a", "/b"][..],
        &["chmod", "sb_a", "/a", "600"][..],
    ] {
        let req = as_root(args);
        assert_eq!(req.json()["user"], "root", "{args:?}: {}", req.json());
    }

    let r = run(
        &server,
        &[
            "sandbox", "file", "read", "sb_a", "/f", "--offset", "100", "--limit", "3", "--user",
            "root", "--json",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        pairs(&server.last()),
        [
            pair("path", "/f"),
            pair("user", "root"),
            pair("offset", "100"),
            pair("limit", "3"),
        ]
    );
    assert_eq!(r.json()["offset"], 100);
    assert_eq!(r.json()["size"], 3);

    // Without --user, none is sent: the server's default, `user`.
    run(&server, &["sandbox", "file", "read", "sb_a", "/f"]);
    assert_eq!(pairs(&server.last()), [pair("path", "/f")]);

    let before = server.requests().len();
    for bad in [
        &["sandbox", "file", "read", "sb_a", "/f", "--offset", "-1"][..],
        &[
            "sandbox",
            "file",
            "mkdir",
            "sb_a",
            "/d",
            "--user",
            "two words",
        ][..],
    ] {
        let r = run(&server, bad);
        assert_eq!(r.status, 2, "{bad:?}: {}", r.stderr);
    }
    assert_eq!(server.requests().len(), before);
}

#[test]
fn large_files_and_rate_limits_say_what_to_do() {
    let server = TestServer::start(api);
    let r = run(&server, &["sandbox", "file", "read", "sb_a", "/big"]);
    assert_eq!(r.status, 7, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(
            "error: /big is larger than 134217728 bytes (file_too_large)\n\
             hint: read it raw (a stream), or in parts with --offset and --limit"
        ),
        "{}",
        r.stderr
    );

    let r = run(&server, &["sandbox", "get", "sb_busy"]);
    assert_eq!(r.status, 9, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "error: too many requests (rate_limited)\nhint: retry after 3 s\n"
    );
    let r = run(&server, &["sandbox", "get", "sb_busy", "--json"]);
    assert_eq!(r.error_json()["error"]["retry_after_secs"], 3);
    assert_eq!(r.error_json()["error"]["code"], "rate_limited");

    // An upload larger than the server takes is refused before it is sent.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(nullspace_api::MAX_FILE_BYTES + 1)
        .unwrap();
    let before = server.requests().len();
    let r = run(
        &server,
        &[
            "sandbox",
            "file",
            "write",
            "sb_a",
            "/w/big.bin",
            "--from-file",
            big.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(r.status, 7, "{}", r.stderr);
    assert_eq!(r.error_json()["error"]["code"], "payload_too_large");
    assert_eq!(server.requests().len(), before);
}

#[test]
fn schema_lists_the_global_flags_of_every_command() {
    let server = TestServer::start(api);
    let r = run(&server, &["schema", "sandbox", "exec"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let schema = r.json();
    let flags: Vec<&str> = schema["commands"][0]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["long"].as_str().unwrap())
        .collect();
    for global in ["--api-key", "--api-url", "--json"] {
        assert!(flags.contains(&global), "{global}: {flags:?}");
    }
    assert!(flags.contains(&"--no-stdin"), "{flags:?}");
    let command = &schema["commands"][0]["arguments"][1];
    assert_eq!(command["name"], "command");
    assert_eq!(command["trailing"], true);
    assert!(server.requests().is_empty());
}

/// Not a test of its own: `missing_environments_skip_or_fail` runs it in a child
/// process with the environment it wants.
#[test]
#[ignore = "run by missing_environments_skip_or_fail"]
fn real_server_probe() {
    if let Some((url, _)) = support::real_server() {
        println!("PROBE: server {url}");
    }
}

#[test]
fn missing_environments_skip_or_fail() {
    let probe = |require: Option<&str>| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["--ignored", "--exact", "real_server_probe", "--nocapture"])
            .env_remove("NULLSPACE_TEST_API_URL")
            .env_remove("NULLSPACE_TEST_API_KEY")
            .env_remove(support::REQUIRE_VM);
        if let Some(value) = require {
            cmd.env(support::REQUIRE_VM, value);
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (passed, text) = probe(None);
    assert!(passed, "{text}");
    assert!(text.contains("SKIP: NULLSPACE_TEST_API_URL"), "{text}");
    assert!(text.contains("1 passed"), "the probe ran: {text}");
    let (passed, text) = probe(Some("0"));
    assert!(passed, "only 1 requires: {text}");
    let (passed, text) = probe(Some("1"));
    assert!(!passed, "{text}");
    assert!(
        text.contains("NULLSPACE_REQUIRE_VM=1 but NULLSPACE_TEST_API_URL"),
        "{text}"
    );
    assert!(!text.contains("SKIP:"), "{text}");
}
