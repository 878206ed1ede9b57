//! The operations that reach a remote, with credentials for the one call:
//! clone, push, pull, fetch.

use nullspace_api::{
    GitCloneRequest, GitFetchRequest, GitFetchResult, GitPullRequest, GitPushRequest,
    GitPushResult, GitRepoState, DEFAULT_GIT_PATH,
};
use nullspace_types::MachineId;

use super::super::{auth, check, Repo};
use super::branches::branch_rows;
use super::{default_name, repo_state};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The directory `git clone` makes for `url` under `/workspace`: its last path
/// segment without `.git`.
pub fn clone_dir(url: &str) -> ApiResult<String> {
    let trimmed = url.trim_end_matches('/');
    let last = trimmed.rsplit(['/', ':']).next().unwrap_or("");
    let name = last.strip_suffix(".git").unwrap_or(last);
    if name.is_empty() || name == "." || name == ".." {
        return Err(ApiError::field(
            "path",
            format!("cannot name a directory after {url:?}; give a path"),
        ));
    }
    Ok(format!("{DEFAULT_GIT_PATH}/{name}"))
}

/// The argv of `git clone`.
pub fn clone_args(url: &str, path: &str, branch: Option<&str>, depth: Option<u32>) -> Vec<String> {
    let mut args = vec!["clone".to_owned()];
    if let Some(b) = branch {
        args.extend(["--branch".to_owned(), b.to_owned()]);
    }
    if let Some(d) = depth {
        args.push(format!("--depth={d}"));
    }
    args.extend(["--".to_owned(), url.to_owned(), path.to_owned()]);
    args
}

/// `POST …/git/clone`.
pub async fn clone(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitCloneRequest,
) -> ApiResult<GitRepoState> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    check::url("url", &req.url)?;
    let (url, creds) = auth::split_userinfo(&req.url);
    let path = match &req.path {
        Some(p) => check::repo_path("path", Some(p))?,
        None => clone_dir(&url)?,
    };
    if let Some(b) = &req.branch {
        check::ref_name("branch", b)?;
    }
    if req.depth == Some(0) {
        return Err(ApiError::field("depth", "must be at least 1"));
    }
    let plan = auth::plan(req.auth.as_ref(), creds, &Repo::temp_dir())?;
    let args = clone_args(&url, &path, req.branch.as_deref(), req.depth);
    repo.with_auth("clone", "/", args, plan).await?;
    repo_state(&repo, &path).await
}

/// The remote a branch-less call uses: `remote`, else the current branch's
/// upstream remote, else `origin`; and the current branch.
async fn remote_and_branch(
    repo: &Repo<'_>,
    path: &str,
    remote: Option<&str>,
    branch: Option<&str>,
) -> ApiResult<(String, Option<String>)> {
    if let Some(r) = remote {
        check::ref_name("remote", r)?;
    }
    if let Some(b) = branch {
        check::ref_name("branch", b)?;
    }
    let rows = branch_rows(repo, path).await?;
    let row = match branch {
        Some(b) => rows.into_iter().find(|r| r.branch.name == b),
        None => rows.into_iter().find(|r| r.branch.current),
    };
    let remote = remote
        .map(str::to_owned)
        .or_else(|| row.as_ref().and_then(|r| r.remote.clone()))
        .unwrap_or_else(|| "origin".to_owned());
    let branch = branch
        .map(str::to_owned)
        .or_else(|| row.map(|r| r.branch.name));
    Ok((remote, branch))
}

/// The argv of `git push`.
pub fn push_args(remote: &str, branch: &str, set_upstream: bool, force: bool) -> Vec<String> {
    let mut args = vec!["push".to_owned()];
    if set_upstream {
        args.push("--set-upstream".into());
    }
    if force {
        args.push("--force-with-lease".into());
    }
    args.extend(["--".to_owned(), remote.to_owned(), branch.to_owned()]);
    args
}

/// `POST …/git/push`.
pub async fn push(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitPushRequest,
) -> ApiResult<GitPushResult> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    let plan = auth::plan(req.auth.as_ref(), None, &Repo::temp_dir())?;
    let (remote, branch) =
        remote_and_branch(&repo, &path, req.remote.as_deref(), req.branch.as_deref()).await?;
    let Some(branch) = branch else {
        return Err(ApiError::field(
            "branch",
            "HEAD is not on a branch; name the branch to push",
        ));
    };
    let args = push_args(
        &remote,
        &branch,
        req.set_upstream == Some(true),
        req.force == Some(true),
    );
    repo.with_auth("push", &path, args, plan).await?;
    Ok(GitPushResult { remote, branch })
}

/// `POST …/git/pull`.
pub async fn pull(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitPullRequest,
) -> ApiResult<GitRepoState> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    let mut plan = auth::plan(req.auth.as_ref(), None, &Repo::temp_dir())?;
    let mode = if req.rebase == Some(true) {
        "--rebase"
    } else {
        "--no-rebase"
    };
    let mut args: Vec<String> = ["pull", "--quiet", "--no-edit", mode]
        .map(String::from)
        .into();
    if req.remote.is_some() || req.branch.is_some() {
        let (remote, _) = remote_and_branch(&repo, &path, req.remote.as_deref(), None).await?;
        if let Some(b) = &req.branch {
            check::ref_name("branch", b)?;
        }
        args.push(remote);
        args.extend(req.branch.clone());
    }
    plan.config.extend(default_name(&repo, &path).await?);
    repo.with_auth("pull", &path, args, plan).await?;
    repo_state(&repo, &path).await
}

/// `POST …/git/fetch`.
pub async fn fetch(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitFetchRequest,
) -> ApiResult<GitFetchResult> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    if let Some(r) = &req.remote {
        check::ref_name("remote", r)?;
    }
    let plan = auth::plan(req.auth.as_ref(), None, &Repo::temp_dir())?;
    let mut args = vec!["fetch".to_owned(), "--quiet".into()];
    if req.prune == Some(true) {
        args.push("--prune".into());
    }
    args.extend(req.remote.clone());
    repo.with_auth("fetch", &path, args, plan).await?;
    Ok(GitFetchResult { remote: req.remote })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_argv_ends_options_before_url_and_path() {
        let a = clone_args("https://h/r.git", "/workspace/r", Some("dev"), Some(1));
        assert_eq!(
            a,
            [
                "clone",
                "--branch",
                "dev",
                "--depth=1",
                "--",
                "https://h/r.git",
                "/workspace/r"
            ]
        );
        assert_eq!(
            clone_dir("https://h/a/repo.git/").unwrap(),
            "/workspace/repo"
        );
        assert_eq!(clone_dir("git@h:a/b.git").unwrap(), "/workspace/b");
        assert_eq!(clone_dir("/srv/git/x").unwrap(), "/workspace/x");
        assert!(clone_dir("https://h/..").is_err());
    }

    #[test]
    fn push_argv_ends_options_before_remote_and_branch() {
        let p = push_args("origin", "main", true, true);
        assert_eq!(
            p,
            [
                "push",
                "--set-upstream",
                "--force-with-lease",
                "--",
                "origin",
                "main"
            ]
        );
    }
}
