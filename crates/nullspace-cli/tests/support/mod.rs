//! What the tests that drive the real `nullspace` binary share: running it in a clean
//! environment against a recording fake server and reading its output, and for the
//! tests against a real server, finding that server or saying why they do not run.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

pub mod tmux;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use nullspace_client::test_server::{Recorded, TestServer};
use serde_json::Value;

/// The API key the fake servers accept.
pub const KEY: &str = "ns_live_testkey1234";

/// What one run of the binary did.
pub struct Run {
    /// Exit status (-1 when killed by a signal).
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Standard output as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Standard error as JSON (the `--json` error body).
    pub fn error_json(&self) -> Value {
        serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {}", self.stderr))
    }
}

/// What the binary's standard input is.
pub enum Input<'a> {
    /// A pipe carrying these bytes, then closed.
    Pipe(&'a [u8]),
    /// `/dev/null`.
    Null,
    /// This regular file.
    File(&'a Path),
}

/// A run with `HOME` and the working directory in `dir`, no NULLSPACE_* variables but
/// `env`, and `stdin` piped to standard input.
pub fn run_in(dir: &Path, env: &[(&str, &str)], args: &[&str], stdin: &str) -> Run {
    run_in_with(dir, env, args, Input::Pipe(stdin.as_bytes()))
}

/// [`run_in`] with `input` as standard input.
pub fn run_in_with(dir: &Path, env: &[(&str, &str)], args: &[&str], input: Input) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nullspace"));
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("NULLSPACE_API_KEY")
        .env_remove("NULLSPACE_API_URL")
        .env("NULLSPACE_DATA_DIR", dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match input {
        Input::Pipe(_) => cmd.stdin(Stdio::piped()),
        Input::Null => cmd.stdin(Stdio::null()),
        Input::File(path) => cmd.stdin(std::fs::File::open(path).expect("open the stdin file")),
    };
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start nullspace");
    if let Input::Pipe(bytes) = input {
        // The binary may exit without reading (a usage error): a closed pipe is fine.
        let mut pipe = child.stdin.take().unwrap();
        if let Err(e) = pipe.write_all(bytes) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
    }
    let out = child.wait_with_output().unwrap();
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A run against `server` with the test key in the environment.
pub fn run(server: &TestServer, args: &[&str]) -> Run {
    run_stdin(server, args, "")
}

/// A run against `server` with `stdin` piped to standard input.
pub fn run_stdin(server: &TestServer, args: &[&str], stdin: &str) -> Run {
    run_with(server, args, Input::Pipe(stdin.as_bytes()))
}

/// A run against `server` with `input` as standard input.
pub fn run_with(server: &TestServer, args: &[&str], input: Input) -> Run {
    let dir = tempfile::tempdir().unwrap();
    run_in_with(
        dir.path(),
        &[
            ("NULLSPACE_API_URL", server.url()),
            ("NULLSPACE_API_KEY", KEY),
        ],
        args,
        input,
    )
}

/// The decoded query pairs of `r`.
pub fn pairs(r: &Recorded) -> Vec<(String, String)> {
    r.query_pairs()
}

/// One owned query pair.
pub fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

/// Set to `1` (CI does) to make a test whose environment is missing fail instead of
/// skipping.
pub const REQUIRE_VM: &str = "NULLSPACE_REQUIRE_VM";

/// Whether missing environments fail tests (`NULLSPACE_REQUIRE_VM=1`).
pub fn environment_required() -> bool {
    std::env::var(REQUIRE_VM).is_ok_and(|v| v == "1")
}

/// A test cannot run because `why`: prints `SKIP: <why>` so the skip shows in the
/// test output (the caller then returns), or panics with the reason when
/// `NULLSPACE_REQUIRE_VM=1`, so a CI run that should have had the environment fails.
pub fn skip(why: &str) {
    assert!(!environment_required(), "{REQUIRE_VM}=1 but {why}");
    eprintln!("SKIP: {why}");
}

/// URL and key of the real server under test (`NULLSPACE_TEST_API_URL`,
/// `NULLSPACE_TEST_API_KEY`), or `None` after [`skip`] when they are not both set.
pub fn real_server() -> Option<(String, String)> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match (var("NULLSPACE_TEST_API_URL"), var("NULLSPACE_TEST_API_KEY")) {
        (Some(url), Some(key)) => Some((url, key)),
        _ => {
            skip("NULLSPACE_TEST_API_URL and NULLSPACE_TEST_API_KEY are not set (no real server to run against)");
            None
        }
    }
}
