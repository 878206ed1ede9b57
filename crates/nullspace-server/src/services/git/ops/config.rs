//! Configuration values, in the repository's file or the user's.

use nullspace_api::{GitConfigGetRequest, GitConfigScope, GitConfigSetRequest, GitConfigValue};
use nullspace_types::MachineId;

use super::super::{check, Repo};
use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::state::AppState;

/// `POST …/git/config/get`.
pub async fn config_get(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitConfigGetRequest,
) -> ApiResult<GitConfigValue> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    check::config_key("key", &req.key)?;
    let scope = req.scope.unwrap_or_default();
    let mut args = vec!["config", "--null"];
    let cwd = match scope {
        GitConfigScope::Global => {
            args.push("--global");
            "/"
        }
        GitConfigScope::Repository => &path,
    };
    args.extend(["--get", &req.key]);
    let ran = repo.try_git(cwd, &args).await?;
    let value = match ran.code {
        1 if ran.stderr.trim().is_empty() => None,
        _ => Some(ran.ok("config")?.trim_end_matches('\0').to_owned()),
    };
    Ok(GitConfigValue {
        key: req.key,
        value,
        scope,
    })
}

/// `POST …/git/config/set`.
pub async fn config_set(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitConfigSetRequest,
) -> ApiResult<GitConfigValue> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    check::config_key("key", &req.key)?;
    check::config_value("value", &req.value)?;
    let scope = req.scope.unwrap_or_default();
    let (flag, cwd) = match scope {
        GitConfigScope::Global => ("--global", "/"),
        GitConfigScope::Repository => ("--local", path.as_str()),
    };
    repo.git("config", cwd, &["config", flag, &req.key, &req.value])
        .await?;
    Ok(GitConfigValue {
        key: req.key,
        value: Some(req.value),
        scope,
    })
}
