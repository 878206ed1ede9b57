//! Errors of calls, in every service, and their mapping to the protocol's
//! stable error codes.

use std::io;
use std::path::PathBuf;

use nullspace_guest_proto::{ErrorCode, GuestError, Op, Service};

use super::fs::paths::PathError;
use super::process::error::ProcError;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// A path was refused or could not be resolved.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A system call on a path failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`open`, `rename`...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A system call not tied to one path failed.
    #[error("{op}: {source}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// `exec` named both `argv` and `shell`, or neither.
    #[error("exec needs exactly one of argv and shell")]
    CommandShape,
    /// A glob or regular expression does not parse (or is empty).
    #[error("{0}")]
    Pattern(String),
    /// `list` asked for depth 0.
    #[error("list depth must be at least 1")]
    ZeroDepth,
    /// A mode had bits beyond `0o7777`.
    #[error("mode {0:#o} has bits outside 0o7777")]
    BadMode(u32),
    /// A `mkdir` target exists and is not a directory.
    #[error("{} exists and is not a directory", .0.display())]
    NotADirectoryExists(PathBuf),
    /// A file operation found a directory.
    #[error("{} is a directory", .0.display())]
    IsDir(PathBuf),
    /// A directory operation found something else.
    #[error("{} is not a directory", .0.display())]
    NotDir(PathBuf),
    /// A user other than root asked to give what it creates to someone else.
    #[error("user {user:?} cannot make files owned by {owner:?}")]
    ForeignOwner {
        /// The user the call runs as.
        user: String,
        /// The owner it asked for.
        owner: String,
    },
    /// A user other than root asked to change the mode of a file it does not own.
    #[error("{}: only its owner may change its mode", .0.display())]
    NotOwner(PathBuf),
    /// The named user is not in `/etc/passwd`.
    #[error("user {0:?} not found")]
    UserNotFound(String),
    /// The working directory is missing or not a directory.
    #[error("working directory {} not found", .0.display())]
    CwdNotFound(PathBuf),
    /// The program does not exist or cannot be executed.
    #[error("command {0:?} not found or not executable")]
    CommandNotFound(String),
    /// A call reused the id of a call still in flight.
    #[error("call id {0} is already in flight")]
    DuplicateCall(u64),
    /// Input ended without `input_end` (the call was abandoned).
    #[error("input ended before input_end")]
    InputAborted,
    /// The call was cancelled before it could finish.
    #[error("the call was cancelled")]
    Cancelled,
    /// A process-table operation failed.
    #[error(transparent)]
    Process(#[from] ProcError),
    /// A task of the call died.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// An operation reached the dispatcher of a service it does not belong to.
    #[error("internal error: {op} is not an operation of the {} service", .service.name())]
    Misrouted {
        /// The operation's wire name.
        op: &'static str,
        /// The service whose dispatcher got it.
        service: Service,
    },
}

impl OpError {
    /// Shorthand for an I/O error on a path.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        OpError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// `op` reached the dispatcher of `service`, which does not serve it.
    pub fn misrouted(op: &Op, service: Service) -> Self {
        OpError::Misrouted {
            op: op.name(),
            service,
        }
    }

    /// The protocol code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            OpError::Path(PathError::Empty | PathError::Nul) => ErrorCode::InvalidArgument,
            OpError::Path(PathError::EscapesRoot { .. }) => ErrorCode::PathEscapesRoot,
            OpError::Path(PathError::Reserved { .. }) => ErrorCode::ReservedPath,
            OpError::Path(PathError::Resolve { source, .. }) => io_code(source),
            OpError::Io { source, .. } | OpError::Sys { source, .. } => io_code(source),
            OpError::Pattern(_) => ErrorCode::InvalidPattern,
            OpError::CommandShape
            | OpError::ZeroDepth
            | OpError::BadMode(_)
            | OpError::DuplicateCall(_) => ErrorCode::InvalidArgument,
            OpError::NotADirectoryExists(_) => ErrorCode::AlreadyExists,
            OpError::IsDir(_) => ErrorCode::IsADirectory,
            OpError::NotDir(_) => ErrorCode::NotADirectory,
            OpError::ForeignOwner { .. } | OpError::NotOwner(_) => ErrorCode::PermissionDenied,
            OpError::UserNotFound(_) => ErrorCode::UserNotFound,
            OpError::CwdNotFound(_) => ErrorCode::CwdNotFound,
            OpError::CommandNotFound(_) => ErrorCode::CommandNotFound,
            OpError::InputAborted | OpError::Cancelled => ErrorCode::Io,
            OpError::Process(e) => e.code(),
            OpError::Internal(_) | OpError::Misrouted { .. } => ErrorCode::Internal,
        }
    }
}

