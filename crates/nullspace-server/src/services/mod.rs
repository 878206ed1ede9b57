//! The rules of the control plane, between the routes (which parse and answer)
//! and the store and node (which keep and do).
//!
//! Every machine state change goes through [`transition`]: it checks the change
//! against the table in `nullspace-types`, writes it with a compare-and-swap on
//! the stored row on a blocking thread, and publishes it on the [`EventBus`].
//! Operations that change what a machine is on its node hold the machine's
//! [`gates::Gate`], so they happen one at a time; a kill records itself first
//! (`killing`) and then waits for the gate, so whatever was in flight finds it
//! lost and answers 409, and the kill always wins.

pub mod commands;
pub mod events;
pub mod files;
pub mod gates;
pub mod git;
pub mod lifecycle;
pub mod machines;
pub mod network;
pub mod node_events;
pub mod previews;
pub mod processes;
pub mod proxy;
pub mod proxy_pool;
pub mod signed_urls;
pub mod ssh;
pub mod templates;
pub mod uploads;

use nullspace_api::ErrorCode;
use nullspace_types::{MachineId, MachineState};

pub use events::{Event, EventBus, ProcessExited, StateChanged};
pub use gates::{Gate, Gates};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{Change, MachineRow, Moved};

/// Move machine `id` from one of `from` to `to` (with `change`), if it is in one
/// of them; publishes the change.
pub async fn transition(
    state: &AppState,
    id: &MachineId,
    from: &[MachineState],
    to: MachineState,
    change: Change,
) -> ApiResult<Moved> {
    if let Some(bad) = from.iter().find(|f| !f.can_become(to)) {
        return Err(ApiError::new(
            ErrorCode::Internal,
            format!("bug: machine {id} asked to go from {bad} to {to}"),
        ));
    }
    let (i, f) = (id.clone(), from.to_vec());
    let moved = state
        .store_call(move |s| s.transition(&i, &f, to, &change))
        .await?;
    if let Moved::From(prev) = moved {
        if to != MachineState::Running {
            // Its network goes with its VM: pooled preview connections are dead.
            state.proxy_pool.forget(id);
        }
        state.events.publish(Event::State(StateChanged {
            machine: id.clone(),
            from: prev,
            to,
        }));
    }
    Ok(moved)
}

/// The tenant's machine `id`, or 404.
pub async fn load(state: &AppState, tenant: &Tenant, id: &MachineId) -> ApiResult<MachineRow> {
    let (t, i) = (tenant.id.clone(), id.clone());
    state
        .store_call(move |s| s.get_machine(&t, &i))
        .await?
        .ok_or_else(|| not_found(id))
}

fn not_found(id: &MachineId) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("machine {id} not found"))
}

/// 409 for a machine that is not running.
pub fn not_running(id: &MachineId, s: MachineState) -> ApiError {
    let why = match s {
        MachineState::Killing | MachineState::Killed => format!("machine {id} was killed"),
        s => format!("machine {id} is {s}"),
    };
    ApiError::new(ErrorCode::MachineNotRunning, why)
}

/// The error to answer when an operation on machine `id` failed with `err`: if a
/// kill (or a failure) got to the machine meanwhile, the operation lost a race
/// and says so (409, or 404 once the record is gone); otherwise `err`.
pub async fn lost_or(state: &AppState, id: &MachineId, err: ApiError) -> ApiError {
    let i = id.clone();
    match state.store_call(move |s| s.machine_by_id(&i)).await {
        Ok(None) => not_found(id),
        // A kill that got there first explains whatever failed, even the VM's
        // death it caused; a VM that died by itself is reported as such.
        Ok(Some(row))
            if matches!(row.state, MachineState::Killing | MachineState::Killed)
                || (row.state == MachineState::Failed && err.code != ErrorCode::MachineDied) =>
        {
            not_running(id, row.state)
        }
        _ => err,
    }
}

/// Answer of an operation that found machine `id` moved on (`Moved::Not`).
pub fn moved_on(id: &MachineId, now: Option<MachineState>) -> ApiError {
    match now {
        None => not_found(id),
        Some(s) => not_running(id, s),
    }
}

/// The answer of a node call on machine `id`: its value, or its error after the
/// machine's record caught up with it (a VM that died is marked failed; an
/// operation that lost a race with a kill says so, see [`lost_or`]).
pub async fn settle<T>(
    state: &AppState,
    id: &MachineId,
    result: Result<T, crate::node::NodeError>,
) -> ApiResult<T> {
    match result {
        Ok(v) => Ok(v),
        Err(e) => {
            let err = ApiError::from(e);
            if err.code == ErrorCode::MachineDied {
                fail(state, id, &err.message).await?;
            }
            Err(lost_or(state, id, err).await)
        }
    }
}

/// Record that machine `id`'s VM died (only a live machine becomes failed; a kill
/// in progress wins).
pub async fn fail(state: &AppState, id: &MachineId, reason: &str) -> ApiResult<()> {
    use MachineState::*;
    let change = Change {
        failure_reason: Some(reason.to_owned()),
        ended: true,
        ..Default::default()
    };
    transition(
        state,
        id,
        &[Starting, Running, Snapshotting, Pausing, Resuming],
        Failed,
        change,
    )
    .await
    .map(drop)
}
