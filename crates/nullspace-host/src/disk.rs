//! qcow2 overlays over read-only template and snapshot disks.

use std::path::Path;

use crate::cmd::{run, CmdError};

/// Create `overlay` as an empty qcow2 whose backing file is `backing` (format `backing_fmt`).
pub async fn create_overlay(
    overlay: &Path,
    backing: &Path,
    backing_fmt: &str,
) -> Result<(), CmdError> {
    run(
        "qemu-img",
        [
            "create".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            "-F".as_ref(),
            backing_fmt.as_ref(),
            "-b".as_ref(),
            backing.as_os_str(),
            overlay.as_os_str(),
        ],
        None,
        None,
    )
    .await
    .map(drop)
}

/// Copy the data of the chain ending at `top` that differs from `base` into a new
/// qcow2 `out` backed directly by `base`, so `out` no longer depends on any
/// intermediate layer (earlier layers of the machine, a snapshot's disk). `top`
/// must not be written meanwhile.
pub async fn flatten_onto(top: &Path, base: &Path, out: &Path) -> Result<(), CmdError> {
    tokio::fs::copy(top, out).await.map_err(|e| CmdError {
        command: format!("copy {} {}", top.display(), out.display()),
        detail: e.to_string(),
    })?;
    // A safe (not `-u`) rebase copies every cluster the old chain holds above `base`.
    run(
        "qemu-img",
        [
            "rebase".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            "-b".as_ref(),
            base.as_os_str(),
            "-F".as_ref(),
            "qcow2".as_ref(),
            out.as_os_str(),
        ],
        None,
        None,
    )
    .await
    .map(drop)
}
