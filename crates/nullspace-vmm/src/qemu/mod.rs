//! The QEMU `microvm` backend.

mod cmdline;
mod process;
mod qmp;
mod vm;

use std::path::PathBuf;

use async_trait::async_trait;

use crate::{AccelChoice, Backend, Vm, VmSpec, VmmError};

pub use qmp::{Qmp, QmpError};
pub use vm::start_incoming;

/// Settings of the QEMU backend.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// The `qemu-system-x86_64` binary.
    pub binary: PathBuf,
    /// Firmware (qboot boots a PVH kernel in tens of milliseconds).
    pub bios: PathBuf,
    /// Accelerator and why it was chosen.
    pub accel: AccelChoice,
    /// Host TSC frequency in kHz, passed to TCG guests so they skip calibration.
    pub tsc_khz: Option<u64>,
    /// TCG translation cache size per VM, in MiB.
    pub tcg_tb_size_mib: u64,
}

impl Default for QemuConfig {
    fn default() -> Self {
        Self {
            binary: "qemu-system-x86_64".into(),
            bios: "/usr/share/qemu/qboot.rom".into(),
            accel: crate::Accel::detect(),
            tsc_khz: host_tsc_khz(),
            tcg_tb_size_mib: 64,
        }
    }
}

/// The host's TSC frequency in kHz, from `/proc/cpuinfo`.
pub fn host_tsc_khz() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz: f64 = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    Some((mhz * 1000.0).round() as u64)
}

/// Starts VMs as `qemu-system-x86_64 -M microvm` processes.
#[derive(Debug, Clone)]
pub struct QemuBackend {
    cfg: QemuConfig,
}

impl QemuBackend {
    /// A backend with `cfg`.
    pub fn new(cfg: QemuConfig) -> Self {
        tracing::info!(accel = cfg.accel.accel.as_str(), reason = %cfg.accel.reason, "QEMU accelerator chosen");
        Self { cfg }
    }

    /// The backend's settings.
    pub fn config(&self) -> &QemuConfig {
        &self.cfg
    }

    /// The full argument list QEMU would be started with for `spec`.
    pub fn command_line(&self, spec: &VmSpec) -> Vec<std::ffi::OsString> {
        cmdline::args(spec, &self.cfg)
    }
}

#[async_trait]
impl Backend for QemuBackend {
    fn name(&self) -> &'static str {
        "qemu"
    }

    async fn start(&self, spec: VmSpec) -> Result<Box<dyn Vm>, VmmError> {
        Ok(Box::new(vm::QemuVm::start(&self.cfg, spec).await?))
    }

    async fn adopt(&self, pid: u32, dir: &std::path::Path) -> Result<Box<dyn Vm>, VmmError> {
        Ok(Box::new(vm::QemuVm::adopt(pid, dir).await?))
    }
}
