//! `/v1/machines/{id}/processes`: background processes of a machine.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nullspace_api::{
    KillProcessResponse, LogEncoding, ProcessInfo, ProcessList, ProcessLogs, PtySize,
    SignalRequest, StartProcessRequest, StdinRequest,
};
use serde::Deserialize;

use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::params;
use crate::services::processes;
use crate::state::AppState;

/// SIGKILL.
const SIGKILL: i32 = 9;

/// `POST /v1/machines/{id}/processes`.
pub async fn start(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StartProcessRequest>,
) -> ApiResult<(StatusCode, Json<ProcessInfo>)> {
    let id = params::machine_id(&id)?;
    let spec = params::start_spec(req)?;
    let info = processes::start(&state, &tenant, &id, spec).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// `GET /v1/machines/{id}/processes`.
pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ProcessList>> {
    let id = params::machine_id(&id)?;
    let processes = processes::list(&state, &tenant, &id).await?;
    Ok(Json(ProcessList { processes }))
}

/// `GET /v1/machines/{id}/processes/{pid}`.
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, pid)): Path<(String, String)>,
) -> ApiResult<Json<ProcessInfo>> {
    let (id, pid) = (params::machine_id(&id)?, params::pid(&pid)?);
    Ok(Json(processes::get(&state, &tenant, &id, pid).await?))
}

/// Query of `GET …/logs`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// Stdout offset to start at.
    pub stdout_offset: Option<u64>,
    /// Stderr offset to start at.
    pub stderr_offset: Option<u64>,
    /// How the bytes are written.
    #[serde(default)]
    pub encoding: LogEncoding,
}

/// `GET /v1/machines/{id}/processes/{pid}/logs`.
pub async fn logs(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, pid)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Json<ProcessLogs>> {
    let (id, pid) = (params::machine_id(&id)?, params::pid(&pid)?);
    let from = (q.stdout_offset, q.stderr_offset);
    let logs = processes::logs(&state, &tenant, &id, pid, from, q.encoding).await?;
    Ok(Json(logs))
}

/// `POST /v1/machines/{id}/processes/{pid}/stdin`.
pub async fn stdin(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, pid)): Path<(String, String)>,
    ApiJson(req): ApiJson<StdinRequest>,
) -> ApiResult<StatusCode> {
    let (id, pid) = (params::machine_id(&id)?, params::pid(&pid)?);
    let bytes = params::stdin_bytes(req.data, req.data_base64)?;
    processes::input(&state, &tenant, &id, pid, bytes, req.close).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/machines/{id}/processes/{pid}/close-stdin`.
pub async fn close_stdin(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, pid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (id, pid) = (params::machine_id(&id)?, params::pid(&pid)?);
    processes::input(&state, &tenant, &id, pid, Vec::new(), true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/machines/{id}/processes/{pid}/signal`.
pub async fn signal(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, pid)): Path<(String, String)>,
    ApiJson(req): ApiJson<SignalRequest>,
) -> ApiResult<StatusCode> {
    let (id, pid) = (params::machine_id(&id)?, params::pid(&pid)?);
    let number = params::signal("signal", &req.signal)?;
    processes::signal(&state, &tenant, &id, pid, number).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/machines/{id}/processes/{pid}` (also the PTY session route).
pub async fn kill(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, pid)): Path<(String, String)>,
) -> ApiResult<Json<KillProcessResponse>> {
    let (id, pid) = (params::machine_id(&id)?, params::pid(&pid)?);
    processes::signal(&state, &tenant, &id, pid, SIGKILL).await?;
    Ok(Json(KillProcessResponse { pid, killed: true }))
}

/// `POST /v1/machines/{id}/processes/{pid}/resize` (also the PTY session route).
pub async fn resize(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, pid)): Path<(String, String)>,
    ApiJson(size): ApiJson<PtySize>,
) -> ApiResult<StatusCode> {
    let (id, pid) = (params::machine_id(&id)?, params::pid(&pid)?);
    processes::resize(&state, &tenant, &id, pid, params::pty_size(size)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
