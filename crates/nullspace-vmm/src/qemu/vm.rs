//! One running QEMU process and the operations on it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::process::Child;
use tokio::sync::Mutex;

use crate::{SaveMode, Vm, VmSpec, VmmError};

use super::cmdline::{capabilities, AGENT_SOCK, CONSOLE_LOG, MULTIFD_CHANNELS, QEMU_LOG, QMP_SOCK};
use super::process::{spawn, tail};
use super::{QemuConfig, Qmp};

/// How long QEMU may take to open its control socket.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a graceful `quit` may take before the process is killed.
const QUIT_TIMEOUT: Duration = Duration::from_secs(2);
/// Poll interval of migration status.
const MIGRATE_POLL: Duration = Duration::from_millis(1);

/// A QEMU process serving one VM.
pub(super) struct QemuVm {
    dir: PathBuf,
    pid: u32,
    child: std::sync::Mutex<Option<Child>>,
    /// Adopted from an earlier process: not our child, watched through /proc.
    foreign: std::sync::atomic::AtomicBool,
    qmp: Qmp,
    ops: Mutex<()>,
}

/// Set the migration capabilities of `mode` on a VM.
async fn set_capabilities(qmp: &Qmp, mode: SaveMode) -> Result<(), VmmError> {
    let caps: Vec<Value> = capabilities(mode)
        .iter()
        .map(|(name, on)| json!({"capability": name, "state": on}))
        .collect();
    qmp.execute("migrate-set-capabilities", json!({ "capabilities": caps }))
        .await?;
    let mut params = json!({ "max-bandwidth": i64::MAX / 2 });
    if mode == SaveMode::Full {
        params["multifd-channels"] = json!(MULTIFD_CHANNELS);
    }
    qmp.execute("migrate-set-parameters", params).await?;
    Ok(())
}

/// Load saved state into a VM started with `-incoming defer` (through its QMP
/// session), then run it.
pub async fn start_incoming(qmp: &Qmp, state: &Path, mode: SaveMode) -> Result<(), VmmError> {
    set_capabilities(qmp, mode).await?;
    qmp.execute(
        "migrate-incoming",
        json!({ "uri": format!("file:{}", state.display()) }),
    )
    .await?;
    wait_migration(qmp).await?;
    qmp.execute("cont", Value::Null).await?;
    Ok(())
}

/// Poll until the current migration (outgoing or incoming) ends.
async fn wait_migration(qmp: &Qmp) -> Result<(), VmmError> {
    loop {
        let status = qmp.execute("query-migrate", Value::Null).await?;
        match status["status"].as_str() {
            Some("completed") => return Ok(()),
            Some("failed") | Some("cancelled") => {
                return Err(VmmError::Migration(
                    status["error-desc"]
                        .as_str()
                        .unwrap_or("unknown error")
                        .to_owned(),
                ))
            }
            _ => tokio::time::sleep(MIGRATE_POLL).await,
        }
    }
}

impl QemuVm {
    /// Spawn QEMU and connect to its control socket.
    pub(super) async fn start(cfg: &QemuConfig, spec: VmSpec) -> Result<Self, VmmError> {
        for f in [QMP_SOCK, AGENT_SOCK] {
            let _ = std::fs::remove_file(spec.dir.join(f));
        }
        check_exists("kernel", &spec.kernel.vmlinux)?;
        check_exists("initramfs", &spec.kernel.initrd)?;
        check_exists("disk", &spec.disk.path)?;
        if let crate::Start::Restore { state, .. } = &spec.start {
            check_exists("saved state", state)?;
        }
        let mut child = spawn(cfg, &spec)?;
        let pid = child.id().unwrap_or(0);
        let deadline = Instant::now() + START_TIMEOUT;
        let qmp = loop {
            if let Some(status) = child.try_wait().ok().flatten() {
                return Err(VmmError::Exited {
                    status: status.to_string(),
                    console_tail: tail(&spec.dir.join(QEMU_LOG), 5),
                });
            }
            match Qmp::connect(&spec.dir.join(QMP_SOCK), Duration::from_millis(5)).await {
                Ok(q) => break q,
                Err(_) if Instant::now() < deadline => continue,
                Err(e) => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    return Err(e.into());
                }
            }
        };
        if let crate::Start::Restore { state, mode } = &spec.start {
            if let Err(e) = start_incoming(&qmp, state, *mode).await {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(e);
            }
        }
        Ok(Self {
            dir: spec.dir,
            pid,
            child: std::sync::Mutex::new(Some(child)),
            foreign: std::sync::atomic::AtomicBool::new(false),
            qmp,
            ops: Mutex::new(()),
        })
    }

    /// Take over a QEMU process started by an earlier process (not our child):
    /// check it is QEMU serving `dir`, and connect to its control socket.
    pub(super) async fn adopt(pid: u32, dir: &Path) -> Result<Self, VmmError> {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if !foreign_alive(pid)
            || !cmdline.contains("qemu-system")
            || !cmdline.contains(&*dir.to_string_lossy())
        {
            return Err(VmmError::Exited {
                status: format!("pid {pid} is not the VMM of {}", dir.display()),
                console_tail: String::new(),
            });
        }
        let qmp = Qmp::connect(&dir.join(QMP_SOCK), START_TIMEOUT).await?;
        Ok(Self {
            dir: dir.to_owned(),
            pid,
            child: std::sync::Mutex::new(None),
            foreign: std::sync::atomic::AtomicBool::new(true),
            qmp,
            ops: Mutex::new(()),
        })
    }

    fn exited_error(&self) -> VmmError {
        VmmError::Exited {
            status: "not running".into(),
            console_tail: tail(&self.dir.join(QEMU_LOG), 5),
        }
    }

    async fn run(&self, command: &str, args: Value) -> Result<Value, VmmError> {
        if !self.is_alive() {
            return Err(self.exited_error());
        }
        Ok(self.qmp.execute(command, args).await?)
    }
}

