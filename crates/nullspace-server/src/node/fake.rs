//! A node that starts nothing: it answers commands with their own text and keeps
//! files in memory. For fast tests of the HTTP layer only. A few names act out
//! what a real guest does: `/etc/…` is root's, `/full/…` is a full disk,
//! `/dev/zero` never ends, a read of `/cut/…` breaks off after its first
//! bytes, and the commands `timeout …` and `flood …` are cut short after
//! printing their text.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use futures_util::StreamExt;
use nullspace_types::{Egress, MachineId, SnapshotId};

use super::fake_procs::FakeProcs;
use super::{
    fake_tree, ArchiveFacts, ArchiveSpec, AttachRequest, AttachStream, Command, CommandOutput,
    Download, Entry, EntryKind, Exit, FileAnswer, FileOp, FileRead, FileWrite, ImageImport,
    ImportedImage, Metrics, Node, NodeError, NodeErrorCode as Code, NodeEvent, NodeResult, Partial,
    Process, ProcessRef, ProcessSpec, SnapshotFacts, TemplateShape, TermSize, Upload, WatchStream,
    RESERVED_DIR,
};

/// Files of one fake machine or snapshot.
type Files = BTreeMap<String, Vec<u8>>;

/// The do-nothing node.
#[derive(Debug, Default)]
pub struct FakeNode {
    machines: Mutex<HashSet<MachineId>>,
    files: Mutex<BTreeMap<(MachineId, String), Vec<u8>>>,
    snapshots: Mutex<HashMap<SnapshotId, Files>>,
    procs: FakeProcs,
    /// Loopback servers standing in for machine ports.
    ports: Mutex<HashMap<(MachineId, u16), std::net::SocketAddr>>,
    /// The outbound policy each machine was started with (forks inherit theirs).
    egress: Mutex<HashMap<MachineId, Egress>>,
    subscribers: Mutex<Vec<tokio::sync::mpsc::Sender<NodeEvent>>>,
    /// How long a create, pause or resume takes (to race them in tests).
    delay: Duration,
}

/// The node's error for a machine it does not have.
fn not_found(id: &MachineId) -> NodeError {
    NodeError::new(Code::MachineNotFound, format!("machine {id} not found"))
}

/// The node's error for a snapshot it does not have.
fn snapshot_not_found(id: &SnapshotId) -> NodeError {
    NodeError::new(Code::SnapshotNotFound, format!("snapshot {id} not found"))
}

/// Whether `user` may touch `path` (root's files are under `/etc`).
fn allowed(user: Option<&str>, path: &str) -> NodeResult<()> {
    if path.starts_with("/etc/") && user.is_some_and(|u| u != "root") {
        return Err(NodeError::new(
            Code::PermissionDenied,
            format!("open {path}: Permission denied"),
        ));
    }
    Ok(())
}

fn entry(path: &str, size: usize) -> Entry {
    Entry {
        name: path.rsplit('/').next().unwrap_or(path).to_owned(),
        path: path.to_owned(),
        kind: EntryKind::File,
        size: size as u64,
        mode: 0o644,
        owner: "user".into(),
        group: "user".into(),
        modified_ms: 0,
        symlink_target: None,
    }
}

impl FakeNode {
    /// Serve port `port` of machine `id` from `addr` (a loopback server of the test).
    pub fn expose(&self, id: &MachineId, port: u16, addr: std::net::SocketAddr) {
        self.ports
            .lock()
            .expect("lock")
            .insert((id.clone(), port), addr);
    }

    /// How many machines the node runs (tests).
    pub fn machine_count(&self) -> usize {
        self.machines.lock().expect("lock").len()
    }

    /// How many snapshots the node keeps (tests).
    pub fn snapshot_count(&self) -> usize {
        self.snapshots.lock().expect("lock").len()
    }

    /// The outbound policy machine `id` runs with on this node.
    pub fn egress_of(&self, id: &MachineId) -> Option<Egress> {
        self.egress.lock().expect("lock").get(id).cloned()
    }

