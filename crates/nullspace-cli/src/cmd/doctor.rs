//! `nullspace doctor`: is everything in place to run machines?

use std::path::{Path, PathBuf};

use nullspace_client::Client;
use nullspace_vmm::Accel;
use serde::Serialize;

use super::auth::check_key;
use super::{Ctx, Outcome};
use crate::exit::Exit;
use crate::output;

/// Data directory when `NULLSPACE_DATA_DIR` is not set.
const DEFAULT_DATA_DIR: &str = "/var/lib/nullspace";
/// The QEMU binary machines run in.
const QEMU: &str = "qemu-system-x86_64";

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worse than it could.
    Warn,
    /// Broken.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// How it went.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// Exit code if this check failed.
    #[serde(skip)]
    pub exit: Exit,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Self {
        Self {
            name,
            status,
            detail: detail.into(),
            exit: Exit::Unexpected,
        }
    }

    fn failing_with(mut self, exit: Exit) -> Self {
        self.exit = exit;
        self
    }
}

/// Whether `url` names this host (so QEMU and the image must be here).
fn is_local(url: &str) -> bool {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|h| matches!(h.as_str(), "127.0.0.1" | "localhost" | "[::1]" | "::1"))
}

/// Runs every check, prints them and exits with the code of the first failure.
pub async fn run(ctx: &Ctx) -> Outcome {
    let mut checks = Vec::new();
    let resolved = ctx.resolve()?;
    let url = resolved.api_url.value.clone();
    let key = resolved.api_key.as_ref().map(|k| k.value.clone());
    let client = Client::new(&url, key.clone().unwrap_or_default())?;

    let server_ok = match client.health().await {
        Ok(h) => {
            checks.push(Check::new(
                "server",
                Status::Ok,
                format!("{url} answers (version {})", h.version),
            ));
            true
        }
        Err(e) => {
            checks.push(
                Check::new("server", Status::Fail, e.to_string())
                    .failing_with(Exit::for_client_error(&e)),
            );
            false
        }
    };
    checks.push(match (&resolved.api_key, server_ok) {
        (None, _) => Check::new(
            "api_key",
            Status::Fail,
            "none: pass --api-key, set NULLSPACE_API_KEY, or run `nullspace auth login`",
        )
        .failing_with(Exit::NotConfigured),
        (Some(_), false) => Check::new("api_key", Status::Warn, "not checked: server unreachable"),
        (Some(k), true) => match check_key(&client).await {
            Ok(()) => Check::new("api_key", Status::Ok, format!("valid (from {})", k.source)),
            Err(e) => Check::new("api_key", Status::Fail, e.to_string())
                .failing_with(Exit::for_client_error(&e)),
        },
    });

    let local = is_local(&url);
    checks.push(qemu_check(local));
    checks.push(accel_check());
    let data_dir = std::env::var_os("NULLSPACE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    checks.push(image_check(&data_dir, local));

    let exit = checks
        .iter()
        .find(|c| c.status == Status::Fail)
        .map_or(Exit::Ok, |c| c.exit);
    if ctx.json() {
        output::json(&serde_json::json!({
            "ok": exit == Exit::Ok,
            "checks": checks,
            "exit_code": exit.code(),
        }))?;
    } else {
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                vec![
                    output::wire_name(&c.status),
                    c.name.to_owned(),
                    c.detail.clone(),
                ]
            })
            .collect();
        let text = output::table(&["STATUS", "CHECK", "DETAIL"], &rows);
        // Drop the header line: the report reads as a list.
        output::line(text.split_once('\n').map_or("", |(_, rest)| rest))?;
    }
    Ok(exit.code())
}

/// Missing host pieces fail only when the server is on this host.
fn missing(local: bool) -> Status {
    if local {
        Status::Fail
    } else {
        Status::Warn
    }
}

fn qemu_check(local: bool) -> Check {
    match std::process::Command::new(QEMU).arg("--version").output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            Check::new(
                "qemu",
                Status::Ok,
                text.lines().next().unwrap_or(QEMU).trim(),
            )
        }
        Ok(out) => Check::new(
            "qemu",
            missing(local),
            format!("{QEMU} --version failed ({})", out.status),
        ),
        Err(e) => Check::new(
            "qemu",
            missing(local),
            format!("{QEMU} not found ({e}); install qemu-system-x86"),
        ),
    }
}

fn accel_check() -> Check {
    let choice = Accel::detect();
    match choice.accel {
        Accel::Kvm => Check::new("accelerator", Status::Ok, format!("kvm: {}", choice.reason)),
        Accel::Tcg => Check::new(
            "accelerator",
            Status::Warn,
            format!("tcg (software emulation, slower): {}", choice.reason),
        ),
    }
}

/// The guest image named by `images/current-base`, with its files.
fn image_check(data_dir: &Path, local: bool) -> Check {
    let images = data_dir.join("images");
    let current = images.join("current-base");
    let hint = "build it with `nullspace-runtime image build`";
    let key = match std::fs::read_to_string(&current) {
        Ok(key) => key.trim().to_owned(),
        Err(e) => {
            return Check::new(
                "guest_image",
                missing(local),
                format!("cannot read {}: {e}; {hint}", current.display()),
            )
        }
    };
    let dir = images.join(&key);
    let absent: Vec<&str> = ["manifest.json", "vmlinux", "initrd.cpio", "rootfs.ext4"]
        .into_iter()
        .filter(|f| key.is_empty() || !dir.join(f).is_file())
        .collect();
    if absent.is_empty() {
        Check::new("guest_image", Status::Ok, dir.display().to_string())
    } else {
        Check::new(
            "guest_image",
            missing(local),
            format!("{} lacks {}; {hint}", dir.display(), absent.join(", ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_urls() {
        assert!(is_local("http://127.0.0.1:7070"));
        assert!(is_local("http://localhost"));
        assert!(is_local("http://[::1]:7070"));
        assert!(!is_local("https://api.example.com"));
    }

    #[test]
    fn image_check_reads_current_base() {
        let dir = tempfile::tempdir().unwrap();
        let check = image_check(dir.path(), true);
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.contains("current-base"));
        assert_eq!(image_check(dir.path(), false).status, Status::Warn);

        let images = dir.path().join("images");
        std::fs::create_dir_all(images.join("abc")).unwrap();
        std::fs::write(images.join("current-base"), "abc\n").unwrap();
        let check = image_check(dir.path(), true);
        assert!(check.detail.contains("rootfs.ext4"), "{}", check.detail);
        for f in ["manifest.json", "vmlinux", "initrd.cpio", "rootfs.ext4"] {
            std::fs::write(images.join("abc").join(f), "x").unwrap();
        }
        assert_eq!(image_check(dir.path(), true).status, Status::Ok);
    }
}
