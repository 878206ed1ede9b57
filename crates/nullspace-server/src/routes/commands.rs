//! `/v1/machines/{id}/commands`: foreground commands.

use axum::extract::{Path, State};
use axum::Json;
use nullspace_api::{CommandResult, RunCommandRequest, DEFAULT_USER};

use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::node::Command;
use crate::params;
use crate::services;
use crate::state::AppState;

/// Default command timeout in seconds.
const DEFAULT_TIMEOUT: f64 = 60.0;

/// Check a command request and turn it into the node's (without envs and cwd
/// defaults, which come from the machine).
fn check(req: &RunCommandRequest) -> ApiResult<(Vec<String>, Option<String>, Option<u64>)> {
    let shape = params::CommandShape {
        command: &req.command,
        args: &req.args,
        envs: &req.envs,
        cwd: &req.cwd,
        user: &req.user,
    };
    let (argv, shell) = params::command(&shape)?;
    let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
    Ok((argv, shell, params::run_timeout("timeout", timeout)?))
}

/// `POST /v1/machines/{id}/commands`.
pub async fn run(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RunCommandRequest>,
) -> ApiResult<Json<CommandResult>> {
    let id = params::machine_id(&id)?;
    let (argv, shell, timeout_ms) = check(&req)?;
    let command = Command {
        argv,
        shell,
        env: req.envs,
        cwd: req.cwd,
        user: Some(req.user.unwrap_or_else(|| DEFAULT_USER.into())),
        timeout_ms,
        stdin: false,
    };
    let stdin = req.stdin.map(String::into_bytes);
    let out = services::commands::run(&state, &tenant, &id, command, stdin).await?;
    let exit_code = out
        .exit
        .exit_code
        .unwrap_or_else(|| 128 + out.exit.signal.unwrap_or(0));
    Ok(Json(CommandResult {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit_code,
        duration_ms: out.exit.duration_ms,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_are_refused_by_field() {
        let base = RunCommandRequest {
            command: Some("true".into()),
            ..Default::default()
        };
        let field = |req: RunCommandRequest| check(&req).unwrap_err().message;
        let mut r = base.clone();
        r.command = Some("ec\0ho".into());
        assert!(field(r).starts_with("command:"));
        let mut r = base.clone();
        r.command = None;
        r.args = Some(vec!["echo".into(), "a\0".into()]);
        assert!(field(r).starts_with("args[1]:"));
        let mut r = base.clone();
        r.envs.insert("K\0".into(), "v".into());
        assert!(field(r).starts_with("envs.K"));
        let mut r = base.clone();
        r.envs.insert("K".into(), "v\0".into());
        assert!(field(r).starts_with("envs.K"));
        let mut r = base.clone();
        r.cwd = Some("/tmp\0".into());
        assert!(field(r).starts_with("cwd:"));
        let mut r = base;
        r.user = Some("ro\0ot".into());
        assert!(field(r).starts_with("user:"));
    }
}
