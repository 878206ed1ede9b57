//! Spawning the QEMU process (inside a network namespace) and watching it.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::{VmSpec, VmmError};

use super::cmdline::{self, QEMU_LOG};
use super::QemuConfig;

/// Spawn QEMU for `spec`; its stdout and stderr go to `qemu.log` in the VM dir.
pub(super) fn spawn(cfg: &QemuConfig, spec: &VmSpec) -> Result<Child, VmmError> {
    let log_path = spec.dir.join(QEMU_LOG);
    let log = File::create(&log_path).map_err(|source| VmmError::Io {
        what: "create",
        path: log_path.clone(),
        source,
    })?;
    let log2 = log.try_clone().map_err(|source| VmmError::Io {
        what: "dup",
        path: log_path.clone(),
        source,
    })?;
    let netns: Option<OwnedFd> = match spec.net.as_ref().and_then(|n| n.netns.as_ref()) {
        Some(path) => Some(
            File::open(path)
                .map_err(|source| VmmError::Io {
                    what: "open network namespace",
                    path: path.clone(),
                    source,
                })?
                .into(),
        ),
        None => None,
    };
    let mut cmd = Command::new(&cfg.binary);
    cmd.args(cmdline::args(spec, cfg))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .kill_on_drop(false)
        .process_group(0);
    let netns_fd = netns.as_ref().map(|fd| fd.as_raw_fd());
    crate::confine_child(&mut cmd, netns_fd, spec.die_with_parent);
    let child = cmd.spawn().map_err(|source| VmmError::Spawn {
        binary: cfg.binary.clone(),
        source,
    })?;
    drop(netns);
    Ok(child)
}

/// Last `lines` lines of a log file, for error messages.
pub(super) fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}
