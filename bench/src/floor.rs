//! The floor: bare QEMU restores, timed from spawn through the QMP load to the
//! guest agent's first answer, with the runtime's command line but none of its
//! bookkeeping. The network namespace and the disk are made before each timed part.

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nullspace_guest_proto::ExecRequest;
use nullspace_host::agent::{Agent, AgentError};
use nullspace_host::netns::{MachineNet, NetError, Slots, GUEST_MAC, TAP};
use nullspace_host::{RuntimeConfig, SnapshotInfo, Template};
use nullspace_vmm::{
    start_incoming, Disk, Kernel, Memory, Net, QemuBackend, Qmp, QmpError, SaveMode, Start, VmSpec,
    VmmError,
};
use serde_json::{json, Value};

/// How long each step of a bare restore may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// File a bare save writes, in the floor's directory.
const SAVED: &str = "saved";
/// Overlay a bare save switches the disk to.
const SWITCHED: &str = "switched.qcow2";

/// Times of one bare restore followed by a bare save.
#[derive(Debug, Clone, Copy)]
pub struct BareSave {
    /// Spawn to the first answer, as [`BareRestore::sample`].
    pub restore: Duration,
    /// `migrate` of full RAM and devices to a file until QEMU reports it done.
    pub save: Duration,
    /// `blockdev-snapshot-sync` of the disk to a new overlay.
    pub disk_switch: Duration,
    /// `stop` to `cont` answered: how long the guest stood still.
    pub stall: Duration,
}

/// Why a bare restore failed.
#[derive(Debug)]
pub enum FloorError {
    /// A file operation on the floor's directory failed.
    Io(&'static str, std::io::Error),
    /// The network namespace could not be made or deleted.
    Net(NetError),
    /// QEMU's control socket did not answer.
    Qmp(QmpError),
    /// Loading the saved state failed.
    Load(VmmError),
    /// The guest agent did not answer.
    Agent(AgentError),
    /// QEMU reported a failed save (its error description).
    Save(String),
    /// The trivial command did not succeed (how it ended).
    Command(String),
}

impl std::fmt::Display for FloorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(what, e) => write!(f, "bare restore: {what}: {e}"),
            Self::Net(e) => write!(f, "bare restore: network namespace: {e}"),
            Self::Qmp(e) => write!(f, "bare restore: QMP: {e}"),
            Self::Load(e) => write!(f, "bare restore: loading the saved state: {e}"),
            Self::Agent(e) => write!(f, "bare restore: guest agent: {e}"),
            Self::Save(e) => write!(f, "bare save: QEMU says {e}"),
            Self::Command(e) => write!(f, "bare restore: `true` failed: {e}"),
        }
    }
}

impl std::error::Error for FloorError {}

/// What a bare restore starts from: a template (device state over a shared RAM
/// file) or a snapshot (full RAM in the state file).
#[derive(Debug, Clone)]
pub struct RestoreSource {
    vcpus: u32,
    memory_mib: u64,
    memory: Memory,
    kernel: Kernel,
    state: PathBuf,
    mode: SaveMode,
    /// Copied to the VM's disk before each restore.
    disk_seed: PathBuf,
}

impl RestoreSource {
    /// Restore `template` as the runtime's create does.
    pub fn template(template: &Template) -> Self {
        Self {
            vcpus: template.vcpus,
            memory_mib: template.memory_mib,
            memory: Memory::File {
                path: template.mem(),
                shared: false,
            },
            kernel: Kernel {
                vmlinux: template.vmlinux.clone(),
                initrd: template.initrd.clone(),
                cmdline: template.cmdline.clone(),
            },
            state: template.state(),
            mode: SaveMode::DeviceOnly,
            disk_seed: template.overlay_seed(),
        }
    }

