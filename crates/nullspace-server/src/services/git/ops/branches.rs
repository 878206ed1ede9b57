//! Local branches: list, create, delete.

use nullspace_api::{
    GitBranchCreateRequest, GitBranchDeleteRequest, GitBranchList, GitRepoRequest,
};
use nullspace_types::MachineId;

use super::super::{check, parse, Repo};
use crate::auth::Tenant;
use crate::error::ApiResult;
use crate::state::AppState;

/// The local branches of `path`, with the remotes of their upstreams.
pub(super) async fn branch_rows(repo: &Repo<'_>, path: &str) -> ApiResult<Vec<parse::BranchRow>> {
    let out = repo
        .git(
            "for-each-ref",
            path,
            &["for-each-ref", parse::BRANCH_FORMAT, "refs/heads/"],
        )
        .await?;
    Ok(parse::branches(&out))
}

async fn branch_list(repo: &Repo<'_>, path: &str) -> ApiResult<GitBranchList> {
    let branches: Vec<_> = branch_rows(repo, path)
        .await?
        .into_iter()
        .map(|r| r.branch)
        .collect();
    let current = branches.iter().find(|b| b.current).map(|b| b.name.clone());
    Ok(GitBranchList { branches, current })
}

/// `POST …/git/branch/list`.
pub async fn branches(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitRepoRequest,
) -> ApiResult<GitBranchList> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    branch_list(&repo, &path).await
}

/// `POST …/git/branch/create`.
pub async fn branch_create(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitBranchCreateRequest,
) -> ApiResult<GitBranchList> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    check::ref_name("name", &req.name)?;
    if let Some(s) = &req.start_point {
        check::revision("start_point", s)?;
    }
    let mut args = if req.checkout == Some(true) {
        vec!["checkout", "--quiet", "-b", &req.name]
    } else {
        vec!["branch", &req.name]
    };
    args.extend(req.start_point.as_deref());
    repo.git("branch", &path, &args).await?;
    branch_list(&repo, &path).await
}

/// `POST …/git/branch/delete`.
pub async fn branch_delete(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitBranchDeleteRequest,
) -> ApiResult<GitBranchList> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    check::ref_name("name", &req.name)?;
    let flag = if req.force == Some(true) { "-D" } else { "-d" };
    repo.git("branch", &path, &["branch", flag, &req.name])
        .await?;
    branch_list(&repo, &path).await
}
