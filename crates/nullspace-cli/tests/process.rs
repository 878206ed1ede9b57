//! Drives the `nullspace` binary's process and PTY commands against a recording fake
//! server, WebSocket channels included.

mod support;

use base64::Engine;
use nullspace_api::{ErrorCode, KillProcessResponse, LogEncoding, ProcessList, PtySessionList};
use nullspace_client::test_server::{
    sample_logs, sample_process, sample_pty, Frame, Recorded, Reply, TestServer, WsPlan,
};
use serde_json::json;
use support::{run, run_stdin, run_with, Input, KEY};

fn start(pid: u32) -> Frame {
    Frame::json(json!({"type":"start","pid":pid,"stdout_offset":0,"stderr_offset":0}))
}

fn end(pid: u32, exit_code: Option<i32>, signal: Option<i32>) -> Frame {
    Frame::json(json!({
        "type":"end","pid":pid,"running":false,"exit_code":exit_code,"signal":signal,
        "timed_out":false,"duration_ms":12,"stdout_offset":6,"stderr_offset":4,
    }))
}

/// The fake's REST routes.
fn api(r: &Recorded) -> Reply {
    if r.header("authorization") != Some(&format!("Bearer {KEY}")) {
        return Reply::error(ErrorCode::Unauthorized, "unknown API key");
    }
    match r.route().as_str() {
        "POST /v1/machines/sb_a/processes" => {
            let pid = if r.json()["stdin"] == true { 43 } else { 42 };
            Reply::json(201, &sample_process(pid))
        }
        "GET /v1/machines/sb_a/processes" => Reply::json(
            200,
            &ProcessList {
                processes: vec![sample_process(42)],
            },
        ),
        "GET /v1/machines/sb_a/processes/42/logs" => {
            if r.query_param("encoding").as_deref() == Some("base64") {
                let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
                let mut logs = sample_logs(42);
                logs.encoding = LogEncoding::Base64;
                logs.stdout = b64(b"hello\xff\n");
                logs.stderr = b64(b"warn\n");
                Reply::json(200, &logs)
            } else {
                Reply::json(200, &sample_logs(42))
            }
        }
        "POST /v1/machines/sb_a/processes/42/stdin"
        | "POST /v1/machines/sb_a/processes/42/close-stdin"
        | "POST /v1/machines/sb_a/processes/42/signal" => Reply::empty(204),
        "DELETE /v1/machines/sb_a/processes/42" => Reply::json(
            200,
            &KillProcessResponse {
                pid: 42,
                killed: true,
            },
        ),
        "DELETE /v1/machines/sb_a/processes/7" => {
            Reply::error(ErrorCode::ProcessExited, "process 7 has exited")
        }
        "POST /v1/machines/sb_a/processes/7/stdin" => {
            Reply::error(ErrorCode::StdinClosed, "stdin of process 7 is closed")
        }
        "POST /v1/machines/sb_old/processes" => {
            Reply::error(ErrorCode::AgentOutdated, "the machine's agent is too old")
        }
        "POST /v1/machines/sb_a/pty" => Reply::json(201, &sample_pty(9)),
        "GET /v1/machines/sb_a/pty" => Reply::json(
            200,
            &PtySessionList {
                sessions: vec![sample_pty(9)],
            },
        ),
        "POST /v1/machines/sb_a/pty/9/resize" => Reply::empty(204),
        "POST /v1/machines/sb_a/pty/8/resize" => {
            Reply::error(ErrorCode::NotAPty, "process 8 has no terminal")
        }
        _ => Reply::error(ErrorCode::ProcessNotFound, "no such process"),
    }
}

