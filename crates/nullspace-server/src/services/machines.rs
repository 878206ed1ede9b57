//! Machines: create (a kill while it starts cancels it), kill, timeouts, listing.

use std::time::Duration;

use nullspace_api::{
    CreateMachineRequest, ErrorCode, KillOutcome, KillResponse, SetTimeoutRequest,
    DEFAULT_TEMPLATE, DEFAULT_TIMEOUT_SECS,
};
use nullspace_types::{MachineId, MachineState};
use sha2::{Digest, Sha256};

use super::{moved_on, not_running, transition};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::node::TemplateShape;
use crate::params;
use crate::state::AppState;
use crate::store::{Change, Inserted, ListFilter, MachineRow, Moved, NewMachine};

/// How long a create with a reused idempotency key waits for the first one.
const IDEMPOTENT_WAIT: Duration = Duration::from_secs(120);

/// What a create made.
#[derive(Debug)]
pub enum Created {
    /// A new running machine.
    New(MachineRow),
    /// An earlier create with the same idempotency key made this machine.
    Existing(MachineRow),
}

/// Check a create request and turn it into the row to record.
async fn plan(
    state: &AppState,
    tenant: &Tenant,
    req: &CreateMachineRequest,
    idempotency_key: Option<String>,
) -> ApiResult<NewMachine> {
    let snapshot = match &req.snapshot_id {
        Some(s) => Some(super::lifecycle::load_snapshot(state, tenant, s).await?),
        None => None,
    };
    if let Some(t) = &req.template {
        params::text("template", t, 128)?;
    }
    let template = match (&snapshot, &req.template) {
        (Some(s), Some(t)) if *t != s.template => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "template: snapshot {} is of template {}, got {t}",
                    s.id, s.template
                ),
            ))
        }
        (Some(s), _) => s.template.clone(),
        (None, t) => t.clone().unwrap_or_else(|| DEFAULT_TEMPLATE.to_owned()),
    };
    // A built template's version: the machine restores its saved state.
    let version = match &snapshot {
        None if state.node.template(&template).is_none() => Some(
            super::templates::resolve(state, tenant, &template)
                .await
                .map_err(|e| match e.code {
                    ErrorCode::ValidationError => super::templates::refs::not_found(&template),
                    _ => e,
                })?,
        ),
        _ => None,
    };
    let shape = match (&snapshot, &version) {
        (Some(s), _) => TemplateShape {
            cpu_count: s.cpu_count,
            memory_mb: s.memory_mb,
        },
        (None, Some(v)) => v.shape(),
        (None, None) => state.node.template(&template).ok_or_else(|| {
            ApiError::new(
                ErrorCode::TemplateNotFound,
                format!("template {template:?} not found"),
            )
        })?,
    };
    // A machine has its template's shape: asking for another conflicts with it.
    if let Some(c) = req.cpu_count.filter(|c| *c != shape.cpu_count) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "cpu_count: template {template} has {} vCPU, got {c}",
                shape.cpu_count
            ),
        ));
    }
    if let Some(m) = req.memory_mb.filter(|m| *m != shape.memory_mb) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "memory_mb: template {template} has {} MiB, got {m}",
                shape.memory_mb
            ),
        ));
    }
    let timeout = params::timeout("timeout", req.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS))?;
    params::map("metadata", &req.metadata)?;
    params::envs("envs", &req.envs)?;
    let cwd = req
        .cwd
        .clone()
        .or_else(|| snapshot.as_ref().map(|s| s.cwd.clone()))
        .or_else(|| version.as_ref().map(|v| v.build.cwd.clone()))
        .unwrap_or_else(|| "/workspace".into());
    params::cwd("cwd", &cwd)?;
    let reserved = crate::node::RESERVED_DIR;
    if cwd == reserved || cwd.starts_with(&format!("{reserved}/")) {
        return Err(ApiError::new(
            ErrorCode::ReservedPath,
            "cwd: /workspace/.nullspace is reserved",
        ));
    }
    // A machine from a snapshot keeps the source's environment unless overridden.
    let mut envs = match (&snapshot, &version) {
        (Some(s), _) => s.envs.clone(),
        (None, Some(v)) => v.envs(),
        (None, None) => Default::default(),
    };
    envs.extend(req.envs.clone());
    let idempotency_key = match (idempotency_key, req.idempotency_key.clone()) {
        (Some(h), Some(b)) if h != b => {
            return Err(ApiError::field(
                "idempotency_key",
                "differs from the Idempotency-Key header",
            ))
        }
        (h, b) => h.or(b),
    };
    if idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.chars().count() > 256 || k.contains('\0'))
    {
        return Err(ApiError::field(
            "idempotency_key",
            "must be 1-256 bytes without NUL",
        ));
    }
    Ok(NewMachine {
        tenant_id: tenant.id.clone(),
        template,
        cpu_count: shape.cpu_count,
        memory_mb: shape.memory_mb,
        metadata: req.metadata.clone(),
        envs,
        cwd,
        timeout_secs: timeout,
        idempotency: idempotency_key.map(|k| (k, request_hash(req))),
        timeout_action: req.timeout_action.unwrap_or_default(),
        auto_resume: req.auto_resume.unwrap_or(false),
        snapshot_id: match &version {
            Some(v) => Some(v.snapshot()?),
            None => req.snapshot_id.clone(),
        },
        forked_from: None,
        network: super::network::plan(req, snapshot.as_ref().map(|s| &s.network))?,
    })
}

