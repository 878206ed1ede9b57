//! `/v1/machines/{id}/pause` and `/resume`.

use axum::extract::{Path, State};
use axum::Json;
use nullspace_api::{ErrorCode, Machine, DEFAULT_TIMEOUT_SECS};
use nullspace_types::MachineState;

use super::machines::{load, load_running, parse_id};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::now;

/// `POST /v1/machines/{id}/pause`.
pub async fn pause(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Machine>> {
    let id = parse_id(&id)?;
    load_running(&state, &tenant, &id).await?;
    state
        .store
        .set_state(&id, MachineState::Pausing, None, None)?;
    if let Err(e) = state.node.pause(&id).await {
        let e = ApiError::from(e);
        let back = if state.node.is_alive(&id) {
            MachineState::Running
        } else {
            MachineState::Failed
        };
        state.store.set_state(&id, back, None, Some(&e.message))?;
        return Err(e);
    }
    state
        .store
        .set_state(&id, MachineState::Paused, None, None)?;
    Ok(Json(load(&state, &tenant, &id).await?.to_api()))
}

/// `POST /v1/machines/{id}/resume`: a running machine is returned as is.
pub async fn resume(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Machine>> {
    let id = parse_id(&id)?;
    let row = load(&state, &tenant, &id).await?;
    match row.state {
        MachineState::Running => return Ok(Json(row.to_api())),
        MachineState::Paused => {}
        MachineState::Pausing | MachineState::Resuming => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("machine {id} is being paused or resumed"),
            ))
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::MachineNotRunning,
                format!("machine {id} cannot be resumed"),
            ))
        }
    }
    state
        .store
        .set_state(&id, MachineState::Resuming, None, None)?;
    match state.node.resume(&id).await {
        Ok(pid) => {
            state
                .store
                .set_state(&id, MachineState::Running, Some(pid), None)?;
            // A machine whose end passed while it was paused gets a fresh default span.
            if row.end_at_unix <= now().1 {
                state.store.set_end(&id, DEFAULT_TIMEOUT_SECS)?;
            }
            Ok(Json(load(&state, &tenant, &id).await?.to_api()))
        }
        Err(e) => {
            let e = ApiError::from(e);
            state
                .store
                .set_state(&id, MachineState::Paused, None, Some(&e.message))?;
            Err(e)
        }
    }
}
