//! The real server binary with real microVMs: start, stop, keys and calls.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Whether real-VM server tests cannot run here: prints why and returns true,
/// or fails when `NULLSPACE_REQUIRE_VM` is set (CI), so a missing environment
/// never shows green.
pub fn skip(test: &str) -> bool {
    let Some(why) = skip_reason() else {
        return false;
    };
    assert!(
        std::env::var_os("NULLSPACE_REQUIRE_VM").is_none(),
        "{test} cannot run ({why}) and NULLSPACE_REQUIRE_VM is set"
    );
    eprintln!("SKIP: {test}: {why}");
    true
}

pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root".into());
    }
    if !guestd().is_file() {
        return Some(format!("static guestd missing at {}", guestd().display()));
    }
    let qemu = Command::new("qemu-system-x86_64").arg("--version").output();
    if qemu.map(|o| !o.status.success()).unwrap_or(true) {
        return Some("qemu-system-x86_64 is not installed".into());
    }
    None
}

pub fn guestd() -> PathBuf {
    std::env::var_os("NULLSPACE_GUESTD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/x86_64-unknown-linux-gnu/release/nullspace-guestd")
        })
}

pub fn data_dir() -> PathBuf {
    std::env::var_os("NULLSPACE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/lib/nullspace".into())
}

pub struct Server {
    pub child: Option<Child>,
    pub url: String,
    pub state: PathBuf,
    pub port: u16,
}

impl Server {
    pub fn start(state: &Path, port: Option<u16>) -> Server {
        Self::start_with(state, port, "destroy")
    }

    pub fn start_with(state: &Path, port: Option<u16>, on_exit: &str) -> Server {
        Self::start_env(state, port, on_exit, &[])
    }

    /// Start with extra environment variables.
    pub fn start_env(
        state: &Path,
        port: Option<u16>,
        on_exit: &str,
        env: &[(&str, &str)],
    ) -> Server {
        Self::spawn(state, port, on_exit, env, &[])
    }

    /// Start with extra server arguments.
    pub fn start_args(state: &Path, args: &[&str]) -> Server {
        Self::spawn(state, None, "destroy", &[], args)
    }

    fn spawn(
        state: &Path,
        port: Option<u16>,
        on_exit: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Server {
        let port = port.unwrap_or_else(|| {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let child = Command::new(env!("CARGO_BIN_EXE_nullspace-server"))
            .args([
                "--state-dir",
                state.to_str().unwrap(),
                "--data-dir",
                data_dir().to_str().unwrap(),
            ])
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--guestd",
                guestd().to_str().unwrap(),
            ])
            .args(["--on-exit", on_exit])
            // Any free port for the SSH relay, so servers of parallel tests never
            // fight over the default one; grants say which it is.
            .args(if args.contains(&"--ssh-listen") {
                &[][..]
            } else {
                &["--ssh-listen", "127.0.0.1:0"][..]
            })
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let s = Server {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            state: state.to_owned(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(300);
        while ureq::get(&format!("{}/v1/health", s.url)).call().is_err() {
            assert!(Instant::now() < deadline, "server did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    pub fn key(&self, tenant: &str) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_nullspace-server"))
            .args([
                "--state-dir",
                self.state.to_str().unwrap(),
                "keys",
                "create",
                "--tenant",
                tenant,
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Stop with `signal` and wait for the process.
    pub fn stop(&mut self, signal: i32) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the server process this test started and has not reaped.
            unsafe { libc::kill(c.id() as i32, signal) };
            c.wait().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(libc::SIGTERM);
    }
}

pub fn call(method: &str, url: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let req = ureq::request(method, url).set("Authorization", &format!("Bearer {key}"));
    let resp = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `PUT url` with a raw body.
pub fn put_bytes(url: &str, key: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = ureq::put(url)
        .set("Authorization", &format!("Bearer {key}"))
        .set("Content-Type", "application/octet-stream")
        .send_bytes(&body);
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("PUT {url}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub fn temp_state(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ns-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn no_vmm_named(id: &str) -> bool {
    let needle = format!("\0-name\0{id}\0");
    !std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c).contains(&needle)
                    && !std::fs::read_to_string(e.path().join("stat"))
                        .unwrap_or_default()
                        .contains(") Z")
            })
            .unwrap_or(false)
    })
}
