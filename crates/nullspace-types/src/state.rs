//! The lifecycle state of a machine.

use serde::{Deserialize, Serialize};

/// Where a machine is in its lifecycle.
///
/// Transitions: `Starting -> Running`, `Running -> Snapshotting -> Running`,
/// `Running -> Pausing -> Paused -> Resuming -> Running` (a failed pause goes
/// back to `Running`, a failed resume back to `Paused`), any live state
/// `-> Killing -> Killed`; a machine whose VMM process died on its own goes
/// `Running -> Failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineState {
    /// The VM is being restored from its template or snapshot.
    Starting,
    /// The VM runs and its guest agent answers.
    Running,
    /// The VM is briefly stopped while a snapshot of it is taken.
    Snapshotting,
    /// Memory and devices are being saved to disk; the VM then stops.
    Pausing,
    /// Saved to disk: no VMM process, no CPU, no RAM; resumable.
    Paused,
    /// Being restored from its paused state.
    Resuming,
    /// The machine is being torn down.
    Killing,
    /// The machine is gone; nothing of it is left on the host.
    Killed,
    /// The VMM process died unexpectedly; its resources have been released.
    Failed,
}

impl MachineState {
    /// Whether `self -> next` is an allowed transition.
    pub fn can_become(self, next: MachineState) -> bool {
        use MachineState::*;
        matches!(
            (self, next),
            (Starting, Running)
                | (Starting, Failed)
                | (Running, Snapshotting)
                | (Snapshotting, Running)
                | (Running, Failed)
                | (Snapshotting, Failed)
                | (Running, Pausing)
                | (Pausing, Paused)
                | (Pausing, Running)
                | (Paused, Resuming)
                | (Resuming, Running)
                | (Resuming, Paused)
                | (Starting | Running | Snapshotting | Paused | Failed, Killing)
                | (Killing, Killed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::MachineState::*;

    #[test]
    fn transitions() {
        assert!(Starting.can_become(Running));
        assert!(Running.can_become(Snapshotting));
        assert!(Running.can_become(Killing));
        assert!(Killing.can_become(Killed));
        assert!(!Killed.can_become(Running));
        assert!(!Killed.can_become(Killing));
        assert!(!Running.can_become(Starting));
        assert!(Running.can_become(Pausing) && Pausing.can_become(Paused));
        assert!(Paused.can_become(Resuming) && Resuming.can_become(Running));
        assert!(Paused.can_become(Killing));
        assert!(
            !Paused.can_become(Running),
            "a resume goes through Resuming"
        );
    }
}
