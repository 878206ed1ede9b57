//! Settings of the host runtime.

use std::path::PathBuf;

use nullspace_vmm::QemuConfig;

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/nullspace";

/// Settings of a [`crate::Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where images, templates, machines and snapshots live.
    pub data_dir: PathBuf,
    /// vCPUs of template VMs (and so of machines made from them).
    pub vcpus: u32,
    /// RAM of template VMs in MiB.
    pub memory_mib: u64,
    /// QEMU backend settings.
    pub qemu: QemuConfig,
    /// Kill VMs when this process dies (tools and tests; a server keeps them).
    pub die_with_parent: bool,
    /// Most bytes of output a collected command may print.
    pub max_output_bytes: usize,
    /// Machine networks kept ready ahead of creates (0 disables the pool).
    pub net_pool_size: usize,
}

impl RuntimeConfig {
    /// Settings with defaults, data under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            vcpus: 1,
            memory_mib: 512,
            qemu: QemuConfig::default(),
            die_with_parent: false,
            max_output_bytes: 64 << 20,
            net_pool_size: 2,
        }
    }

    /// Data dir from `NULLSPACE_DATA_DIR`, else the default.
    pub fn from_env() -> Self {
        Self::new(
            std::env::var_os("NULLSPACE_DATA_DIR")
                .map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), PathBuf::from),
        )
    }

    pub(crate) fn templates_dir(&self) -> PathBuf {
        self.data_dir.join("templates")
    }

    pub(crate) fn machines_dir(&self) -> PathBuf {
        self.data_dir.join("machines")
    }

    pub(crate) fn snapshots_dir(&self) -> PathBuf {
        self.data_dir.join("snapshots")
    }
}
