//! Messages carried in frame headers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::error::{ErrorCode, GuestError};
use crate::fs::{
    ArchiveFacts, Digest, ExtractRequest, FindRequest, FindResult, FsEvent, ReplaceRequest,
    ReplaceResult, Scope, SearchRequest, WatchRequest,
};
use crate::process::{
    AttachEnd, ProcessAttach, ProcessInfo, ProcessStart, PtySize, Selector, StreamKind,
};

/// Host-chosen id of one call; every frame about that call carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub u64);

/// A frame sent by the host to the guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostMsg {
    /// Start a call.
    Call {
        /// Id of the new call (unique among calls in flight).
        id: CallId,
        /// What to do.
        op: Op,
    },
    /// Bytes for a call: stdin of `exec`, content of `write_file`.
    Input {
        /// The call the bytes belong to.
        id: CallId,
    },
    /// End of input: closes stdin of `exec`, commits `write_file`.
    InputEnd {
        /// The call whose input ends.
        id: CallId,
    },
    /// Send a signal to the process group of a running `exec`.
    Signal {
        /// The `exec` call.
        id: CallId,
        /// Signal number (e.g. 9 for SIGKILL).
        signal: i32,
    },
    /// Abandon a call: its input ends without being committed (a `write_file`
    /// leaves nothing behind) and the process group of an `exec` gets SIGKILL.
    Cancel {
        /// The call to abandon.
        id: CallId,
    },
    /// The host consumed `bytes` of the call's data frames: the guest may send
    /// that many more (protocol 2 flow control).
    Credit {
        /// The call.
        id: CallId,
        /// Bytes consumed.
        bytes: u64,
    },
}

/// Fresh identity for a guest restored from a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// New hostname.
    pub hostname: String,
    /// Host wall-clock time, nanoseconds since the Unix epoch.
    pub unix_time_ns: u64,
    /// Random bytes mixed into (and credited to) the guest kernel's entropy pool.
    pub seed: Vec<u8>,
}

