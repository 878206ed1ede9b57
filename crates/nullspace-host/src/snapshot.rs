//! Snapshots of running machines: full RAM and device state plus a flattened disk.

use std::path::{Path, PathBuf};

use nullspace_types::{MachineId, SnapshotId};
use serde::{Deserialize, Serialize};

use crate::error::{io, RuntimeError};

/// A snapshot on disk (`manifest.json` in its directory).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Snapshot id.
    pub id: SnapshotId,
    /// Machine it was taken from.
    pub source: MachineId,
    /// Directory of its files.
    pub dir: PathBuf,
    /// Guest kernel.
    pub vmlinux: PathBuf,
    /// Guest initramfs.
    pub initrd: PathBuf,
    /// Kernel command line.
    pub cmdline: String,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in MiB.
    pub memory_mib: u64,
    /// Milliseconds since the Unix epoch when it was taken.
    pub created_ms: u64,
    /// Size of the RAM and device state file.
    pub state_bytes: u64,
    /// Size of the disk file.
    pub disk_bytes: u64,
    /// How long the source machine was stopped.
    pub pause_ms: u64,
    /// The template disk `disk.qcow2` is layered on.
    #[serde(default)]
    pub root_disk: Option<PathBuf>,
    /// Sizes and checksums of `state` and `disk.qcow2`, checked before each use.
    #[serde(default)]
    pub seals: Vec<crate::integrity::FileSeal>,
}

impl SnapshotInfo {
    /// RAM and device state.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
    /// Disk (qcow2 backed by the template disk).
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.qcow2")
    }

    /// Check the files against their seals (size and checksum).
    pub fn verify(&self) -> Result<(), RuntimeError> {
        crate::integrity::verify(&self.dir, &self.seals)
    }

    /// Bytes the snapshot takes on disk.
    pub fn size_bytes(&self) -> u64 {
        self.state_bytes + self.disk_bytes
    }

    /// Write the manifest (last, atomically: it marks the snapshot complete).
    pub(crate) fn save(&self) -> Result<(), RuntimeError> {
        let tmp = self.dir.join("manifest.json.tmp");
        let data = serde_json::to_vec_pretty(self).expect("snapshot serializes");
        std::fs::write(&tmp, data).map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, self.dir.join("manifest.json")).map_err(io("write", &tmp))
    }

    /// Read the manifest of snapshot `id` under `root`.
    pub(crate) fn load(root: &Path, id: &SnapshotId) -> Result<Self, RuntimeError> {
        let path = root.join(id.as_str()).join("manifest.json");
        let data = std::fs::read(&path).map_err(|_| RuntimeError::SnapshotNotFound(id.clone()))?;
        serde_json::from_slice(&data).map_err(|e| RuntimeError::Io {
            what: "parse snapshot manifest",
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }
}
