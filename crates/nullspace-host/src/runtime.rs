//! The runtime: creates, tracks, snapshots and destroys machines on this host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nullspace_types::{Egress, MachineId, MachineState, SnapshotId};
use nullspace_vmm::{Backend, Disk, Kernel, Memory, Net, QemuBackend, SaveMode, Start, Vm, VmSpec};

use crate::agent::Agent;
use crate::config::RuntimeConfig;
use crate::disk::{create_overlay, flatten_onto};
use crate::error::{io, RuntimeError};
use crate::image::ImageArtifacts;
use crate::integrity::FileSeal;
use crate::machine::{
    disk_layers, disk_path, load_record, new_identity, Boot, Machine, Origin, PAUSE_STATE,
};
use crate::netns::{self, Slots, GUEST_MAC, TAP};
use crate::netpool::NetPool;
use crate::snapshot::SnapshotInfo;
use crate::teardown::Teardown;
use crate::template::{self, Template};

/// How long a restored guest may take to answer its first call.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often machine watchers check that their VMM is alive.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// The host runtime.
pub struct Runtime {
    cfg: RuntimeConfig,
    backend: Arc<dyn Backend>,
    slots: Arc<Slots>,
    pool: Arc<NetPool>,
    /// Tag of what this runtime makes on the host (see [`netns::owner_tag`]).
    owner: String,
    machines: Mutex<HashMap<MachineId, Arc<Machine>>>,
    events: tokio::sync::broadcast::Sender<crate::RuntimeEvent>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("data_dir", &self.cfg.data_dir)
            .finish_non_exhaustive()
    }
}

/// The children of a fork and how long the source was stopped.
#[derive(Debug)]
pub struct Fork {
    /// The children, running, in the order of the ids asked for.
    pub children: Vec<Arc<Machine>>,
    /// How long the source machine was stopped, in ms.
    pub stall_ms: u64,
}

/// What a machine is restored from.
struct Source<'a> {
    origin: Origin,
    boot: Boot,
    /// Resume in place: the machine's directory and disk exist and must survive
    /// a failed start; the hostname and disk layer are kept.
    resume: Option<(String, u32)>,
    /// Seed overlay to copy, or none to create a new overlay over `boot.base_disk`.
    overlay_seed: Option<&'a Path>,
    memory: Memory,
    state: &'a Path,
    mode: SaveMode,
    /// Seals of files in a directory that the VM only reads, checked while it
    /// restores; a mismatch stops it before anyone can use it.
    seals: Option<(PathBuf, Vec<FileSeal>)>,
    /// Outbound policy, installed before the guest runs.
    egress: Egress,
}

impl Runtime {
    /// A runtime over the QEMU backend.
    pub async fn new(cfg: RuntimeConfig) -> Result<Self, RuntimeError> {
        let backend = Arc::new(QemuBackend::new(cfg.qemu.clone()));
        Self::with_backend(cfg, backend).await
    }