    /// A fake node whose creates, pauses and resumes each take `delay`.
    pub fn with_delay(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// Act out a VM that dies by itself: the machine is gone from the node,
    /// which reports it.
    pub async fn vm_dies(&self, id: &MachineId) {
        self.machines.lock().expect("lock").remove(id);
        self.procs.forget(id);
        let event = NodeEvent::MachineDied {
            id: id.clone(),
            reason: "VMM process exited".into(),
        };
        self.notify(event).await;
    }

    /// Send `event` to every subscriber.
    async fn notify(&self, event: NodeEvent) {
        let subscribers = self.subscribers.lock().expect("lock").clone();
        for tx in subscribers {
            let _ = tx.send(event.clone()).await;
        }
    }

    /// Report the end of process `p` of machine `id`, if it has ended.
    async fn report_end(&self, id: &MachineId, p: &Process) {
        if let Some(exit) = p.end.clone() {
            let event = NodeEvent::ProcessExited {
                id: id.clone(),
                pid: p.pid,
                tag: p.tag.clone(),
                exit,
            };
            self.notify(event).await;
        }
    }

    fn files_of(&self, id: &MachineId) -> Files {
        self.files
            .lock()
            .expect("lock")
            .iter()
            .filter(|((m, _), _)| m == id)
            .map(|((_, p), d)| (p.clone(), d.clone()))
            .collect()
    }

    fn start_with(&self, id: &MachineId, files: Files) {
        self.machines.lock().expect("lock").insert(id.clone());
        let mut all = self.files.lock().expect("lock");
        for (p, d) in files {
            all.insert((id.clone(), p), d);
        }
    }

    fn check(&self, id: &MachineId) -> NodeResult<()> {
        if self.machines.lock().expect("lock").contains(id) {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }
}

#[async_trait]
impl Node for FakeNode {
    fn template(&self, name: &str) -> Option<TemplateShape> {
        // `broken` exists but its machines die while they start.
        matches!(name, "base" | "broken").then_some(TemplateShape {
            cpu_count: 1,
            memory_mb: 512,
        })
    }

    async fn import_image(&self, image: ImageImport) -> NodeResult<ImportedImage> {
        // Parsed as a real node would; repositories named `…/missing` are not found.
        let pull_failed = |m: String| NodeError::new(Code::ImagePullFailed, m);
        let r = nullspace_host::image::oci::resolve(
            &image.reference,
            nullspace_host::image::oci::DOCKER_HUB,
        )
        .map_err(|e| pull_failed(e.to_string()))?;
        if r.repository().ends_with("missing") {
            return Err(pull_failed(format!(
                "image {} was not found in registry {}",
                r.whole(),
                r.registry()
            )));
        }
        let digest = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(r.whole().as_bytes()))
        };
        Ok(ImportedImage {
            template: format!("image-{}", &digest[..16]),
            reference: r.whole(),
            digest: format!("sha256:{digest}"),
            config: nullspace_host::image::oci::ImageConfig {
                env: [("IMAGE_ENV".to_owned(), r.repository().to_owned())].into(),
                workdir: Some("/app".into()),
                user: None,
            },
        })
    }

    async fn create(&self, id: MachineId, template: &str, egress: Egress) -> NodeResult<()> {
        tokio::time::sleep(self.delay).await;
        if template == "broken" {
            return Err(NodeError::new(
                Code::MachineDied,
                format!("machine {id} died: restored guest did not answer: kernel panic"),
            ));
        }
        self.egress.lock().expect("lock").insert(id.clone(), egress);
        self.machines.lock().expect("lock").insert(id);
        Ok(())
    }

    async fn create_from_snapshot(
        &self,
        id: MachineId,
        snapshot: &SnapshotId,
        egress: Egress,
    ) -> NodeResult<()> {
        let files = self
            .snapshots
            .lock()
            .expect("lock")
            .get(snapshot)
            .cloned()
            .ok_or_else(|| snapshot_not_found(snapshot))?;
        self.egress.lock().expect("lock").insert(id.clone(), egress);
        self.start_with(&id, files);
        Ok(())
    }

    async fn fork(&self, id: &MachineId, children: Vec<MachineId>) -> NodeResult<u64> {
        self.check(id)?;
        let files = self.files_of(id);
        let egress = self.egress_of(id).unwrap_or_default();
        for c in &children {
            self.egress
                .lock()
                .expect("lock")
                .insert(c.clone(), egress.clone());
            self.start_with(c, files.clone());
        }
        Ok(0)
    }

    async fn snapshot(&self, id: &MachineId, snapshot: SnapshotId) -> NodeResult<SnapshotFacts> {
        self.check(id)?;
        let files = self.files_of(id);
        let size_bytes = files.values().map(|d| d.len() as u64).sum();
        self.snapshots.lock().expect("lock").insert(snapshot, files);
        Ok(SnapshotFacts {
            size_bytes,
            stall_ms: 0,
        })
    }