impl From<OpError> for GuestError {
    fn from(e: OpError) -> Self {
        GuestError::new(e.code(), e.to_string())
    }
}

/// The protocol code of an OS error.
pub fn io_code(e: &io::Error) -> ErrorCode {
    match e.raw_os_error() {
        Some(libc::ENOENT) => ErrorCode::NotFound,
        Some(libc::EACCES | libc::EPERM) => ErrorCode::PermissionDenied,
        Some(libc::EEXIST) => ErrorCode::AlreadyExists,
        Some(libc::ENOTDIR) => ErrorCode::NotADirectory,
        Some(libc::EISDIR) => ErrorCode::IsADirectory,
        Some(libc::ENOTEMPTY) => ErrorCode::NotEmpty,
        Some(libc::ENOSPC | libc::EDQUOT) => ErrorCode::NoSpace,
        Some(libc::ENAMETOOLONG | libc::ELOOP) => ErrorCode::InvalidArgument,
        _ => ErrorCode::Io,
    }
}

/// Validate permission bits.
pub fn check_mode(mode: u32) -> Result<u32, OpError> {
    if mode & !0o7777 != 0 {
        return Err(OpError::BadMode(mode));
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_map_to_codes() {
        let code = |n| io_code(&io::Error::from_raw_os_error(n));
        assert_eq!(code(libc::ENOENT), ErrorCode::NotFound);
        assert_eq!(code(libc::EPERM), ErrorCode::PermissionDenied);
        assert_eq!(code(libc::EACCES), ErrorCode::PermissionDenied);
        assert_eq!(code(libc::EEXIST), ErrorCode::AlreadyExists);
        assert_eq!(code(libc::ENOTDIR), ErrorCode::NotADirectory);
        assert_eq!(code(libc::EISDIR), ErrorCode::IsADirectory);
        assert_eq!(code(libc::ENOTEMPTY), ErrorCode::NotEmpty);
        assert_eq!(code(libc::ENOSPC), ErrorCode::NoSpace);
        assert_eq!(code(libc::EDQUOT), ErrorCode::NoSpace);
        assert_eq!(code(libc::ENAMETOOLONG), ErrorCode::InvalidArgument);
        assert_eq!(code(libc::ELOOP), ErrorCode::InvalidArgument);
        let denied = OpError::ForeignOwner {
            user: "user".into(),
            owner: "root".into(),
        };
        assert_eq!(denied.code(), ErrorCode::PermissionDenied);
        assert_eq!(
            OpError::NotOwner("/f".into()).code(),
            ErrorCode::PermissionDenied
        );
        assert_eq!(code(libc::EIO), ErrorCode::Io);
    }

    #[test]
    fn misrouted_calls_are_internal() {
        let e = OpError::misrouted(&Op::Health, Service::Filesystem);
        assert_eq!(e.code(), ErrorCode::Internal);
        assert!(e.to_string().contains("health"), "{e}");
        assert!(e.to_string().contains("filesystem"), "{e}");
    }

    #[test]
    fn modes_are_checked() {
        assert_eq!(check_mode(0o4755).unwrap(), 0o4755);
        assert_eq!(OpError::BadMode(0o10000).code(), ErrorCode::InvalidArgument);
        assert!(check_mode(0o10000).is_err());
    }
}
