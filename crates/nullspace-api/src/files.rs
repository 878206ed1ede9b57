//! Files.

use serde::{Deserialize, Serialize};

/// Most bytes one file upload (`PUT …/files`) takes (16 GiB); reads stream with
/// no limit but the file's end (or `limit`).
pub const MAX_FILE_BYTES: u64 = 16 << 30;

/// Kind of a filesystem entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Anything else.
    Other,
}

/// Facts about a file or directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInfo {
    /// Last path component.
    pub name: String,
    /// Absolute path.
    pub path: String,
    /// Entry kind.
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits as a number (e.g. 420 for 0644).
    pub mode: u32,
    /// Permission bits as `rwxr-xr-x`.
    pub permissions: String,
    /// Owner user.
    pub owner: String,
    /// Owner group.
    pub group: String,
    /// Modification time (RFC 3339, UTC).
    pub modified_time: String,
    /// Target of a symlink.
    pub symlink_target: Option<String>,
}

/// Body of `GET /v1/machines/{id}/files/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListResponse {
    /// Entries, sorted by path.
    pub entries: Vec<EntryInfo>,
}

/// Body of `GET /v1/machines/{id}/files/exists`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExistsResponse {
    /// Whether the path exists.
    pub exists: bool,
}

/// One file of a batch write: `content` (text) or `content_base64` (bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteFileEntry {
    /// Absolute path, or relative to `/workspace`.
    pub path: String,
    /// Text content.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub content: Option<String>,
    /// Binary content, base64.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub content_base64: Option<String>,
}

/// Body of `POST /v1/machines/{id}/files/batch`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteFilesRequest {
    /// Files to write, in order.
    pub files: Vec<WriteFileEntry>,
    /// Guest user who writes the files and owns what is created (default `user`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub user: Option<String>,
}

/// Answer of a batch write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteFilesResponse {
    /// The written files.
    pub files: Vec<EntryInfo>,
}

/// Body of `POST /v1/machines/{id}/files/mkdir`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MkdirRequest {
    /// Directory to create with its parents.
    pub path: String,
    /// Guest user who creates and owns the directories (default `user`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub user: Option<String>,
}

/// Answer of mkdir.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MkdirResponse {
    /// False if the directory already existed.
    pub created: bool,
}

/// Body of `POST /v1/machines/{id}/files/rename`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    /// Current path.
    pub source: String,
    /// New path.
    pub destination: String,
    /// Guest user whose permissions apply (default `user`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub user: Option<String>,
}

/// Body of `POST /v1/machines/{id}/files/chmod`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChmodRequest {
    /// Entry path.
    pub path: String,
    /// Octal permission bits as text, e.g. `"0644"` or `"755"`.
    pub mode: String,
    /// Guest user whose permissions apply (default `user`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub user: Option<String>,
}

/// Default life of a signed file URL, seconds.
pub const DEFAULT_URL_SECS: u64 = 3600;
/// Longest life of a signed file URL, seconds (7 days).
pub const MAX_URL_SECS: u64 = 7 * 24 * 3600;

/// Body of `POST /v1/machines/{id}/files/download-url` and `…/upload-url`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUrlRequest {
    /// The file.
    pub path: String,
    /// Guest user whose permissions the transfer has (default `user`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub user: Option<String>,
    /// Seconds the URL works (default [`DEFAULT_URL_SECS`], at most [`MAX_URL_SECS`];
    /// an integral float such as `60.0` is taken).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub expires_in: Option<u64>,
}

/// A signed file URL: works with no API key, for one method, until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUrl {
    /// The absolute URL.
    pub url: String,
    /// `GET` (download) or `PUT` (upload).
    pub method: String,
    /// The file.
    pub path: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}
