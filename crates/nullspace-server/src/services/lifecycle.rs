//! Pause, resume and wake, fork and snapshots: each holds the machine's gate and
//! moves its record with [`transition`], so a kill that arrives meanwhile wins.

use nullspace_api::{
    CreateSnapshotRequest, ErrorCode, ForkRequest, DEFAULT_TIMEOUT_SECS, MAX_FORK_COUNT,
};
use nullspace_types::{MachineId, MachineState, SnapshotId};

use super::{fail, load, lost_or, moved_on, not_running, settle, transition};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::node::{Metrics, NodeErrorCode};
use crate::params;
use crate::state::AppState;
use crate::store::{Change, Inserted, MachineRow, Moved, NewMachine, NewSnapshot, SnapshotRow};

/// The tenant's snapshot `id`, or 404.
pub async fn load_snapshot(
    state: &AppState,
    tenant: &Tenant,
    id: &SnapshotId,
) -> ApiResult<SnapshotRow> {
    let (t, i) = (tenant.id.clone(), id.clone());
    state
        .store_call(move |s| s.get_snapshot(&t, &i))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("snapshot {id} not found")))
}

/// Pause running machine `id` (the caller checked it is the tenant's).
pub async fn pause(state: &AppState, id: &MachineId) -> ApiResult<()> {
    let gate = state.gates.enter(id).await;
    let moved = transition(
        state,
        id,
        &[MachineState::Running],
        MachineState::Pausing,
        Change::default(),
    )
    .await?;
    if let Moved::Not(now) = moved {
        return Err(match now {
            Some(MachineState::Paused) => ApiError::new(
                ErrorCode::MachineNotRunning,
                format!("machine {id} is already paused"),
            ),
            now => moved_on(id, now),
        });
    }
    let result = match state.node.pause(id).await {
        Ok(()) => match transition(
            state,
            id,
            &[MachineState::Pausing],
            MachineState::Paused,
            Change::default(),
        )
        .await?
        {
            Moved::From(_) => Ok(()),
            Moved::Not(now) => Err(moved_on(id, now)),
        },
        Err(e) => {
            let err = ApiError::from(e);
            if state.node.is_alive(id) {
                transition(
                    state,
                    id,
                    &[MachineState::Pausing],
                    MachineState::Running,
                    Change::default(),
                )
                .await?;
            } else {
                fail(state, id, &err.message).await?;
            }
            Err(lost_or(state, id, err).await)
        }
    };
    drop(gate);
    result
}

/// Resume machine `row` if it is paused (a resume in progress is waited for); a
/// running machine is returned as is.
pub async fn resume(state: &AppState, tenant: &Tenant, row: &MachineRow) -> ApiResult<MachineRow> {
    let id = &row.id;
    if row.state == MachineState::Running {
        return Ok(row.clone());
    }
    let gate = state.gates.enter(id).await;
    // Another request may have resumed (or killed) it while this one waited.
    let row = load(state, tenant, id).await?;
    let moved = match row.state {
        MachineState::Running => return Ok(row),
        MachineState::Paused => {
            transition(
                state,
                id,
                &[MachineState::Paused],
                MachineState::Resuming,
                Change::default(),
            )
            .await?
        }
        MachineState::Pausing => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("machine {id} is being paused"),
            ))
        }
        s => return Err(not_running(id, s)),
    };
    if let Moved::Not(now) = moved {
        return Err(moved_on(id, now));
    }
    let result = match state.node.resume(id).await {
        Ok(()) => {
            // A machine whose end passed while it was paused gets a fresh default
            // span, in the same write that makes it running.
            let change = Change {
                renew_if_passed: Some(DEFAULT_TIMEOUT_SECS),
                ..Default::default()
            };
            match transition(
                state,
                id,
                &[MachineState::Resuming],
                MachineState::Running,
                change,
            )
            .await?
            {
                Moved::From(_) => load(state, tenant, id).await,
                Moved::Not(now) => Err(moved_on(id, now)),
            }
        }
        Err(e) => {
            let err = ApiError::from(e);
            transition(
                state,
                id,
                &[MachineState::Resuming],
                MachineState::Paused,
                Change::default(),
            )
            .await?;
            Err(lost_or(state, id, err).await)
        }
    };
    drop(gate);
    result
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

/// Take the gate of running machine `id` and check it is still running.
async fn enter_running(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
) -> ApiResult<(super::Gate, MachineRow)> {
    running(state, tenant, id).await?;
    let gate = state.gates.enter(id).await;
    let row = load(state, tenant, id).await?;
    if row.state != MachineState::Running {
        return Err(not_running(id, row.state));
    }
    Ok((gate, row))
}

