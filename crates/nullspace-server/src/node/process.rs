//! What node calls take and answer about a machine's process table.

use std::pin::Pin;

use futures_util::Stream;

use super::error::NodeError;
use super::types::{Command, Exit};

/// Size of a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// Which process of the table a call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessRef {
    /// By guest process id.
    Pid(u32),
    /// By the tag it was started with.
    Tag(String),
}

/// A process to start in the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSpec {
    /// What to run, as whom, where.
    pub command: Command,
    /// A name to find it by, unique among running processes.
    pub tag: Option<String>,
    /// Run it on a new terminal of this size.
    pub pty: Option<TermSize>,
}

/// Facts about one output stream of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamFacts {
    /// Bytes written so far (the offset of the next byte).
    pub total: u64,
    /// Offset of the oldest byte still kept.
    pub kept_from: u64,
}

/// A process of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Guest process id.
    pub pid: u32,
    /// Its tag.
    pub tag: Option<String>,
    /// Program and arguments as run.
    pub argv: Vec<String>,
    /// The shell command line it was started as.
    pub shell: Option<String>,
    /// Working directory.
    pub cwd: String,
    /// User it runs as.
    pub user: String,
    /// Its terminal.
    pub pty: Option<TermSize>,
    /// Start time, ms since the Unix epoch (guest clock).
    pub started_unix_ms: i64,
    /// Whether its stdin still takes input.
    pub stdin_open: bool,
    /// How it ended; `None` while it runs.
    pub end: Option<Exit>,
    /// Its stdout (a terminal's output).
    pub stdout: StreamFacts,
    /// Its stderr.
    pub stderr: StreamFacts,
}

/// Which output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output (or a terminal's output).
    Stdout,
    /// Standard error.
    Stderr,
}

/// A read of a process's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachRequest {
    /// The process.
    pub process: ProcessRef,
    /// Stdout offset to start at (`None`: the oldest byte kept).
    pub stdout_from: Option<u64>,
    /// Stderr offset to start at.
    pub stderr_from: Option<u64>,
    /// Keep reading until the process ends; otherwise stop once caught up.
    pub follow: bool,
}

/// Where an attach stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachEnd {
    /// Offset of the next stdout byte.
    pub stdout_next: u64,
    /// Offset of the next stderr byte.
    pub stderr_next: u64,
    /// How the process ended, if it has.
    pub end: Option<Exit>,
}

/// What an attached reader receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachEvent {
    /// The process was found; output follows.
    Started {
        /// Its pid.
        pid: u32,
    },
    /// Output bytes.
    Output {
        /// Which stream.
        stream: OutputStream,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Bytes dropped from the process's buffer before they were read.
    Gap {
        /// Which stream.
        stream: OutputStream,
        /// How many.
        bytes: u64,
    },
    /// The attach ended.
    End(AttachEnd),
}

/// Output of a reader attached to a process, as it arrives; dropping it ends the
/// attach (never the process).
pub type AttachStream = Pin<Box<dyn Stream<Item = Result<AttachEvent, NodeError>> + Send>>;
