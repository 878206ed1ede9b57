//! What node calls take and answer for tree-wide file work: searches,
//! replaces, archives and watches.

use std::pin::Pin;

use futures_util::Stream;
pub use nullspace_api::{ArchiveResponse as ArchiveFacts, Conflict, FsEvent, FsEventKind};

/// How a content search or replace matches text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    /// What to look for.
    pub pattern: String,
    /// `pattern` is a regular expression.
    pub regex: bool,
    /// Whether case matters.
    pub case_sensitive: bool,
    /// Glob on names a file found by walking must match.
    pub include: Option<String>,
}

/// One matching line of a content search.
pub use nullspace_api::FoundMatch as LineMatch;
/// One file a replace changed.
pub use nullspace_api::ReplacedFile as FileReplaced;

/// Unpack an archive into a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSpec {
    /// Destination directory.
    pub path: String,
    /// Guest user whose rights apply (`None`: root).
    pub user: Option<String>,
    /// Entries that exist already.
    pub conflict: Conflict,
    /// Read the archive from this guest file instead of a body.
    pub source: Option<String>,
}

/// Changes below a watched directory as they happen; it ends (`None`) when the
/// directory goes away, and dropping it stops the watch.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<FsEvent, super::NodeError>> + Send>>;