/// Hash of what a create asks for, idempotency key aside (a reused key must come
/// with the same request).
fn request_hash(req: &CreateMachineRequest) -> String {
    let mut req = req.clone();
    req.idempotency_key = None;
    let json = serde_json::to_vec(&req).unwrap_or_default();
    hex::encode(Sha256::digest(json))
}

/// Create a machine from a template or a snapshot. A kill that arrives while it
/// starts wins: the create answers 409 and the machine never becomes usable.
pub async fn create(
    state: &AppState,
    tenant: &Tenant,
    req: CreateMachineRequest,
    idempotency_key: Option<String>,
) -> ApiResult<Created> {
    let new = plan(state, tenant, &req, idempotency_key).await?;
    let template = new.template.clone();
    let egress = new.network.egress.clone();
    let snapshot_id = new.snapshot_id.clone();
    let id = MachineId::random();
    // Held before the row exists, so a kill always waits for this create to end.
    let gate = state.gates.enter(&id).await;
    let id2 = id.clone();
    let inserted = state
        .store_call(move |s| s.insert_machine(&id2, &new))
        .await?;
    match inserted {
        Inserted::New(_) => {}
        Inserted::Existing(row) => {
            drop(gate);
            return Ok(Created::Existing(
                wait_started(state, tenant, &row.id).await?,
            ));
        }
        Inserted::KeyReused => {
            return Err(ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "idempotency_key: this key was used with a different request; use a new key",
            ))
        }
    }
    let started = match &snapshot_id {
        Some(snap) => {
            state
                .node
                .create_from_snapshot(id.clone(), snap, egress)
                .await
        }
        None => state.node.create(id.clone(), &template, egress).await,
    };
    let result = match started {
        Ok(()) => {
            match transition(
                state,
                &id,
                &[MachineState::Starting],
                MachineState::Running,
                Change::default(),
            )
            .await?
            {
                Moved::From(_) => Ok(Created::New(super::load(state, tenant, &id).await?)),
                // Killed while starting: the kill, next through the gate, destroys it.
                Moved::Not(now) => Err(moved_on(&id, now)),
            }
        }
        Err(e) => {
            let err = ApiError::from(e);
            let change = Change {
                failure_reason: Some(err.message.clone()),
                ended: true,
                ..Default::default()
            };
            let starting = [MachineState::Starting];
            // A create that failed on its own says why; one killed meanwhile says so.
            let err = match transition(state, &id, &starting, MachineState::Failed, change).await? {
                Moved::From(_) => err,
                Moved::Not(now) => moved_on(&id, now),
            };
            Err(match err.code {
                ErrorCode::StateCorrupt | ErrorCode::MachineNotRunning | ErrorCode::NotFound => err,
                ErrorCode::Internal => ApiError::new(
                    ErrorCode::Unavailable,
                    format!("machine could not be created: {}", err.message),
                ),
                code => ApiError::new(
                    code,
                    format!("machine could not be created: {}", err.message),
                ),
            })
        }
    };
    drop(gate);
    result
}

