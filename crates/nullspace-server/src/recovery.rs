//! What a (re)start and a stop do with machines of a previous run.
//!
//! At start, every machine whose record says it holds something on the host is
//! settled from what is really there: a running machine's VMM is adopted and its
//! agent reconnected, so a restart (or a crash) of the server loses nothing. A
//! machine caught mid-pause or mid-resume stays paused when its saved state is
//! complete and passes its checks, and is taken over running when its VM is
//! alive; otherwise it is marked failed, and its disk is kept (it may be the only
//! copy of the user's data) until the machine is killed. A machine that was
//! starting has what its start made removed and is marked failed; one being
//! killed is finished off. At a stop, machines are kept running unless the
//! server was told to destroy them.

use nullspace_types::MachineState;

use crate::error::ApiResult;
use crate::services::{self, transition};
use crate::state::AppState;
use crate::store::{Change, MachineRow};

/// Why a machine did not survive a restart of the server.
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
pub async fn recover(state: &AppState) -> ApiResult<Recovered> {
    let mut done = Recovered::default();
    for row in state.store_call(|s| s.held_machines()).await? {
        settle(state, &row, &mut done).await?;
    }
    services::templates::build::abandon_unfinished(state).await?;
    Ok(done)
}

async fn settle(state: &AppState, row: &MachineRow, done: &mut Recovered) -> ApiResult<()> {
    use MachineState::*;
    let (id, node) = (&row.id, &state.node);
    match row.state {
        Paused | Killed | Failed => return Ok(()),
        Killing => {
            let _ = node.kill(id).await;
            let ended = Change {
                ended: true,
                ..Default::default()
            };
            transition(state, id, &[Killing], Killed, ended).await?;
            return Ok(());
        }
        Pausing | Resuming if node.recover_paused(id).await => {
            transition(state, id, &[row.state], Paused, Change::default()).await?;
            done.paused += 1;
            return Ok(());
        }
        Starting => {}
        Running | Snapshotting | Pausing | Resuming => match node.adopt(id).await {
            Ok(()) => {
                if row.state != Running {
                    transition(state, id, &[row.state], Running, Change::default()).await?;
                }
                done.adopted += 1;
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(machine = %id, error = %e, "cannot take the machine over")
            }
        },
    }
    // Its disk may hold the user's only copy of their work: keep it until a kill.
    let keep = row.state != Starting;
    node.discard(id, keep).await;
    let reason = if keep {
        format!("{RESTART_NOTE}; its disk is kept until the machine is killed")
    } else {
        RESTART_NOTE.to_owned()
    };
    services::fail(state, id, &reason).await?;
    done.failed += 1;
    Ok(())
}

/// Kill every machine, running or paused (a stop with `--on-exit destroy`).
pub async fn stop_all(state: &AppState) {
    let Ok(rows) = state.store_call(|s| s.held_machines()).await else {
        return;
    };
    for row in rows {
        if let Err(e) = services::machines::destroy(state, &row.id).await {
            tracing::warn!(machine = %row.id, error = ?e, "kill at shutdown failed");
        }
    }
}
