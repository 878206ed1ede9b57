//! The process table of the process service: processes kept by the guest,
//! which outlive any host connection (background commands and PTY sessions).

use serde::{Deserialize, Serialize};

use crate::msg::{ExecRequest, ExecResult};

/// Bytes of each output stream (stdout, stderr) a process table entry keeps: the
/// newest ones; older bytes are dropped and reported as a gap to readers.
pub const RING_BYTES: usize = 1 << 20;

/// Exited processes the table keeps (with their output) for late readers; the
/// oldest is forgotten first.
pub const MAX_EXITED: usize = 256;

/// Output bytes the exited processes of the table keep between them: past it the
/// oldest exited process is forgotten (the newest one is always kept).
pub const EXITED_BYTES: u64 = 32 << 20;

/// Largest PTY side (columns or rows).
pub const MAX_PTY_SIDE: u16 = 1000;

/// Which process of the table a call is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// By guest process id.
    Pid(u32),
    /// By the tag given at start (running processes first, then the newest).
    Tag(String),
}

/// Size of a pseudo-terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PtySize {
    /// Columns, 1 to [`MAX_PTY_SIDE`].
    pub cols: u16,
    /// Rows, 1 to [`MAX_PTY_SIDE`].
    pub rows: u16,
}

/// `process_start`: run a process in the table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessStart {
    /// What to run, as whom, where (`stdin`: keep stdin open for `process_input`;
    /// `timeout_ms`: kill the process group after this long).
    pub exec: ExecRequest,
    /// A name to find the process by, unique among running processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Run on a new pseudo-terminal of this size (stdin, stdout and stderr are
    /// the terminal; its output is reported as stdout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pty: Option<PtySize>,
}

/// `process_attach`: read a process's output, optionally following it to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessAttach {
    /// The process.
    pub process: Selector,
    /// Stdout offset to start at (absent: the oldest byte kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_from: Option<u64>,
    /// Stderr offset to start at (absent: the oldest byte kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_from: Option<u64>,
    /// Keep sending output as it arrives until the process has ended; otherwise
    /// end once what is kept has been sent.
    #[serde(default)]
    pub follow: bool,
}

/// Facts about one output stream of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// Bytes written so far (the offset of the next byte).
    pub total: u64,
    /// Offset of the oldest byte still kept (bytes before it were dropped).
    pub kept_from: u64,
}

/// A process of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Guest process id (also its process group id).
    pub pid: u32,
    /// Its tag, if it has one.
    pub tag: Option<String>,
    /// Program and arguments as run (for a shell command: the shell's argv).
    pub argv: Vec<String>,
    /// The shell command line, if it was started as one.
    pub shell: Option<String>,
    /// Working directory.
    pub cwd: String,
    /// User it runs as.
    pub user: String,
    /// Its terminal, if it runs on one.
    pub pty: Option<PtySize>,
    /// Start time, milliseconds since the Unix epoch (guest clock).
    pub started_unix_ms: i64,
    /// Whether its stdin (or terminal) still takes input.
    pub stdin_open: bool,
    /// How it ended; absent while it runs.
    pub end: Option<ExecResult>,
    /// Its stdout (a terminal's output, for a PTY process).
    pub stdout: StreamInfo,
    /// Its stderr.
    pub stderr: StreamInfo,
}

impl ProcessInfo {
    /// Whether the process still runs.
    pub fn running(&self) -> bool {
        self.end.is_none()
    }
}

/// Which output stream a frame is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// Standard output (or a terminal's output).
    Stdout,
    /// Standard error.
    Stderr,
}

/// Where a `process_attach` stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachEnd {
    /// Offset of the next stdout byte (to attach again from).
    pub stdout_next: u64,
    /// Offset of the next stderr byte.
    pub stderr_next: u64,
    /// How the process ended, if it has.
    pub end: Option<ExecResult>,
}
