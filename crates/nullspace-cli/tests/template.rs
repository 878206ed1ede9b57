//! Drives the real `nullspace` binary through `template …` against a real server
//! (the `nullspace-server` binary, run as `--fake-node`) over the do-nothing node,
//! which answers a command with its own text, exits N for `exit N` and keeps a
//! `sleep…` running until it is killed. Builds, their logs and failures, versions
//! and tags, machines from a built template, deletion rules and the cache.
//!
//! The server binary is the one built beside this test (`target/<profile>/
//! nullspace-server`, so `cargo build [--release] -p nullspace-server` first, as
//! `scripts/build.sh` does), or `NULLSPACE_SERVER_BIN`. Running the binary rather
//! than the server's library keeps the server out of this crate's dependencies, so
//! testing the CLI does not compile the server a second time.

mod support;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nullspace_api::BuildLogEntry;
use serde_json::Value;
use support::{run_in, Run};

/// The server the tests share: its URL and its admin key.
struct Server {
    url: String,
    key: String,
}

/// The server process and its directory (state, data and log), stopped and removed
/// when the test process exits (statics are never dropped, so [`stop_server`] takes
/// this out of [`RUNNING`] at exit).
struct Running {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the server process this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// Registered with atexit(3): stops the server as the test process exits.
extern "C" fn stop_server() {
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(running);
}

/// The shared server, started on first use, and the lock that runs the tests one at
/// a time against it (`cache prune` must not race another test's build).
fn server() -> (MutexGuard<'static, ()>, &'static Server) {
    static SERVER: OnceLock<Server> = OnceLock::new();
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    (guard, SERVER.get_or_init(start))
}

/// The `nullspace-server` binary: `NULLSPACE_SERVER_BIN`, else the one in the
/// directory of this profile's binaries (this test is `<that>/deps/template-…`).
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
        "no server binary at {}: build it first with this test's profile \
         (cargo build [--release] -p nullspace-server) or set NULLSPACE_SERVER_BIN",
        bin.display()
    );
    bin
}

/// `cmd` started from a thread that lives as long as the test process, with
/// PR_SET_PDEATHSIG: the server gets SIGKILL if the tests die without running
/// atexit handlers (a signal), and not when the test that started it ends (the
/// parent-death signal follows the thread that forked).
fn spawn_for_the_process(mut cmd: Command) -> std::io::Result<Child> {
    // SAFETY: prctl(2) is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(cmd.spawn());
        loop {
            std::thread::park();
        }
    });
    rx.recv().unwrap()
}

