//! `/v1/machines/{id}/pause`, `/resume`, `/fork` and `/metrics`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nullspace_api::{ForkRequest, ForkResponse, Machine, MachineMetrics};

use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::extract::ApiJsonOrEmpty;
use crate::params;
use crate::services::{self, lifecycle};
use crate::state::AppState;
use crate::store::{now, rfc3339};

/// `POST /v1/machines/{id}/pause`.
pub async fn pause(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Machine>> {
    let id = params::machine_id(&id)?;
    services::load(&state, &tenant, &id).await?;
    lifecycle::pause(&state, &id).await?;
    Ok(Json(services::load(&state, &tenant, &id).await?.to_api()))
}

/// `POST /v1/machines/{id}/resume`: a running machine is returned as is.
pub async fn resume(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Machine>> {
    let id = params::machine_id(&id)?;
    let row = services::load(&state, &tenant, &id).await?;
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
    let id = params::machine_id(&id)?;
    let (rows, source_stall_ms) = lifecycle::fork(&state, &tenant, &id, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(ForkResponse {
            machines: rows.iter().map(|r| r.to_api()).collect(),
            source_stall_ms,
        }),
    ))
}

/// `GET /v1/machines/{id}/metrics`.
pub async fn metrics(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<MachineMetrics>> {
    let id = params::machine_id(&id)?;
    let (row, m) = lifecycle::metrics(&state, &tenant, &id).await?;
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