/// A call's operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// First call on a new connection; refreshes identity if one is given.
    Hello {
        /// Identity to take (after a restore), or none to keep the current one.
        identity: Option<Identity>,
        /// Protocol version the host speaks (absent: 1, no flow control).
        #[serde(default)]
        protocol: u32,
    },
    /// Liveness and facts about the guest.
    Health,
    /// CPU, memory and disk use (CPU sampled over `sample_ms`).
    Metrics {
        /// Length of the CPU sample in milliseconds (at most 1000).
        #[serde(default)]
        sample_ms: u64,
    },
    /// Run a process.
    Exec(ExecRequest),
    /// Read a file; its bytes come as `data` frames.
    ReadFile {
        /// Absolute path, or relative to `/workspace`.
        path: String,
        /// Confine `path` to this directory (no escape by `..` or symlinks).
        root: Option<String>,
        /// Guest user whose file-system rights the operation has (`None`: root).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// Byte offset to start at.
        #[serde(default)]
        offset: u64,
        /// Most bytes to read.
        limit: Option<u64>,
    },
    /// Write a file atomically from the call's `input` frames, committed on `input_end`
    /// (in place, not atomically, when the user may write the file but not create
    /// files in its directory). Symlinks are followed; the answer describes the target.
    WriteFile {
        /// Absolute path, or relative to `/workspace`.
        path: String,
        /// Confine `path` to this directory.
        root: Option<String>,
        /// Guest user whose file-system rights the operation has (`None`: root).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// Permission bits (default 0644, or the existing file's).
        mode: Option<u32>,
        /// Owner user name (default: root, or the existing file's owner). Only root
        /// may name another user; a user's files are its own.
        owner: Option<String>,
        /// Create missing parent directories (owned like the file).
        #[serde(default)]
        create_parents: bool,
        /// Append to the file instead of replacing it.
        #[serde(default)]
        append: bool,
        /// Write in place at this byte offset, keeping the rest of the file (and
        /// creating it if missing): one chunk of a resumable upload (protocol 4).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
    },
    /// List a directory down to `depth` levels (1 = its direct entries).
    List {
        /// Directory path.
        path: String,
        /// Confine `path` to this directory.
        root: Option<String>,
        /// Guest user whose file-system rights the operation has (`None`: root).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// Levels to descend; at least 1.
        depth: u32,
    },
    /// Facts about one entry (symlinks are not followed).
    Stat {
        /// Entry path.
        path: String,
        /// Confine `path` to this directory.
        root: Option<String>,
        /// Guest user whose file-system rights the operation has (`None`: root).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// Whether an entry exists.
    Exists {
        /// Entry path.
        path: String,
        /// Confine `path` to this directory.
        root: Option<String>,
        /// Guest user whose file-system rights the operation has (`None`: root).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// Create a directory and its missing parents.
    Mkdir {
        /// Directory path.
        path: String,
        /// Confine `path` to this directory.
        root: Option<String>,
        /// Guest user whose file-system rights the operation has (`None`: root).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// Permission bits (default 0755).
        mode: Option<u32>,
        /// Owner user name of the created directories (only root may name another user).
        owner: Option<String>,
    },
    /// Remove an entry; directories need `recursive` unless empty.
    Remove {
        /// Entry path.
        path: String,
        /// Confine `path` to this directory.
        root: Option<String>,
        /// Guest user whose file-system rights the operation has (`None`: root).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// Remove directories with their contents.
        #[serde(default)]
        recursive: bool,
    },
    /// Rename (move) an entry.
    Rename {
        /// Current path.
        from: String,
        /// New path.
        to: String,
        /// Confine both paths to this directory.
        root: Option<String>,
        /// Guest user whose file-system rights the operation has (`None`: root).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// Change permission bits.
    Chmod {
        /// Entry path.
        path: String,
        /// Confine `path` to this directory.
        root: Option<String>,
        /// Guest user whose file-system rights the operation has (`None`: root).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// New permission bits.
        mode: u32,
    },
    /// Start a process in the process table; it outlives the call and any host
    /// connection.
    ProcessStart(ProcessStart),
    /// Every process of the table (running, and the exited ones still kept).
    ProcessList,
    /// Send a process's kept output, and with `follow` its output as it arrives.
    ProcessAttach(ProcessAttach),
    /// Write the call's `input` frames to a process's stdin (or terminal).
    ProcessInput {
        /// The process.
        process: Selector,
        /// Close its stdin once the input has been written.
        #[serde(default)]
        close: bool,
    },
    /// Send a signal to a process's group.
    ProcessSignal {
        /// The process.
        process: Selector,
        /// Signal number.
        signal: i32,
    },
    /// Resize a PTY process's terminal.
    ProcessResize {
        /// The process.
        process: Selector,
        /// The new size.
        size: PtySize,
    },
    /// Wait for a process to end; answers its facts once it has (at once if it
    /// already had). Like an attach, it ends when a new host connects.
    ProcessWait {
        /// The process.
        process: Selector,
    },
    /// Entries below a directory whose names match a glob.
    SearchFiles(SearchRequest),
    /// Lines of files that match a literal or a regular expression.
    FindInFiles(FindRequest),
    /// Replace matches in files, atomically per file.
    ReplaceInFiles(ReplaceRequest),
    /// Report changes below a directory as `fs_event` frames until cancelled.
    WatchDir(WatchRequest),
    /// Unpack a tar stream into a directory.
    ExtractArchive(ExtractRequest),
    /// Send a directory's contents as a tar stream in `data` frames.
    CreateArchive(Scope),
    /// SHA-256 of a file.
    DigestFile(Scope),
}

impl Op {
    /// The operation's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Hello { .. } => "hello",
            Op::Health => "health",
            Op::Metrics { .. } => "metrics",
            Op::Exec(_) => "exec",
            Op::ReadFile { .. } => "read_file",
            Op::WriteFile { .. } => "write_file",
            Op::List { .. } => "list",
            Op::Stat { .. } => "stat",
            Op::Exists { .. } => "exists",
            Op::Mkdir { .. } => "mkdir",
            Op::Remove { .. } => "remove",
            Op::Rename { .. } => "rename",
            Op::Chmod { .. } => "chmod",
            Op::ProcessStart(_) => "process_start",
            Op::ProcessList => "process_list",
            Op::ProcessAttach(_) => "process_attach",
            Op::ProcessInput { .. } => "process_input",
            Op::ProcessSignal { .. } => "process_signal",
            Op::ProcessResize { .. } => "process_resize",
            Op::ProcessWait { .. } => "process_wait",
            Op::SearchFiles(_) => "search_files",
            Op::FindInFiles(_) => "find_in_files",
            Op::ReplaceInFiles(_) => "replace_in_files",
            Op::WatchDir(_) => "watch_dir",
            Op::ExtractArchive(_) => "extract_archive",
            Op::CreateArchive(_) => "create_archive",
            Op::DigestFile(_) => "digest_file",
        }
    }

    /// The protocol version that introduced the operation.
    pub fn since(&self) -> u32 {
        match self {
            Op::ProcessStart(_)
            | Op::ProcessList
            | Op::ProcessAttach(_)
            | Op::ProcessInput { .. }
            | Op::ProcessSignal { .. }
            | Op::ProcessResize { .. } => 2,
            Op::ProcessWait { .. } => 3,
            Op::SearchFiles(_)
            | Op::FindInFiles(_)
            | Op::ReplaceInFiles(_)
            | Op::WatchDir(_)
            | Op::ExtractArchive(_)
            | Op::CreateArchive(_)
            | Op::DigestFile(_)
            | Op::WriteFile {
                offset: Some(_), ..
            } => 4,
            _ => 1,
        }
    }
}

