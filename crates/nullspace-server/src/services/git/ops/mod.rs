//! The git operations, one function per route (split by what they touch):
//! check the request, build the argv, run it, read the answer. The helpers here
//! are shared by several of them.

mod branches;
mod config;
mod local;
mod remotes;
mod sync;

use nullspace_api::GitRepoState;

pub use branches::{branch_create, branch_delete, branches};
pub use config::{config_get, config_set};
pub use local::{add, checkout, commit, diff, diff_args, init, log, status};
pub use remotes::{remote_remove, remote_set, remotes};
pub use sync::{clone, clone_args, clone_dir, fetch, pull, push, push_args};

use super::Repo;
use crate::error::ApiResult;

/// Where `path`'s HEAD is: its branch and commit.
async fn repo_state(repo: &Repo<'_>, path: &str) -> ApiResult<GitRepoState> {
    let optional = |ran: super::Ran, op: &str| match ran.code {
        0 => Ok(Some(ran.stdout.trim().to_owned())),
        1 => Ok(None),
        _ => ran.ok(op).map(|_| None),
    };
    let branch = repo
        .try_git(path, &["symbolic-ref", "--quiet", "--short", "HEAD"])
        .await?;
    let branch = optional(branch, "symbolic-ref")?;
    let head = repo
        .try_git(path, &["rev-parse", "--quiet", "--verify", "HEAD^{commit}"])
        .await?;
    Ok(GitRepoState {
        path: path.to_owned(),
        branch,
        head: optional(head, "rev-parse")?,
    })
}

/// `-c user.name=USER` when git has no name configured for `path` (it would
/// refuse to commit: the guest users have no full name); nothing otherwise.
/// The email falls back on `EMAIL` (see [`Repo::env`]).
async fn default_name(repo: &Repo<'_>, path: &str) -> ApiResult<Vec<String>> {
    let ran = repo
        .try_git(path, &["config", "--get", "user.name"])
        .await?;
    if ran.code == 0 && !ran.stdout.trim().is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec!["-c".into(), format!("user.name={}", repo.user)])
}
