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

/// Copy the data of the chain ending at `top` that lies above `base` into a new
/// qcow2 `out` backed directly by `base`, so `out` no longer depends on the
/// intermediate layers.
pub async fn flatten_onto(top: &Path, base: &Path, out: &Path) -> Result<(), CmdError> {
    run(
        "qemu-img",
        [
            "convert".as_ref(),
            "-q".as_ref(),
            "-O".as_ref(),
            "qcow2".as_ref(),
            "-B".as_ref(),
            base.as_os_str(),
            "-F".as_ref(),
            "qcow2".as_ref(),
            top.as_os_str(),
            out.as_os_str(),
        ],
        None,
        None,
    )
    .await
    .map(drop)
}
