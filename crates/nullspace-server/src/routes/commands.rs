//! `/v1/machines/{id}/commands`: foreground commands.

use axum::extract::{Path, State};
use axum::Json;
use nullspace_api::{CommandResult, ErrorCode, RunCommandRequest};
use nullspace_guest_proto::ExecRequest;
use nullspace_types::MachineState;

use super::machines::parse_id;
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;

/// Default command timeout in seconds.
const DEFAULT_TIMEOUT: f64 = 60.0;
/// Default guest user of commands.
pub const DEFAULT_USER: &str = "user";

/// `POST /v1/machines/{id}/commands`.
pub async fn run(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RunCommandRequest>,
) -> ApiResult<Json<CommandResult>> {
    let id = parse_id(&id)?;
    let row = crate::lifecycle::running(&state, &tenant, &id).await?;
    let (argv, shell) = match (req.command, req.args) {
        (Some(c), None) if !c.trim().is_empty() => (Vec::new(), Some(c)),
        (None, Some(a)) if !a.is_empty() => (a, None),
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "command",
                "give either command or args, not both",
            ))
        }
        _ => {
            return Err(ApiError::field(
                "command",
                "give a non-empty command or args",
            ))
        }
    };
    let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if !timeout.is_finite() || !(0.0..=86_400.0).contains(&timeout) {
        return Err(ApiError::field(
            "timeout",
            format!("must be 0 (no limit) to 86400 seconds, got {timeout}"),
        ));
    }
    if let Some(cwd) = &req.cwd {
        if !cwd.starts_with('/') {
            return Err(ApiError::field("cwd", "must be an absolute path"));
        }
    }
    let mut env = row.envs.clone();
    env.extend(req.envs);
    let exec = ExecRequest {
        argv,
        shell,
        env,
        cwd: Some(req.cwd.unwrap_or(row.cwd)),
        user: Some(req.user.unwrap_or_else(|| DEFAULT_USER.into())),
        timeout_ms: (timeout > 0.0).then_some((timeout * 1000.0) as u64),
        stdin: false,
    };
    let out = state
        .node
        .exec(&id, exec, req.stdin.map(String::into_bytes))
        .await
        .map_err(ApiError::from);
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            if e.code == ErrorCode::MachineDied {
                state
                    .store
                    .set_state(&id, MachineState::Failed, None, Some(&e.message))?;
            }
            return Err(e);
        }
    };
    let exit_code = out
        .result
        .exit_code
        .unwrap_or_else(|| 128 + out.result.signal.unwrap_or(0));
    Ok(Json(CommandResult {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit_code,
        duration_ms: out.result.duration_ms,
    }))
}