    async fn delete_snapshot(&self, snapshot: &SnapshotId) -> NodeResult<()> {
        self.snapshots
            .lock()
            .expect("lock")
            .remove(snapshot)
            .map(drop)
            .ok_or_else(|| snapshot_not_found(snapshot))
    }

    async fn metrics(&self, id: &MachineId) -> NodeResult<Metrics> {
        self.check(id)?;
        let used: u64 = self.files_of(id).values().map(|d| d.len() as u64).sum();
        Ok(Metrics {
            cpu_count: 1,
            cpu_used_pct: 0.0,
            mem_total_bytes: 512 << 20,
            mem_used_bytes: 64 << 20,
            disk_total_bytes: 4 << 30,
            disk_used_bytes: used,
        })
    }

    async fn recover_paused(&self, _id: &MachineId) -> bool {
        false
    }

    async fn pause(&self, id: &MachineId) -> NodeResult<()> {
        tokio::time::sleep(self.delay).await;
        self.check(id)
    }

    async fn resume(&self, id: &MachineId) -> NodeResult<()> {
        tokio::time::sleep(self.delay).await;
        self.check(id)
    }

    async fn kill(&self, id: &MachineId) -> NodeResult<()> {
        self.machines.lock().expect("lock").remove(id);
        self.procs.forget(id);
        Ok(())
    }

    async fn exec(
        &self,
        id: &MachineId,
        req: Command,
        stdin: Option<Vec<u8>>,
    ) -> NodeResult<CommandOutput> {
        self.check(id)?;
        let text = command_text(&req);
        let partial = || Partial {
            stdout: text.clone().into_bytes(),
            stderr: Vec::new(),
        };
        if text.starts_with("timeout ") {
            let after = Duration::from_millis(req.timeout_ms.unwrap_or(0));
            let message = format!("command timed out after {after:?} and was killed");
            return Err(NodeError::new(Code::CommandTimeout, message).with_partial(partial()));
        }
        if text.starts_with("flood ") {
            let message = format!(
                "command output exceeded {} bytes; the command was killed",
                text.len()
            );
            return Err(NodeError::new(Code::OutputLimit, message).with_partial(partial()));
        }
        let exit_code = exit_code(&text);
        let mut stdout = text.into_bytes();
        stdout.extend(stdin.unwrap_or_default());
        Ok(CommandOutput {
            stdout,
            stderr: Vec::new(),
            exit: Exit {
                exit_code: Some(exit_code),
                signal: None,
                timed_out: false,
                duration_ms: 0,
            },
        })
    }

    async fn read_file(&self, id: &MachineId, read: FileRead) -> NodeResult<Download> {
        self.check(id)?;
        allowed(read.user.as_deref(), &read.path)?;
        if read.path.starts_with("/cut/") {
            // A read that breaks off after its first bytes.
            let broke = NodeError::new(Code::Unavailable, "the read broke off");
            let parts = [Ok(Bytes::from(vec![1u8; 64 << 10])), Err(broke)];
            return Ok(Box::pin(futures_util::stream::iter(parts)));
        }
        if read.path == "/dev/zero" {
            // Endless unless limited, made as it is read.
            let chunk = Bytes::from(vec![0u8; 64 << 10]);
            let mut left = read.limit.unwrap_or(u64::MAX);
            let zeros = futures_util::stream::iter(std::iter::from_fn(move || {
                let n = left.min(chunk.len() as u64) as usize;
                left -= n as u64;
                (n > 0).then(|| Ok(chunk.slice(..n)))
            }));
            return Ok(Box::pin(zeros));
        }
        let data = self
            .files
            .lock()
            .expect("lock")
            .get(&(id.clone(), read.path.clone()))
            .cloned()
            .ok_or_else(|| NodeError::new(Code::NotFound, read.path))?;
        let start = (read.offset as usize).min(data.len());
        let limit = read.limit.unwrap_or(u64::MAX).min(usize::MAX as u64) as usize;
        let end = start.saturating_add(limit).min(data.len());
        let bytes = Bytes::from(data[start..end].to_vec());
        Ok(Box::pin(futures_util::stream::iter([Ok(bytes)])))
    }

