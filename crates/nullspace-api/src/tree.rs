//! Tree-wide file calls: name search, content search, replace, watches and
//! directory archives (`spec/files.md`).

use serde::{Deserialize, Serialize};

use crate::files::EntryInfo;

/// Most entries or matches one search answers.
pub const MAX_SEARCH_RESULTS: u32 = 10_000;
/// Default number of entries or matches a search answers.
pub const DEFAULT_SEARCH_RESULTS: u32 = 1000;
/// Default largest file a content search reads (10 MiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 << 20;

/// Answer of `GET /v1/machines/{id}/files/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Matching entries, in walk order.
    pub entries: Vec<EntryInfo>,
    /// More entries matched than were answered.
    pub truncated: bool,
}

/// Body of `POST /v1/machines/{id}/files/find`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindRequest {
    /// Directory (walked) or file.
    pub path: String,
    /// What to look for.
    pub pattern: String,
    /// `pattern` is a regular expression (default: a literal).
    #[serde(default)]
    pub regex: bool,
    /// Whether case matters (default true).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub case_sensitive: Option<bool>,
    /// Glob on names a file must match.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub include: Option<String>,
    /// Most matches to answer (default 1000, at most 10 000).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub max_results: Option<u32>,
    /// Larger files are skipped (default 10 MiB).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub max_file_bytes: Option<u64>,
    /// Guest user whose rights apply (default `user`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub user: Option<String>,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundMatch {
    /// The file.
    pub path: String,
    /// Line number, from 1.
    pub line: u64,
    /// Byte column of the match, from 1.
    pub column: u64,
    /// The line (cut to 1000 bytes).
    pub text: String,
}

/// Answer of a content search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindResponse {
    /// The matches.
    pub matches: Vec<FoundMatch>,
    /// Files read.
    pub files_scanned: u64,
    /// More matches exist than were answered.
    pub truncated: bool,
}

/// Body of `POST /v1/machines/{id}/files/replace`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceRequest {
    /// Files or directories (at least one).
    pub paths: Vec<String>,
    /// What to replace.
    pub find: String,
    /// The replacement (`$1`, `${name}` refer to groups with `regex`).
    pub replace: String,
    /// `find` is a regular expression (default: a literal).
    #[serde(default)]
    pub regex: bool,
    /// Whether case matters (default true).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub case_sensitive: Option<bool>,
    /// Glob on names a file found by walking must match.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub include: Option<String>,
    /// Count, but write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Most files to change (default 1000, at most 10 000).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub max_files: Option<u32>,
    /// Guest user whose rights apply (default `user`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub user: Option<String>,
}

/// One file a replace changed (or would change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplacedFile {
    /// The file.
    pub path: String,
    /// Replacements in it.
    pub replacements: u64,
}

/// Answer of a replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaceResponse {
    /// Files with at least one replacement.
    pub files: Vec<ReplacedFile>,
    /// Sum of their replacements.
    pub total_replacements: u64,
    /// Files read.
    pub files_scanned: u64,
    /// Nothing was written.
    pub dry_run: bool,
    /// More files would have changed than `max_files`.
    pub truncated: bool,
}

/// Kind of a change a watch reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsEventKind {
    /// An entry appeared.
    Create,
    /// A file's content changed.
    Write,
    /// An entry was removed.
    Remove,
    /// An entry was moved away.
    Rename,
    /// Permissions changed.
    Chmod,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsEvent {
    /// What happened.
    pub kind: FsEventKind,
    /// The entry.
    pub path: String,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// Why a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchEnd {
    /// Its `timeout` passed.
    Timeout,
    /// The watched directory was removed or moved.
    Removed,
}

/// A message of the watch WebSocket, server to client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WatchMsg {
    /// The watch is in place.
    Ready {
        /// The watched directory.
        path: String,
    },
    /// A change.
    Event(FsEvent),
    /// The watch ended.
    End {
        /// Why.
        reason: WatchEnd,
    },
    /// A failure; the channel closes.
    Error {
        /// Stable code.
        code: crate::ErrorCode,
        /// Explanation.
        message: String,
    },
}

/// What to do with archive entries that exist at the destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    /// Create what is missing, replace existing files, keep the rest.
    #[default]
    Merge,
    /// Create what is missing, keep existing files.
    Skip,
    /// The destination becomes exactly the archive.
    Replace,
    /// Refuse if the destination exists.
    Error,
}

/// What an unpacked archive held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveResponse {
    /// The destination directory.
    pub path: String,
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Bytes of regular files.
    pub bytes: u64,
}
