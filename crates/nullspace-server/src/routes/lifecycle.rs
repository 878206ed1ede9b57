//! `/v1/machines/{id}/pause`, `/resume`, `/fork` and `/metrics`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nullspace_api::{
    ErrorCode, ForkRequest, ForkResponse, Machine, MachineMetrics, DEFAULT_TIMEOUT_SECS,
    MAX_FORK_COUNT,
};
use nullspace_types::{MachineId, MachineState};

use super::machines::{load, parse_id, validate_map, validate_timeout};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJsonOrEmpty;
use crate::lifecycle;
use crate::state::AppState;
use crate::store::{now, rfc3339, NewMachine};

/// `POST /v1/machines/{id}/pause`.
pub async fn pause(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Machine>> {
    let id = parse_id(&id)?;
    load(&state, &tenant, &id).await?;
    lifecycle::pause(&state, &id).await?;
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
    Ok(Json(
        lifecycle::resume(&state, &tenant, &row).await?.to_api(),
    ))
}

/// `POST /v1/machines/{id}/fork`.
pub async fn fork(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<ForkRequest>,
) -> ApiResult<(StatusCode, Json<ForkResponse>)> {
    let id = parse_id(&id)?;
    let count = req.count.unwrap_or(1);
    if !(1..=MAX_FORK_COUNT).contains(&count) {
        return Err(ApiError::field(
            "count",
            format!("must be between 1 and {MAX_FORK_COUNT}, got {count}"),
        ));
    }
    let timeout = validate_timeout("timeout", req.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS))?;
    if let Some(m) = &req.metadata {
        validate_map("metadata", m)?;
    }
    let source = lifecycle::running(&state, &tenant, &id).await?;
    let mut children = Vec::new();
    for _ in 0..count {
        let child = MachineId::random();
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
            idempotency_key: None,
            timeout_action: source.timeout_action,
            auto_resume: source.auto_resume,
            snapshot_id: None,
            forked_from: Some(id.clone()),
        };
        state.store.insert_machine(&child, &new)?;
        children.push(child);
    }
    match state.node.fork(&id, children.clone()).await {
        Ok((pids, stall_ms)) => {
            let mut machines = Vec::new();
            for (child, pid) in children.iter().zip(pids) {
                state
                    .store
                    .set_state(child, MachineState::Running, Some(pid), None)?;
                machines.push(load(&state, &tenant, child).await?.to_api());
            }
            Ok((
                StatusCode::CREATED,
                Json(ForkResponse {
                    machines,
                    source_stall_ms: stall_ms,
                }),
            ))
        }
        Err(e) => {
            let e = ApiError::from(e);
            for child in &children {
                state
                    .store
                    .set_state(child, MachineState::Failed, None, Some(&e.message))?;
            }
            if !state.node.is_alive(&id) {
                state
                    .store
                    .set_state(&id, MachineState::Failed, None, Some(&e.message))?;
            }
            Err(match e.code {
                ErrorCode::Internal => ApiError::new(
                    ErrorCode::Unavailable,
                    format!("fork failed: {}", e.message),
                ),
                _ => e,
            })
        }
    }
}

/// `GET /v1/machines/{id}/metrics`.
pub async fn metrics(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineMetrics>> {
    let id = parse_id(&id)?;
    let row = lifecycle::running(&state, &tenant, &id).await?;
    let m = state.node.metrics(&id).await.map_err(ApiError::from)?;
    let (_, now_unix) = now();
    let created = time::OffsetDateTime::parse(
        &row.created_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|t| t.unix_timestamp())
    .unwrap_or(now_unix);
    Ok(Json(MachineMetrics {
        cpu_count: m.cpu_count,
        cpu_used_pct: m.cpu_used_pct,
        mem_total_bytes: m.mem_total_bytes,
        mem_used_bytes: m.mem_used_bytes,
        disk_total_bytes: m.disk_total_bytes,
        disk_used_bytes: m.disk_used_bytes,
        uptime_secs: (now_unix - created).max(0) as u64,
        timestamp: rfc3339(now_unix),
    }))
}