    async fn write_file(
        &self,
        id: &MachineId,
        write: FileWrite,
        mut body: Upload,
    ) -> NodeResult<Entry> {
        self.check(id)?;
        let path = write.path;
        if path.starts_with(RESERVED_DIR) {
            return Err(NodeError::new(Code::ReservedPath, path));
        }
        allowed(write.user.as_deref(), &path)?;
        let mut data = match write.offset {
            Some(_) => self
                .files
                .lock()
                .expect("lock")
                .get(&(id.clone(), path.clone()))
                .cloned()
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let mut at = write.offset.map(|o| o as usize);
        while let Some(chunk) = body.next().await {
            if let Some(pos) = at.as_mut() {
                let chunk = chunk.map_err(|why| {
                    NodeError::new(Code::InputAborted, format!("input aborted: {why}"))
                })?;
                if data.len() < *pos + chunk.len() {
                    data.resize(*pos + chunk.len(), 0);
                }
                data[*pos..*pos + chunk.len()].copy_from_slice(&chunk);
                *pos += chunk.len();
                continue;
            }
            data.extend_from_slice(&chunk.map_err(|why| {
                NodeError::new(Code::InputAborted, format!("input aborted: {why}"))
            })?);
        }
        if path.starts_with("/full/") {
            return Err(NodeError::new(
                Code::NoSpace,
                "write: No space left on device",
            ));
        }
        let e = entry(&path, data.len());
        self.files
            .lock()
            .expect("lock")
            .insert((id.clone(), path), data);
        Ok(e)
    }

    async fn process_start(&self, id: &MachineId, spec: ProcessSpec) -> NodeResult<Process> {
        self.check(id)?;
        let p = self.procs.start(id, spec)?;
        self.report_end(id, &p).await;
        Ok(p)
    }

    async fn process_list(&self, id: &MachineId) -> NodeResult<Vec<Process>> {
        self.check(id)?;
        Ok(self.procs.list(id))
    }

    async fn process_attach(
        &self,
        id: &MachineId,
        attach: AttachRequest,
    ) -> NodeResult<AttachStream> {
        self.check(id)?;
        let events = self.procs.attach(id, &attach)?;
        Ok(Box::pin(futures_util::stream::iter(
            events.into_iter().map(Ok),
        )))
    }

    async fn process_input(
        &self,
        id: &MachineId,
        process: ProcessRef,
        data: Vec<u8>,
        close: bool,
    ) -> NodeResult<()> {
        self.check(id)?;
        self.procs.input(id, &process, &data, close)
    }

    async fn process_signal(
        &self,
        id: &MachineId,
        process: ProcessRef,
        signal: i32,
    ) -> NodeResult<()> {
        self.check(id)?;
        let p = self.procs.signal(id, &process, signal)?;
        self.report_end(id, &p).await;
        Ok(())
    }

    async fn process_resize(
        &self,
        id: &MachineId,
        process: ProcessRef,
        size: TermSize,
    ) -> NodeResult<()> {
        self.check(id)?;
        self.procs.resize(id, &process, size)
    }

    async fn file_op(&self, id: &MachineId, op: FileOp) -> NodeResult<FileAnswer> {
        self.check(id)?;
        if let FileOp::Remove { path, user, .. } | FileOp::Chmod { path, user, .. } = &op {
            allowed(user.as_deref(), path)?;
        }
        if let FileOp::Remove { path, .. } = &op {
            let mut all = self.files.lock().expect("lock");
            let below = format!("{path}/");
            all.retain(|(m, p), _| m != id || (p != path && !p.starts_with(&below)));
            return Ok(FileAnswer::Done);
        }
        if let FileOp::Rename { from, to, user, .. } = op {
            allowed(user.as_deref(), &from)?;
            allowed(user.as_deref(), &to)?;
            let mut all = self.files.lock().expect("lock");
            let data = all
                .remove(&(id.clone(), from.clone()))
                .ok_or_else(|| NodeError::new(Code::NotFound, from))?;
            let e = entry(&to, data.len());
            all.insert((id.clone(), to), data);
            return Ok(FileAnswer::Entry(e));
        }
        if matches!(
            op,
            FileOp::Search { .. }
                | FileOp::Find { .. }
                | FileOp::Replace { .. }
                | FileOp::Digest { .. }
        ) {
            let mut mine: fake_tree::Files = self.files_of(id);
            let answer = fake_tree::answer(&mut mine, &op, entry).expect("a tree call");
            if matches!(op, FileOp::Replace { dry_run: false, .. }) && answer.is_ok() {
                let mut all = self.files.lock().expect("lock");
                for (p, d) in mine {
                    all.insert((id.clone(), p), d);
                }
            }
            return answer;
        }
        let files = self.files.lock().expect("lock");
        let get = |p: &str| {
            files
                .get(&(id.clone(), p.to_owned()))
                .map(|d| entry(p, d.len()))
        };
        Ok(match op {
            FileOp::Exists { path, .. } => FileAnswer::Exists(get(&path).is_some()),
            FileOp::Stat { path, .. } => {
                FileAnswer::Entry(get(&path).ok_or_else(|| NodeError::new(Code::NotFound, path))?)
            }
            FileOp::List { path, .. } => FileAnswer::Entries(
                files
                    .iter()
                    .filter(|((m, p), _)| m == id && p.starts_with(&format!("{path}/")))
                    .map(|((_, p), d)| entry(p, d.len()))
                    .collect(),
            ),
            FileOp::Mkdir { .. } => FileAnswer::Created(true),
            FileOp::Chmod { .. } => FileAnswer::Done,
            other => {
                return Err(NodeError::new(
                    Code::InvalidArgument,
                    format!("fake node cannot {other:?}"),
                ))
            }
        })
    }

    async fn extract_archive(
        &self,
        id: &MachineId,
        spec: ArchiveSpec,
        body: Option<Upload>,
    ) -> NodeResult<ArchiveFacts> {
        self.check(id)?;
        allowed(spec.user.as_deref(), &spec.path)?;
        let body = match (body, spec.source) {
            (Some(b), _) => b,
            (None, Some(src)) => {
                let data = self
                    .files
                    .lock()
                    .expect("lock")
                    .get(&(id.clone(), src.clone()))
                    .cloned()
                    .ok_or_else(|| NodeError::new(Code::NotFound, src))?;
                Box::pin(futures_util::stream::iter([Ok(Bytes::from(data))]))
            }
            (None, None) => return Err(NodeError::new(Code::InvalidArgument, "no archive")),
        };
        fake_tree::extract(&self.files, id, &spec.path, spec.conflict, body).await
    }

    async fn read_archive(
        &self,
        id: &MachineId,
        path: String,
        user: Option<String>,
    ) -> NodeResult<Download> {
        self.check(id)?;
        allowed(user.as_deref(), &path)?;
        let tar = fake_tree::archive(&self.files_of(id), &path)?;
        Ok(Box::pin(futures_util::stream::iter([Ok(Bytes::from(tar))])))
    }

    async fn watch(
        &self,
        id: &MachineId,
        path: String,
        user: Option<String>,
        _recursive: bool,
    ) -> NodeResult<WatchStream> {
        self.check(id)?;
        allowed(user.as_deref(), &path)?;
        let is_dir = path == "/workspace"
            || self
                .files_of(id)
                .keys()
                .any(|p| p.starts_with(&format!("{path}/")));
        if !is_dir {
            return Err(NodeError::new(
                Code::NotFound,
                format!("watch {path}: no such directory"),
            ));
        }
        Ok(Box::pin(futures_util::stream::pending()))
    }

    async fn adopt(&self, id: &MachineId) -> NodeResult<()> {
        Err(not_found(id))
    }

    async fn discard(&self, id: &MachineId, _keep_files: bool) {
        self.machines.lock().expect("lock").remove(id);
    }

    async fn connect_port(&self, id: &MachineId, port: u16) -> NodeResult<super::PortStream> {
        if !self.is_alive(id) {
            return Err(not_found(id));
        }
        let addr = self
            .ports
            .lock()
            .expect("lock")
            .get(&(id.clone(), port))
            .copied();
        let refused =
            || NodeError::new(Code::PortClosed, format!("port {port}: connection refused"));
        let addr = addr.ok_or_else(refused)?;
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|_| refused())?;
        Ok(Box::new(stream))
    }

    fn is_alive(&self, id: &MachineId) -> bool {
        self.machines.lock().expect("lock").contains(id)
    }

    fn detach(&self) {}

    fn subscribe(&self) -> tokio::sync::mpsc::Receiver<NodeEvent> {
        let (tx, rx) = tokio::sync::mpsc::channel(super::EVENT_QUEUE);
        self.subscribers.lock().expect("lock").push(tx);
        rx
    }

    async fn shutdown(&self) {
        self.machines.lock().expect("lock").clear();
    }
}

/// What a fake command runs: its shell line, the script of `bash -c SCRIPT`, or
/// its argv joined.
pub(super) fn command_text(c: &Command) -> String {
    match (&c.shell, c.argv.as_slice()) {
        (Some(s), _) => s.clone(),
        (None, [sh, flag, script]) if sh.ends_with("sh") && flag == "-c" => script.clone(),
        (None, argv) => argv.join(" "),
    }
}

/// A fake command `exit N` exits N; every other one exits 0.
pub(super) fn exit_code(text: &str) -> i32 {
    text.strip_prefix("exit ")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
