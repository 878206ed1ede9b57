//! One machine: a restored VM, its agent connection, network and disk.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use nullspace_guest_proto::ExecRequest;
use nullspace_types::{MachineId, MachineState};
use nullspace_vmm::Vm;
use rand::RngCore;

use crate::agent::{Agent, AgentError, ExecOutput};
use crate::error::RuntimeError;
use crate::netns::MachineNet;
use crate::teardown::{Teardown, TeardownError};

/// Where a machine came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Restored from a template.
    Template(String),
    /// Restored from a snapshot.
    Snapshot(nullspace_types::SnapshotId),
    /// Forked from a running machine.
    Fork(MachineId),
}

/// What a machine was started with (kept to snapshot it later).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Boot {
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
    /// The read-only disk under the machine's own overlay.
    pub base_disk: PathBuf,
    /// The template disk at the bottom of the chain (when `base_disk` is a
    /// snapshot's disk); `None` means `base_disk` is it.
    #[serde(default)]
    pub root_disk: Option<PathBuf>,
}

impl Boot {
    /// The template disk at the bottom of the machine's disk chain.
    pub fn root_disk(&self) -> &std::path::Path {
        self.root_disk.as_deref().unwrap_or(&self.base_disk)
    }
}

/// A running (or dead) machine.
pub struct Machine {
    pub(crate) id: MachineId,
    pub(crate) origin: Origin,
    pub(crate) hostname: String,
    pub(crate) dir: PathBuf,
    pub(crate) vm: Arc<dyn Vm>,
    pub(crate) agent: Agent,
    pub(crate) net: MachineNet,
    pub(crate) egress: nullspace_types::Egress,
    pub(crate) boot: Boot,
    pub(crate) state: Mutex<MachineState>,
    pub(crate) teardown: Mutex<Option<Teardown>>,
    pub(crate) disk_layer: AtomicU32,
    pub(crate) created_at: SystemTime,
    pub(crate) max_output: usize,
    /// Where the machine reports its VM's death and its processes' ends.
    pub(crate) events: tokio::sync::broadcast::Sender<crate::RuntimeEvent>,
    /// Pids of the process table whose end is being waited for.
    pub(crate) watched: crate::process_watch::Watched,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("id", &self.id)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// The machine's outbound policy.
    pub fn egress(&self) -> &nullspace_types::Egress {
        &self.egress
    }

    /// The machine's id.
    pub fn id(&self) -> &MachineId {
        &self.id
    }

    /// Where it came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Its guest hostname.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Its lifecycle state.
    pub fn state(&self) -> MachineState {
        *self.state.lock().expect("state lock")
    }

    /// OS pid of its VMM process.
    pub fn vmm_pid(&self) -> u32 {
        self.vm.pid()
    }

    /// Its network namespace name.
    pub fn netns(&self) -> &str {
        &self.net.name
    }

    /// A TCP connection to `port` of the guest, made inside its namespace.
    pub async fn connect_port(&self, port: u16) -> std::io::Result<tokio::net::TcpStream> {
        crate::netns::connect_guest(&self.net.path(), port).await
    }

    /// Its private directory on the host.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// When it was created.
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// Move to `next` if the transition is allowed; returns the previous state.
    pub(crate) fn transition(
        &self,
        next: MachineState,
        action: &'static str,
    ) -> Result<MachineState, RuntimeError> {
        let mut state = self.state.lock().expect("state lock");
        if !state.can_become(next) {
            return Err(RuntimeError::InvalidState {
                id: self.id.clone(),
                state: *state,
                action,
            });
        }
        Ok(std::mem::replace(&mut *state, next))
    }

    /// The agent, if the machine is running.
    pub fn agent(&self) -> Result<&Agent, RuntimeError> {
        match self.state() {
            MachineState::Running => Ok(&self.agent),
            MachineState::Failed => Err(self.died()),
            state => Err(RuntimeError::InvalidState {
                id: self.id.clone(),
                state,
                action: "talk to its agent",
            }),
        }
    }

    fn died(&self) -> RuntimeError {
        RuntimeError::MachineDied {
            id: self.id.clone(),
            reason: format!(
                "VMM process exited; console: {}",
                crate::template::console_tail(&self.vm.console_log())
            ),
        }
    }