/// How to run a process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// Program and arguments; the program is looked up in `PATH`. Exclusive with `shell`.
    #[serde(default)]
    pub argv: Vec<String>,
    /// A command line run by `/bin/bash -c`. Exclusive with `argv`.
    pub shell: Option<String>,
    /// Extra environment variables (over a clean login-like environment).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory (default: the user's home, or `/` if it has none).
    pub cwd: Option<String>,
    /// User to run as (default `root`).
    pub user: Option<String>,
    /// Kill the process group after this many milliseconds.
    pub timeout_ms: Option<u64>,
    /// Keep stdin open for `input` frames; otherwise stdin is `/dev/null`.
    #[serde(default)]
    pub stdin: bool,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResult {
    /// Exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Signal that ended it, if one did.
    pub signal: Option<i32>,
    /// Whether it was killed because its timeout expired.
    pub timed_out: bool,
    /// Wall time from spawn to exit in the guest.
    pub duration_ms: u64,
}

/// Kind of a filesystem entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Anything else (device, socket, fifo).
    Other,
}

/// Facts about a filesystem entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInfo {
    /// Last path component.
    pub name: String,
    /// Absolute path.
    pub path: String,
    /// Entry kind.
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (e.g. 0o644).
    pub mode: u32,
    /// Owner user name (or uid as text).
    pub owner: String,
    /// Owner group name (or gid as text).
    pub group: String,
    /// Modification time, milliseconds since the Unix epoch.
    pub modified_ms: i64,
    /// Target of a symlink.
    pub symlink_target: Option<String>,
}

/// An owner given as a user name.
pub type Owner = String;

/// Facts about the guest and its agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestInfo {
    /// guestd version.
    pub version: String,
    /// Protocol version.
    pub protocol: u32,
    /// Current hostname.
    pub hostname: String,
    /// Kernel release.
    pub kernel: String,
    /// Guest uptime (monotonic, includes time before a snapshot).
    pub uptime_ms: u64,
    /// Guest wall clock, milliseconds since the Unix epoch.
    pub time_unix_ms: i64,
    /// How many identities this guest has taken since boot.
    pub identity_generation: u64,
    /// Services and features beyond protocol 1 (`process`, `pty`, `credit`).
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// Resource use inside the guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestMetrics {
    /// Online vCPUs.
    pub cpu_count: u32,
    /// CPU busy over the sample, percent of all vCPUs.
    pub cpu_used_pct: f64,
    /// `MemTotal`, bytes.
    pub mem_total_bytes: u64,
    /// `MemTotal - MemAvailable`, bytes.
    pub mem_used_bytes: u64,
    /// Size of the root filesystem, bytes.
    pub disk_total_bytes: u64,
    /// Used bytes of the root filesystem.
    pub disk_used_bytes: u64,
}

