//! `template logs --follow`, `template wait` and `template build` read the build's log
//! stream (a WebSocket) against a real server: the `nullspace-server` binary run as
//! `--fake-node`, as tests/template.rs runs it (`cargo build [--release] -p
//! nullspace-server` first, or `NULLSPACE_SERVER_BIN`). A ready command that never
//! succeeds keeps a build running for a few seconds, so the log is followed while it
//! is written.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nullspace_api::BuildLogEntry;
use support::{run_in, Run};

/// A server of one test, stopped when dropped.
struct Server {
    url: String,
    key: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the server process this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// `NULLSPACE_SERVER_BIN`, else the server beside this test's profile.
fn server_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("NULLSPACE_SERVER_BIN").filter(|b| !b.is_empty()) {
        return bin.into();
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("nullspace-server"))
        .unwrap_or_default();
    assert!(
        bin.is_file(),
        "no server binary at {}: build it first (cargo build --release -p nullspace-server) \
         or set NULLSPACE_SERVER_BIN",
        bin.display()
    );
    bin
}

fn start() -> Server {
    let bin = server_bin();
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&bin)
            .arg("--state-dir")
            .arg(&state)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--ssh-listen", "127.0.0.1:0"])
            .args(["--fake-node", "--rate", "100000", "--on-exit", "destroy"])
            .env_remove("NULLSPACE_DATA_DIR")
            .env_remove("NULLSPACE_PREVIEW_BASE")
            .env_remove("NULLSPACE_SSH_LISTEN")
            .env_remove("NULLSPACE_SSH_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut server = Server {
            url: format!("http://127.0.0.1:{port}"),
            key: String::new(),
            child,
            _dir: dir,
        };
        let key_file = state.join("admin-api-key");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if server.child.try_wait().unwrap().is_some() {
                break; // the port was taken meanwhile: another one
            }
            let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if let (true, Ok(key)) = (up, std::fs::read_to_string(&key_file)) {
                server.key = key.trim().to_owned();
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("the test server did not start");
}

fn cli(s: &Server, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    run_in(
        dir.path(),
        &[("NULLSPACE_API_URL", &s.url), ("NULLSPACE_API_KEY", &s.key)],
        args,
        "",
    )
}

/// The JSON lines of `text` as log entries.
fn entries(text: &str) -> Vec<BuildLogEntry> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Starts a build that fails after a few seconds of waiting for its ready command.
fn slow_failing_build(s: &Server, name: &str) -> String {
    let r = cli(
        s,
        &[
            "template",
            "build",
            "--name",
            name,
            "--run-cmd",
            "echo one",
            "--start-cmd",
            "sleep 1000",
            "--ready-cmd",
            "exit 1",
            "--ready-timeout",
            "3",
            "--background",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    r.stdout.trim().to_owned()
}

#[test]
fn logs_follow_prints_every_entry_as_it_is_written_until_the_build_ends() {
    let s = start();
    let id = slow_failing_build(&s, "slow");
    let started = Instant::now();
    let r = cli(&s, &["template", "build-status", &id, "--json"]);
    assert_eq!(r.json()["status"], "building", "followed while it runs");
    let r = cli(
        &s,
        &["template", "logs", &id, "--follow", "--log-format", "jsonl"],
    );
    assert_eq!(r.status, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let followed = entries(&r.stdout);
    // It waited for the build's end: the last entries are the failure's.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(
        followed
            .iter()
            .any(|e| e.message.starts_with("build failed: the ready command")),
        "{followed:?}"
    );
    let offsets: Vec<u64> = followed.iter().map(|e| e.offset).collect();
    assert_eq!(offsets, (0..followed.len() as u64).collect::<Vec<_>>());
    // The same entries as the polled log, from an offset too.
    let r = cli(&s, &["template", "logs", &id, "--json"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let polled: Vec<BuildLogEntry> = serde_json::from_value(r.json()["logs"].clone()).unwrap();
    assert_eq!(followed, polled);
    let r = cli(
        &s,
        &[
            "template", "logs", &id, "--follow", "--offset", "2", "--json",
        ],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["done"], true);
    assert_eq!(v["next_offset"], polled.len() as u64);
    let tail: Vec<BuildLogEntry> = serde_json::from_value(v["logs"].clone()).unwrap();
    assert_eq!(tail, polled[2..]);
    // An unknown build is the API's error.
    let r = cli(
        &s,
        &["template", "logs", "tb_aaaaaaaaaaaaaaaaaaaa", "--follow"],
    );
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("build_not_found"), "{}", r.stderr);
}

#[test]
fn wait_and_build_print_the_log_live_and_exit_6_when_it_fails() {
    let s = start();
    let id = slow_failing_build(&s, "waited");
    let r = cli(&s, &["template", "wait", &id, "--log-format", "jsonl"]);
    assert_eq!(r.status, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let printed = entries(&r.stdout);
    assert_eq!(printed[0].offset, 0);
    assert!(
        printed.iter().any(|e| e.message == "waiting for: exit 1"),
        "{printed:?}"
    );
    assert!(r.stderr.contains("ready_timeout"), "{}", r.stderr);

    // A build followed in the foreground: the entries on stderr with --json, the
    // ready build alone on stdout.
    let r = cli(
        &s,
        &[
            "template",
            "build",
            "--name",
            "fine",
            "--run-cmd",
            "echo hello",
            "--log-format",
            "jsonl",
            "--json",
        ],
    );
    assert_eq!(r.status, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let b = r.json();
    assert_eq!(b["status"], "ready", "{b}");
    assert_eq!(b["logs"], serde_json::json!([]));
    let logged: Vec<BuildLogEntry> = r
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        logged.iter().any(|e| e.message == "echo hello"),
        "{logged:?}"
    );
    assert_eq!(b["logs_next_offset"], logged.len() as u64);
}
