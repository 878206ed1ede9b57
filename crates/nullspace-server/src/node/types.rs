//! What node calls take and answer about machines, commands and files.

use std::collections::BTreeMap;
use std::pin::Pin;

use axum::body::Bytes;
use futures_util::Stream;

use super::tree::{FileReplaced, LineMatch, TextQuery};

/// Directory of every machine that file calls may not write into.
pub const RESERVED_DIR: &str = "/workspace/.nullspace";

/// Size of the machines a template makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateShape {
    /// vCPUs.
    pub cpu_count: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
}

/// An OCI image a node is asked to turn into a template of its own.
#[derive(Debug, Clone)]
pub struct ImageImport {
    /// The reference as the user wrote it (`python:3.12`, `host:5000/team/app:1`).
    pub reference: String,
    /// Registry login.
    pub credentials: nullspace_host::image::oci::Credentials,
}

/// A node template made from an OCI image.
#[derive(Debug, Clone)]
pub struct ImportedImage {
    /// Name of the node template (for [`super::Node::create`]; not listed by `template`).
    pub template: String,
    /// The image as resolved.
    pub reference: String,
    /// Digest of its manifest.
    pub digest: String,
    /// Its `Env`, `WorkingDir` and `User`.
    pub config: nullspace_host::image::oci::ImageConfig,
}

/// What a node reports about a snapshot it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotFacts {
    /// Bytes on disk.
    pub size_bytes: u64,
    /// How long the source was stopped, ms.
    pub stall_ms: u64,
}

/// CPU, memory and disk use inside a machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Online vCPUs.
    pub cpu_count: u32,
    /// CPU busy over the sample, percent of all vCPUs.
    pub cpu_used_pct: f64,
    /// Memory the guest sees, bytes.
    pub mem_total_bytes: u64,
    /// Memory in use, bytes.
    pub mem_used_bytes: u64,
    /// Size of the root filesystem, bytes.
    pub disk_total_bytes: u64,
    /// Used bytes of the root filesystem.
    pub disk_used_bytes: u64,
}

/// A command to run in a machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    /// Program and arguments (empty with `shell`).
    pub argv: Vec<String>,
    /// A command line for the guest's shell, exclusive with `argv`.
    pub shell: Option<String>,
    /// Environment variables over the guest's clean environment.
    pub env: BTreeMap<String, String>,
    /// Working directory (default: the user's home).
    pub cwd: Option<String>,
    /// Guest user to run as (default root).
    pub user: Option<String>,
    /// Kill the command's process group after this many ms.
    pub timeout_ms: Option<u64>,
    /// Keep stdin open for input (otherwise it reads nothing).
    pub stdin: bool,
}

/// How a command or process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Signal that ended it, if one did.
    pub signal: Option<i32>,
    /// Whether its time limit ended it.
    pub timed_out: bool,
    /// Wall time in the guest, ms.
    pub duration_ms: u64,
}

/// Output of a command run to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
    /// How it ended.
    pub exit: Exit,
}

/// What a command printed before it was cut short.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partial {
    /// Standard output so far.
    pub stdout: Vec<u8>,
    /// Standard error so far.
    pub stderr: Vec<u8>,
}

/// Kind of a file-system entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Facts about a file-system entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Last path component.
    pub name: String,
    /// Absolute path.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner user name.
    pub owner: String,
    /// Owner group name.
    pub group: String,
    /// Modification time, ms since the Unix epoch.
    pub modified_ms: i64,
    /// Target of a symlink.
    pub symlink_target: Option<String>,
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
    /// Most bytes to return (`None`: to the end of the file).
    pub limit: Option<u64>,
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
    /// Write in place at this offset, keeping the rest (a chunk of an upload).
    pub offset: Option<u64>,
}

/// Bytes of a file read as they arrive; an `Err` ends it (the read failed
/// after its first bytes), and dropping it cancels the read.
pub type Download = Pin<Box<dyn Stream<Item = Result<Bytes, super::NodeError>> + Send>>;