    /// A runtime over any backend.
    pub async fn with_backend(
        cfg: RuntimeConfig,
        backend: Arc<dyn Backend>,
    ) -> Result<Self, RuntimeError> {
        for dir in [cfg.templates_dir(), cfg.machines_dir(), cfg.snapshots_dir()] {
            std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        }
        netns::setup_host_egress().await;
        let recorded: std::collections::HashSet<String> = std::fs::read_dir(cfg.machines_dir())
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| load_record(&e.path()))
                    .map(|r| r.net.name)
                    .collect()
            })
            .unwrap_or_default();
        let owner = netns::owner_tag(&cfg.data_dir);
        for name in crate::netpool::reap_orphans(&owner, &recorded).await {
            tracing::warn!(netns = %name, "removed a namespace left by a process that died");
        }
        let slots = netns::process_slots();
        let pool = NetPool::new(slots.clone(), cfg.net_pool_size, &owner);
        pool.refill();
        Ok(Self {
            cfg,
            backend,
            slots,
            pool,
            owner,
            machines: Mutex::default(),
            events: tokio::sync::broadcast::channel(crate::events::EVENT_BUFFER).0,
        })
    }

    /// The runtime's settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.cfg
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    pub(crate) fn slots(&self) -> &Slots {
        &self.slots
    }

    pub(crate) fn slots_arc(&self) -> Arc<Slots> {
        self.slots.clone()
    }

    /// Tag of what this runtime makes on the host.
    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    /// Build (or load the cached) template `name` from `image`.
    pub async fn ensure_template(
        &self,
        name: &str,
        image: &ImageArtifacts,
    ) -> Result<Template, RuntimeError> {
        template::ensure(self, name, image, template::WARMUP).await
    }

    /// Build (or load) template `name` from an imported image's root filesystem,
    /// booted with `image`'s kernel. Nothing runs before the save: the image may
    /// have no shell.
    pub async fn ensure_image_template(
        &self,
        name: &str,
        image: &ImageArtifacts,
    ) -> Result<Template, RuntimeError> {
        template::ensure(self, name, image, &[]).await
    }

    /// Create a machine by restoring `template` (no kernel boot).
    pub async fn create_machine(&self, template: &Template) -> Result<Arc<Machine>, RuntimeError> {
        self.create_machine_as(MachineId::random(), template, Egress::OPEN)
            .await
    }

    /// Create a machine with a caller-chosen id (recorded before the create ends)
    /// and outbound policy.
    pub async fn create_machine_as(
        &self,
        id: MachineId,
        template: &Template,
        egress: Egress,
    ) -> Result<Arc<Machine>, RuntimeError> {
        self.start_machine(
            id,
            Source {
                resume: None,
                origin: Origin::Template(template.name.clone()),
                boot: Boot {
                    vmlinux: template.vmlinux.clone(),
                    initrd: template.initrd.clone(),
                    cmdline: template.cmdline.clone(),
                    vcpus: template.vcpus,
                    memory_mib: template.memory_mib,
                    base_disk: template.disk(),
                    root_disk: None,
                },
                overlay_seed: Some(&template.overlay_seed()),
                memory: Memory::File {
                    path: template.mem(),
                    shared: false,
                },
                state: &template.state(),
                mode: SaveMode::DeviceOnly,
                seals: None,
                egress,
            },
        )
        .await
    }

    /// Create a machine from snapshot `id`, with its own identity.
    pub async fn restore_snapshot(&self, id: &SnapshotId) -> Result<Arc<Machine>, RuntimeError> {
        self.restore_snapshot_as(MachineId::random(), id, Egress::OPEN)
            .await
    }

    /// Create machine `machine` from snapshot `id` (its files are checked first)
    /// with outbound policy `egress`.
    pub async fn restore_snapshot_as(
        &self,
        machine: MachineId,
        id: &SnapshotId,
        egress: Egress,
    ) -> Result<Arc<Machine>, RuntimeError> {
        let snap = SnapshotInfo::load(&self.cfg.snapshots_dir(), id)?;
        self.start_machine(
            machine,
            Source {
                resume: None,
                origin: Origin::Snapshot(id.clone()),
                boot: Boot {
                    vmlinux: snap.vmlinux.clone(),
                    initrd: snap.initrd.clone(),
                    cmdline: snap.cmdline.clone(),
                    vcpus: snap.vcpus,
                    memory_mib: snap.memory_mib,
                    base_disk: snap.disk(),
                    root_disk: snap.root_disk.clone(),
                },
                overlay_seed: None,
                memory: Memory::Anonymous,
                state: &snap.state(),
                mode: SaveMode::Full,
                seals: Some((snap.dir.clone(), snap.seals.clone())),
                egress,
            },
        )
        .await
    }

    async fn start_machine(
        &self,
        id: MachineId,
        src: Source<'_>,
    ) -> Result<Arc<Machine>, RuntimeError> {
        let t0 = Instant::now();
        let checked = src
            .seals
            .clone()
            .map(|(dir, seals)| crate::integrity::verify_in_background(dir, seals));
        let dir = self.cfg.machines_dir().join(id.as_str());
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let mut teardown = Teardown::default();
        let remove_dir = {
            let dir = dir.clone();
            async move {
                tokio::fs::remove_dir_all(&dir)
                    .await
                    .map_err(|e| format!("{}: {e}", dir.display()))
            }
        };
        // A resumed machine's directory holds its only copy: keep it if the resume fails.
        let mut remove_dir = Some(remove_dir);
        if src.resume.is_none() {
            teardown.push("remove machine directory", remove_dir.take().expect("once"));
        }
        let layer = src.resume.as_ref().map_or(0, |(_, l)| *l);
        let disk = disk_path(&dir, layer);
        let prepare_disk = async {
            if src.resume.is_some() {
                return Ok(());
            }
            match src.overlay_seed {
                Some(seed) => tokio::fs::copy(seed, &disk)
                    .await
                    .map(drop)
                    .map_err(io("copy overlay", &disk)),
                None => create_overlay(&disk, &src.boot.base_disk, "qcow2")
                    .await
                    .map_err(RuntimeError::from),
            }
        };
        let (disk_ready, net) = tokio::join!(prepare_disk, self.pool.take());
        if let Ok(net) = &net {
            let (net, slots) = (net.clone(), self.slots.clone());
            teardown.push("delete machine network", async move {
                net.delete(&slots).await.map_err(|e| e.to_string())
            });
        }
        let started = async {
            disk_ready?;
            let net = net?;
            net.apply_egress(&src.egress).await?;
            let spec = VmSpec {
                name: id.to_string(),
                dir: dir.clone(),
                vcpus: src.boot.vcpus,
                memory_mib: src.boot.memory_mib,
                memory: src.memory.clone(),
                kernel: Kernel {
                    vmlinux: src.boot.vmlinux.clone(),
                    initrd: src.boot.initrd.clone(),
                    cmdline: src.boot.cmdline.clone(),
                },
                disk: Disk { path: disk.clone() },
                net: Some(Net {
                    tap: TAP.into(),
                    mac: GUEST_MAC.into(),
                    netns: Some(net.path()),
                }),
                start: Start::Restore {
                    state: src.state.to_owned(),
                    mode: src.mode,
                },
                die_with_parent: self.cfg.die_with_parent,
            };
            let vm: Arc<dyn Vm> = self.backend.start(spec).await?.into();
            tracing::debug!(
                ms = t0.elapsed().as_millis() as u64,
                "VM restored and running"
            );
            Ok::<_, RuntimeError>((vm, net))
        }
        .await;
        // A damaged saved state wins over whatever the restore made of it.
        let checked = match checked {
            Some(check) => check.await,
            None => Ok(()),
        };
        let (vm, net) = match (started, checked) {
            (Ok(v), Ok(())) => v,
            (Ok((vm, _)), Err(e)) => {
                let _ = vm.destroy().await;
                let _ = teardown.run().await;
                return Err(e);
            }
            (Err(e), Ok(())) | (Err(_), Err(e)) => {
                let _ = teardown.run().await;
                return Err(e);
            }
        };
        {
            let vm = vm.clone();
            teardown.push("stop VMM", async move {
                vm.destroy().await.map_err(|e| e.to_string())
            });
        }
        let hostname = src
            .resume
            .as_ref()
            .map_or_else(|| format!("ns-{}", id.body()), |(h, _)| h.clone());
        let greeted = async {
            let agent = Agent::connect(&vm.agent_socket(), RESTORE_TIMEOUT).await?;
            tracing::debug!(ms = t0.elapsed().as_millis() as u64, "agent connected");
            agent
                .hello(Some(new_identity(&hostname)), RESTORE_TIMEOUT)
                .await?;
            tracing::debug!(
                ms = t0.elapsed().as_millis() as u64,
                "guest took its identity"
            );
            Ok::<_, crate::agent::AgentError>(agent)
        };
        let agent = tokio::select! {
            r = greeted => r,
            _ = template::wait_dead(vm.as_ref()) => Err(crate::agent::AgentError::Disconnected),
        };
        let agent = match agent {
            Ok(a) => a,
            Err(e) => {
                let console = template::console_tail(&vm.console_log());
                let _ = teardown.run().await;
                return Err(RuntimeError::MachineDied {
                    id,
                    reason: format!("restored guest did not answer: {e}; console: {console}"),
                });
            }
        };
        if let Some(remove_dir) = remove_dir {
            teardown.push_final("remove machine directory", remove_dir);
        }
        let machine = Arc::new(Machine {
            id: id.clone(),
            origin: src.origin,
            hostname,
            dir,
            vm,
            agent,
            net,
            egress: src.egress,
            boot: src.boot,
            state: Mutex::new(MachineState::Running),
            teardown: Mutex::new(Some(teardown)),
            disk_layer: layer.into(),
            created_at: SystemTime::now(),
            max_output: self.cfg.max_output_bytes,
            events: self.events.clone(),
            watched: Default::default(),
        });
        if let Err(e) = machine.save_record() {
            let _ = machine.run_teardown().await;
            return Err(e);
        }
        self.machines
            .lock()
            .expect("machines lock")
            .insert(id, machine.clone());
        tokio::spawn(watch(Arc::downgrade(&machine)));
        machine.watch_processes();
        Ok(machine)
    }

    /// Pause a running machine: save its memory, processes and devices to its
    /// directory, stop its VMM and free its network. Its disk is kept as is.
    pub async fn pause(&self, id: &MachineId) -> Result<(), RuntimeError> {
        let machine = self.machine(id)?;
        machine.transition(MachineState::Pausing, "pause")?;
        let state_file = machine.dir.join(PAUSE_STATE);
        let saved = async {
            machine.vm.pause().await?;
            hold_for_tests("pause-stopped").await;
            machine.vm.save(&state_file, SaveMode::Full).await?;
            // The state is complete: record the machine as paused before its VMM goes,
            // so a crash from here on leaves a resumable machine.
            machine.write_record(Some(Vec::new()))?;
            hold_for_tests("pause-saved").await;
            Ok(())
        }
        .await;
        if let Err(e) = saved {
            let _ = machine.vm.resume().await;
            let _ = machine.write_record(None);
            let _ = machine.transition(MachineState::Running, "abandon pause");
            return Err(e);
        }
        // From here the files on disk are the machine: seal them while the VMM stops
        // and the network is freed.
        drop(machine.teardown.lock().expect("teardown lock").take());
        let mut files = vec![PAUSE_STATE.to_owned()];
        files.extend(disk_layers(&machine.dir));
        let seal = crate::integrity::seal_in_background(machine.dir.clone(), files);
        let release = async {
            let vm = machine.vm.destroy().await.map_err(RuntimeError::from);
            let net = machine
                .net
                .delete(&self.slots)
                .await
                .map_err(RuntimeError::from);
            vm.and(net)
        };
        let (sealed, released) = tokio::join!(seal, release);
        match sealed {
            Ok(seals) => machine.write_record(Some(seals))?,
            // The record already says paused; only the check before resume is lost.
            Err(e) => tracing::warn!(machine = %id, error = %e, "cannot seal the paused state"),
        }
        machine.transition(MachineState::Paused, "finish pause")?;
        self.machines.lock().expect("machines lock").remove(id);
        // The machine is paused either way; a failed release is reported, not undone.
        if let Err(e) = released {
            tracing::warn!(machine = %id, error = %e, "releasing a paused machine's VMM or network");
        }
        Ok(())
    }

    /// Whether machine `id` is paused on this host.
    pub fn is_paused(&self, id: &MachineId) -> bool {
        load_record(&self.cfg.machines_dir().join(id.as_str())).is_some_and(|r| r.paused)
    }

    /// Resume a paused machine in place (same id, hostname and disk; fresh
    /// entropy and clock). A running machine is returned as is.
    pub async fn resume(&self, id: &MachineId) -> Result<Arc<Machine>, RuntimeError> {
        if let Ok(m) = self.machine(id) {
            return Ok(m);
        }
        let dir = self.cfg.machines_dir().join(id.as_str());
        let record = load_record(&dir)
            .filter(|r| r.paused)
            .ok_or_else(|| RuntimeError::MachineNotFound(id.clone()))?;
        // The disk layers are written once the VM runs: check them first. The
        // memory state is only read, so it is checked while the VM restores.
        let (disks, memory): (Vec<FileSeal>, Vec<FileSeal>) = record
            .pause_seals
            .iter()
            .cloned()
            .partition(|s| s.name.ends_with(".qcow2"));
        crate::integrity::verify_in_background(dir.clone(), disks).await?;
        let state = dir.join(PAUSE_STATE);
        let machine = self
            .start_machine(
                id.clone(),
                Source {
                    resume: Some((record.hostname.clone(), record.disk_layer)),
                    origin: record.origin.clone(),
                    boot: record.boot.clone(),
                    overlay_seed: None,
                    memory: Memory::Anonymous,
                    state: &state,
                    mode: SaveMode::Full,
                    seals: Some((dir.clone(), memory)),
                    egress: record.egress.clone(),
                },
            )
            .await?;
        // The memory lives in the VM again; the saved copy is stale from here on.
        let _ = std::fs::remove_file(&state);
        Ok(machine)
    }

    /// Take over machine `id` left running by an earlier process (from the record
    /// in its directory): adopt its VMM, reconnect to its agent.
    pub async fn adopt(&self, id: &MachineId) -> Result<Arc<Machine>, RuntimeError> {
        let dir = self.cfg.machines_dir().join(id.as_str());
        let record = load_record(&dir).ok_or_else(|| RuntimeError::MachineNotFound(id.clone()))?;
        let vm: Arc<dyn Vm> = self.backend.adopt(record.vmm_pid, &dir).await?.into();
        // An earlier process may have died mid-pause, leaving the VM stopped with
        // a save in flight: the VM (not a half-written state file) is the machine.
        if let Err(e) = vm.ensure_running().await {
            let _ = vm.destroy().await;
            return Err(e.into());
        }
        let _ = std::fs::remove_file(dir.join(PAUSE_STATE));
        let agent = match Agent::connect(&vm.agent_socket(), RESTORE_TIMEOUT).await {
            Ok(a) => a,
            Err(e) => {
                let _ = vm.destroy().await;
                return Err(e.into());
            }
        };
        // A hello (not a bare health check): the guest learns that this new host
        // speaks protocol 2 and credits its calls, and the host learns the guest's.
        if let Err(e) = agent.hello(None, RESTORE_TIMEOUT).await {
            let _ = vm.destroy().await;
            return Err(e.into());
        }
        self.slots.claim(record.net.slot);
        let mut teardown = Teardown::default();
        {
            let dir = dir.clone();
            teardown.push("remove machine directory", async move {
                tokio::fs::remove_dir_all(&dir)
                    .await
                    .map_err(|e| format!("{}: {e}", dir.display()))
            });
        }
        {
            let (net, slots) = (record.net.clone(), self.slots.clone());
            teardown.push("delete machine network", async move {
                net.delete(&slots).await.map_err(|e| e.to_string())
            });
        }
        {
            let vm = vm.clone();
            teardown.push("stop VMM", async move {
                vm.destroy().await.map_err(|e| e.to_string())
            });
        }
        let machine = Arc::new(Machine {
            id: id.clone(),
            origin: record.origin,
            hostname: record.hostname,
            dir,
            vm,
            agent,
            net: record.net,
            egress: record.egress,
            boot: record.boot,
            state: Mutex::new(MachineState::Running),
            teardown: Mutex::new(Some(teardown)),
            disk_layer: record.disk_layer.into(),
            created_at: SystemTime::UNIX_EPOCH + Duration::from_millis(record.created_unix_ms),
            max_output: self.cfg.max_output_bytes,
            events: self.events.clone(),
            watched: Default::default(),
        });
        self.machines
            .lock()
            .expect("machines lock")
            .insert(id.clone(), machine.clone());
        tokio::spawn(watch(Arc::downgrade(&machine)));
        machine.watch_processes();
        tracing::info!(machine = %id, "took over a machine left running by an earlier process");
        Ok(machine)
    }

    /// Remove what an earlier process left of machine `id` that cannot be taken
    /// over: its VMM (found by command line), its namespace and, unless
    /// `keep_files` (its disk may be the only copy of the user's data), its directory.
    pub async fn discard(&self, id: &MachineId, keep_files: bool) {
        let dir = self.cfg.machines_dir().join(id.as_str());
        kill_leftover_vmm(id).await;
        if let Some(record) = load_record(&dir) {
            let _ = record.net.delete(&self.slots).await;
        }
        if !keep_files {
            let _ = tokio::fs::remove_dir_all(&dir).await;
        }
    }

    /// Events the runtime reports by itself (a VM that died).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<crate::RuntimeEvent> {
        self.events.subscribe()
    }

    /// The machine with `id`.
    pub fn machine(&self, id: &MachineId) -> Result<Arc<Machine>, RuntimeError> {
        self.machines
            .lock()
            .expect("machines lock")
            .get(id)
            .cloned()
            .ok_or_else(|| RuntimeError::MachineNotFound(id.clone()))
    }

    /// Every machine this runtime tracks.
    pub fn machines(&self) -> Vec<Arc<Machine>> {
        self.machines
            .lock()
            .expect("machines lock")
            .values()
            .cloned()
            .collect()
    }

    /// Destroy machine `id`: stop its VM, delete its network and files.
    pub async fn destroy(&self, id: &MachineId) -> Result<(), RuntimeError> {
        let machine = self.machine(id)?;
        machine.transition(MachineState::Killing, "kill")?;
        let result = machine.run_teardown().await;
        *machine.state.lock().expect("state lock") = MachineState::Killed;
        self.machines.lock().expect("machines lock").remove(id);
        Ok(result?)
    }

    /// Stop tracking every machine and leave them running, for a later process
    /// to take over ([`Runtime::adopt`]).
    pub fn detach_all(&self) {
        let machines: Vec<_> = self
            .machines
            .lock()
            .expect("machines lock")
            .drain()
            .collect();
        for (id, m) in machines {
            m.detach();
            tracing::info!(machine = %id, "left running for the next start");
        }
    }

    /// Destroy every machine; returns the failures.
    pub async fn shutdown(&self) -> Vec<RuntimeError> {
        let mut errors = Vec::new();
        for m in self.machines() {
            if let Err(e) = self.destroy(m.id()).await {
                errors.push(e);
            }
        }
        errors
    }

    /// Save running machine `id` into `dir` (it keeps running): memory and devices
    /// to `state`, its disk flattened over the template disk to `disk.qcow2`. The
    /// machine is stopped only while its memory is saved; returns that time in ms.
    async fn capture(&self, machine: &Machine, dir: &Path) -> Result<u64, RuntimeError> {
        machine.transition(MachineState::Snapshotting, "snapshot")?;
        let result = async {
            std::fs::create_dir_all(dir).map_err(io("create", dir))?;
            let frozen = machine.current_disk();
            let next = disk_path(&machine.dir, machine.next_disk_layer());
            // Made before the stop: the switch then only opens it.
            create_overlay(&next, &frozen, "qcow2").await?;
            let stopped = Instant::now();
            machine.vm.pause().await?;
            let saved = async {
                machine.vm.save(&dir.join("state"), SaveMode::Full).await?;
                machine.vm.switch_disk(&next).await?;
                Ok::<_, RuntimeError>(())
            }
            .await;
            let resumed = machine.vm.resume().await;
            let stall_ms = stopped.elapsed().as_millis() as u64;
            saved?;
            resumed?;
            machine.save_record()?;
            flatten_onto(&frozen, machine.boot.root_disk(), &dir.join("disk.qcow2")).await?;
            Ok(stall_ms)
        }
        .await;
        let _ = machine.transition(MachineState::Running, "finish snapshot");
        if result.is_err() {
            let _ = std::fs::remove_dir_all(dir);
            if !machine.vm.is_alive() {
                let _ = machine.fail().await;
            }
        }
        result
    }

    /// Snapshot a running machine (it keeps running): RAM, devices and disk.
    pub async fn snapshot(&self, id: &MachineId) -> Result<SnapshotInfo, RuntimeError> {
        self.snapshot_as(SnapshotId::random(), id).await
    }

    /// Snapshot running machine `id` as snapshot `snap_id`.
    pub async fn snapshot_as(
        &self,
        snap_id: SnapshotId,
        id: &MachineId,
    ) -> Result<SnapshotInfo, RuntimeError> {
        let machine = self.machine(id)?;
        let dir = self.cfg.snapshots_dir().join(snap_id.as_str());
        let pause_ms = self.capture(&machine, &dir).await?;
        let sealed = async {
            let files = vec!["state".into(), "disk.qcow2".into()];
            let seals = crate::integrity::seal_in_background(dir.clone(), files).await?;
            let info = SnapshotInfo {
                id: snap_id.clone(),
                source: id.clone(),
                dir: dir.clone(),
                vmlinux: machine.boot.vmlinux.clone(),
                initrd: machine.boot.initrd.clone(),
                cmdline: machine.boot.cmdline.clone(),
                vcpus: machine.boot.vcpus,
                memory_mib: machine.boot.memory_mib,
                created_ms: SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
                state_bytes: allocated(&dir.join("state")),
                disk_bytes: allocated(&dir.join("disk.qcow2")),
                pause_ms,
                root_disk: Some(machine.boot.root_disk().to_owned()),
                seals,
            };
            info.save()?;
            Ok(info)
        }
        .await;
        if sealed.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        sealed
    }

    /// Fork running machine `id` into children with ids `children`: each restores
    /// the source's running state with its own identity, disk and network. The
    /// source keeps running; it is stopped only while its memory is saved. All
    /// children start or none does.
    pub async fn fork(
        &self,
        id: &MachineId,
        children: Vec<MachineId>,
    ) -> Result<Fork, RuntimeError> {
        let source = self.machine(id)?;
        let dir = self
            .cfg
            .snapshots_dir()
            .join(format!(".fork-{}", MachineId::random().body()));
        let stall_ms = self.capture(&source, &dir).await?;
        let (state, disk) = (dir.join("state"), dir.join("disk.qcow2"));
        // Children copy the flattened disk, layered on the template disk only.
        let root = source.boot.root_disk().to_owned();
        let boot = Boot {
            base_disk: root.clone(),
            root_disk: Some(root),
            ..source.boot.clone()
        };
        let started = futures_util::future::join_all(children.into_iter().map(|child| {
            self.start_machine(
                child,
                Source {
                    resume: None,
                    origin: Origin::Fork(id.clone()),
                    boot: boot.clone(),
                    overlay_seed: Some(&disk),
                    memory: Memory::Anonymous,
                    state: &state,
                    mode: SaveMode::Full,
                    seals: None,
                    egress: source.egress.clone(),
                },
            )
        }))
        .await;
        // Children hold their own copy of the disk and their memory: the files can go.
        let _ = tokio::fs::remove_dir_all(&dir).await;
        let mut ok = Vec::new();
        let mut failed = None;
        for r in started {
            match r {
                Ok(m) => ok.push(m),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        if let Some(e) = failed {
            for m in ok {
                let _ = self.destroy(m.id()).await;
            }
            return Err(e);
        }
        Ok(Fork {
            children: ok,
            stall_ms,
        })
    }

    /// Facts about snapshot `id`.
    pub fn snapshot_info(&self, id: &SnapshotId) -> Result<SnapshotInfo, RuntimeError> {
        SnapshotInfo::load(&self.cfg.snapshots_dir(), id)
    }

    /// Delete snapshot `id` and its files; refused while a machine (running or
    /// paused) started from it exists, since its disk is layered on the snapshot's.
    pub fn delete_snapshot(&self, id: &SnapshotId) -> Result<(), RuntimeError> {
        let info = SnapshotInfo::load(&self.cfg.snapshots_dir(), id)?;
        let users: Vec<String> = std::fs::read_dir(self.cfg.machines_dir())
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| load_record(&e.path()))
                    .filter(|r| r.origin == Origin::Snapshot(id.clone()))
                    .map(|r| r.id.to_string())
                    .collect()
            })
            .unwrap_or_default();
        if !users.is_empty() {
            return Err(RuntimeError::SnapshotInUse {
                id: id.clone(),
                machines: users.join(", "),
            });
        }
        std::fs::remove_dir_all(&info.dir).map_err(io("remove snapshot", &info.dir))
    }

    /// After a crash in the middle of a pause or a resume: if machine `id`'s saved
    /// state is complete and intact, stop whatever VMM is left of it, free its
    /// network and keep it paused (true); otherwise false.
    pub async fn recover_paused(&self, id: &MachineId) -> bool {
        let dir = self.cfg.machines_dir().join(id.as_str());
        let Some(record) = load_record(&dir).filter(|r| r.paused) else {
            return false;
        };
        if let Err(e) =
            crate::integrity::verify_in_background(dir.clone(), record.pause_seals.clone()).await
        {
            tracing::warn!(machine = %id, error = %e, "paused state cannot be used");
            return false;
        }
        kill_leftover_vmm(id).await;
        let _ = record.net.delete(&self.slots).await;
        true
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Machines nobody destroyed (a panicking caller, a dropped runtime) must not
        // outlive it: release them synchronously.
        let left: Vec<_> = self
            .machines
            .lock()
            .expect("machines lock")
            .drain()
            .collect();
        for (id, m) in left {
            tracing::warn!(machine = %id, "runtime dropped with a live machine; releasing it");
            m.release_blocking(&self.slots);
        }
        self.pool.close_blocking();
    }
}

