//! The in-process event bus: every machine state change is published here, for
//! whoever listens (tests now; lifecycle history, webhooks and monitor streams).

use nullspace_types::{MachineId, MachineState};
use tokio::sync::broadcast;

/// Events kept for a slow listener before it starts missing some.
const CAPACITY: usize = 1024;

/// A machine changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChanged {
    /// The machine.
    pub machine: MachineId,
    /// Its state before.
    pub from: MachineState,
    /// Its state now.
    pub to: MachineState,
}

/// Publishes [`StateChanged`] events to every subscriber.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<StateChanged>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl EventBus {
    /// Send `event` to every subscriber (none is fine).
    pub fn publish(&self, event: StateChanged) {
        let _ = self.tx.send(event);
    }

    /// Receive every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<StateChanged> {
        self.tx.subscribe()
    }
}