/// Whether process `pid` (not our child) is alive and not a zombie.
fn foreign_alive(pid: u32) -> bool {
    crate::process_alive(pid)
}

/// Stop an adopted VMM: ask it to quit, then kill it by pid.
async fn destroy_foreign(qmp: &Qmp, pid: u32) -> Result<(), VmmError> {
    let _ = tokio::time::timeout(QUIT_TIMEOUT, qmp.execute("quit", Value::Null)).await;
    let deadline = Instant::now() + QUIT_TIMEOUT;
    while foreign_alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if foreign_alive(pid) {
        // SAFETY: kill(2) on the pid of the VMM this handle adopted; it is still
        // alive (checked just above), so the pid has not been reused.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        while foreign_alive(pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(())
}

fn check_exists(what: &'static str, path: &Path) -> Result<(), VmmError> {
    if path.exists() {
        Ok(())
    } else {
        Err(VmmError::Missing {
            what,
            path: path.to_owned(),
        })
    }
}

#[async_trait]
impl Vm for QemuVm {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn agent_socket(&self) -> PathBuf {
        self.dir.join(AGENT_SOCK)
    }

    fn console_log(&self) -> PathBuf {
        self.dir.join(CONSOLE_LOG)
    }

    async fn pause(&self) -> Result<(), VmmError> {
        let _g = self.ops.lock().await;
        self.run("stop", Value::Null).await.map(drop)
    }

    async fn resume(&self) -> Result<(), VmmError> {
        let _g = self.ops.lock().await;
        self.run("cont", Value::Null).await.map(drop)
    }

    async fn ensure_running(&self) -> Result<(), VmmError> {
        let _g = self.ops.lock().await;
        let status = self.run("query-status", Value::Null).await?;
        if status["running"].as_bool() == Some(true) {
            return Ok(());
        }
        let migration = self.run("query-migrate", Value::Null).await?;
        if matches!(
            migration["status"].as_str(),
            Some("setup" | "active" | "pre-switchover" | "device" | "postcopy-active")
        ) {
            self.run("migrate_cancel", Value::Null).await?;
            loop {
                let m = self.run("query-migrate", Value::Null).await?;
                if !matches!(
                    m["status"].as_str(),
                    Some("cancelling" | "active" | "setup")
                ) {
                    break;
                }
                tokio::time::sleep(MIGRATE_POLL).await;
            }
        }
        self.run("cont", Value::Null).await.map(drop)
    }

    async fn save(&self, path: &Path, mode: SaveMode) -> Result<(), VmmError> {
        let _g = self.ops.lock().await;
        if !self.is_alive() {
            return Err(self.exited_error());
        }
        set_capabilities(&self.qmp, mode).await?;
        let _ = std::fs::remove_file(path);
        self.run(
            "migrate",
            json!({ "uri": format!("file:{}", path.display()) }),
        )
        .await?;
        wait_migration(&self.qmp).await
    }

    async fn switch_disk(&self, overlay: &Path) -> Result<(), VmmError> {
        let _g = self.ops.lock().await;
        self.run(
            "blockdev-snapshot-sync",
            json!({
                "device": "root",
                "snapshot-file": overlay.display().to_string(),
                "format": "qcow2",
                "mode": "existing",
            }),
        )
        .await
        .map(drop)
    }

    fn detach(&self) {
        self.detach_child();
    }

    fn is_alive(&self) -> bool {
        if self.foreign.load(std::sync::atomic::Ordering::SeqCst) {
            return foreign_alive(self.pid);
        }
        let mut guard = self.child.lock().expect("child lock");
        match guard.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    async fn destroy(&self) -> Result<(), VmmError> {
        if self
            .foreign
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return destroy_foreign(&self.qmp, self.pid).await;
        }
        let child = self.child.lock().expect("child lock").take();
        let Some(mut child) = child else {
            return Ok(());
        };
        if matches!(child.try_wait(), Ok(None)) {
            let _ = tokio::time::timeout(QUIT_TIMEOUT, self.qmp.execute("quit", Value::Null)).await;
            if tokio::time::timeout(QUIT_TIMEOUT, child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
            }
        }
        child.wait().await.map_err(|source| VmmError::Io {
            what: "wait for VMM process",
            path: self.dir.clone(),
            source,
        })?;
        Ok(())
    }
}

impl QemuVm {
    fn detach_child(&self) {
        // Dropping the handle without `kill_on_drop` leaves the process running.
        drop(self.child.lock().expect("child lock").take());
        self.foreign
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for QemuVm {
    fn drop(&mut self) {
        // A VM dropped without `destroy` must not outlive its handle.
        if let Some(mut child) = self.child.lock().expect("child lock").take() {
            let _ = child.start_kill();
            let _ = child.try_wait();
        }
    }
}
