//! Requests and answers of the tree-wide file operations (protocol 4): name
//! search, content search, replace, watches, archives and digests.

use serde::{Deserialize, Serialize};

/// Most entries or matches one search answers.
pub const MAX_RESULTS: u32 = 10_000;
/// Longest line text a content match carries, bytes.
pub const MAX_LINE_TEXT: usize = 1000;
/// Largest file a content search or replace reads, by default.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 << 20;

/// Where a tree-wide operation acts, with whose rights.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Absolute path, or relative to `/workspace`.
    pub path: String,
    /// Confine `path` (and everything reached from it) to this directory.
    #[serde(default)]
    pub root: Option<String>,
    /// Guest user whose file-system rights the operation has (`None`: root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// Find entries below a directory whose name (or relative path) matches a glob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// The directory to search.
    #[serde(flatten)]
    pub scope: Scope,
    /// Glob on names, or on paths relative to the directory when it has a `/`.
    pub pattern: String,
    /// Most entries to answer (at most [`MAX_RESULTS`]).
    pub limit: u32,
}

/// How a content search or replace matches text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextMatch {
    /// What to look for.
    pub pattern: String,
    /// `pattern` is a regular expression, not a literal.
    #[serde(default)]
    pub regex: bool,
    /// Whether case matters.
    #[serde(default = "yes")]
    pub case_sensitive: bool,
    /// Glob on names a file found by walking must match.
    #[serde(default)]
    pub include: Option<String>,
}

fn yes() -> bool {
    true
}

/// Search file contents below a directory (or in one file), line by line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindRequest {
    /// The directory or file to search.
    #[serde(flatten)]
    pub scope: Scope,
    /// What matches.
    #[serde(flatten)]
    pub text: TextMatch,
    /// Most matches to answer (at most [`MAX_RESULTS`]).
    pub max_results: u32,
    /// Files larger than this are skipped.
    pub max_file_bytes: u64,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundMatch {
    /// The file.
    pub path: String,
    /// Line number, from 1.
    pub line: u64,
    /// Byte column of the match in the line, from 1.
    pub column: u64,
    /// The line (at most [`MAX_LINE_TEXT`] bytes, invalid UTF-8 replaced).
    pub text: String,
}

/// What a content search found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindResult {
    /// The matches, in walk order.
    pub matches: Vec<FoundMatch>,
    /// Files read.
    pub files_scanned: u64,
    /// More matches exist than were answered.
    pub truncated: bool,
}

/// Replace text in files (named, or found by walking named directories).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaceRequest {
    /// Files or directories.
    pub paths: Vec<String>,
    /// Confine every path to this directory.
    #[serde(default)]
    pub root: Option<String>,
    /// Guest user whose file-system rights the operation has (`None`: root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// What matches.
    #[serde(flatten)]
    pub text: TextMatch,
    /// The replacement (`$1`, `${name}` refer to groups of a regex).
    pub replacement: String,
    /// Count, but write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Most files to change.
    pub max_files: u32,
}

/// One file a replace changed (or would change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplacedFile {
    /// The file.
    pub path: String,
    /// Replacements made in it.
    pub replacements: u64,
}

/// What a replace did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaceResult {
    /// Files with at least one replacement.
    pub files: Vec<ReplacedFile>,
    /// Sum of their replacements.
    pub total_replacements: u64,
    /// Files read.
    pub files_scanned: u64,
    /// More files would have changed than `max_files`.
    pub truncated: bool,
}

/// Watch a directory for changes; events come as `fs_event` frames until the
/// call is cancelled (or the directory goes away).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRequest {
    /// The directory.
    #[serde(flatten)]
    pub scope: Scope,
    /// Watch subdirectories too (including ones created later).
    #[serde(default)]
    pub recursive: bool,
}

/// Kind of a change a watch reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsEventKind {
    /// An entry appeared (created, or moved in).
    Create,
    /// A file's content changed.
    Write,
    /// An entry was removed.
    Remove,
    /// An entry was moved away (its new name, if watched, comes as `create`).
    Rename,
    /// Permissions or other metadata changed.
    Chmod,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsEvent {
    /// What happened.
    pub kind: FsEventKind,
    /// The entry's absolute path.
    pub path: String,
    /// Whether the entry is a directory.
    pub is_dir: bool,
}

/// What to do with entries of an archive that exist at the destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    /// Create what is missing, replace files that exist, keep everything else.
    #[default]
    Merge,
    /// Create what is missing, keep files that exist.
    Skip,
    /// The destination becomes exactly the archive.
    Replace,
    /// Refuse if the destination exists.
    Error,
}

impl Conflict {
    /// The policy's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Conflict::Merge => "merge",
            Conflict::Skip => "skip",
            Conflict::Replace => "replace",
            Conflict::Error => "error",
        }
    }
}

/// Unpack a tar stream (the call's input, or a file in the guest) into a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractRequest {
    /// The destination directory (created if missing).
    #[serde(flatten)]
    pub scope: Scope,
    /// Entries that exist already.
    #[serde(default)]
    pub conflict: Conflict,
    /// Read the archive from this guest file instead of the call's input.
    #[serde(default)]
    pub source: Option<String>,
}

/// What an unpacked archive held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveFacts {
    /// The destination directory.
    pub path: String,
    /// Regular files written (or, with `skip`, kept).
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Bytes of regular files.
    pub bytes: u64,
}

/// SHA-256 of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// Lower-case hex digest.
    pub sha256: String,
    /// Bytes hashed.
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_flatten_their_scope() {
        let req = FindRequest {
            scope: Scope {
                path: "/w".into(),
                root: None,
                user: Some("user".into()),
            },
            text: TextMatch {
                pattern: "x".into(),
                regex: false,
                case_sensitive: true,
                include: None,
            },
            max_results: 5,
            max_file_bytes: 9,
        };
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(json["path"], "/w");
        assert_eq!(json["user"], "user");
        assert_eq!(json["pattern"], "x");
        let back: FindRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back, req);
        let conflict: Conflict = serde_json::from_str("\"replace\"").unwrap();
        assert_eq!(conflict, Conflict::Replace);
    }
}