/// Bytes of an upload as they arrive; an `Err` (its reason) aborts the write and
/// leaves nothing behind.
pub type Upload = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// A file-system call other than a read or a write; `user` is the guest user
/// whose rights it has (`None`: root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOp {
    /// List a directory down to `depth` levels (1: its entries).
    List {
        /// Directory.
        path: String,
        /// Whose rights.
        user: Option<String>,
        /// Levels, at least 1.
        depth: u32,
    },
    /// Facts about one entry (symlinks not followed).
    Stat {
        /// Entry.
        path: String,
        /// Whose rights.
        user: Option<String>,
    },
    /// Whether an entry exists.
    Exists {
        /// Entry.
        path: String,
        /// Whose rights.
        user: Option<String>,
    },
    /// Make a directory and its parents.
    Mkdir {
        /// Directory.
        path: String,
        /// Whose rights.
        user: Option<String>,
        /// Permission bits (default 0755).
        mode: Option<u32>,
        /// Owner of a directory root makes.
        owner: Option<String>,
    },
    /// Remove an entry (a directory's contents with `recursive`).
    Remove {
        /// Entry.
        path: String,
        /// Whose rights.
        user: Option<String>,
        /// Remove a non-empty directory too.
        recursive: bool,
    },
    /// Rename or move an entry.
    Rename {
        /// Old path.
        from: String,
        /// New path.
        to: String,
        /// Whose rights.
        user: Option<String>,
    },
    /// Change an entry's permission bits.
    Chmod {
        /// Entry.
        path: String,
        /// Whose rights.
        user: Option<String>,
        /// New bits.
        mode: u32,
    },
    /// Entries below a directory whose names match a glob.
    Search {
        /// Directory.
        path: String,
        /// Whose rights.
        user: Option<String>,
        /// Glob.
        pattern: String,
        /// Most entries.
        limit: u32,
    },
    /// Matching lines of a file or of the files below a directory.
    Find {
        /// File or directory.
        path: String,
        /// Whose rights.
        user: Option<String>,
        /// What matches.
        text: TextQuery,
        /// Most matches.
        max_results: u32,
        /// Larger files are skipped.
        max_file_bytes: u64,
    },
    /// Replace matches in files.
    Replace {
        /// Files or directories.
        paths: Vec<String>,
        /// Whose rights.
        user: Option<String>,
        /// What matches.
        text: TextQuery,
        /// The replacement.
        replacement: String,
        /// Write nothing.
        dry_run: bool,
        /// Most files to change.
        max_files: u32,
    },
    /// SHA-256 of a file.
    Digest {
        /// The file.
        path: String,
        /// Whose rights.
        user: Option<String>,
    },
}

/// What a [`FileOp`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAnswer {
    /// For `List`.
    Entries(Vec<Entry>),
    /// For `Stat` and `Rename`.
    Entry(Entry),
    /// For `Exists`.
    Exists(bool),
    /// For `Mkdir`: whether it was made (false: it existed).
    Created(bool),
    /// For `Remove` and `Chmod`.
    Done,
    /// For `Search`.
    Search {
        /// Matching entries.
        entries: Vec<Entry>,
        /// More matched.
        truncated: bool,
    },
    /// For `Find`.
    Found {
        /// The matches.
        matches: Vec<LineMatch>,
        /// Files read.
        files_scanned: u64,
        /// More matched.
        truncated: bool,
    },
    /// For `Replace`.
    Replaced {
        /// Files changed.
        files: Vec<FileReplaced>,
        /// Replacements made.
        total_replacements: u64,
        /// Files read.
        files_scanned: u64,
        /// More would have changed.
        truncated: bool,
    },
    /// For `Digest`.
    Digest {
        /// Hex SHA-256.
        sha256: String,
        /// Bytes hashed.
        size: u64,
    },
}
