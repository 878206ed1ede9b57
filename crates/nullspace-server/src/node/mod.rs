//! What the control plane needs from a host: the [`Node`] trait.
//!
//! The server never touches VMs itself; it asks a node. [`HostNode`] is the
//! in-process runtime of a single-host appliance; [`FakeNode`] does nothing but
//! remember files, for fast tests of the HTTP layer (it never counts as the
//! feature); a remote node can implement the same trait later.

mod fake;
mod fake_procs;
mod host;

use std::pin::Pin;

use async_trait::async_trait;
use axum::body::Bytes;
use futures_util::Stream;
use nullspace_guest_proto::{
    EntryInfo, ExecRequest, GuestMetrics, Op, OpResult, ProcessAttach, ProcessInfo, ProcessStart,
    PtySize, Selector,
};
use nullspace_host::agent::{AttachEvent, ExecOutput};
use nullspace_host::RuntimeError;
use nullspace_types::{MachineId, SnapshotId};

pub use fake::FakeNode;
pub use host::HostNode;

/// Size of the machines a template makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateShape {
    /// vCPUs.
    pub cpu_count: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
}

/// What a node reports about a snapshot it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotFacts {
    /// Bytes on disk.
    pub size_bytes: u64,
    /// How long the source was stopped, ms.
    pub stall_ms: u64,
}

/// A read of (part of) a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRead {
    /// Guest path.
    pub path: String,
    /// Guest user whose rights the read has (`None`: root).
    pub user: Option<String>,
    /// Byte to start at.
    pub offset: u64,
    /// Most bytes to return.
    pub limit: u64,
}

/// A file write: where, as whom, with which mode and owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileWrite {
    /// Guest path (parents are created).
    pub path: String,
    /// Guest user whose rights the write has (`None`: root).
    pub user: Option<String>,
    /// Permission bits.
    pub mode: Option<u32>,
    /// Owner of a file root writes.
    pub owner: Option<String>,
}

/// Bytes of an upload as they arrive; an `Err` (its reason) aborts the write and
/// leaves nothing behind.
pub type Upload = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// Output of a reader attached to a process, as it arrives; dropping it ends the
/// attach (never the process).
pub type AttachStream = Pin<Box<dyn Stream<Item = Result<AttachEvent, RuntimeError>> + Send>>;

/// Node events queued for the server before the node waits.
pub const EVENT_QUEUE: usize = 256;

/// What a node reports by itself, without a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// A machine's VM died by itself; the node released what it held.
    MachineDied {
        /// The machine.
        id: MachineId,
        /// What was seen.
        reason: String,
    },
}

/// A host that runs machines.
#[async_trait]
pub trait Node: Send + Sync {
    /// The shape of template `name`, if this node has it.
    fn template(&self, name: &str) -> Option<TemplateShape>;
    /// Create machine `id` from template `name`; returns the VMM pid.
    async fn create(&self, id: MachineId, template: &str) -> Result<u32, RuntimeError>;
    /// Create machine `id` from snapshot `snapshot` (files checked first); returns the VMM pid.
    async fn create_from_snapshot(
        &self,
        id: MachineId,
        snapshot: &SnapshotId,
    ) -> Result<u32, RuntimeError>;
    /// Fork running machine `id` into `children` (all start or none); returns
    /// their VMM pids and how long the source was stopped (ms).
    async fn fork(
        &self,
        id: &MachineId,
        children: Vec<MachineId>,
    ) -> Result<(Vec<u32>, u64), RuntimeError>;
    /// Snapshot running machine `id` as `snapshot` (it keeps running).
    async fn snapshot(
        &self,
        id: &MachineId,
        snapshot: SnapshotId,
    ) -> Result<SnapshotFacts, RuntimeError>;
    /// Delete a snapshot's files (refused while machines use it).
    async fn delete_snapshot(&self, snapshot: &SnapshotId) -> Result<(), RuntimeError>;
    /// CPU, memory and disk use inside a running machine.
    async fn metrics(&self, id: &MachineId) -> Result<GuestMetrics, RuntimeError>;
    /// After a crash mid-pause or mid-resume: keep the machine paused if its saved
    /// state is intact (true), else false.
    async fn recover_paused(&self, id: &MachineId) -> bool;
    /// Pause a running machine (saved to disk, no VMM while paused).
    async fn pause(&self, id: &MachineId) -> Result<(), RuntimeError>;
    /// Resume a paused machine; returns its VMM pid.
    async fn resume(&self, id: &MachineId) -> Result<u32, RuntimeError>;
    /// Destroy a machine, whatever is left of it (nothing of it may remain).
    async fn kill(&self, id: &MachineId) -> Result<(), RuntimeError>;
    /// Run a command and collect its output.
    async fn exec(
        &self,
        id: &MachineId,
        req: ExecRequest,
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput, RuntimeError>;
    /// Read (part of) a file.
    async fn read_file(&self, id: &MachineId, read: FileRead) -> Result<Vec<u8>, RuntimeError>;
    /// Write a file atomically from an upload as it arrives.
    async fn write_file(
        &self,
        id: &MachineId,
        write: FileWrite,
        body: Upload,
    ) -> Result<EntryInfo, RuntimeError>;
    /// Any other file operation.
    async fn file_op(&self, id: &MachineId, op: Op) -> Result<OpResult, RuntimeError>;
    /// Start a process in the machine's process table (it outlives the call).
    async fn process_start(
        &self,
        id: &MachineId,
        start: ProcessStart,
    ) -> Result<ProcessInfo, RuntimeError>;
    /// The machine's processes (running and recently exited), by pid.
    async fn process_list(&self, id: &MachineId) -> Result<Vec<ProcessInfo>, RuntimeError>;
    /// Attach to a process's output.
    async fn process_attach(
        &self,
        id: &MachineId,
        attach: ProcessAttach,
    ) -> Result<AttachStream, RuntimeError>;
    /// Write to a process's stdin (at most a window, 1 MiB), closing it after with `close`.
    async fn process_input(
        &self,
        id: &MachineId,
        process: Selector,
        data: Vec<u8>,
        close: bool,
    ) -> Result<(), RuntimeError>;
    /// Signal a process's group.
    async fn process_signal(
        &self,
        id: &MachineId,
        process: Selector,
        signal: i32,
    ) -> Result<(), RuntimeError>;
    /// Resize a PTY process's terminal.
    async fn process_resize(
        &self,
        id: &MachineId,
        process: Selector,
        size: PtySize,
    ) -> Result<(), RuntimeError>;
    /// Take over machine `id` left running by an earlier server; returns its VMM pid.
    async fn adopt(&self, id: &MachineId) -> Result<u32, RuntimeError>;
    /// Remove whatever an earlier server left of machine `id`; with `keep_files`
    /// its files (the disk may be the only copy of the user's data) stay until
    /// the machine is killed.
    async fn discard(&self, id: &MachineId, keep_files: bool);
    /// Whether the machine's VM is alive on this node.
    fn is_alive(&self, id: &MachineId) -> bool;
    /// Destroy every machine (server shutdown).
    async fn shutdown(&self);
    /// Leave every machine running for the next server to take over.
    fn detach(&self);
    /// Events the node reports by itself, from now on.
    fn subscribe(&self) -> tokio::sync::mpsc::Receiver<NodeEvent>;
}
