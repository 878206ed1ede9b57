//! The lifecycle state of a machine.

use serde::{Deserialize, Serialize};

/// Where a machine is in its lifecycle.
///
/// Transitions: `Starting -> Running`, `Running -> Snapshotting -> Running`,
/// `Running -> Pausing -> Paused -> Resuming -> Running` (a failed pause goes
/// back to `Running`, a failed resume back to `Paused`); a kill wins from any
/// state but `Killed`: `-> Killing -> Killed`; a machine whose VM died on its own
/// (or could not start, pause or resume) goes `-> Failed`.
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
    /// Whether the machine is gone for good (killed or failed).
    pub fn is_terminal(self) -> bool {
        matches!(self, MachineState::Killed | MachineState::Failed)
    }

    /// Every state, in lifecycle order.
    pub const ALL: [MachineState; 9] = [
        MachineState::Starting,
        MachineState::Running,
        MachineState::Snapshotting,
        MachineState::Pausing,
        MachineState::Paused,
        MachineState::Resuming,
        MachineState::Killing,
        MachineState::Killed,
        MachineState::Failed,
    ];

    /// The wire name (`running`, `paused` …).
    pub fn as_str(self) -> &'static str {
        match self {
            MachineState::Starting => "starting",
            MachineState::Running => "running",
            MachineState::Snapshotting => "snapshotting",
            MachineState::Pausing => "pausing",
            MachineState::Paused => "paused",
            MachineState::Resuming => "resuming",
            MachineState::Killing => "killing",
            MachineState::Killed => "killed",
            MachineState::Failed => "failed",
        }
    }

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
                | (Pausing, Failed)
                | (Resuming, Failed)
                | (Running, Pausing)
                | (Pausing, Paused)
                | (Pausing, Running)
                | (Paused, Resuming)
                | (Resuming, Running)
                | (Resuming, Paused)
                | (
                    Starting | Running | Snapshotting | Pausing | Paused | Resuming | Failed,
                    Killing
                )
                | (Killing, Killed)
        )
    }
}

impl std::str::FromStr for MachineState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, UnknownState> {
        MachineState::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

impl std::fmt::Display for MachineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`MachineState`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown machine state {0:?}")]
pub struct UnknownState(pub String);

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
        assert!(Pausing.can_become(Killing) && Resuming.can_become(Killing));
        assert!(Starting.can_become(Killing));
        for s in super::MachineState::ALL {
            let back: super::MachineState =
                serde_json::from_value(serde_json::Value::String(s.as_str().into())).unwrap();
            assert_eq!(back, s);
        }
        assert!(
            !Paused.can_become(Running),
            "a resume goes through Resuming"
        );
    }
}
