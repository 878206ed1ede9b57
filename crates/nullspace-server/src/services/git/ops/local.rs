//! Operations on the repository itself: init, status, log, diff, add, commit,
//! checkout.

use nullspace_api::{
    GitAddRequest, GitCheckoutRequest, GitCommitRequest, GitCommitResult, GitDiff, GitDiffRequest,
    GitInitRequest, GitLog, GitLogRequest, GitRepoRequest, GitRepoState, GitStatus,
    DEFAULT_GIT_LOG_LIMIT, MAX_GIT_LOG_LIMIT,
};
use nullspace_types::MachineId;

use super::super::{check, parse, Repo};
use super::{default_name, repo_state};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `POST …/git/init`.
pub async fn init(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitInitRequest,
) -> ApiResult<GitRepoState> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    let mut args = vec!["init", "--quiet"];
    let branch_arg;
    if let Some(b) = &req.initial_branch {
        check::ref_name("initial_branch", b)?;
        branch_arg = format!("--initial-branch={b}");
        args.push(&branch_arg);
    }
    if req.bare == Some(true) {
        args.push("--bare");
    }
    args.extend(["--", &path]);
    repo.git("init", "/", &args).await?;
    repo_state(&repo, &path).await
}

/// `POST …/git/status`.
pub async fn status(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitRepoRequest,
) -> ApiResult<GitStatus> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    status_of(&repo, &path).await
}

async fn status_of(repo: &Repo<'_>, path: &str) -> ApiResult<GitStatus> {
    let out = repo
        .git(
            "status",
            path,
            &["status", "--porcelain=v2", "--branch", "-z"],
        )
        .await?;
    Ok(parse::status(&out))
}

/// `POST …/git/log`.
pub async fn log(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitLogRequest,
) -> ApiResult<GitLog> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    let limit = req.limit.unwrap_or(DEFAULT_GIT_LOG_LIMIT);
    if !(1..=MAX_GIT_LOG_LIMIT).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("must be 1 to {MAX_GIT_LOG_LIMIT}, got {limit}"),
        ));
    }
    if let Some(r) = &req.revision {
        check::revision("revision", r)?;
    }
    let max = format!("--max-count={limit}");
    let mut args = vec!["log", "-z", &max, parse::LOG_FORMAT];
    args.extend(req.revision.as_deref());
    args.push("--");
    let ran = repo.try_git(&path, &args).await?;
    if ran.code != 0 && ran.stderr.contains("does not have any commits yet") {
        return Ok(GitLog {
            commits: Vec::new(),
        });
    }
    Ok(GitLog {
        commits: parse::log(&ran.ok("log")?),
    })
}

/// The argv of `git diff`.
pub fn diff_args(staged: bool, revision: Option<&str>, paths: &[String]) -> Vec<String> {
    let mut args: Vec<String> = ["diff", "--no-color", "--no-ext-diff"]
        .map(String::from)
        .into();
    if staged {
        args.push("--cached".into());
    }
    args.extend(revision.map(String::from));
    args.push("--".into());
    args.extend(paths.iter().cloned());
    args
}

/// `POST …/git/diff`.
pub async fn diff(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitDiffRequest,
) -> ApiResult<GitDiff> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    if let Some(r) = &req.revision {
        check::revision("revision", r)?;
    }
    let paths = req.paths.unwrap_or_default();
    check::paths("paths", &paths)?;
    let args = diff_args(req.staged == Some(true), req.revision.as_deref(), &paths);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let diff = repo.git("diff", &path, &args).await?;
    Ok(GitDiff { diff })
}

/// `POST …/git/checkout`.
pub async fn checkout(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitCheckoutRequest,
) -> ApiResult<GitRepoState> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    let mut args = vec!["checkout", "--quiet"];
    if req.create == Some(true) {
        check::ref_name("branch", &req.branch)?;
        args.push("-b");
    } else {
        check::revision("branch", &req.branch)?;
    }
    args.extend([req.branch.as_str(), "--"]);
    repo.git("checkout", &path, &args).await?;
    repo_state(&repo, &path).await
}

/// `POST …/git/add`: the status after.
pub async fn add(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitAddRequest,
) -> ApiResult<GitStatus> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    let paths = req.paths.unwrap_or_default();
    check::paths("paths", &paths)?;
    let mut args = vec!["add", "--all"];
    if !paths.is_empty() {
        args.push("--");
        args.extend(paths.iter().map(String::as_str));
    }
    repo.git("add", &path, &args).await?;
    status_of(&repo, &path).await
}

/// `POST …/git/commit`: the message goes on stdin (`-F -`).
pub async fn commit(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: GitCommitRequest,
) -> ApiResult<GitCommitResult> {
    let repo = Repo::open(state, tenant, id, req.user.as_deref(), req.timeout).await?;
    let path = check::repo_path("path", req.path.as_deref())?;
    check::message("message", &req.message)?;
    let mut env = std::collections::BTreeMap::new();
    for (field, value, vars) in [
        (
            "author_name",
            &req.author_name,
            ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"],
        ),
        (
            "author_email",
            &req.author_email,
            ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"],
        ),
    ] {
        if let Some(v) = value {
            check::ident(field, v)?;
            for var in vars {
                env.insert(var.to_owned(), v.clone());
            }
        }
    }
    let mut args = vec!["commit".to_owned(), "--quiet".into(), "--file=-".into()];
    if req.all == Some(true) {
        args.push("--all".into());
    }
    if req.allow_empty == Some(true) {
        args.push("--allow-empty".into());
    }
    let config = if req.author_name.is_some() {
        Vec::new()
    } else {
        default_name(&repo, &path).await?
    };
    repo.exec(&path, &config, args, env, Some(req.message.into_bytes()))
        .await?
        .ok("commit")?;
    let now = repo_state(&repo, &path).await?;
    Ok(GitCommitResult {
        sha: now.head.unwrap_or_default(),
        branch: now.branch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_argv_puts_paths_after_the_double_dash() {
        let d = diff_args(true, Some("HEAD~1"), &["-weird name".into()]);
        assert_eq!(
            d,
            [
                "diff",
                "--no-color",
                "--no-ext-diff",
                "--cached",
                "HEAD~1",
                "--",
                "-weird name"
            ]
        );
    }
}
