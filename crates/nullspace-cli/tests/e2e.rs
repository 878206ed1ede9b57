//! End-to-end runs of the `nullspace` binary against a real server. They run only when
//! `NULLSPACE_TEST_API_URL` and `NULLSPACE_TEST_API_KEY` are set; otherwise each prints
//! `SKIP: <why>` and passes, or fails when `NULLSPACE_REQUIRE_VM=1` (as in CI).

mod support;

#[path = "e2e/files.rs"]
mod files;
#[path = "e2e/previews.rs"]
mod previews;
#[path = "e2e/processes.rs"]
mod processes;
#[path = "e2e/ssh.rs"]
mod ssh;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::real_server as target;

/// Runs `nullspace args` with `stdin`; returns (status, stdout, stderr).
fn ns(target: &(String, String), args: &[&str], stdin: &str) -> (i32, String, String) {
    try_ns(target, args, stdin).unwrap_or_else(|e| panic!("cannot run nullspace {args:?}: {e}"))
}

/// [`ns`] that reports a failure to run the binary instead of panicking.
fn try_ns(
    target: &(String, String),
    args: &[&str],
    stdin: &str,
) -> std::io::Result<(i32, String, String)> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nullspace"))
        .args(args)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("NULLSPACE_API_URL", &target.0)
        .env("NULLSPACE_API_KEY", &target.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        // A command that fails before it reads its input (as a refused `-` upload does)
        // closes the pipe first; its exit status is what the test checks.
        match input.write_all(stdin.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other?,
        }
    }
    let out = child.wait_with_output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Machines and snapshots a test made; when dropped (also on a failed assertion) the
/// machines are killed, then the snapshots deleted.
struct Cleanup<'a> {
    target: &'a (String, String),
    machines: Vec<String>,
    snapshots: Vec<String>,
}

impl<'a> Cleanup<'a> {
    fn new(target: &'a (String, String)) -> Self {
        Self {
            target,
            machines: Vec::new(),
            snapshots: Vec::new(),
        }
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for id in self.machines.iter().rev() {
            let _ = try_ns(self.target, &["sandbox", "kill", id], "");
        }
        for id in &self.snapshots {
            let _ = try_ns(self.target, &["snapshot", "delete", id], "");
        }
    }
}