/// The fake's channels: 42 prints and exits 3; 43 echoes stdin and exits 0 at its
/// end; 44 is killed by SIGKILL; 45 closes with 4409; 9 (a PTY) echoes and ends on
/// `exit`.
fn channels(r: &Recorded) -> Option<WsPlan> {
    let path = r.path.as_str();
    let greeting = |pid| vec![start(pid)];
    if path.ends_with("/processes/42/stream") {
        return Some(WsPlan::script(vec![
            start(42),
            Frame::output(1, b"one\n"),
            Frame::output(2, b"err\n"),
            Frame::output(1, b"two\n"),
            end(42, Some(3), None),
            Frame::Close(1000),
        ]));
    }
    if path.ends_with("/processes/43/stream") || path.ends_with("/pty/9/connect") {
        return Some(WsPlan::new(greeting(43), |frame| match frame {
            Frame::Binary(b) if b.as_slice() == b"\0exit\n" => {
                vec![end(9, Some(0), None), Frame::Close(1000)]
            }
            Frame::Binary(b) => vec![Frame::output(1, &b[1..])],
            Frame::Text(t) if t.contains("close_stdin") => {
                vec![end(43, Some(0), None), Frame::Close(1000)]
            }
            _ => Vec::new(),
        }));
    }
    if path.ends_with("/processes/44/stream") {
        return Some(WsPlan::script(vec![
            start(44),
            end(44, None, Some(9)),
            Frame::Close(1000),
        ]));
    }
    if path.ends_with("/processes/45/stream") {
        return Some(WsPlan::script(vec![
            start(45),
            Frame::json(
                json!({"type":"error","code":"machine_not_running","message":"machine sb_a is paused"}),
            ),
            Frame::Close(4409),
        ]));
    }
    None
}

fn server() -> TestServer {
    TestServer::start_with_ws(api, channels)
}

#[test]
fn stream_prints_output_in_order_and_exits_with_the_code() {
    let server = server();
    let r = run_with(
        &server,
        &[
            "sandbox",
            "process",
            "stream",
            "sb_a",
            "python",
            "-c",
            "print('hi')",
        ],
        Input::Null,
    );
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_eq!(r.stdout, "one\ntwo\n");
    assert_eq!(r.stderr, "err\n");
    let reqs = server.requests();
    assert_eq!(reqs[0].route(), "POST /v1/machines/sb_a/processes");
    assert_eq!(
        reqs[0].json(),
        json!({"args": ["python", "-c", "print('hi')"]})
    );
    assert_eq!(reqs[1].path, "/v1/machines/sb_a/processes/42/stream");
    assert_eq!(
        reqs[1].header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
}

#[test]
fn stream_forwards_piped_stdin_and_closes_it_at_the_end() {
    let server = server();
    let r = run_stdin(
        &server,
        &["sandbox", "process", "stream", "sb_a", "cat"],
        "typed\n",
    );
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "typed\n"),
        "{}",
        r.stderr
    );
    assert_eq!(server.requests()[0].json()["stdin"], true);
    let frames = server.frames();
    assert_eq!(frames[0], Frame::Binary(b"\0typed\n".to_vec()));
    assert_eq!(frames[1], Frame::Text(r#"{"type":"close_stdin"}"#.into()));
}

#[test]
fn stream_json_prints_events_as_lines() {
    let server = server();
    let r = run_with(
        &server,
        &[
            "sandbox", "process", "stream", "--json", "sb_a", "--shell", "x",
        ],
        Input::Null,
    );
    assert_eq!(r.status, 3, "{}", r.stderr);
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "start");
    assert_eq!(
        lines[1],
        json!({"type":"output","stream":"stdout","data":"one\n"})
    );
    assert_eq!(lines[4]["type"], "end");
    assert_eq!(lines[4]["exit_code"], 3);
}

#[test]
fn attach_exits_with_the_code_or_128_plus_the_signal() {
    let server = server();
    let r = run_with(
        &server,
        &["sandbox", "process", "attach", "sb_a", "42"],
        Input::Null,
    );
    assert_eq!((r.status, r.stdout.as_str()), (3, "one\ntwo\n"));
    assert_eq!(
        server.last().query,
        "",
        "from the oldest kept byte, following"
    );
    let r = run_with(
        &server,
        &["machine", "process", "attach", "sb_a", "44"],
        Input::Null,
    );
    assert_eq!(r.status, 137, "{}", r.stderr);
    let r = run_with(
        &server,
        &["sandbox", "process", "attach", "sb_a", "45", "--json"],
        Input::Null,
    );
    assert_eq!(r.status, 6, "{}", r.stderr);
    let error: serde_json::Value = serde_json::from_str(r.stderr.trim()).unwrap();
    assert_eq!(error["error"]["code"], "machine_not_running");
    let r = run_with(
        &server,
        &["sandbox", "process", "attach", "sb_a", "99"],
        Input::Null,
    );
    assert_eq!(r.status, 5, "{}", r.stderr);
    assert!(r.stderr.contains("(process_not_found)"), "{}", r.stderr);
}