/// Fork running machine `id` into `count` children; returns them (running) and
/// how long the source was stopped.
pub async fn fork(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: ForkRequest,
) -> ApiResult<(Vec<MachineRow>, u64)> {
    let count = req.count.unwrap_or(1);
    if !(1..=MAX_FORK_COUNT).contains(&count) {
        return Err(ApiError::field(
            "count",
            format!("must be between 1 and {MAX_FORK_COUNT}, got {count}"),
        ));
    }
    let timeout = params::timeout("timeout", req.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS))?;
    if let Some(m) = &req.metadata {
        params::map("metadata", m)?;
    }
    let (gate, source) = enter_running(state, tenant, id).await?;
    let mut children = Vec::new();
    let mut child_gates = Vec::new();
    for _ in 0..count {
        let child = MachineId::random();
        child_gates.push(state.gates.enter(&child).await);
        let new = NewMachine {
            tenant_id: tenant.id.clone(),
            template: source.template.clone(),
            cpu_count: source.cpu_count,
            memory_mb: source.memory_mb,
            metadata: req
                .metadata
                .clone()
                .unwrap_or_else(|| source.metadata.clone()),
            envs: source.envs.clone(),
            cwd: source.cwd.clone(),
            timeout_secs: timeout,
            idempotency: None,
            timeout_action: source.timeout_action,
            auto_resume: source.auto_resume,
            snapshot_id: None,
            forked_from: Some(id.clone()),
            network: source.network.clone(),
        };
        let c = child.clone();
        match state
            .store_call(move |s| s.insert_machine(&c, &new))
            .await?
        {
            Inserted::New(_) => children.push(child),
            other => {
                return Err(ApiError::new(
                    ErrorCode::Internal,
                    format!("bug: fork child recorded as {other:?}"),
                ))
            }
        }
    }
    let result = match state.node.fork(id, children.clone()).await {
        Ok(stall_ms) => {
            let mut rows = Vec::new();
            let mut lost = None;
            for child in &children {
                match transition(
                    state,
                    child,
                    &[MachineState::Starting],
                    MachineState::Running,
                    Change::default(),
                )
                .await?
                {
                    Moved::From(_) => rows.push(load(state, tenant, child).await?),
                    // A child killed while starting is destroyed by its kill.
                    Moved::Not(now) => lost = lost.or(Some(moved_on(child, now))),
                }
            }
            match lost {
                None => Ok((rows, stall_ms)),
                Some(e) => Err(e),
            }
        }
        Err(e) => {
            let err = ApiError::from(e);
            for child in &children {
                fail(state, child, &err.message).await?;
            }
            if !state.node.is_alive(id) {
                fail(state, id, &err.message).await?;
            }
            let err = lost_or(state, id, err).await;
            Err(match err.code {
                ErrorCode::Internal => ApiError::new(
                    ErrorCode::Unavailable,
                    format!("fork failed: {}", err.message),
                ),
                _ => err,
            })
        }
    };
    drop(child_gates);
    drop(gate);
    result
}

/// Snapshot running machine `id` (it keeps running).
pub async fn snapshot(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: CreateSnapshotRequest,
) -> ApiResult<SnapshotRow> {
    params::map("metadata", &req.metadata)?;
    let (gate, source) = enter_running(state, tenant, id).await?;
    let snap_id = SnapshotId::random();
    let taken = state.node.snapshot(id, snap_id.clone()).await;
    let facts = match taken {
        Ok(f) => f,
        Err(e) => {
            let err = ApiError::from(e);
            if !state.node.is_alive(id) {
                fail(state, id, &err.message).await?;
            }
            return Err(lost_or(state, id, err).await);
        }
    };
    let new = NewSnapshot {
        id: snap_id,
        tenant_id: tenant.id.clone(),
        machine_id: id.clone(),
        template: source.template,
        cpu_count: source.cpu_count,
        memory_mb: source.memory_mb,
        metadata: req.metadata,
        envs: source.envs,
        cwd: source.cwd,
        size_bytes: facts.size_bytes,
        source_stall_ms: facts.stall_ms,
        network: source.network,
    };
    let row = state.store_call(move |s| s.insert_snapshot(&new)).await;
    drop(gate);
    row
}

/// Delete a snapshot: refused while a machine started from it exists.
pub async fn delete_snapshot(state: &AppState, tenant: &Tenant, id: &SnapshotId) -> ApiResult<()> {
    load_snapshot(state, tenant, id).await?;
    let i = id.clone();
    let users = state.store_call(move |s| s.snapshot_users(&i)).await?;
    if !users.is_empty() {
        let names: Vec<String> = users.iter().map(ToString::to_string).collect();
        return Err(ApiError::new(
            ErrorCode::SnapshotInUse,
            format!(
                "snapshot {id} is used by {}; kill them first",
                names.join(", ")
            ),
        ));
    }
    match state.node.delete_snapshot(id).await {
        Ok(()) => {}
        Err(e) if e.code == NodeErrorCode::SnapshotNotFound => {}
        Err(e) => return Err(e.into()),
    }
    let i = id.clone();
    state.store_call(move |s| s.delete_snapshot(&i)).await
}

/// CPU, memory and disk use of running machine `id`, and the row it was read for.
pub async fn metrics(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
) -> ApiResult<(MachineRow, Metrics)> {
    let row = running(state, tenant, id).await?;
    let m = settle(state, id, state.node.metrics(id).await).await?;
    Ok((row, m))
}
