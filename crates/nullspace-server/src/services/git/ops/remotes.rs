//! Remotes: list, add, set-url, remove.

use nullspace_api::{GitRemoteList, GitRemoteRemoveRequest, GitRemoteRequest, GitRepoRequest};
use nullspace_types::MachineId;

use super::super::{auth, check, parse, Repo};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

async fn remote_list(repo: &Repo<'_>, path: &str) -> ApiResult<GitRemoteList> {
    let out = repo.git("remote", path, &["remote", "--verbose"]).await?;
    Ok(GitRemoteList {
        remotes: parse::remotes(&out),
    })
}

/// `POST …/git/remote/list`.
pub async fn remotes(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitRepoRequest,
) -> ApiResult<GitRemoteList> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    remote_list(&repo, &path).await
}

/// Check a remote's name and URL (which must not carry credentials).
fn check_remote(req: &GitRemoteRequest) -> ApiResult<()> {
    check::ref_name("name", &req.name)?;
    check::url("url", &req.url)?;
    if auth::has_userinfo(&req.url) {
        return Err(ApiError::field(
            "url",
            "must not carry credentials (they would be stored in .git/config); pass them as auth of clone, fetch, pull and push",
        ));
    }
    Ok(())
}

/// `POST …/git/remote/add` (`set_url`: `…/git/remote/set-url`).
pub async fn remote_set(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitRemoteRequest,
    set_url: bool,
) -> ApiResult<GitRemoteList> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    check_remote(&req)?;
    let verb = if set_url { "set-url" } else { "add" };
    repo.git("remote", &path, &["remote", verb, &req.name, &req.url])
        .await?;
    remote_list(&repo, &path).await
}

/// `POST …/git/remote/remove`.
pub async fn remote_remove(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitRemoteRemoveRequest,
) -> ApiResult<GitRemoteList> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    check::ref_name("name", &req.name)?;
    repo.git("remote", &path, &["remote", "remove", &req.name])
        .await?;
    remote_list(&repo, &path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_refuse_credentials_in_urls() {
        let req = GitRemoteRequest {
            name: "origin".into(),
            url: "https://bob:tok@h/r.git".into(),
            ..Default::default()
        };
        let e = check_remote(&req).unwrap_err();
        assert!(e.message.starts_with("url: must not carry credentials"));
        let req = GitRemoteRequest {
            name: "--mirror".into(),
            url: "https://h/r.git".into(),
            ..Default::default()
        };
        assert!(check_remote(&req).is_err());
    }
}
