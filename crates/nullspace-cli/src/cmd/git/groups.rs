//! The subcommand groups of `sandbox git`: `branch`, `remote`, `config`.

use nullspace_api::{
    GitBranchCreateRequest, GitBranchDeleteRequest, GitConfigGetRequest, GitConfigSetRequest,
    GitConfigValue, GitRemoteRemoveRequest, GitRemoteRequest, GitRepoRequest,
};
use nullspace_client::Client;

use super::show::{branches_text, remotes_text};
use super::{scope, BranchCommand, ConfigCommand, RemoteCommand};
use crate::cmd::{Ctx, Outcome, OK};
use crate::output;

/// `sandbox git branch …`.
pub(super) async fn branch(ctx: &Ctx, client: &Client, command: BranchCommand) -> Outcome {
    let list = match command {
        BranchCommand::List { id, repo } => {
            let (path, user, timeout) = common!(repo);
            let request = GitRepoRequest {
                path,
                user,
                timeout,
            };
            client.git_branches(&id, &request).await?
        }
        BranchCommand::Create {
            id,
            name,
            start_point,
            checkout,
            repo,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitBranchCreateRequest {
                path,
                user,
                timeout,
                name,
                start_point,
                checkout: checkout.then_some(true),
            };
            client.git_branch_create(&id, &request).await?
        }
        BranchCommand::Delete {
            id,
            name,
            force,
            repo,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitBranchDeleteRequest {
                path,
                user,
                timeout,
                name,
                force: force.then_some(true),
            };
            client.git_branch_delete(&id, &request).await?
        }
    };
    if ctx.json() {
        output::json(&list)?;
    } else {
        output::bytes(branches_text(&list).as_bytes())?;
    }
    Ok(OK)
}

/// `sandbox git remote …`.
pub(super) async fn remote(ctx: &Ctx, client: &Client, command: RemoteCommand) -> Outcome {
    let list = match command {
        RemoteCommand::List { id, repo } => {
            let (path, user, timeout) = common!(repo);
            let request = GitRepoRequest {
                path,
                user,
                timeout,
            };
            client.git_remotes(&id, &request).await?
        }
        RemoteCommand::Add {
            id,
            name,
            url,
            repo,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitRemoteRequest {
                path,
                user,
                timeout,
                name,
                url,
            };
            client.git_remote_add(&id, &request).await?
        }
        RemoteCommand::SetUrl {
            id,
            name,
            url,
            repo,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitRemoteRequest {
                path,
                user,
                timeout,
                name,
                url,
            };
            client.git_remote_set_url(&id, &request).await?
        }
        RemoteCommand::Remove { id, name, repo } => {
            let (path, user, timeout) = common!(repo);
            let request = GitRemoteRemoveRequest {
                path,
                user,
                timeout,
                name,
            };
            client.git_remote_remove(&id, &request).await?
        }
    };
    if ctx.json() {
        output::json(&list)?;
    } else {
        output::bytes(remotes_text(&list).as_bytes())?;
    }
    Ok(OK)
}

/// `sandbox git config …`.
pub(super) async fn config(ctx: &Ctx, client: &Client, command: ConfigCommand) -> Outcome {
    let value: GitConfigValue = match command {
        ConfigCommand::Get {
            id,
            key,
            global,
            repo,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitConfigGetRequest {
                path,
                user,
                timeout,
                key,
                scope: scope(global),
            };
            client.git_config_get(&id, &request).await?
        }
        ConfigCommand::Set {
            id,
            key,
            value,
            global,
            repo,
        } => {
            let (path, user, timeout) = common!(repo);
            let request = GitConfigSetRequest {
                path,
                user,
                timeout,
                key,
                value,
                scope: scope(global),
            };
            client.git_config_set(&id, &request).await?
        }
    };
    if ctx.json() {
        output::json(&value)?;
    } else if let Some(v) = &value.value {
        output::line(v)?;
    }
    Ok(OK)
}