#[test]
fn logs_print_raw_bytes_or_the_api_json() {
    let server = server();
    let r = run(&server, &["sandbox", "process", "logs", "sb_a", "42"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.as_bytes(),
        "hello\u{fffd}\n".as_bytes(),
        "lossy only in the test's view"
    );
    assert_eq!(r.stderr, "warn\n");
    assert_eq!(
        server.last().query_param("encoding").as_deref(),
        Some("base64")
    );
    let r = run(
        &server,
        &[
            "sandbox",
            "process",
            "logs",
            "sb_a",
            "42",
            "--json",
            "--stdout-offset",
            "2",
        ],
    );
    assert_eq!(r.json()["stdout"], "hello\n");
    assert_eq!(server.last().query, "stdout_offset=2&encoding=utf8");
    let r = run(
        &server,
        &["sandbox", "process", "logs", "sb_a", "42", "--follow"],
    );
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "one\ntwo\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn stdin_sends_the_pipe_or_data_and_maps_errors() {
    let server = server();
    let r = run_stdin(
        &server,
        &["sandbox", "process", "stdin", "sb_123", "1234"],
        "q",
    );
    assert_eq!(r.status, 5, "sb_123 has no process 1234: {}", r.stderr);
    let r = run_stdin(&server, &["sandbox", "process", "stdin", "sb_a", "42"], "q");
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().json(), json!({"data": "q"}));
    let r = run_with(
        &server,
        &[
            "sandbox", "process", "stdin", "sb_a", "42", "--data", "x", "--close",
        ],
        Input::Null,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().json(), json!({"data": "x", "close": true}));
    let r = run_with(
        &server,
        &["sandbox", "process", "stdin", "sb_a", "42", "--close"],
        Input::Null,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        server.last().route(),
        "POST /v1/machines/sb_a/processes/42/close-stdin"
    );
    let sent = server.requests().len();
    let r = run_with(
        &server,
        &["sandbox", "process", "stdin", "sb_a", "42"],
        Input::Null,
    );
    assert_eq!(r.status, 2, "nothing to send: {}", r.stderr);
    assert_eq!(server.requests().len(), sent, "no request");
    let r = run_stdin(&server, &["sandbox", "process", "stdin", "sb_a", "7"], "q");
    assert_eq!(r.status, 6, "{}", r.stderr);
    assert!(r.stderr.contains("(stdin_closed)"), "{}", r.stderr);
}

#[test]
fn kill_list_and_exec_background() {
    let server = server();
    let r = run(&server, &["sandbox", "process", "kill", "sb_a", "42"]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "killed process 42\n"));
    let r = run(
        &server,
        &[
            "sandbox", "process", "kill", "sb_a", "42", "--signal", "SIGTERM",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().json(), json!({"signal": "SIGTERM"}));
    let r = run(
        &server,
        &["sandbox", "process", "kill", "sb_a", "7", "--json"],
    );
    assert_eq!(r.status, 6);
    assert_eq!(r.error_json()["error"]["code"], "process_exited");
    let r = run(&server, &["sandbox", "process", "list", "sb_a"]);
    assert!(r.stdout.starts_with("PID"), "{}", r.stdout);
    assert!(r.stdout.contains("42   running"), "{}", r.stdout);
    let r = run(&server, &["sandbox", "process", "list", "sb_a", "--json"]);
    assert_eq!(r.json()["processes"][0]["pid"], 42);
    let r = run(
        &server,
        &["sandbox", "exec", "--background", "sb_a", "sleep", "60"],
    );
    assert_eq!((r.status, r.stdout.as_str()), (0, "42\n"), "{}", r.stderr);
    let r = run(
        &server,
        &[
            "sandbox",
            "exec",
            "--background",
            "--json",
            "sb_a",
            "sleep",
            "60",
        ],
    );
    assert_eq!(r.json()["pid"], 42);
    let r = run(&server, &["sandbox", "process", "stream", "sb_old", "true"]);
    assert_eq!(r.status, 6, "agent_outdated: {}", r.stderr);
}

