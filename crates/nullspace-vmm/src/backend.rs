//! The backend and VM traits.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::{VmSpec, VmmError};

/// How guest state is written by [`Vm::save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveMode {
    /// Device state only; guest RAM stays in its shared memory file.
    DeviceOnly,
    /// Device state and all of guest RAM in one file.
    Full,
}

/// A VMM implementation (QEMU today).
#[async_trait]
pub trait Backend: Send + Sync {
    /// Name of the backend, for logs.
    fn name(&self) -> &'static str;
    /// Start a VM: boot its kernel or restore its saved state.
    async fn start(&self, spec: VmSpec) -> Result<Box<dyn Vm>, VmmError>;
    /// Take over a VM started by an earlier process: `pid` serving the VM whose
    /// sockets live in `dir`.
    async fn adopt(&self, pid: u32, dir: &Path) -> Result<Box<dyn Vm>, VmmError>;
}

/// A running VM.
#[async_trait]
pub trait Vm: Send + Sync {
    /// OS process id of the VMM.
    fn pid(&self) -> u32;
    /// Unix socket of the guest agent channel (connect to talk to guestd).
    fn agent_socket(&self) -> PathBuf;
    /// Log file with the guest serial console.
    fn console_log(&self) -> PathBuf;
    /// Stop the vCPUs.
    async fn pause(&self) -> Result<(), VmmError>;
    /// Run the vCPUs again.
    async fn resume(&self) -> Result<(), VmmError>;
    /// Make sure the vCPUs run: cancel a save left in flight (by an earlier
    /// process that died mid-pause) and continue a stopped VM.
    async fn ensure_running(&self) -> Result<(), VmmError>;
    /// Save the VM's state to `path` (the VM must be paused).
    async fn save(&self, path: &Path, mode: SaveMode) -> Result<(), VmmError>;
    /// Freeze the current disk and continue writing to the overlay at `overlay`,
    /// which the caller created beforehand with the current disk as its backing
    /// file (so the switch only opens it: cheap while the VM is stopped).
    async fn switch_disk(&self, overlay: &Path) -> Result<(), VmmError>;
    /// Whether the VMM process is still alive.
    fn is_alive(&self) -> bool;
    /// Stop the VMM process and wait for it; idempotent.
    async fn destroy(&self) -> Result<(), VmmError>;
    /// Let the VMM outlive this handle (a later process takes it over).
    fn detach(&self);
}
