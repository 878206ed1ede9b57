//! What a (re)start and a stop do with machines of a previous run.
//!
//! At start, every machine the database calls `running` is taken over from the
//! record the runtime keeps in its directory: its VMM is adopted and its agent
//! reconnected, so a restart (or a crash) of the server loses nothing. A machine
//! that cannot be taken over (its VM died, or it was still `starting` when the
//! previous run ended) has whatever is left of it removed and is marked `failed`
//! with a note. A machine caught in the middle of a pause or a resume stays
//! paused when its saved state is complete and passes its checks. At a stop, machines are kept running unless the server was told
//! to destroy them.

use nullspace_types::MachineState;

use crate::node::Node;
use crate::state::AppState;
use crate::store::{Store, StoreError};

/// Note on rows of machines lost across a restart.
pub const RESTART_NOTE: &str = "the machine did not survive a restart of the server";

/// What recovery did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Machines taken over.
    pub adopted: usize,
    /// Machines marked failed.
    pub failed: usize,
    /// Machines kept paused after an interrupted pause or resume.
    pub paused: usize,
}

/// Take over or clean up every machine left live by a previous run.
pub async fn recover(store: &Store, node: &dyn Node) -> Result<Recovered, StoreError> {
    let mut done = Recovered::default();
    for row in store.live_machines()? {
        if matches!(row.state, MachineState::Pausing | MachineState::Resuming)
            && node.recover_paused(&row.id).await
        {
            store.set_state(
                &row.id,
                MachineState::Paused,
                None,
                Some("kept paused after an interrupted pause or resume"),
            )?;
            done.paused += 1;
            continue;
        }
        if matches!(row.state, MachineState::Running | MachineState::Resuming) {
            match node.adopt(&row.id).await {
                Ok(pid) => {
                    store.set_state(&row.id, MachineState::Running, Some(pid), None)?;
                    done.adopted += 1;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(machine = %row.id, error = %e, "cannot take the machine over")
                }
            }
        }
        node.discard(&row.id).await;
        store.set_state(&row.id, MachineState::Failed, None, Some(RESTART_NOTE))?;
        done.failed += 1;
    }
    Ok(done)
}

/// Kill every machine, running or paused (a stop with `--on-exit destroy`).
pub async fn stop_all(state: &AppState) {
    let Ok(rows) = state.store.held_machines() else {
        return;
    };
    for row in rows {
        if let Err(e) =
            crate::routes::machines::kill_machine(state, &row.id, "server stopped").await
        {
            tracing::warn!(machine = %row.id, error = ?e, "kill at shutdown failed");
        }
    }
}
