//! What the runtime reports on its own, without being asked.

use nullspace_guest_proto::ExecResult;
use nullspace_types::MachineId;

/// Events published to [`crate::Runtime::subscribe`]rs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    /// A machine's VM died by itself; its resources were released.
    MachineDied {
        /// The machine.
        id: MachineId,
        /// What was seen.
        reason: String,
    },
    /// A process of a machine's process table ended.
    ProcessExited {
        /// The machine.
        id: MachineId,
        /// The process's guest pid.
        pid: u32,
        /// Its tag, if it had one.
        tag: Option<String>,
        /// How it ended.
        end: ExecResult,
    },
}

/// Events kept for a subscriber that lags before the oldest is dropped.
pub const EVENT_BUFFER: usize = 256;
