//! Resumable uploads (`spec/files.md`): a session, chunks in any order, completion.

use serde::{Deserialize, Serialize};

use crate::files::EntryInfo;
use crate::tree::{ArchiveResponse, Conflict};

/// Default chunk size (8 MiB).
pub const DEFAULT_CHUNK_BYTES: u64 = 8 << 20;
/// Smallest chunk size (64 KiB).
pub const MIN_CHUNK_BYTES: u64 = 64 << 10;
/// Largest chunk size (64 MiB).
pub const MAX_CHUNK_BYTES: u64 = 64 << 20;
/// Default life of an upload session, seconds (24 h).
pub const DEFAULT_UPLOAD_SECS: u64 = 24 * 3600;
/// Longest life of an upload session, seconds (7 days).
pub const MAX_UPLOAD_SECS: u64 = 7 * 24 * 3600;
/// Header carrying a chunk's SHA-256 (hex).
pub const CHUNK_SHA256_HEADER: &str = "x-nullspace-chunk-sha256";

/// What an upload's bytes become.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadKind {
    /// One file.
    #[default]
    File,
    /// A tar stream unpacked into a directory.
    Archive,
}

/// Where an upload session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Taking chunks.
    Open,
    /// Completed: the content is in place.
    Complete,
    /// Aborted: its chunks are gone.
    Aborted,
}

/// Body of `POST /v1/machines/{id}/uploads`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUploadRequest {
    /// Destination file (or directory for an archive).
    pub path: String,
    /// Total bytes.
    #[serde(deserialize_with = "crate::de::int")]
    pub size: u64,
    /// File (default) or archive.
    #[serde(default)]
    pub kind: UploadKind,
    /// Bytes per chunk (default 8 MiB, 64 KiB to 64 MiB).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub chunk_size: Option<u64>,
    /// Hex SHA-256 of the whole content, checked at completion.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub sha256: Option<String>,
    /// Archives only: what to do with existing entries.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub conflict: Option<Conflict>,
    /// Files only: octal permission bits as text (e.g. `"0644"`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub mode: Option<String>,
    /// Seconds the session lives (default 24 h, at most 7 days).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub expires_in: Option<u64>,
    /// Guest user who writes the content (default `user`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub user: Option<String>,
}

/// An upload session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// `upl_…`.
    pub upload_id: String,
    /// The machine.
    pub machine_id: String,
    /// Destination.
    pub path: String,
    /// File or archive.
    pub kind: UploadKind,
    /// Total bytes.
    pub size: u64,
    /// Bytes per chunk.
    pub chunk_size: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// Indexes of the chunks received, ascending.
    pub received: Vec<u64>,
    /// Bytes received.
    pub bytes_received: u64,
    /// Declared SHA-256, if any.
    pub sha256: Option<String>,
    /// Where it is.
    pub state: UploadState,
    /// Guest user who writes the content.
    pub user: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Expiry time (RFC 3339).
    pub expires_at: String,
}

/// Body of `POST /v1/machines/{id}/uploads/{upload_id}/complete`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteUploadRequest {
    /// Hex SHA-256 of the whole content (instead of, or as well as, the declared one).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub sha256: Option<String>,
}

/// Answer of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteUploadResponse {
    /// The session, now complete.
    pub upload: Upload,
    /// The file written (file uploads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryInfo>,
    /// What was unpacked (archive uploads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveResponse>,
}