fn start() -> Server {
    let bin = server_bin();
    // SAFETY: `stop_server` is a plain `extern "C" fn()` that stays valid to the end.
    assert_eq!(unsafe { libc::atexit(stop_server) }, 0, "atexit");
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let log_path = dir.path().join("server.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(&bin);
        cmd.arg("--state-dir")
            .arg(&state)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--ssh-listen", "127.0.0.1:0"])
            .args(["--fake-node", "--rate", "100000", "--on-exit", "destroy"])
            .args(["--history-retention", "3600"])
            // Only the flags above: none of the server's settings from the environment.
            .env_remove("NULLSPACE_DATA_DIR")
            .env_remove("NULLSPACE_PREVIEW_BASE")
            .env_remove("NULLSPACE_SSH_LISTEN")
            .env_remove("NULLSPACE_SSH_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap());
        let child =
            spawn_for_the_process(cmd).unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        let child = &mut running.insert(Running { child, _dir: dir }).child;
        // Written by the server before it listens.
        let key_file = state.join("admin-api-key");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break; // the port was taken meanwhile: another one
            }
            let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if let (true, Ok(key)) = (up, std::fs::read_to_string(&key_file)) {
                return Server {
                    url: format!("http://127.0.0.1:{port}"),
                    key: key.trim().to_owned(),
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        eprintln!("the test server did not start on port {port}:\n{log}");
        // Stopped, and its directory removed, before the next try.
        drop(running.take());
    }
    panic!("the test server did not start");
}

/// A run of `nullspace ARGS…` in `dir` against `s`.
fn cli_in(s: &Server, dir: &Path, args: &[&str]) -> Run {
    run_in(
        dir,
        &[("NULLSPACE_API_URL", &s.url), ("NULLSPACE_API_KEY", &s.key)],
        args,
        "",
    )
}

/// A run of `nullspace ARGS…` in a fresh directory against `s`.
fn cli(s: &Server, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    cli_in(s, dir.path(), args)
}

#[track_caller]
fn ok(r: &Run) {
    assert_eq!(r.status, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
}

/// The `--json` error body: the last line of stderr (the log entries come first).
fn error_body(r: &Run) -> Value {
    let last = r.stderr.trim().lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {}", r.stderr))
}

/// A directory to `--copy`: two files and an ignored one.
fn site(root: &Path) -> PathBuf {
    let site = root.join("site");
    std::fs::create_dir_all(site.join("static")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>hi</h1>\n").unwrap();
    std::fs::write(site.join("static/app.js"), "console.log(1)\n").unwrap();
    std::fs::write(site.join("debug.log"), "noise\n").unwrap();
    std::fs::write(site.join(".nullspaceignore"), "*.log\n").unwrap();
    site
}

#[test]
fn built_templates_start_machines_and_are_managed_by_ref() {
    let (_one, s) = server();
    let work = tempfile::tempdir().unwrap();
    let copy = format!("{}:/srv/app", site(work.path()).display());
    let flags = [
        "--tag",
        "prod",
        "--run-cmd",
        "echo one",
        "--copy",
        &copy,
        "--workdir",
        "/srv/app",
        "--runtime-env",
        "HELLO=world",
        "--start-cmd",
        "sleep 1000",
        "--ready-cmd",
        "true",
    ];
    let mut args = vec!["template", "build", "--name", "web-a:stable"];
    args.extend(flags);
    let r = cli(s, &args);
    ok(&r);
    // The log as it came: `[HH:MM:SS] message`, in order, then the ready build.
    let lines: Vec<&str> = r.stdout.lines().collect();
    let at = |want: &str| {
        lines
            .iter()
            .position(|l| {
                l.len() > 11 && l.as_bytes()[0] == b'[' && &l[9..11] == "] " && l.contains(want)
            })
            .unwrap_or_else(|| panic!("no `[..] {want}` in:\n{}", r.stdout))
    };
    let (first, copied, started) = (
        at("step 1/3 run: echo one"),
        at("] step 2/3 copy: context "),
        at("start: sleep 1000"),
    );
    assert!(first < started, "{}", r.stdout);
    assert!(lines[copied].contains("to /srv/app"), "{}", r.stdout);
    let status = lines.iter().find(|l| l.starts_with("status")).unwrap();
    assert!(status.ends_with("ready"), "{}", r.stdout);
    assert!(r.stderr.contains("uploaded "), "{}", r.stderr);
    assert!(r.stderr.contains("as context "), "{}", r.stderr);

    // The same sources again hash the same: the run and copy steps come from the
    // cache. With --json, stdout is the build alone (the log went to stderr).
    let mut args = vec!["template", "build", "--name", "web-a:stable", "--json"];
    args.extend(flags);
    let r = cli(s, &args);
    ok(&r);
    let b: Value = r.json();
    assert_eq!(b["status"], "ready");
    assert_eq!(b["steps_cached"], 2, "{b}");
    assert_eq!(b["logs"], serde_json::json!([]));
    assert!(r.stderr.contains("(cached)"), "{}", r.stderr);

    let r = cli(s, &["template", "list"]);
    ok(&r);
    assert!(
        r.stdout.lines().next().unwrap().starts_with("NAME"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.lines().any(|l| l.starts_with("web-a ")),
        "{}",
        r.stdout
    );
    let r = cli(s, &["template", "list", "--json", "--fields", "name,tags"]);
    ok(&r);
    let all = r.json();
    let web = all["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "web-a")
        .unwrap_or_else(|| panic!("{all}"));
    assert_eq!(web.as_object().unwrap().len(), 2, "{web}");
    let tags: Vec<&str> = web["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["latest", "prod", "stable"]);

    let r = cli(s, &["template", "get", "web-a:stable", "--json"]);
    ok(&r);
    let t = r.json();
    assert_eq!(t["cwd"], "/srv/app");
    assert_eq!(t["start_cmd"], "sleep 1000");
    assert_eq!(t["envs"]["HELLO"], "world");
    let r = cli(s, &["template", "get", "web-a", "--fields", "name,cwd"]);
    ok(&r);
    assert_eq!(r.stdout.trim(), "name  web-a\ncwd   /srv/app");

    let r = cli(s, &["template", "exists", "web-a:prod"]);
    ok(&r);
    assert_eq!(r.stdout.trim(), "true");
    let r = cli(s, &["template", "exists", "nope"]);
    assert_eq!((r.status, r.stdout.trim()), (5, "false"), "{}", r.stderr);
    let r = cli(s, &["template", "get", "nope"]);
    assert_eq!(r.status, 5, "{}", r.stderr);
    assert!(r.stderr.contains("(template_not_found)"), "{}", r.stderr);

    let r = cli(
        s,
        &[
            "template",
            "tag",
            "assign",
            "web-a",
            "beta",
            "--target",
            "web-a:stable",
        ],
    );
    ok(&r);
    assert!(
        r.stdout.lines().any(|l| l.starts_with("beta ")),
        "{}",
        r.stdout
    );
    let r = cli(s, &["template", "tag", "list", "web-a", "--json"]);
    ok(&r);
    let tags = r.json()["tags"].clone();
    let id_of = |tag: &str| {
        tags.as_array()
            .unwrap()
            .iter()
            .find(|t| t["tag"] == tag)
            .map(|t| t["build_id"].clone())
    };
    assert_eq!(id_of("beta"), id_of("stable"), "{tags}");
    ok(&cli(s, &["template", "tag", "remove", "web-a", "beta"]));
    let r = cli(s, &["template", "tag", "list", "web-a"]);
    ok(&r);
    assert!(!r.stdout.contains("beta"), "{}", r.stdout);
    let r = cli(s, &["template", "tag", "remove", "web-a", "latest"]);
    assert_eq!(r.status, 7, "latest cannot be removed: {}", r.stderr);

    // A machine from a tag of the template; the template cannot go while it runs.
    let r = cli(
        s,
        &["sandbox", "create", "--template", "web-a:stable", "--json"],
    );
    ok(&r);
    let m = r.json();
    assert_eq!(m["template"], "web-a:stable", "{m}");
    assert_eq!(m["cwd"], "/srv/app", "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let r = cli(s, &["template", "delete", "web-a"]);
    assert_eq!(r.status, 6, "{}", r.stderr);
    assert!(r.stderr.contains("(template_in_use)"), "{}", r.stderr);
    assert!(r.stderr.contains(&id), "names the machine: {}", r.stderr);
    ok(&cli(s, &["sandbox", "kill", &id]));
    let r = cli(s, &["template", "delete", "web-a"]);
    ok(&r);
    assert_eq!(r.stdout.trim(), "deleted template web-a");
    assert_eq!(cli(s, &["template", "exists", "web-a"]).status, 5);
    // Its cached steps are used by no version any more.
    let r = cli(s, &["template", "cache", "prune", "--json"]);
    ok(&r);
    assert!(r.json()["deleted"].as_u64().unwrap() >= 2, "{}", r.stdout);
    let r = cli(s, &["template", "cache", "prune"]);
    ok(&r);
    assert!(
        r.stdout.starts_with("deleted 0 cached steps"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_failing_step_exits_6_with_the_step_and_its_exit_code() {
    let (_one, s) = server();
    let build = [
        "template",
        "build",
        "--name",
        "fail-b",
        "--run-cmd",
        "echo before",
        "--run-cmd",
        "exit 3",
    ];
    let r = cli(s, &build);
    assert_eq!(r.status, 6, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("] step 2/2 run: exit 3"), "{}", r.stdout);
    assert!(
        r.stderr.contains("failed: step 2 exited 3 (build_failed)"),
        "{}",
        r.stderr
    );
    for want in [
        "  code: step_failed",
        "  step: 2/2",
        "  exit_code: 3",
        "    exit 3",
    ] {
        assert!(
            r.stderr.lines().any(|l| l == want),
            "{want:?}: {}",
            r.stderr
        );
    }

    let mut json = build.to_vec();
    json.push("--json");
    let r = cli(s, &json);
    assert_eq!(r.status, 6, "{}", r.stderr);
    assert_eq!(r.stdout, "", "nothing on stdout");
    let e = &error_body(&r)["error"];
    assert_eq!(e["code"], "build_failed", "{e}");
    assert_eq!(e["exit_code"], 6);
    assert_eq!(e["build_error"]["code"], "step_failed");
    assert_eq!(e["build_error"]["step"], 2);
    assert_eq!(e["build_error"]["exit_code"], 3);
    assert!(e["build_id"].as_str().unwrap().starts_with("tb_"), "{e}");

    // `wait` ends the same way.
    let mut bg = build.to_vec();
    bg.push("--background");
    let r = cli(s, &bg);
    ok(&r);
    let id = r.stdout.trim().to_owned();
    let r = cli(s, &["template", "wait", &id, "--poll-interval-ms", "100"]);
    assert_eq!(r.status, 6, "{}", r.stderr);
    assert!(r.stderr.contains("  exit_code: 3"), "{}", r.stderr);
}

#[test]
fn background_builds_are_followed_by_wait_logs_and_status() {
    let (_one, s) = server();
    let r = cli(
        s,
        &[
            "template",
            "build",
            "--name",
            "bg-c",
            "--run-cmd",
            "echo hello",
            "--background",
        ],
    );
    ok(&r);
    let id = r.stdout.trim().to_owned();
    assert!(id.starts_with("tb_") && !id.contains('\n'), "{}", r.stdout);

    let r = cli(
        s,
        &[
            "template",
            "wait",
            &id,
            "--poll-interval-ms",
            "100",
            "--log-format",
            "jsonl",
            "--json",
        ],
    );
    ok(&r);
    assert_eq!(r.json()["status"], "ready");
    let entries: Vec<BuildLogEntry> = r
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let offsets: Vec<u64> = entries.iter().map(|e| e.offset).collect();
    assert_eq!(offsets, (0..entries.len() as u64).collect::<Vec<_>>());
    assert!(entries
        .iter()
        .any(|e| e.message == "step 1/1 run: echo hello"));
    assert!(
        entries.iter().any(|e| e.message.starts_with("build ready")),
        "the entries written as it ended are there too: {entries:?}"
    );

    let r = cli(s, &["template", "logs", &id]);
    ok(&r);
    assert_eq!(r.stdout.lines().count(), entries.len(), "{}", r.stdout);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.ends_with("] step 1/1 run: echo hello")),
        "{}",
        r.stdout
    );
    let r = cli(s, &["template", "logs", &id, "--offset", "1", "--json"]);
    ok(&r);
    let logs = r.json();
    assert_eq!(logs["logs"][0]["offset"], 1);
    assert_eq!(logs["done"], true);
    assert_eq!(logs["next_offset"], entries.len() as u64);
    let r = cli(
        s,
        &["template", "logs", &id, "--follow", "--log-format", "jsonl"],
    );
    ok(&r);
    assert_eq!(r.stdout.lines().count(), entries.len(), "{}", r.stdout);

    let r = cli(s, &["template", "build-status", &id, "--json"]);
    ok(&r);
    let b = r.json();
    assert_eq!(
        (b["status"].clone(), b["steps_done"].clone()),
        ("ready".into(), 1.into())
    );
    let r = cli(s, &["template", "build-status", &id, "--offset", "1"]);
    ok(&r);
    assert!(
        r.stdout.lines().any(|l| l == "status       ready"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("\nlogs:\n["), "{}", r.stdout);
    let r = cli(s, &["template", "build-status", "tb_zzzzzzzzzzzzzzzzzzzz"]);
    assert_eq!(r.status, 5, "{}", r.stderr);
    assert!(r.stderr.contains("(build_not_found)"), "{}", r.stderr);
}

#[test]
fn init_render_and_a_build_from_the_json_request() {
    let (_one, s) = server();
    let dir = tempfile::tempdir().unwrap();
    // init and render need no server and no key.
    let r = run_in(
        dir.path(),
        &[],
        &["template", "init", "--name", "from-init"],
        "",
    );
    ok(&r);
    assert!(dir.path().join("nullspace.template.json").is_file());
    let r = run_in(dir.path(), &[], &["template", "init"], "");
    assert_eq!(r.status, 6, "not over the file: {}", r.stderr);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);

    let copy = format!("{}:/srv/www", site(dir.path()).display());
    let render = |format: &str| {
        run_in(
            dir.path(),
            &[],
            &[
                "template",
                "render",
                format,
                "--from-json",
                "nullspace.template.json",
                "--copy",
                &copy,
                "--apt-install",
                "git",
            ],
            "",
        )
    };
    let r = render("json");
    ok(&r);
    let req = r.json();
    let steps = req["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5, "the file's 3 and the flags' 2: {req}");
    let context = steps[3]["context"].as_str().unwrap();
    assert_eq!(context.len(), 64, "{req}");
    assert_eq!(steps[3]["dest"], "/srv/www");
    assert_eq!(
        render("json").json()["steps"][3]["context"],
        context,
        "the same sources, the same hash"
    );
    let r = render("dockerfile");
    ok(&r);
    assert!(r.stdout.starts_with("FROM base\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\nCOPY "), "{}", r.stdout);
    assert!(
        r.stdout.ends_with("CMD python3 -m http.server 8000\n"),
        "{}",
        r.stdout
    );

    // The request the file holds builds, under the name given with it (and a start
    // command the do-nothing node keeps running).
    let r = cli_in(
        s,
        dir.path(),
        &[
            "template",
            "build",
            "--from-json",
            "nullspace.template.json",
            "--name",
            "init-d",
            "--start-cmd",
            "sleep 1000",
            "--json",
        ],
    );
    ok(&r);
    assert_eq!(r.json()["name"], "init-d");
    assert_eq!(r.json()["status"], "ready");
    ok(&cli(s, &["template", "delete", "init-d"]));
}