async fn wait_started(state: &AppState, tenant: &Tenant, id: &MachineId) -> ApiResult<MachineRow> {
    let deadline = tokio::time::Instant::now() + IDEMPOTENT_WAIT;
    loop {
        let row = super::load(state, tenant, id).await?;
        if row.state != MachineState::Starting || tokio::time::Instant::now() >= deadline {
            return Ok(row);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kill the tenant's machine `id` (see [`destroy`]).
pub async fn kill(state: &AppState, tenant: &Tenant, id: &MachineId) -> ApiResult<KillResponse> {
    let row = super::load(state, tenant, id).await?;
    match row.state {
        MachineState::Killed => Err(ApiError::new(
            ErrorCode::MachineNotRunning,
            format!("machine {id} is already killed"),
        )),
        MachineState::Killing => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("machine {id} is being killed"),
        )),
        _ => destroy(state, id).await,
    }
}

/// Destroy machine `id` whatever it is doing: record `killing` at once (so an
/// operation in flight loses), wait for that operation to end, then destroy what
/// the node holds. Used by requests, the timeout reaper and a destroying stop.
pub async fn destroy(state: &AppState, id: &MachineId) -> ApiResult<KillResponse> {
    use MachineState::*;
    let killable = [
        Starting,
        Running,
        Snapshotting,
        Pausing,
        Paused,
        Resuming,
        Failed,
    ];
    let previous_state = match transition(state, id, &killable, Killing, Change::default()).await? {
        Moved::From(prev) => prev,
        Moved::Not(Some(Killing)) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("machine {id} is being killed"),
            ))
        }
        Moved::Not(now) => return Err(moved_on(id, now)),
    };
    let gate = state.gates.enter(id).await;
    let destroyed = state.node.kill(id).await;
    let ended = Change {
        ended: true,
        ..Default::default()
    };
    transition(state, id, &[Killing], Killed, ended).await?;
    drop(gate);
    destroyed.map_err(ApiError::from)?;
    Ok(KillResponse {
        id: id.clone(),
        outcome: if previous_state == Starting {
            KillOutcome::CreateCancelled
        } else {
            KillOutcome::Killed
        },
        previous_state,
    })
}

/// Set the timeout (and its action) of a running or paused machine.
pub async fn set_timeout(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: SetTimeoutRequest,
) -> ApiResult<MachineRow> {
    let row = super::load(state, tenant, id).await?;
    if !matches!(row.state, MachineState::Running | MachineState::Paused) {
        let mut e = not_running(id, row.state);
        e.message
            .push_str("; only running or paused machines have a timeout");
        return Err(e);
    }
    let t = params::timeout("timeout", req.timeout)?;
    let i = id.clone();
    state
        .store_call(move |s| {
            s.set_end(&i, t)?;
            if let Some(action) = req.action {
                s.set_timeout_action(&i, action)?;
            }
            Ok(())
        })
        .await?;
    super::load(state, tenant, id).await
}

/// One page of the tenant's machines.
pub async fn list(
    state: &AppState,
    tenant: &Tenant,
    filter: ListFilter,
) -> ApiResult<(Vec<MachineRow>, bool)> {
    let t = tenant.id.clone();
    state
        .store_call(move |s| s.list_machines(&t, &filter))
        .await
}