    /// Turn an agent failure into [`RuntimeError::MachineDied`] when the VM is gone
    /// (releasing what it held), or pass it through.
    pub async fn check<T>(&self, result: Result<T, AgentError>) -> Result<T, RuntimeError> {
        match result {
            Ok(v) => Ok(v),
            Err(
                e @ (AgentError::Disconnected
                | AgentError::Timeout { .. }
                | AgentError::Unreachable { .. }),
            ) => {
                // The socket closes a moment before the process can be reaped.
                for _ in 0..20 {
                    if !self.vm.is_alive() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                if self.vm.is_alive() {
                    return Err(e.into());
                }
                let _ = self.fail().await;
                Err(self.died())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Run a command and collect its output.
    pub async fn exec(
        &self,
        req: ExecRequest,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, RuntimeError> {
        let agent = self.agent()?;
        self.check(agent.exec(req, stdin, self.max_output).await)
            .await
    }

    /// Mark the machine failed (its VMM died) and release its resources.
    pub(crate) async fn fail(&self) -> Result<(), TeardownError> {
        {
            let mut state = self.state.lock().expect("state lock");
            if !state.can_become(MachineState::Failed) {
                return Ok(());
            }
            *state = MachineState::Failed;
        }
        tracing::warn!(machine = %self.id, "VMM process died; releasing the machine's resources");
        // Nobody listening is fine: the next request finds the machine failed.
        let _ = self.events.send(crate::RuntimeEvent::MachineDied {
            id: self.id.clone(),
            reason: "VMM process exited".into(),
        });
        self.run_teardown().await
    }

    /// Run the teardown stack if it has not run yet.
    pub(crate) async fn run_teardown(&self) -> Result<(), TeardownError> {
        let steps = self.teardown.lock().expect("teardown lock").take();
        match steps {
            Some(t) => t.run().await,
            None => Ok(()),
        }
    }

    /// Release what the machine holds without an async runtime: kill the VMM by
    /// pid, delete the namespace, remove the directory. For `Drop` paths only;
    /// the teardown stack is the normal way.
    pub(crate) fn release_blocking(&self, slots: &crate::netns::Slots) {
        if self
            .teardown
            .lock()
            .expect("teardown lock")
            .take()
            .is_none()
        {
            return;
        }
        if self.vm.is_alive() {
            // SAFETY: kill(2) on the pid of a VMM process this runtime started and
            // has not reaped (it is alive), so the pid cannot have been reused.
            unsafe { libc::kill(self.vm.pid() as i32, libc::SIGKILL) };
        }
        self.net.delete_blocking(slots);
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Leave the machine running for a later process to take over: drop the
    /// teardown steps without running them and let the VMM outlive its handle.
    pub(crate) fn detach(&self) {
        drop(self.teardown.lock().expect("teardown lock").take());
        self.vm.detach();
    }

    /// Next free disk layer number (for snapshots that switch the disk).
    pub(crate) fn next_disk_layer(&self) -> u32 {
        self.disk_layer.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Path of the overlay the VM currently writes to.
    pub(crate) fn current_disk(&self) -> PathBuf {
        disk_path(&self.dir, self.disk_layer.load(Ordering::SeqCst))
    }
}

/// File in a machine's directory that records what a later process needs to take
/// the machine over.
pub(crate) const RECORD: &str = "machine.json";

/// What is written to [`RECORD`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct MachineRecord {
    pub(crate) id: MachineId,
    pub(crate) origin: Origin,
    pub(crate) hostname: String,
    pub(crate) net: MachineNet,
    pub(crate) vmm_pid: u32,
    pub(crate) boot: Boot,
    pub(crate) disk_layer: u32,
    pub(crate) created_unix_ms: u64,
    /// Saved to [`PAUSE_STATE`] with no VMM running.
    #[serde(default)]
    pub(crate) paused: bool,
    /// Sizes and checksums of the paused state and disk layers.
    #[serde(default)]
    pub(crate) pause_seals: Vec<crate::integrity::FileSeal>,
    /// Outbound policy (kept across pause and resume).
    #[serde(default)]
    pub(crate) egress: nullspace_types::Egress,
}

/// File in a paused machine's directory holding its memory and device state.
pub(crate) const PAUSE_STATE: &str = "pause.state";

impl Machine {
    /// Write the machine's record (atomically).
    pub(crate) fn save_record(&self) -> Result<(), RuntimeError> {
        self.write_record(None)
    }

    /// Write the machine's record; `pause_seals` says it is paused, with these files.
    pub(crate) fn write_record(
        &self,
        pause_seals: Option<Vec<crate::integrity::FileSeal>>,
    ) -> Result<(), RuntimeError> {
        let record = MachineRecord {
            paused: pause_seals.is_some(),
            pause_seals: pause_seals.unwrap_or_default(),
            id: self.id.clone(),
            origin: self.origin.clone(),
            hostname: self.hostname.clone(),
            net: self.net.clone(),
            egress: self.egress.clone(),
            vmm_pid: self.vm.pid(),
            boot: self.boot.clone(),
            disk_layer: self.disk_layer.load(Ordering::SeqCst),
            created_unix_ms: self
                .created_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        };
        let tmp = self.dir.join("machine.json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(&record).expect("record serializes"),
        )
        .map_err(crate::error::io("write machine record", &tmp))?;
        std::fs::rename(&tmp, self.dir.join(RECORD))
            .map_err(crate::error::io("write machine record", &tmp))
    }
}

/// The record of the machine in `dir`, if it has one.
pub(crate) fn load_record(dir: &std::path::Path) -> Option<MachineRecord> {
    serde_json::from_slice(&std::fs::read(dir.join(RECORD)).ok()?).ok()
}

/// Names of the disk layers in a machine directory (`disk.qcow2`, `disk-N.qcow2`).
pub(crate) fn disk_layers(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("disk") && n.ends_with(".qcow2"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Path of disk layer `n` in a machine directory.
pub(crate) fn disk_path(dir: &std::path::Path, n: u32) -> PathBuf {
    if n == 0 {
        dir.join("disk.qcow2")
    } else {
        dir.join(format!("disk-{n}.qcow2"))
    }
}

/// A fresh identity for a restored guest.
pub(crate) fn new_identity(hostname: &str) -> nullspace_guest_proto::Identity {
    let mut seed = vec![0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let unix_time_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nullspace_guest_proto::Identity {
        hostname: hostname.to_owned(),
        unix_time_ns,
        seed,
    }
}
