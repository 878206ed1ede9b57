//! `/v1/machines/{id}/pty`: terminal sessions, which are processes of the
//! process table that run on a terminal; a session's id is its pid.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use nullspace_api::{
    CreatePtyRequest, ErrorCode, PtySession, PtySessionList, PtySize, StartProcessRequest,
};

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJsonOrEmpty;
use crate::params;
use crate::services::processes;
use crate::state::AppState;

/// Default terminal size.
const DEFAULT_SIZE: PtySize = PtySize { cols: 80, rows: 24 };

/// 404 for a pid that is not a terminal session.
fn no_session(pid: u32) -> ApiError {
    ApiError::new(
        ErrorCode::ProcessNotFound,
        format!("no terminal session {pid} in this machine"),
    )
}

/// `POST /v1/machines/{id}/pty`.
pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<CreatePtyRequest>,
) -> ApiResult<(StatusCode, Json<PtySession>)> {
    let id = params::machine_id(&id)?;
    let size = PtySize {
        cols: req.cols.unwrap_or(DEFAULT_SIZE.cols),
        rows: req.rows.unwrap_or(DEFAULT_SIZE.rows),
    };
    // A login shell unless told otherwise, as a terminal user expects.
    let (command, args) = match req.command {
        Some(c) => (Some(c), None),
        None => (None, Some(vec!["/bin/bash".into(), "-l".into()])),
    };
    let start = StartProcessRequest {
        command,
        args,
        cwd: req.cwd,
        envs: req.envs,
        user: req.user,
        stdin: Some(true),
        pty: Some(size),
        ..Default::default()
    };
    let process = processes::start(&state, &tenant, &id, params::start_spec(start)?).await?;
    let session = PtySession {
        session_id: process.pid,
        process,
    };
    Ok((StatusCode::CREATED, Json(session)))
}

/// `GET /v1/machines/{id}/pty`.
pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<PtySessionList>> {
    let id = params::machine_id(&id)?;
    let sessions = processes::list(&state, &tenant, &id)
        .await?
        .into_iter()
        .filter(|p| p.pty.is_some())
        .map(|process| PtySession {
            session_id: process.pid,
            process,
        })
        .collect();
    Ok(Json(PtySessionList { sessions }))
}

/// `GET /v1/machines/{id}/pty/{pid}`.
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((id, pid)): Path<(String, String)>,
) -> ApiResult<Json<PtySession>> {
    let (id, pid) = (params::machine_id(&id)?, params::pid(&pid)?);
    let process = processes::get(&state, &tenant, &id, pid)
        .await
        .map_err(|e| match e.code {
            ErrorCode::ProcessNotFound => no_session(pid),
            _ => e,
        })?;
    if process.pty.is_none() {
        return Err(no_session(pid));
    }
    Ok(Json(PtySession {
        session_id: pid,
        process,
    }))
}