#[test]
fn pty_without_a_terminal_streams_and_other_commands_answer() {
    let server = server();
    let r = run_stdin(
        &server,
        &[
            "sandbox", "pty", "create", "sb_a", "--cols", "120", "--rows", "30",
        ],
        "exit\n",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let reqs = server.requests();
    assert_eq!(reqs[0].json(), json!({"cols": 120, "rows": 30}));
    assert_eq!(reqs[1].path, "/v1/machines/sb_a/pty/9/connect");
    assert_eq!(
        server.frames(),
        [Frame::Binary(b"\0exit\n".to_vec())],
        "no resize without a terminal"
    );
    let r = run(&server, &["sandbox", "pty", "create", "sb_a", "--json"]);
    assert_eq!(
        r.json()["session_id"],
        9,
        "--json prints the session, no attach"
    );
    let r = run(&server, &["sandbox", "pty", "list", "sb_a"]);
    assert!(r.stdout.contains("80x24"), "{}", r.stdout);
    let r = run(
        &server,
        &[
            "sandbox", "pty", "resize", "sb_a", "9", "--cols", "100", "--rows", "20",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(server.last().json(), json!({"cols": 100, "rows": 20}));
    let r = run(
        &server,
        &[
            "sandbox", "pty", "resize", "sb_a", "8", "--cols", "1", "--rows", "1",
        ],
    );
    assert_eq!(r.status, 6, "not_a_pty: {}", r.stderr);
    let r = run(&server, &["sandbox", "pty", "connect", "sb_a", "3"]);
    assert_eq!(r.status, 5, "{}", r.stderr);
}

/// A fake terminal session 9 that echoes keys (Ctrl-C as `^C`), answers each resize
/// with `size COLSxROWS`, and ends with exit code 4 on Ctrl-D.
fn terminal_server() -> TestServer {
    TestServer::start_with_ws(api, |r| {
        if !r.path.ends_with("/pty/9/connect") {
            return None;
        }
        Some(WsPlan::new(vec![start(9)], |frame| match frame {
            Frame::Binary(b) if b.as_slice() == b"\0\x04" => {
                vec![end(9, Some(4), None), Frame::Close(1000)]
            }
            Frame::Binary(b) => {
                let shown = String::from_utf8_lossy(&b[1..]).replace('\x03', "^C");
                vec![Frame::output(1, shown.as_bytes())]
            }
            Frame::Text(t) if t.contains("resize") => {
                let v: serde_json::Value = serde_json::from_str(t).unwrap();
                let line = format!("\r\nsize {}x{}\r\n", v["cols"], v["rows"]);
                vec![Frame::output(1, line.as_bytes())]
            }
            _ => Vec::new(),
        }))
    })
}

#[test]
fn pty_connect_on_a_terminal_is_raw_resizes_and_detaches() {
    if support::tmux::required().is_none() {
        return;
    }
    let server = terminal_server();
    let command = format!(
        "NULLSPACE_API_URL={} NULLSPACE_API_KEY={KEY} HOME=/tmp {} sandbox pty connect sb_a 9; \
         s=$?; stty -a | grep -q -- -icanon || echo COOKED; (exit $s)",
        server.url(),
        env!("CARGO_BIN_EXE_nullspace")
    );
    let term = support::tmux::Tmux::start("fakepty", &command, 90, 25);
    term.wait_text("size 90x25", 10);
    term.resize(110, 35);
    term.wait_text("size 110x35", 10);
    // Raw mode: Ctrl-C is a key sent on, nothing echoes locally.
    term.type_text("abc");
    term.keys(&["C-c"]);
    term.wait_text("abc^C", 10);
    term.keys(&["C-]", "q"]);
    let screen = term.wait_text("[exited 0]", 10);
    assert!(screen.contains("detached from session 9"), "{screen}");
    assert!(screen.contains("pty connect sb_a 9"), "{screen}");
    assert!(
        screen.contains("COOKED"),
        "the terminal is restored: {screen}"
    );
    let typed: Vec<u8> = server
        .frames()
        .iter()
        .filter_map(|f| match f {
            Frame::Binary(b) => Some(b[1..].to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(typed, b"abc\x03", "every key but the detach sequence");

    let term = support::tmux::Tmux::start("fakepty2", &command, 80, 24);
    term.wait_text("size 80x24", 10);
    term.keys(&["C-d"]);
    let screen = term.wait_text("[exited 4]", 10);
    assert!(
        screen.contains("COOKED"),
        "the terminal is restored: {screen}"
    );

    // SIGTERM to nullspace: it leaves, with the terminal restored.
    let term = support::tmux::Tmux::start("fakepty3", &command, 80, 24);
    term.wait_text("size 80x24", 10);
    let pid = term.child_pid().expect("nullspace runs in the session");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let screen = term.wait_text("[exited 143]", 10);
    assert!(
        screen.contains("COOKED"),
        "the terminal is restored: {screen}"
    );
}
