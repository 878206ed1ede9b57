//! The in-process event bus: every machine state change, and every end of a
//! process that a node reports, is published here for whoever listens (tests
//! now; lifecycle history, webhooks and monitor streams).

use nullspace_types::{MachineId, MachineState};
use tokio::sync::broadcast;

use crate::node::Exit;

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

/// A process of a machine's process table ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessExited {
    /// The machine.
    pub machine: MachineId,
    /// The process's guest pid.
    pub pid: u32,
    /// Its tag, if it had one.
    pub tag: Option<String>,
    /// How it ended.
    pub exit: Exit,
}

/// What the bus carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A machine changed state.
    State(StateChanged),
    /// A process ended.
    ProcessExited(ProcessExited),
}

/// Publishes [`Event`]s to every subscriber.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
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
    pub fn publish(&self, event: Event) {
        let _ = self.tx.send(event);
    }

    /// Receive every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
