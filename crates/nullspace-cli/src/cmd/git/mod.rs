//! `nullspace sandbox git …`: git in a machine, run by the server as a guest user.
//!
//! Credentials are read from the local environment or files (`--token-env`,
//! `--ssh-key-file`), never taken on the command line, so they stay out of the
//! local process list too; the server uses them for the one call.

pub mod args;

use nullspace_api::{
    GitAddRequest, GitCheckoutRequest, GitCloneRequest, GitCommitRequest, GitConfigScope,
    GitDiffRequest, GitFetchRequest, GitInitRequest, GitLogRequest, GitPullRequest, GitPushRequest,
    GitRepoRequest,
};

pub use args::GitArgs;
use args::{BranchCommand, ConfigCommand, GitCommand, RemoteCommand};
use show::{show_state, show_status};

use super::{Ctx, Outcome, OK};
use crate::output;

/// The common request fields of `repo`.
macro_rules! common {
    ($repo:expr) => {{
        let r = $repo;
        (r.path, r.user.map(|u| u.0), r.timeout)
    }};
}

mod groups;
mod show;

fn scope(global: bool) -> Option<GitConfigScope> {
    global.then_some(GitConfigScope::Global)
}

/// Runs `sandbox git …`.
pub async fn run(ctx: &Ctx, args: GitArgs) -> Outcome {
    let client = ctx.client()?;
    match args.command {
        GitCommand::Clone {
            id,
            url,
            path,
            branch,
            depth,
            user,
            timeout,
            auth,
        } => {
            let request = GitCloneRequest {
                path,
                user: user.map(|u| u.0),
                timeout,
                url,
                branch,
                depth,
                auth: auth.read()?,
            };
            let state = client.git_clone(&id, &request).await?;
            show_state(ctx, "cloned into", &state)
        }
        GitCommand::Init {
            id,
            initial_branch,
            bare,
            repo,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitInitRequest {
                path,
                user,
                timeout,
                initial_branch,
                bare: bare.then_some(true),
            };
            let state = client.git_init(&id, &request).await?;
            show_state(ctx, "initialized", &state)
        }
        GitCommand::Status { id, repo } => {
            let (path, user, timeout) = common!(repo);
            let request = GitRepoRequest {
                path,
                user,
                timeout,
            };
            let status = client.git_status(&id, &request).await?;
            show_status(ctx, &status)
        }
        GitCommand::Log {
            id,
            limit,
            revision,
            repo,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitLogRequest {
                path,
                user,
                timeout,
                limit,
                revision,
            };
            let log = client.git_log(&id, &request).await?;
            if ctx.json() {
                output::json(&log)?;
            } else {
                for c in &log.commits {
                    let subject = c.message.lines().next().unwrap_or("");
                    let short = c.sha.get(..7).unwrap_or(&c.sha);
                    output::line(&format!("{short} {} {}: {subject}", c.date, c.author_name))?;
                }
            }
            Ok(OK)
        }
        GitCommand::Diff {
            id,
            paths,
            staged,
            revision,
            repo,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitDiffRequest {
                path,
                user,
                timeout,
                staged: staged.then_some(true),
                revision,
                paths: (!paths.is_empty()).then_some(paths),
            };
            let diff = client.git_diff(&id, &request).await?;
            if ctx.json() {
                output::json(&diff)?;
            } else {
                output::bytes(diff.diff.as_bytes())?;
            }
            Ok(OK)
        }
        GitCommand::Add { id, paths, repo } => {
            let (path, user, timeout) = common!(repo);
            let request = GitAddRequest {
                path,
                user,
                timeout,
                paths: (!paths.is_empty()).then_some(paths),
            };
            let status = client.git_add(&id, &request).await?;
            show_status(ctx, &status)
        }
        GitCommand::Commit {
            id,
            message,
            all,
            allow_empty,
            author_name,
            author_email,
            repo,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitCommitRequest {
                path,
                user,
                timeout,
                message,
                all: all.then_some(true),
                allow_empty: allow_empty.then_some(true),
                author_name,
                author_email,
            };
            let done = client.git_commit(&id, &request).await?;
            if ctx.json() {
                output::json(&done)?;
            } else {
                let on = done.branch.as_deref().unwrap_or("detached HEAD");
                output::line(&format!("committed {} on {on}", done.sha))?;
            }
            Ok(OK)
        }
        GitCommand::Checkout {
            id,
            branch,
            create,
            repo,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitCheckoutRequest {
                path,
                user,
                timeout,
                branch,
                create: create.then_some(true),
            };
            let state = client.git_checkout(&id, &request).await?;
            show_state(ctx, "checked out in", &state)
        }
        GitCommand::Branch(args) => groups::branch(ctx, &client, args.command).await,
        GitCommand::Pull {
            id,
            remote,
            branch,
            rebase,
            repo,
            auth,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitPullRequest {
                path,
                user,
                timeout,
                remote,
                branch,
                rebase: rebase.then_some(true),
                auth: auth.read()?,
            };
            let state = client.git_pull(&id, &request).await?;
            show_state(ctx, "pulled into", &state)
        }
        GitCommand::Push {
            id,
            remote,
            branch,
            set_upstream,
            force,
            repo,
            auth,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitPushRequest {
                path,
                user,
                timeout,
                remote,
                branch,
                set_upstream: set_upstream.then_some(true),
                force: force.then_some(true),
                auth: auth.read()?,
            };
            let done = client.git_push(&id, &request).await?;
            if ctx.json() {
                output::json(&done)?;
            } else {
                output::line(&format!("pushed {} to {}", done.branch, done.remote))?;
            }
            Ok(OK)
        }
        GitCommand::Fetch {
            id,
            remote,
            prune,
            repo,
            auth,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitFetchRequest {
                path,
                user,
                timeout,
                remote,
                prune: prune.then_some(true),
                auth: auth.read()?,
            };
            let done = client.git_fetch(&id, &request).await?;
            if ctx.json() {
                output::json(&done)?;
            } else {
                output::line(&format!(
                    "fetched {}",
                    done.remote.as_deref().unwrap_or("the default remote")
                ))?;
            }
            Ok(OK)
        }
        GitCommand::Remote(args) => groups::remote(ctx, &client, args.command).await,
        GitCommand::Config(args) => groups::config(ctx, &client, args.command).await,
    }
}
