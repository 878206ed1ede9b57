//! The host runtime's errors as node errors.

use nullspace_guest_proto::ErrorCode as Guest;
use nullspace_host::agent::{AgentError, Partial as HostPartial};
use nullspace_host::RuntimeError;

use crate::node::{NodeError, NodeErrorCode as Code, Partial};

/// The node code of a guest agent's error code.
fn guest_code(code: Guest) -> Code {
    match code {
        Guest::NotFound => Code::NotFound,
        Guest::PermissionDenied => Code::PermissionDenied,
        Guest::AlreadyExists => Code::AlreadyExists,
        Guest::NotADirectory | Guest::IsADirectory => Code::WrongEntryType,
        Guest::NotEmpty => Code::NotEmpty,
        Guest::InvalidArgument => Code::InvalidArgument,
        Guest::InvalidPattern => Code::InvalidPattern,
        Guest::PathEscapesRoot => Code::PathEscapesRoot,
        Guest::ReservedPath => Code::ReservedPath,
        Guest::UserNotFound => Code::UserNotFound,
        Guest::NoSpace => Code::NoSpace,
        Guest::CwdNotFound => Code::CwdNotFound,
        Guest::CommandNotFound => Code::CommandNotFound,
        Guest::ProcessNotFound => Code::ProcessNotFound,
        Guest::ProcessExited => Code::ProcessExited,
        Guest::StdinClosed => Code::StdinClosed,
        Guest::NotAPty => Code::NotAPty,
        Guest::TagInUse => Code::TagInUse,
        Guest::Unsupported => Code::AgentOutdated,
        Guest::UnknownCall | Guest::Io | Guest::Internal => Code::Internal,
    }
}

/// The node code of an agent error.
fn agent_code(e: &AgentError) -> Code {
    match e {
        AgentError::Guest(g) => guest_code(g.code),
        AgentError::Outdated { .. } => Code::AgentOutdated,
        AgentError::CommandTimeout { .. } => Code::CommandTimeout,
        AgentError::OutputLimit { .. } => Code::OutputLimit,
        AgentError::Timeout { .. } => Code::Unavailable,
        AgentError::Disconnected | AgentError::Unreachable { .. } => Code::MachineDied,
        AgentError::Protocol(_) => Code::Internal,
    }
}

fn partial(p: HostPartial) -> Partial {
    Partial {
        stdout: p.stdout,
        stderr: p.stderr,
    }
}

impl From<RuntimeError> for NodeError {
    fn from(e: RuntimeError) -> Self {
        let code = match &e {
            RuntimeError::MachineNotFound(_) => Code::MachineNotFound,
            RuntimeError::SnapshotNotFound(_) => Code::SnapshotNotFound,
            RuntimeError::InvalidState { .. } => Code::NotRunning,
            RuntimeError::InputAborted(_) => Code::InputAborted,
            RuntimeError::MachineDied { .. } => Code::MachineDied,
            RuntimeError::Agent(a) => agent_code(a),
            RuntimeError::Net(_) => Code::Unavailable,
            RuntimeError::StateCorrupt { .. } => Code::StateCorrupt,
            RuntimeError::SnapshotInUse { .. } => Code::SnapshotInUse,
            _ => Code::Internal,
        };
        let RuntimeError::Agent(a) = e else {
            return NodeError::new(code, e.to_string());
        };
        let message = a.to_string();
        match a {
            // Guest errors already say what failed; the layers' prefixes go.
            AgentError::Guest(g) => NodeError::new(code, g.message),
            // What the command printed moves into the error, uncopied.
            AgentError::CommandTimeout { partial: p, .. }
            | AgentError::OutputLimit { partial: p, .. } => {
                NodeError::new(code, message).with_partial(partial(*p))
            }
            other => NodeError::new(code, RuntimeError::Agent(other).to_string()),
        }
    }
}

impl From<AgentError> for NodeError {
    fn from(e: AgentError) -> Self {
        RuntimeError::Agent(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nullspace_guest_proto::GuestError;

    #[test]
    fn runtime_errors_keep_their_meaning() {
        let e: NodeError = AgentError::Guest(GuestError::new(Guest::CwdNotFound, "/nope")).into();
        assert_eq!((e.code, e.message.as_str()), (Code::CwdNotFound, "/nope"));
        let p = Box::new(HostPartial {
            stdout: b"so far".to_vec(),
            stderr: Vec::new(),
        });
        let e: NodeError = AgentError::OutputLimit {
            limit: 1,
            partial: p,
        }
        .into();
        assert_eq!(e.code, Code::OutputLimit);
        assert_eq!(e.partial.unwrap().stdout, b"so far");
        let e: NodeError =
            RuntimeError::MachineNotFound(nullspace_types::MachineId::random()).into();
        assert_eq!(e.code, Code::MachineNotFound);
        let e: NodeError = AgentError::Outdated {
            what: "process_start",
            guest: 1,
            needs: 2,
        }
        .into();
        assert_eq!(e.code, Code::AgentOutdated);
    }
}