/// Stop here for an hour when `NULLSPACE_TEST_HOLD` names `stage`, so a test can
/// crash the process at a known point of an operation (e.g. `pause-stopped`: the
/// VM is stopped and its state not saved yet). Unset, it does nothing.
async fn hold_for_tests(stage: &str) {
    if std::env::var("NULLSPACE_TEST_HOLD").is_ok_and(|s| s == stage) {
        tracing::warn!(stage, "holding here for a test (NULLSPACE_TEST_HOLD)");
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Kill the VMM an earlier process left for machine `id`, if any, and wait for it to go.
async fn kill_leftover_vmm(id: &MachineId) {
    let Some(pid) = find_vmm(id.as_str()) else {
        return;
    };
    // SAFETY: kill(2) on a pid whose command line names this machine's VMM.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    for _ in 0..200 {
        if find_vmm(id.as_str()).is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Bytes a (possibly sparse) file takes on disk.
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .map(|m| m.blocks() * 512)
        .unwrap_or(0)
}

/// Pid of the live (not zombie) VMM whose `-name` is `name`.
pub(crate) fn find_vmm(name: &str) -> Option<u32> {
    let needle = format!("\0-name\0{name}\0");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.contains("qemu-system")
            && cmdline.contains(&needle)
            && nullspace_vmm::process_alive(pid))
        .then_some(pid)
    })
}

/// Watch a machine's VMM; when it dies on its own, release the machine.
async fn watch(machine: std::sync::Weak<Machine>) {
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        let Some(m) = machine.upgrade() else { return };
        match m.state() {
            MachineState::Killing
            | MachineState::Killed
            | MachineState::Failed
            | MachineState::Paused => return,
            MachineState::Pausing | MachineState::Resuming => {}
            _ if !m.vm.is_alive() => {
                if let Err(e) = m.fail().await {
                    tracing::warn!(machine = %m.id(), error = %e, "cleanup after VMM death");
                }
                return;
            }
            _ => {}
        }
    }
}
