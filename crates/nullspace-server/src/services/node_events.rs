//! Acting on what the node reports by itself: a machine whose VM died is marked
//! `failed` (with why) as soon as the node says so, not when a request stumbles
//! on it; a process that ended is published on the event bus.

use tokio::sync::mpsc::Receiver;

use super::{fail, Event, ProcessExited};
use crate::node::NodeEvent;
use crate::state::AppState;

/// Follow the node's events until it stops sending them.
pub async fn follow(state: AppState, mut events: Receiver<NodeEvent>) {
    while let Some(event) = events.recv().await {
        match event {
            NodeEvent::MachineDied { id, reason } => {
                tracing::warn!(machine = %id, %reason, "the node reports the machine's VM died");
                if let Err(e) = fail(&state, &id, &reason).await {
                    tracing::warn!(machine = %id, error = ?e, "cannot record the machine failed");
                }
            }
            NodeEvent::ProcessExited { id, pid, tag, exit } => {
                tracing::debug!(machine = %id, pid, ?exit, "process ended");
                state.events.publish(Event::ProcessExited(ProcessExited {
                    machine: id,
                    pid,
                    tag,
                    exit,
                }));
            }
        }
    }
}
