//! Stable error codes of guest calls.

use serde::{Deserialize, Serialize};

/// Stable machine-readable error codes of guest calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The path (or a parent) does not exist.
    NotFound,
    /// The OS refused the operation (for file operations: with the user's rights),
    /// or a user named another user as owner.
    PermissionDenied,
    /// The target already exists.
    AlreadyExists,
    /// A path component is not a directory.
    NotADirectory,
    /// The path is a directory where a file was expected.
    IsADirectory,
    /// A directory is not empty and `recursive` was not set.
    NotEmpty,
    /// The request is malformed (both `argv` and `shell`, bad mode, depth 0...).
    InvalidArgument,
    /// The path leaves the confining root through `..` or a symlink.
    PathEscapesRoot,
    /// The path is inside `/workspace/.nullspace`.
    ReservedPath,
    /// The user does not exist in the guest.
    UserNotFound,
    /// The file system is full (or the user's quota is used up).
    NoSpace,
    /// The working directory does not exist.
    CwdNotFound,
    /// The program does not exist or is not executable.
    CommandNotFound,
    /// A frame named a call that is not in flight.
    UnknownCall,
    /// The guest does not know the operation (its protocol is older).
    Unsupported,
    /// No process of the table matches the selector.
    ProcessNotFound,
    /// The process has already exited.
    ProcessExited,
    /// The process's stdin is closed (or was never open).
    StdinClosed,
    /// The process has no terminal.
    NotAPty,
    /// A running process already has this tag.
    TagInUse,
    /// A glob or regular expression does not parse.
    InvalidPattern,
    /// Any other I/O error.
    Io,
    /// A bug in guestd.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::NotADirectory => "not_a_directory",
            ErrorCode::IsADirectory => "is_a_directory",
            ErrorCode::NotEmpty => "not_empty",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::PathEscapesRoot => "path_escapes_root",
            ErrorCode::ReservedPath => "reserved_path",
            ErrorCode::UserNotFound => "user_not_found",
            ErrorCode::NoSpace => "no_space",
            ErrorCode::CwdNotFound => "cwd_not_found",
            ErrorCode::CommandNotFound => "command_not_found",
            ErrorCode::UnknownCall => "unknown_call",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::ProcessNotFound => "process_not_found",
            ErrorCode::ProcessExited => "process_exited",
            ErrorCode::StdinClosed => "stdin_closed",
            ErrorCode::NotAPty => "not_a_pty",
            ErrorCode::TagInUse => "tag_in_use",
            ErrorCode::InvalidPattern => "invalid_pattern",
            ErrorCode::Io => "io",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A typed error from the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct GuestError {
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

impl GuestError {
    /// A new error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
