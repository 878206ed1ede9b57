//! Errors of runtime operations, each with a stable code.

use std::path::PathBuf;

use nullspace_types::{MachineId, MachineState, SnapshotId};
use nullspace_vmm::VmmError;

use crate::agent::AgentError;
use crate::cmd::CmdError;
use crate::image::ImageError;
use crate::netns::NetError;
use crate::teardown::TeardownError;

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No machine with this id on this host.
    #[error("machine {0} not found")]
    MachineNotFound(MachineId),
    /// No snapshot with this id on this host.
    #[error("snapshot {0} not found")]
    SnapshotNotFound(SnapshotId),
    /// The operation does not fit the machine's state.
    #[error("machine {id} is {state:?}; cannot {action}")]
    InvalidState {
        /// The machine.
        id: MachineId,
        /// Its state.
        state: MachineState,
        /// What was asked.
        action: &'static str,
    },
    /// The machine's VM died; its resources were released.
    #[error("machine {id} died: {reason}")]
    MachineDied {
        /// The machine.
        id: MachineId,
        /// What is known about why.
        reason: String,
    },
    /// The template could not be built or is damaged.
    #[error("template {name}: {reason}")]
    Template {
        /// Template name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// The VMM failed.
    #[error(transparent)]
    Vmm(#[from] VmmError),
    /// The guest agent failed or refused.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The machine network failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The guest image failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A host tool failed.
    #[error(transparent)]
    Cmd(#[from] CmdError),
    /// Cleanup left failures behind.
    #[error(transparent)]
    Teardown(#[from] TeardownError),
    /// Saved state failed its size or checksum check.
    #[error("saved state is damaged: {path}: {reason}")]
    StateCorrupt {
        /// The damaged file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// The snapshot is used by machines started from it.
    #[error("snapshot {id} is used by {machines}")]
    SnapshotInUse {
        /// The snapshot.
        id: SnapshotId,
        /// Machines (running or paused) started from it.
        machines: String,
    },
    /// The bytes to send to the guest stopped before their end (the caller's
    /// upload failed or was refused); nothing was written.
    #[error("input aborted: {0}")]
    InputAborted(String),
    /// A host file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl RuntimeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RuntimeError::MachineNotFound(_) | RuntimeError::SnapshotNotFound(_) => "not_found",
            RuntimeError::InvalidState { .. } => "invalid_state",
            RuntimeError::MachineDied { .. } => "machine_died",
            RuntimeError::Template { .. } => "template_error",
            RuntimeError::Vmm(_) => "vmm_error",
            RuntimeError::Agent(e) => match e {
                AgentError::Guest(g) => g.code.as_str(),
                AgentError::Timeout { .. } => "agent_timeout",
                AgentError::CommandTimeout { .. } => "command_timeout",
                AgentError::OutputLimit { .. } => "output_limit_exceeded",
                AgentError::Disconnected | AgentError::Unreachable { .. } => "agent_unreachable",
                AgentError::Protocol(_) => "agent_protocol_error",
                AgentError::Outdated { .. } => "agent_outdated",
            },
            RuntimeError::Net(_) => "network_error",
            RuntimeError::Image(_) => "image_error",
            RuntimeError::Cmd(_) => "host_command_failed",
            RuntimeError::Teardown(_) => "teardown_failed",
            RuntimeError::Io { .. } => "io_error",
            RuntimeError::InputAborted(_) => "input_aborted",
            RuntimeError::StateCorrupt { .. } => "state_corrupt",
            RuntimeError::SnapshotInUse { .. } => "snapshot_in_use",
        }
    }
}

/// Shorthand for an I/O error on `path`.
pub(crate) fn io(
    what: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> RuntimeError {
    let path = path.to_owned();
    move |source| RuntimeError::Io { what, path, source }
}
