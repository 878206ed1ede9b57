//! What a node call can fail with: [`NodeError`], a stable [`NodeErrorCode`]
//! and a message, the same whatever runs the node.

use super::types::Partial;

/// Stable reason of a failed node call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeErrorCode {
    /// The node has no such machine.
    MachineNotFound,
    /// The node has no such snapshot.
    SnapshotNotFound,
    /// The node has no such template.
    TemplateNotFound,
    /// An OCI image could not be pulled or turned into a root filesystem.
    ImagePullFailed,
    /// The machine is not in a state that allows the call.
    NotRunning,
    /// The machine's VM died (or its agent went away).
    MachineDied,
    /// The caller's input stream failed; nothing was written.
    InputAborted,
    /// Saved state of the machine or snapshot is damaged.
    StateCorrupt,
    /// The snapshot still backs machines.
    SnapshotInUse,
    /// The node or the guest is too busy or did not answer in time.
    Unavailable,
    /// The guest's agent is too old for the call.
    AgentOutdated,
    /// A command ran past its time limit (see [`NodeError::partial`]).
    CommandTimeout,
    /// A command printed more than a collected run keeps (see [`NodeError::partial`]).
    OutputLimit,
    /// No such file, directory or user-visible entry in the guest.
    NotFound,
    /// The guest user may not do it.
    PermissionDenied,
    /// The entry exists already.
    AlreadyExists,
    /// A file where a directory was wanted, or the reverse.
    WrongEntryType,
    /// The directory is not empty.
    NotEmpty,
    /// An argument the guest refused.
    InvalidArgument,
    /// A glob or regular expression does not parse.
    InvalidPattern,
    /// The path leaves the allowed root.
    PathEscapesRoot,
    /// The path is reserved for the platform.
    ReservedPath,
    /// No such guest user.
    UserNotFound,
    /// The guest's disk is full.
    NoSpace,
    /// The working directory does not exist.
    CwdNotFound,
    /// The program was not found.
    CommandNotFound,
    /// No process of the machine's table matches.
    ProcessNotFound,
    /// The process has already exited.
    ProcessExited,
    /// The process's stdin is closed.
    StdinClosed,
    /// The process has no terminal.
    NotAPty,
    /// Another running process has the tag.
    TagInUse,
    /// Nothing accepts connections on the machine port.
    PortClosed,
    /// Anything else: a fault of the node itself.
    Internal,
}

impl NodeErrorCode {
    /// The code's stable name (snake case).
    pub fn as_str(self) -> &'static str {
        use NodeErrorCode::*;
        match self {
            MachineNotFound => "machine_not_found",
            SnapshotNotFound => "snapshot_not_found",
            TemplateNotFound => "template_not_found",
            ImagePullFailed => "image_pull_failed",
            NotRunning => "not_running",
            MachineDied => "machine_died",
            InputAborted => "input_aborted",
            StateCorrupt => "state_corrupt",
            SnapshotInUse => "snapshot_in_use",
            Unavailable => "unavailable",
            AgentOutdated => "agent_outdated",
            CommandTimeout => "command_timeout",
            OutputLimit => "output_limit",
            NotFound => "not_found",
            PermissionDenied => "permission_denied",
            AlreadyExists => "already_exists",
            WrongEntryType => "wrong_entry_type",
            NotEmpty => "not_empty",
            InvalidArgument => "invalid_argument",
            InvalidPattern => "invalid_pattern",
            PathEscapesRoot => "path_escapes_root",
            ReservedPath => "reserved_path",
            UserNotFound => "user_not_found",
            NoSpace => "no_space",
            CwdNotFound => "cwd_not_found",
            CommandNotFound => "command_not_found",
            ProcessNotFound => "process_not_found",
            ProcessExited => "process_exited",
            StdinClosed => "stdin_closed",
            NotAPty => "not_a_pty",
            TagInUse => "tag_in_use",
            PortClosed => "port_closed",
            Internal => "internal",
        }
    }
}

/// A failed node call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NodeError {
    /// Why, stably.
    pub code: NodeErrorCode,
    /// What happened, for people.
    pub message: String,
    /// What a command printed before it was cut short.
    pub partial: Option<Box<Partial>>,
}

impl NodeError {
    /// An error with `code` and `message`.
    pub fn new(code: NodeErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            partial: None,
        }
    }

    /// 500 for a guest answer that does not fit the call.
    pub fn unexpected(answer: &dyn std::fmt::Debug) -> Self {
        Self::new(
            NodeErrorCode::Internal,
            format!("the guest answered with {answer:?}"),
        )
    }

    /// The same error carrying what the command printed so far.
    pub fn with_partial(mut self, partial: Partial) -> Self {
        self.partial = Some(Box::new(partial));
        self
    }
}

/// Result of a node call.
pub type NodeResult<T> = Result<T, NodeError>;
