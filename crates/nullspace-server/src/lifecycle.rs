//! Pause, resume and wake: the state changes shared by requests, auto-resume and
//! the timeout reaper. Each change claims the machine with a compare-and-swap on
//! its stored state, so two requests never pause or resume one machine at once;
//! a request that finds a resume in progress waits for it.

use std::time::Duration;

use nullspace_api::{ErrorCode, DEFAULT_TIMEOUT_SECS};
use nullspace_types::{MachineId, MachineState};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::routes::machines::load;
use crate::state::AppState;
use crate::store::{now, MachineRow};

/// How long a request waits for a resume started by another request.
const RESUME_WAIT: Duration = Duration::from_secs(120);

fn not_running(id: &MachineId, s: MachineState) -> ApiError {
    ApiError::new(
        ErrorCode::MachineNotRunning,
        format!("machine {id} is {}", crate::store::state_str(s)),
    )
}

/// Pause running machine `id` (the caller checked it is the tenant's).
pub async fn pause(state: &AppState, id: &MachineId) -> ApiResult<()> {
    if !state
        .store
        .swap_state(id, MachineState::Running, MachineState::Pausing)?
    {
        let row = state.store.machine_by_id(id)?;
        return Err(not_running(
            id,
            row.map_or(MachineState::Killed, |r| r.state),
        ));
    }
    if let Err(e) = state.node.pause(id).await {
        let e = ApiError::from(e);
        let back = if state.node.is_alive(id) {
            MachineState::Running
        } else {
            MachineState::Failed
        };
        state.store.set_state(id, back, None, Some(&e.message))?;
        return Err(e);
    }
    state
        .store
        .set_state(id, MachineState::Paused, None, None)?;
    Ok(())
}

/// Resume machine `row` if it is paused, or wait for a resume in progress; a
/// running machine is left as is.
pub async fn resume(state: &AppState, tenant: &Tenant, row: &MachineRow) -> ApiResult<MachineRow> {
    let id = &row.id;
    match row.state {
        MachineState::Running => return Ok(row.clone()),
        MachineState::Paused | MachineState::Resuming => {}
        MachineState::Pausing => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("machine {id} is being paused"),
            ))
        }
        s => return Err(not_running(id, s)),
    }
    if !state
        .store
        .swap_state(id, MachineState::Paused, MachineState::Resuming)?
    {
        return wait_resumed(state, tenant, id).await;
    }
    match state.node.resume(id).await {
        Ok(pid) => {
            state
                .store
                .set_state(id, MachineState::Running, Some(pid), None)?;
            // A machine whose end passed while it was paused gets a fresh default span.
            if row.end_at_unix <= now().1 {
                state.store.set_end(id, DEFAULT_TIMEOUT_SECS)?;
            }
            load(state, tenant, id).await
        }
        Err(e) => {
            let e = ApiError::from(e);
            state
                .store
                .set_state(id, MachineState::Paused, None, Some(&e.message))?;
            Err(e)
        }
    }
}

/// Wait until another request's resume of `id` ends.
async fn wait_resumed(state: &AppState, tenant: &Tenant, id: &MachineId) -> ApiResult<MachineRow> {
    let deadline = tokio::time::Instant::now() + RESUME_WAIT;
    loop {
        let row = load(state, tenant, id).await?;
        match row.state {
            MachineState::Running => return Ok(row),
            MachineState::Resuming if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            MachineState::Resuming => {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("machine {id} is still resuming"),
                ))
            }
            // The other resume failed: the machine stayed paused.
            s => return Err(not_running(id, s)),
        }
    }
}

/// The tenant's machine `id`, running: a paused machine with auto-resume is woken
/// first (and a resume in progress waited for); anything else not running is 409.
pub async fn running(state: &AppState, tenant: &Tenant, id: &MachineId) -> ApiResult<MachineRow> {
    let row = load(state, tenant, id).await?;
    match row.state {
        MachineState::Running => Ok(row),
        MachineState::Paused | MachineState::Resuming if row.auto_resume => {
            tracing::info!(machine = %id, "auto-resume");
            resume(state, tenant, &row).await
        }
        s => Err(not_running(id, s)),
    }
}
