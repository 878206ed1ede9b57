//! Drives the real `nullspace` binary against a recording fake server.

mod support;

use nullspace_api::{
    CommandResult, ErrorCode, ListResponse, Machine, MachineList, WriteFilesResponse,
};
use nullspace_client::test_server::{sample_entry, sample_machine, Recorded, Reply, TestServer};
use nullspace_types::MachineState;
use serde_json::{json, Value};
use support::{pair, pairs, run, run_in, run_stdin, KEY};

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
                machines: vec![sample_machine("sb_a")],
                next_cursor: None,
            },
        ),
        ("GET", "/v1/machines/sb_a") | ("POST", "/v1/machines/sb_a/timeout") => {
            Reply::json(200, &sample_machine("sb_a"))
        }
        ("DELETE", "/v1/machines/sb_a") | ("DELETE", "/v1/machines/sb_new") => Reply::empty(204),
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
        vec![pair("path", "/a"), pair("recursive", "false")]
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
    assert_eq!(r.stdout, "killed sb_a\n");
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
    assert!(exec["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["long"] == "--shell"));
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
