//! Errors of VMM operations.

use std::path::PathBuf;

use crate::qemu::QmpError;

/// Why a VMM operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    /// The VMM binary could not be started.
    #[error("cannot start {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file or directory the VM needs could not be prepared.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A required input file is missing.
    #[error("{what} not found at {path}")]
    Missing {
        /// What the file is.
        what: &'static str,
        /// Where it was expected.
        path: PathBuf,
    },
    /// The VMM process exited while it was expected to run.
    #[error("VMM process exited ({status}); console tail: {console_tail}")]
    Exited {
        /// Exit status as text.
        status: String,
        /// Last lines of the VMM's stderr/console log.
        console_tail: String,
    },
    /// The VMM did not become ready in time.
    #[error("VMM not ready after {0:?}")]
    Timeout(std::time::Duration),
    /// The control channel failed.
    #[error(transparent)]
    Qmp(#[from] QmpError),
    /// A migration (save or restore) failed.
    #[error("migration failed: {0}")]
    Migration(String),
}
