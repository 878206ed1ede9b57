//! What the control plane needs from a host: the [`Node`] trait.
//!
//! The server never touches VMs itself; it asks a node. [`HostNode`] is the
//! in-process runtime of a single-host appliance; [`FakeNode`] does nothing but
//! remember files, for fast tests of the HTTP layer (it never counts as the
//! feature); a remote node can implement the same trait later.

mod error;
mod fake;
mod fake_procs;
mod fake_tree;
mod host;
mod ports;
mod process;
mod tree;
mod types;

use async_trait::async_trait;
use nullspace_types::{Egress, MachineId, SnapshotId};

pub use error::{NodeError, NodeErrorCode, NodeResult};
pub use fake::FakeNode;
pub use host::{HostNode, ImageSource};
pub use ports::{PortIo, PortStream};
pub use process::{
    AttachEnd, AttachEvent, AttachRequest, AttachStream, OutputStream, Process, ProcessRef,
    ProcessSpec, StreamFacts, TermSize,
};
pub use tree::{
    ArchiveFacts, ArchiveSpec, Conflict, FileReplaced, FsEvent, FsEventKind, LineMatch, TextQuery,
    WatchStream,
};
pub use types::{
    Command, CommandOutput, Download, Entry, EntryKind, Exit, FileAnswer, FileOp, FileRead,
    FileWrite, ImageImport, ImportedImage, Metrics, Partial, SnapshotFacts, TemplateShape, Upload,
    RESERVED_DIR,
};

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
    /// A process of a machine's process table ended.
    ProcessExited {
        /// The machine.
        id: MachineId,
        /// The process's guest pid.
        pid: u32,
        /// Its tag, if it had one.
        tag: Option<String>,
        /// How it ended.
        exit: Exit,
    },
}

/// A host that runs machines.
#[async_trait]
pub trait Node: Send + Sync {
    /// The shape of template `name`, if this node has it.
    fn template(&self, name: &str) -> Option<TemplateShape>;
    /// Pull an OCI image and boot it once as a node template machines and builds
    /// can be created from (cached by the image's digest).
    async fn import_image(&self, image: ImageImport) -> NodeResult<ImportedImage>;
    /// Create machine `id` from template `name`, its outbound policy `egress`
    /// in place before the guest runs.
    async fn create(&self, id: MachineId, template: &str, egress: Egress) -> NodeResult<()>;
    /// Create machine `id` from snapshot `snapshot` (files checked first) with
    /// outbound policy `egress`.
    async fn create_from_snapshot(
        &self,
        id: MachineId,
        snapshot: &SnapshotId,
        egress: Egress,
    ) -> NodeResult<()>;
    /// Fork running machine `id` into `children` (all start or none, each with
    /// the source's outbound policy); returns how long the source was stopped (ms).
    async fn fork(&self, id: &MachineId, children: Vec<MachineId>) -> NodeResult<u64>;
    /// Snapshot running machine `id` as `snapshot` (it keeps running).
    async fn snapshot(&self, id: &MachineId, snapshot: SnapshotId) -> NodeResult<SnapshotFacts>;
    /// Delete a snapshot's files (refused while machines use it).
    async fn delete_snapshot(&self, snapshot: &SnapshotId) -> NodeResult<()>;
    /// CPU, memory and disk use inside a running machine.
    async fn metrics(&self, id: &MachineId) -> NodeResult<Metrics>;
    /// After a crash mid-pause or mid-resume: keep the machine paused if its saved
    /// state is intact (true), else false.
    async fn recover_paused(&self, id: &MachineId) -> bool;
    /// Pause a running machine (saved to disk, no VMM while paused).
    async fn pause(&self, id: &MachineId) -> NodeResult<()>;
    /// Resume a paused machine (with the outbound policy it had).
    async fn resume(&self, id: &MachineId) -> NodeResult<()>;
    /// Destroy a machine, whatever is left of it (nothing of it may remain).
    async fn kill(&self, id: &MachineId) -> NodeResult<()>;
    /// Run a command and collect its output.
    async fn exec(
        &self,
        id: &MachineId,
        req: Command,
        stdin: Option<Vec<u8>>,
    ) -> NodeResult<CommandOutput>;
    /// Read (part of) a file as its bytes arrive; an error found before the first
    /// byte (no such file, no rights) is the call's own.
    async fn read_file(&self, id: &MachineId, read: FileRead) -> NodeResult<Download>;
    /// Write a file atomically from an upload as it arrives.
    async fn write_file(&self, id: &MachineId, write: FileWrite, body: Upload)
        -> NodeResult<Entry>;
    /// Any other file operation.
    async fn file_op(&self, id: &MachineId, op: FileOp) -> NodeResult<FileAnswer>;
    /// Unpack a tar archive (from `body`, or from `spec.source` in the guest)
    /// into a directory as it arrives.
    async fn extract_archive(
        &self,
        id: &MachineId,
        spec: ArchiveSpec,
        body: Option<Upload>,
    ) -> NodeResult<ArchiveFacts>;
    /// A directory's contents as a tar stream; an error found before the first
    /// byte (no such directory, no rights) is the call's own.
    async fn read_archive(
        &self,
        id: &MachineId,
        path: String,
        user: Option<String>,
    ) -> NodeResult<Download>;
    /// Watch a directory; answers once the watch is in place (a missing path
    /// is the call's own error).
    async fn watch(
        &self,
        id: &MachineId,
        path: String,
        user: Option<String>,
        recursive: bool,
    ) -> NodeResult<WatchStream>;
    /// Start a process in the machine's process table (it outlives the call).
    async fn process_start(&self, id: &MachineId, spec: ProcessSpec) -> NodeResult<Process>;
    /// The machine's processes (running and recently exited), by pid.
    async fn process_list(&self, id: &MachineId) -> NodeResult<Vec<Process>>;
    /// Attach to a process's output.
    async fn process_attach(
        &self,
        id: &MachineId,
        attach: AttachRequest,
    ) -> NodeResult<AttachStream>;
    /// Write to a process's stdin (at most a window, 1 MiB), closing it after with `close`.
    async fn process_input(
        &self,
        id: &MachineId,
        process: ProcessRef,
        data: Vec<u8>,
        close: bool,
    ) -> NodeResult<()>;
    /// Signal a process's group.
    async fn process_signal(
        &self,
        id: &MachineId,
        process: ProcessRef,
        signal: i32,
    ) -> NodeResult<()>;
    /// Resize a PTY process's terminal.
    async fn process_resize(
        &self,
        id: &MachineId,
        process: ProcessRef,
        size: TermSize,
    ) -> NodeResult<()>;
    /// A TCP connection to `port` of running machine `id`, made inside its own
    /// network (`PortClosed` if nothing accepts it).
    async fn connect_port(&self, id: &MachineId, port: u16) -> NodeResult<PortStream>;
    /// Take over machine `id` left running by an earlier server.
    async fn adopt(&self, id: &MachineId) -> NodeResult<()>;
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
