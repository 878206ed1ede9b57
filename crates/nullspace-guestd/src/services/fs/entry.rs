//! `EntryInfo` from file metadata.

use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nullspace_guest_proto::{EntryInfo, EntryKind};

use crate::services::error::OpError;
use crate::users::UserDb;

/// Describe the entry at `real` (not following a final symlink), reported as `shown`.
pub fn describe(shown: &Path, real: &Path, db: &UserDb) -> Result<EntryInfo, OpError> {
    let meta = std::fs::symlink_metadata(real).map_err(|e| OpError::io("stat", shown, e))?;
    Ok(from_metadata(shown, real, &meta, db))
}

/// Describe an entry whose `lstat` metadata is already known.
pub fn from_metadata(shown: &Path, real: &Path, meta: &Metadata, db: &UserDb) -> EntryInfo {
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    };
    let symlink_target = (kind == EntryKind::Symlink)
        .then(|| std::fs::read_link(real).ok())
        .flatten()
        .map(|t| t.to_string_lossy().into_owned());
    EntryInfo {
        name: shown
            .file_name()
            .map_or_else(|| "/".to_string(), |n| n.to_string_lossy().into_owned()),
        path: shown.to_string_lossy().into_owned(),
        kind,
        size: meta.len(),
        mode: meta.permissions().mode() & 0o7777,
        owner: db.user_name(meta.uid()),
        group: db.group_name(meta.gid()),
        modified_ms: meta.mtime() * 1000 + meta.mtime_nsec() / 1_000_000,
        symlink_target,
    }
}
