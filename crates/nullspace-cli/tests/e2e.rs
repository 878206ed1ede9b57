//! End-to-end runs of the `nullspace` binary against a real server. They run only when
//! `NULLSPACE_TEST_API_URL` and `NULLSPACE_TEST_API_KEY` are set, and say why they skip
//! otherwise.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// URL and key of the server under test, if configured.
fn target() -> Option<(String, String)> {
    match (
        std::env::var("NULLSPACE_TEST_API_URL"),
        std::env::var("NULLSPACE_TEST_API_KEY"),
    ) {
        (Ok(url), Ok(key)) if !url.is_empty() && !key.is_empty() => Some((url, key)),
        _ => {
            eprintln!(
                "skipped: set NULLSPACE_TEST_API_URL and NULLSPACE_TEST_API_KEY to run against a real server"
            );
            None
        }
    }
}

/// Runs `nullspace args` with `stdin`; returns (status, stdout, stderr).
fn ns(target: &(String, String), args: &[&str], stdin: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nullspace"))
        .args(args)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("NULLSPACE_API_URL", &target.0)
        .env("NULLSPACE_API_KEY", &target.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