impl Cleanup<'_> {
    /// `sandbox create --timeout 300 --metadata test=TAG EXTRA… --json`: the
    /// machine, killed on drop.
    fn create(&mut self, tag: &str, extra: &[&str]) -> Value {
        let label = format!("test={tag}");
        let mut args = vec![
            "sandbox",
            "create",
            "--timeout",
            "300",
            "--metadata",
            &label,
        ];
        args.extend_from_slice(extra);
        args.push("--json");
        let (status, out, err) = ns(self.target, &args, "");
        assert_eq!(status, 0, "{err}");
        let m = json(&out);
        self.machines.push(m["id"].as_str().unwrap().to_owned());
        m
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn quickstart_runs_python() {
    let Some(t) = target() else { return };
    let (status, out, err) = ns(&t, &["quickstart", "--json"], "");
    assert_eq!(status, 0, "{err}");
    let report = json(&out);
    assert!(report["result"]["stdout"]
        .as_str()
        .unwrap()
        .starts_with("Python 3"));
}

#[test]
fn create_exec_files_kill() {
    let Some(t) = target() else { return };
    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "create",
            "--timeout",
            "120",
            "--metadata",
            "test=e2e",
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let id = json(&out)["id"].as_str().unwrap().to_owned();

    let (status, out, _) = ns(
        &t,
        &["sandbox", "exec", &id, "--shell", "echo hi; exit 3"],
        "",
    );
    assert_eq!((status, out.as_str()), (3, "hi\n"));
    let (status, out, _) = ns(
        &t,
        &["sandbox", "exec", &id, "--stdin-file", "-", "--", "cat"],
        "in",
    );
    assert_eq!((status, out.as_str()), (0, "in"));
    let (status, _, err) = ns(&t, &["sandbox", "exec", &id, "--", "no-such-program"], "");
    assert_eq!(status, 7, "{err}");
    let (status, _, err) = ns(
        &t,
        &[
            "sandbox",
            "exec",
            &id,
            "--timeout",
            "1",
            "--shell",
            "sleep 30",
        ],
        "",
    );
    assert_eq!(status, 8, "{err}");

    let (status, _, err) = ns(
        &t,
        &["sandbox", "file", "write", &id, "/workspace/e2e.txt"],
        "hello",
    );
    assert_eq!(status, 0, "{err}");
    let (status, out, _) = ns(
        &t,
        &["sandbox", "file", "read", &id, "/workspace/e2e.txt"],
        "",
    );
    assert_eq!((status, out.as_str()), (0, "hello"));
    let (_, out, _) = ns(
        &t,
        &["sandbox", "file", "exists", &id, "/workspace/e2e.txt"],
        "",
    );
    assert_eq!(out, "true\n");
    let (status, _, _) = ns(&t, &["sandbox", "file", "read", &id, "/workspace/none"], "");
    assert_eq!(status, 5);

    // Signed URLs work with plain curl and no API key.
    let (status, url, err) = ns(
        &t,
        &["sandbox", "file", "download-url", &id, "/workspace/e2e.txt"],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let got = std::process::Command::new("curl")
        .args(["-sf", url.trim()])
        .output()
        .expect("curl");
    assert!(got.status.success(), "curl {url}");
    assert_eq!(got.stdout, b"hello");
    let (status, url, err) = ns(
        &t,
        &[
            "sandbox",
            "file",
            "upload-url",
            &id,
            "/workspace/curl.txt",
            "--expires-in",
            "60",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let put = std::process::Command::new("curl")
        .args(["-sf", "-X", "PUT", "--data-binary", "from curl", url.trim()])
        .output()
        .expect("curl");
    assert!(put.status.success(), "curl PUT {url}");
    let (_, out, _) = ns(
        &t,
        &["sandbox", "file", "read", &id, "/workspace/curl.txt"],
        "",
    );
    assert_eq!(out, "from curl");
    let tampered = url.trim().replace("curl.txt", "other.txt");
    let refused = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            "--data-binary",
            "x",
            &tampered,
        ])
        .output()
        .expect("curl");
    assert_eq!(refused.stdout, b"401");

    let (status, _, err) = ns(&t, &["sandbox", "kill", &id], "");
    assert_eq!(status, 0, "{err}");
    let (status, _, err) = ns(&t, &["sandbox", "exec", &id, "--shell", "true"], "");
    assert!(
        status == 6 || status == 5,
        "exec in a killed machine: {status} {err}"
    );
}

#[test]
fn unknown_machine_is_not_found() {
    let Some(t) = target() else { return };
    let (status, _, err) = ns(
        &t,
        &["sandbox", "get", "sb_doesnotexist0000000", "--json"],
        "",
    );
    assert_eq!(status, 5, "{err}");
    assert_eq!(json(err.trim())["error"]["code"], "not_found");
}

#[test]
fn fork_snapshot_restore_and_metrics() {
    let Some(t) = target() else { return };
    let mut made = Cleanup::new(&t);
    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "create",
            "--timeout",
            "300",
            "--metadata",
            "test=e2e-lifecycle",
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let source = json(&out)["id"].as_str().unwrap().to_owned();
    made.machines.push(source.clone());
    let path = "/workspace/lifecycle.txt";
    let (status, _, err) = ns(&t, &["sandbox", "file", "write", &source, path], "kept");
    assert_eq!(status, 0, "{err}");

    let (status, out, err) = ns(
        &t,
        &["sandbox", "fork", &source, "--count", "2", "--json"],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let forked = json(&out);
    let children: Vec<String> = forked["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    made.machines.extend(children.iter().cloned());
    assert_eq!(children.len(), 2, "{out}");
    assert_eq!(forked["machines"][0]["forked_from"], source.as_str());
    assert!(forked["source_stall_ms"].is_u64(), "{out}");
    let (status, out, err) = ns(
        &t,
        &["sandbox", "exec", &children[1], "--", "cat", path],
        "",
    );
    assert_eq!((status, out.as_str()), (0, "kept"), "{err}");

    let (status, out, err) = ns(
        &t,
        &[
            "snapshot",
            "create",
            &source,
            "--metadata",
            "test=e2e",
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let snapshot = json(&out)["id"].as_str().unwrap().to_owned();
    made.snapshots.push(snapshot.clone());
    assert_eq!(json(&out)["machine_id"], source.as_str());

    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "create",
            "--snapshot-id",
            &snapshot,
            "--timeout",
            "120",
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let restored = json(&out)["id"].as_str().unwrap().to_owned();
    made.machines.push(restored.clone());
    assert_eq!(json(&out)["snapshot_id"], snapshot.as_str());
    let (status, out, err) = ns(&t, &["sandbox", "exec", &restored, "--", "cat", path], "");
    assert_eq!((status, out.as_str()), (0, "kept"), "{err}");

    let (status, _, err) = ns(&t, &["snapshot", "delete", &snapshot], "");
    assert_eq!(status, 6, "a machine started from it exists: {err}");
    assert!(err.contains("snapshot_in_use"), "{err}");
    let (status, _, err) = ns(&t, &["sandbox", "kill", &restored], "");
    assert_eq!(status, 0, "{err}");
    made.machines.retain(|id| *id != restored);
    let (status, _, err) = ns(&t, &["snapshot", "delete", &snapshot], "");
    assert_eq!(status, 0, "{err}");
    made.snapshots.clear();
    let (status, _, err) = ns(&t, &["snapshot", "get", &snapshot], "");
    assert_eq!(status, 5, "{err}");

    let (status, out, err) = ns(&t, &["sandbox", "metrics", &source, "--json"], "");
    assert_eq!(status, 0, "{err}");
    let metrics = json(&out);
    assert!(metrics["cpu_count"].as_u64().unwrap() >= 1, "{out}");
    assert!(metrics["mem_total_bytes"].as_u64().unwrap() > 0, "{out}");
    assert!(metrics["disk_total_bytes"].as_u64().unwrap() > 0, "{out}");
    assert!(metrics["cpu_used_pct"].is_number(), "{out}");
}

/// The defects a new user found: exec without `--`, piped stdin, partial output of a
/// timeout, rm removing directories, list showing live machines, kill saying what it
/// did, and file reads in ranges.
#[test]
fn exec_stdin_rm_list_and_kill_as_documented() {
    let Some(t) = target() else { return };
    let mut made = Cleanup::new(&t);
    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "create",
            "--timeout",
            "180",
            "--metadata",
            "test=e2e-usability",
            "--json",
        ],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let id = json(&out)["id"].as_str().unwrap().to_owned();
    made.machines.push(id.clone());

    // The command needs no `--`, and its dashes are its own.
    let (status, out, err) = ns(&t, &["sandbox", "exec", &id, "echo", "-n", "hi"], "");
    assert_eq!((status, out.as_str()), (0, "hi"), "{err}");
    let (status, out, err) = ns(&t, &["sandbox", "exec", &id, "ls", "-la", "/"], "");
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("workspace"), "{out}");

    // Piped standard input reaches the command, unless --no-stdin.
    let (status, out, err) = ns(&t, &["sandbox", "exec", &id, "cat"], "piped in");
    assert_eq!((status, out.as_str()), (0, "piped in"), "{err}");
    let (status, out, err) = ns(
        &t,
        &["sandbox", "exec", &id, "--no-stdin", "wc", "-c"],
        "ignored",
    );
    assert_eq!((status, out.trim()), (0, "0"), "{err}");

    // A timeout prints what the command printed before it was stopped.
    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "exec",
            &id,
            "--timeout",
            "2",
            "--shell",
            "echo before; sleep 30",
        ],
        "",
    );
    assert_eq!(status, 8, "{err}");
    assert_eq!(out, "before\n", "{err}");
    assert!(err.contains("output cut"), "{err}");

    // rm removes a directory with its contents by default.
    let (status, _, err) = ns(
        &t,
        &["sandbox", "file", "write", &id, "/workspace/tree/a/b.txt"],
        "x",
    );
    assert_eq!(status, 0, "{err}");
    let (status, _, err) = ns(
        &t,
        &[
            "sandbox",
            "file",
            "rm",
            &id,
            "/workspace/tree",
            "--no-recursive",
        ],
        "",
    );
    assert_eq!(status, 6, "not empty: {err}");
    let (status, _, err) = ns(&t, &["sandbox", "file", "rm", &id, "/workspace/tree"], "");
    assert_eq!(status, 0, "{err}");
    let (_, out, _) = ns(
        &t,
        &["sandbox", "file", "exists", &id, "/workspace/tree"],
        "",
    );
    assert_eq!(out, "false\n");

    // Reads take a range.
    let (status, _, err) = ns(
        &t,
        &["sandbox", "file", "write", &id, "/workspace/r.txt"],
        "hello world",
    );
    assert_eq!(status, 0, "{err}");
    let (status, out, err) = ns(
        &t,
        &[
            "sandbox",
            "file",
            "read",
            &id,
            "/workspace/r.txt",
            "--offset",
            "6",
            "--limit",
            "5",
        ],
        "",
    );
    assert_eq!((status, out.as_str()), (0, "world"), "{err}");

    // list shows it while it lives; killed, only with --state killed.
    let listed = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["sandbox", "list", "--all", "--json"];
        all.extend_from_slice(args);
        let (status, out, err) = ns(&t, &all, "");
        assert_eq!(status, 0, "{err}");
        json(&out)["machines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(listed(&[]).contains(&id));
    let (status, out, err) = ns(&t, &["sandbox", "kill", &id, "--json"], "");
    assert_eq!(status, 0, "{err}");
    assert_eq!(json(&out)["outcome"], "killed");
    assert_eq!(json(&out)["previous_state"], "running");
    made.machines.clear();
    assert!(!listed(&[]).contains(&id), "killed machines are not live");
    assert!(listed(&["--state", "killed"]).contains(&id));
    assert!(listed(&["--state", "killed,failed"]).contains(&id));
}