    /// Restore `snap` as the runtime's restore (and resume) does: full RAM into
    /// anonymous memory. The disk is a copy of the snapshot's.
    pub fn snapshot(snap: &SnapshotInfo) -> Self {
        Self {
            vcpus: snap.vcpus,
            memory_mib: snap.memory_mib,
            memory: Memory::Anonymous,
            kernel: Kernel {
                vmlinux: snap.vmlinux.clone(),
                initrd: snap.initrd.clone(),
                cmdline: snap.cmdline.clone(),
            },
            state: snap.state(),
            mode: SaveMode::Full,
            disk_seed: snap.disk(),
        }
    }
}

/// A prepared bare restore (namespace, directory, command line), sampled many times.
pub struct BareRestore {
    qemu: PathBuf,
    args: Vec<std::ffi::OsString>,
    dir: PathBuf,
    slots: Arc<Slots>,
    net: MachineNet,
    ns: std::fs::File,
    source: RestoreSource,
    /// End each timed restore with a trivial command (`true`) answered rather
    /// than the agent's health answer.
    command: bool,
}

impl BareRestore {
    /// Make the namespace and directory of a bare restore of `source`; `tag`
    /// tells apart several at once.
    pub async fn new(
        cfg: &RuntimeConfig,
        tag: &str,
        source: RestoreSource,
    ) -> Result<Self, FloorError> {
        let pid = std::process::id();
        let slots = nullspace_host::netns::process_slots();
        let net = MachineNet::create(&slots, &format!("bench{pid}{tag}"))
            .await
            .map_err(FloorError::Net)?;
        let dir = cfg.data_dir.join(format!("bench-floor-{pid}{tag}"));
        let made = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::File::open(net.path()))
            .map_err(|e| FloorError::Io("prepare", e));
        let ns = match made {
            Ok(ns) => ns,
            Err(e) => {
                let _ = net.delete(&slots).await;
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let spec = VmSpec {
            name: format!("floor{tag}"),
            dir: dir.clone(),
            vcpus: source.vcpus,
            memory_mib: source.memory_mib,
            memory: source.memory.clone(),
            kernel: source.kernel.clone(),
            disk: Disk {
                path: dir.join("disk.qcow2"),
            },
            net: Some(Net {
                tap: TAP.into(),
                mac: GUEST_MAC.into(),
                netns: Some(net.path()),
            }),
            start: Start::Restore {
                state: source.state.clone(),
                mode: source.mode,
            },
            die_with_parent: true,
        };
        let args = QemuBackend::new(cfg.qemu.clone()).command_line(&spec);
        Ok(Self {
            qemu: cfg.qemu.binary.clone(),
            args,
            dir,
            slots,
            net,
            ns,
            source,
            command: false,
        })
    }

    /// Time each restore to a trivial command (`true`) answered, as a caller of
    /// the runtime sees a machine ready, rather than to the agent's health answer.
    pub fn to_first_command(mut self) -> Self {
        self.command = true;
        self
    }

    /// One restore, timed from spawn to the agent's first answer; the VM is
    /// killed afterwards (also when the restore fails).
    pub async fn sample(&self) -> Result<Duration, FloorError> {
        let (mut child, answered) = self.restore().await?;
        let _ = child.kill().await;
        answered.map(|(took, _)| took)
    }

    /// One restore as [`BareRestore::sample`], then one save of the running VM
    /// as a snapshot or a fork takes it, without the runtime: `stop`, full RAM
    /// and devices to a file, a switch of the disk to a new overlay, `cont`.
    pub async fn sample_with_save(&self) -> Result<BareSave, FloorError> {
        let (mut child, answered) = self.restore().await?;
        let saved = match answered {
            Ok((restore, qmp)) => self.save(&qmp, restore).await,
            Err(e) => Err(e),
        };
        let _ = child.kill().await;
        for f in [SAVED, SWITCHED] {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        saved
    }

    /// Spawn QEMU and load the state; the child is returned even when the load
    /// fails, for the caller to kill.
    async fn restore(
        &self,
    ) -> Result<(tokio::process::Child, Result<(Duration, Qmp), FloorError>), FloorError> {
        std::fs::copy(&self.source.disk_seed, self.dir.join("disk.qcow2"))
            .map_err(|e| FloorError::Io("copy disk", e))?;
        for f in ["agent.sock", "qmp.sock"] {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        let mut cmd = tokio::process::Command::new(&self.qemu);
        cmd.args(&self.args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        nullspace_vmm::confine_child(&mut cmd, Some(self.ns.as_raw_fd()), true);
        let t = Instant::now();
        let child = cmd.spawn().map_err(|e| FloorError::Io("spawn qemu", e))?;
        let answered = async {
            let qmp = Qmp::connect(&self.dir.join("qmp.sock"), STEP_TIMEOUT)
                .await
                .map_err(FloorError::Qmp)?;
            start_incoming(&qmp, &self.source.state, self.source.mode)
                .await
                .map_err(FloorError::Load)?;
            let agent = Agent::connect(&self.dir.join("agent.sock"), STEP_TIMEOUT)
                .await
                .map_err(FloorError::Agent)?;
            agent
                .health(STEP_TIMEOUT)
                .await
                .map_err(FloorError::Agent)?;
            if self.command {
                let req = ExecRequest {
                    argv: vec!["true".into()],
                    ..Default::default()
                };
                let out = tokio::time::timeout(STEP_TIMEOUT, agent.exec(req, None, 1 << 20))
                    .await
                    .map_err(|_| FloorError::Command("no answer".into()))?
                    .map_err(FloorError::Agent)?;
                if out.result.exit_code != Some(0) {
                    return Err(FloorError::Command(format!("{:?}", out.result)));
                }
            }
            Ok((t.elapsed(), qmp))
        }
        .await;
        Ok((child, answered))
    }

    /// `stop`, `migrate` to a file, poll until done, switch the disk, `cont`.
    /// The migration capabilities and parameters are those the load set.
    async fn save(&self, qmp: &Qmp, restore: Duration) -> Result<BareSave, FloorError> {
        let (path, overlay) = (self.dir.join(SAVED), self.dir.join(SWITCHED));
        for f in [&path, &overlay] {
            let _ = std::fs::remove_file(f);
        }
        let run = |cmd: &'static str, args: Value| async move {
            qmp.execute(cmd, args).await.map_err(FloorError::Qmp)
        };
        // As the runtime does: the overlay exists before the stop.
        let made = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(self.dir.join("disk.qcow2"))
            .arg(&overlay)
            .status()
            .map_err(|e| FloorError::Io("qemu-img create", e))?;
        if !made.success() {
            return Err(FloorError::Save(format!("qemu-img create: {made}")));
        }
        let stopped = Instant::now();
        run("stop", Value::Null).await?;
        let t = Instant::now();
        run(
            "migrate",
            json!({ "uri": format!("file:{}", path.display()) }),
        )
        .await?;
        loop {
            let status = run("query-migrate", Value::Null).await?;
            match status["status"].as_str() {
                Some("completed") => break,
                Some("failed" | "cancelled") => {
                    return Err(FloorError::Save(status["error-desc"].to_string()))
                }
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
        let save = t.elapsed();
        let t = Instant::now();
        let switch = json!({
            "device": "root",
            "snapshot-file": overlay.display().to_string(),
            "format": "qcow2",
            "mode": "existing",
        });
        run("blockdev-snapshot-sync", switch).await?;
        let disk_switch = t.elapsed();
        run("cont", Value::Null).await?;
        Ok(BareSave {
            restore,
            save,
            disk_switch,
            stall: stopped.elapsed(),
        })
    }

    /// Delete the namespace and the directory.
    pub async fn close(self) {
        drop(self.ns);
        let _ = self.net.delete(&self.slots).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` bare restores of `template` (the reference of the runtime's create).
pub async fn floor(cfg: &RuntimeConfig, template: &Template, n: usize) -> Vec<Duration> {
    let bare = BareRestore::new(cfg, "", RestoreSource::template(template))
        .await
        .expect("bench netns");
    let mut samples = Vec::new();
    for _ in 0..n {
        match bare.sample().await {
            Ok(d) => samples.push(d),
            Err(e) => {
                bare.close().await;
                panic!("{e}");
            }
        }
    }
    bare.close().await;
    samples
}
