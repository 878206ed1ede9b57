//! Process ends as runtime events: for every running process of a machine's
//! table, one `process_wait` call on the machine's agent, which reports
//! [`RuntimeEvent::ProcessExited`] when it answers. The calls end with their
//! connection (pause, death, kill); a new connection arms them again for the
//! processes that still run. A process that ends while no connection is armed
//! (between a pause and the resume's arming) is not reported; the process
//! list still shows how it ended.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use nullspace_guest_proto::{ProcessInfo, ProcessStart, Selector};

use crate::agent::{Agent, AgentError};
use crate::error::RuntimeError;
use crate::machine::Machine;
use crate::RuntimeEvent;

/// Pids whose end is waited for.
pub(crate) type Watched = Arc<Mutex<HashSet<u32>>>;

impl Machine {
    /// Start a process in the machine's process table and report its end.
    pub async fn process_start(&self, start: ProcessStart) -> Result<ProcessInfo, RuntimeError> {
        let r = self.agent()?.process_start(start).await;
        let info = self.check(r).await?;
        if info.end.is_none() {
            self.watch_process(info.pid);
        }
        Ok(info)
    }

    /// How many processes of the table have their end waited for.
    pub fn watching(&self) -> usize {
        self.watched.lock().expect("watched lock").len()
    }

    /// Report the end of every process of the table that runs now (after the
    /// machine's agent connected).
    pub(crate) fn watch_processes(self: &Arc<Self>) {
        let (agent, machine) = (self.agent.clone(), Arc::downgrade(self));
        tokio::spawn(async move {
            let listed = agent.process_list().await;
            let Some(m) = machine.upgrade() else { return };
            match listed {
                Ok(all) => all
                    .iter()
                    .filter(|p| p.end.is_none())
                    .for_each(|p| m.watch_process(p.pid)),
                Err(AgentError::Outdated { .. }) => {}
                Err(e) => {
                    tracing::debug!(machine = %m.id(), error = %e, "cannot list processes to watch")
                }
            }
        });
    }

    /// Report process `pid`'s end (once, however often it is asked).
    fn watch_process(&self, pid: u32) {
        if !self.watched.lock().expect("watched lock").insert(pid) {
            return;
        }
        let (agent, events, watched) = (
            self.agent.clone(),
            self.events.clone(),
            self.watched.clone(),
        );
        let id = self.id.clone();
        tokio::spawn(async move {
            let ended = wait(&agent, pid).await;
            watched.lock().expect("watched lock").remove(&pid);
            match ended {
                Ok(Some(info)) => {
                    if let Some(end) = info.end {
                        let tag = info.tag;
                        // Nobody listening is fine.
                        let _ = events.send(RuntimeEvent::ProcessExited { id, pid, tag, end });
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(machine = %id, pid, error = %e, "process wait ended"),
            }
        });
    }
}

/// Wait for `pid` to end: its facts, or `None` when the guest cannot wait (an
/// older agent) or the connection went away first.
async fn wait(agent: &Agent, pid: u32) -> Result<Option<ProcessInfo>, AgentError> {
    match agent.process_wait(Selector::Pid(pid)).await {
        Ok(info) => Ok(Some(info)),
        Err(AgentError::Outdated { .. } | AgentError::Disconnected) => Ok(None),
        Err(e) => Err(e),
    }
}