/// What a finished call returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum OpResult {
    /// For `hello` and `health`.
    Info(GuestInfo),
    /// For `metrics`.
    Metrics(GuestMetrics),
    /// For `exec`.
    Exec(ExecResult),
    /// For `list`.
    Entries(Vec<EntryInfo>),
    /// For `stat`, `write_file`, `rename`.
    Entry(EntryInfo),
    /// For `exists`.
    Exists(bool),
    /// For `mkdir`: whether the directory was created (false if it existed).
    Created(bool),
    /// For `read_file`: bytes sent.
    Read {
        /// Number of bytes sent in `data` frames.
        size: u64,
    },
    /// For operations with nothing to return.
    Unit,
    /// For `process_start`.
    Process(ProcessInfo),
    /// For `process_list`, sorted by pid.
    Processes(Vec<ProcessInfo>),
    /// For `process_attach`.
    Attached(AttachEnd),
    /// For `search_files`.
    Search {
        /// The matching entries.
        entries: Vec<EntryInfo>,
        /// More entries matched than were answered.
        truncated: bool,
    },
    /// For `find_in_files`.
    Found(FindResult),
    /// For `replace_in_files`.
    Replaced(ReplaceResult),
    /// For `extract_archive`.
    Extracted(ArchiveFacts),
    /// For `digest_file`.
    Digest(Digest),
}

/// A frame sent by the guest to the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GuestMsg {
    /// An `exec` process was spawned.
    Started {
        /// The call.
        id: CallId,
        /// Guest pid of the process.
        pid: u32,
    },
    /// Bytes the process wrote to stdout.
    Stdout {
        /// The call.
        id: CallId,
    },
    /// Bytes the process wrote to stderr.
    Stderr {
        /// The call.
        id: CallId,
    },
    /// File bytes of a `read_file`.
    Data {
        /// The call.
        id: CallId,
    },
    /// The call succeeded; last frame of the call.
    Done {
        /// The call.
        id: CallId,
        /// Its result.
        result: OpResult,
    },
    /// The call failed; last frame of the call.
    Failed {
        /// The call.
        id: CallId,
        /// Why.
        error: GuestError,
    },
    /// The guest consumed `bytes` of the call's input: the host may send that
    /// many more (protocol 2 flow control).
    Credit {
        /// The call.
        id: CallId,
        /// Bytes consumed.
        bytes: u64,
    },
    /// Output a `process_attach` could not send: it was dropped from the
    /// process's ring buffer before the reader got to it.
    Gap {
        /// The call.
        id: CallId,
        /// The stream.
        stream: StreamKind,
        /// Bytes skipped.
        bytes: u64,
    },
    /// A `watch_dir` is in place: changes from now on are reported.
    Ready {
        /// The call.
        id: CallId,
    },
    /// A change seen by a `watch_dir`.
    FsEvent {
        /// The call.
        id: CallId,
        /// The change.
        event: FsEvent,
    },
}

impl GuestMsg {
    /// The call this frame belongs to.
    pub fn id(&self) -> CallId {
        match self {
            GuestMsg::Started { id, .. }
            | GuestMsg::Stdout { id }
            | GuestMsg::Stderr { id }
            | GuestMsg::Data { id }
            | GuestMsg::Done { id, .. }
            | GuestMsg::Failed { id, .. }
            | GuestMsg::Credit { id, .. }
            | GuestMsg::Gap { id, .. }
            | GuestMsg::Ready { id }
            | GuestMsg::FsEvent { id, .. } => *id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes_are_stable() {
        let call = HostMsg::Call {
            id: CallId(3),
            op: Op::Exists {
                user: None,
                path: "/tmp".into(),
                root: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&call).unwrap(),
            r#"{"type":"call","id":3,"op":{"op":"exists","path":"/tmp","root":null}}"#
        );
        let done = GuestMsg::Done {
            id: CallId(3),
            result: OpResult::Exists(true),
        };
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"type":"done","id":3,"result":{"kind":"exists","value":true}}"#
        );
        let failed: GuestMsg = serde_json::from_str(
            r#"{"type":"failed","id":1,"error":{"code":"reserved_path","message":"x"}}"#,
        )
        .unwrap();
        assert_eq!(failed.id(), CallId(1));
    }

    #[test]
    fn exec_request_defaults() {
        let op: Op = serde_json::from_str(r#"{"op":"exec","shell":"true"}"#).unwrap();
        let Op::Exec(req) = op else { panic!() };
        assert_eq!(req.shell.as_deref(), Some("true"));
        assert!(req.argv.is_empty() && !req.stdin && req.env.is_empty());
    }

    #[test]
    fn error_codes_match_serde() {
        for code in [
            ErrorCode::NotFound,
            ErrorCode::PathEscapesRoot,
            ErrorCode::Io,
            ErrorCode::Unsupported,
            ErrorCode::ProcessNotFound,
            ErrorCode::NotAPty,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
