//! The command line of `sandbox git`: subcommands, their flags, and the local
//! reading of credentials.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use nullspace_api::GitAuth;
use nullspace_types::MachineId;

use crate::args::UserName;
use crate::error::CliError;

/// `sandbox git` and its subcommands.
#[derive(Debug, Args)]
pub struct GitArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: GitCommand,
}

/// Where and as whom git runs.
#[derive(Debug, Clone, Args)]
pub struct Repo {
    /// Repository directory in the machine (default /workspace; relative paths are under it).
    #[arg(long)]
    pub path: Option<String>,
    /// Guest user git runs as (server default `user`).
    #[arg(long)]
    pub user: Option<UserName>,
    /// Seconds before git is stopped (server default 300; 0: no limit).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

/// Credentials for a remote, read locally and sent for one call.
#[derive(Debug, Clone, Args)]
pub struct Auth {
    /// HTTPS user name (default x-access-token when only a token is given).
    #[arg(long)]
    pub username: Option<String>,
    /// Name of a local environment variable holding the HTTPS password or token.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Local file holding an SSH private key.
    #[arg(long, value_name = "FILE", conflicts_with = "token_env")]
    pub ssh_key_file: Option<PathBuf>,
    /// Local known_hosts file the SSH host key must match.
    #[arg(long, value_name = "FILE", requires = "ssh_key_file")]
    pub known_hosts_file: Option<PathBuf>,
}

impl Auth {
    /// The credentials to send, if any were named.
    pub(super) fn read(&self) -> Result<Option<GitAuth>, CliError> {
        let read_file = |p: &PathBuf| {
            std::fs::read_to_string(p).map_err(|source| CliError::ReadInput {
                what: p.display().to_string(),
                source,
            })
        };
        let token = match &self.token_env {
            Some(var) => Some(std::env::var(var).map_err(|_| CliError::ReadInput {
                what: format!("environment variable {var}"),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not set or not UTF-8"),
            })?),
            None => None,
        };
        let auth = GitAuth {
            username: self.username.clone(),
            token,
            ssh_key: self.ssh_key_file.as_ref().map(read_file).transpose()?,
            known_hosts: self.known_hosts_file.as_ref().map(read_file).transpose()?,
            ..Default::default()
        };
        Ok((auth != GitAuth::default()).then_some(auth))
    }
}

/// Subcommands of `sandbox git`.
#[derive(Debug, Subcommand)]
pub enum GitCommand {
    /// Clone a repository: `clone ID URL [PATH]` (default PATH /workspace/NAME).
    Clone {
        /// Machine id (sb_…).
        id: MachineId,
        /// Repository URL.
        url: String,
        /// Directory to clone into.
        path: Option<String>,
        /// Branch to check out.
        #[arg(long)]
        branch: Option<String>,
        /// Only this many latest commits.
        #[arg(long)]
        depth: Option<u32>,
        /// Guest user git runs as.
        #[arg(long)]
        user: Option<UserName>,
        /// Seconds before git is stopped (server default 300).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        #[command(flatten)]
        auth: Auth,
    },
    /// Make a new repository at --path.
    Init {
        /// Machine id (sb_…).
        id: MachineId,
        /// Name of the first branch.
        #[arg(long)]
        initial_branch: Option<String>,
        /// A bare repository.
        #[arg(long)]
        bare: bool,
        #[command(flatten)]
        repo: Repo,
    },
    /// Show the branch and the changed paths.
    Status {
        /// Machine id (sb_…).
        id: MachineId,
        #[command(flatten)]
        repo: Repo,
    },
    /// Show commits, newest first.
    Log {
        /// Machine id (sb_…).
        id: MachineId,
        /// Most commits (server default 50).
        #[arg(long, short = 'n')]
        limit: Option<u32>,
        /// Revision to start from (default HEAD).
        #[arg(long)]
        revision: Option<String>,
        #[command(flatten)]
        repo: Repo,
    },
    /// Print the diff of the working tree (with --staged, of the index).
    Diff {
        /// Machine id (sb_…).
        id: MachineId,
        /// Paths to limit the diff to.
        paths: Vec<String>,
        /// What a commit would record.
        #[arg(long)]
        staged: bool,
        /// Compare with this revision.
        #[arg(long)]
        revision: Option<String>,
        #[command(flatten)]
        repo: Repo,
    },
    /// Stage paths (default every change).
    Add {
        /// Machine id (sb_…).
        id: MachineId,
        /// Paths to stage.
        paths: Vec<String>,
        #[command(flatten)]
        repo: Repo,
    },
    /// Commit what is staged: `commit ID MESSAGE`.
    Commit {
        /// Machine id (sb_…).
        id: MachineId,
        /// Commit message.
        message: String,
        /// Stage changes of tracked files first.
        #[arg(long, short)]
        all: bool,
        /// Commit even with nothing staged.
        #[arg(long)]
        allow_empty: bool,
        /// Author and committer name.
        #[arg(long)]
        author_name: Option<String>,
        /// Author and committer email.
        #[arg(long)]
        author_email: Option<String>,
        #[command(flatten)]
        repo: Repo,
    },
    /// Switch to a branch (made first with --create).
    Checkout {
        /// Machine id (sb_…).
        id: MachineId,
        /// Branch or commit.
        branch: String,
        /// Make the branch first.
        #[arg(long, short = 'b')]
        create: bool,
        #[command(flatten)]
        repo: Repo,
    },
    /// Local branches: list, create, delete.
    Branch(BranchArgs),
    /// Fetch and merge (or --rebase) the upstream.
    Pull {
        /// Machine id (sb_…).
        id: MachineId,
        /// Remote (default the upstream's).
        #[arg(long)]
        remote: Option<String>,
        /// Remote branch (default the upstream).
        #[arg(long)]
        branch: Option<String>,
        /// Rebase instead of merging.
        #[arg(long)]
        rebase: bool,
        #[command(flatten)]
        repo: Repo,
        #[command(flatten)]
        auth: Auth,
    },
    /// Push a branch (default the current one).
    Push {
        /// Machine id (sb_…).
        id: MachineId,
        /// Remote (default the upstream's, else origin).
        #[arg(long)]
        remote: Option<String>,
        /// Branch to push.
        #[arg(long)]
        branch: Option<String>,
        /// Make it the branch's upstream.
        #[arg(long, short = 'u')]
        set_upstream: bool,
        /// Overwrite the remote branch unless it moved since the last fetch.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        repo: Repo,
        #[command(flatten)]
        auth: Auth,
    },
    /// Fetch from a remote.
    Fetch {
        /// Machine id (sb_…).
        id: MachineId,
        /// Remote (default origin).
        #[arg(long)]
        remote: Option<String>,
        /// Drop remote-tracking branches gone from the remote.
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        repo: Repo,
        #[command(flatten)]
        auth: Auth,
    },
    /// Remotes: list, add, set-url, remove.
    Remote(RemoteArgs),
    /// Configuration: get, set (repository, or with --global the user's).
    Config(ConfigArgs),
}

/// `sandbox git branch`.
#[derive(Debug, Args)]
pub struct BranchArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: BranchCommand,
}

/// Subcommands of `sandbox git branch`.
#[derive(Debug, Subcommand)]
pub enum BranchCommand {
    /// List local branches (* marks the current one).
    List {
        /// Machine id (sb_…).
        id: MachineId,
        #[command(flatten)]
        repo: Repo,
    },
    /// Make a branch.
    Create {
        /// Machine id (sb_…).
        id: MachineId,
        /// Branch name.
        name: String,
        /// Commit it starts at (default HEAD).
        #[arg(long)]
        start_point: Option<String>,
        /// Switch to it.
        #[arg(long)]
        checkout: bool,
        #[command(flatten)]
        repo: Repo,
    },
    /// Delete a branch.
    Delete {
        /// Machine id (sb_…).
        id: MachineId,
        /// Branch name.
        name: String,
        /// Even if it is not merged.
        #[arg(long, short)]
        force: bool,
        #[command(flatten)]
        repo: Repo,
    },
}

/// `sandbox git remote`.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: RemoteCommand,
}

/// Subcommands of `sandbox git remote`.
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// List remotes.
    List {
        /// Machine id (sb_…).
        id: MachineId,
        #[command(flatten)]
        repo: Repo,
    },
    /// Add a remote.
    Add {
        /// Machine id (sb_…).
        id: MachineId,
        /// Remote name.
        name: String,
        /// Its URL (without credentials).
        url: String,
        #[command(flatten)]
        repo: Repo,
    },
    /// Change a remote's URL.
    SetUrl {
        /// Machine id (sb_…).
        id: MachineId,
        /// Remote name.
        name: String,
        /// Its new URL (without credentials).
        url: String,
        #[command(flatten)]
        repo: Repo,
    },
    /// Remove a remote.
    Remove {
        /// Machine id (sb_…).
        id: MachineId,
        /// Remote name.
        name: String,
        #[command(flatten)]
        repo: Repo,
    },
}

/// `sandbox git config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// Subcommands of `sandbox git config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a value (nothing when it is not set).
    Get {
        /// Machine id (sb_…).
        id: MachineId,
        /// Key, e.g. user.email.
        key: String,
        /// The user's ~/.gitconfig rather than the repository's.
        #[arg(long)]
        global: bool,
        #[command(flatten)]
        repo: Repo,
    },
    /// Set a value.
    Set {
        /// Machine id (sb_…).
        id: MachineId,
        /// Key, e.g. user.email.
        key: String,
        /// Value.
        value: String,
        /// The user's ~/.gitconfig rather than the repository's.
        #[arg(long)]
        global: bool,
        #[command(flatten)]
        repo: Repo,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_environment_not_the_command_line() {
        let auth = Auth {
            username: None,
            token_env: Some("NULLSPACE_TEST_GIT_TOKEN_UNSET".into()),
            ssh_key_file: None,
            known_hosts_file: None,
        };
        assert!(matches!(auth.read(), Err(CliError::ReadInput { .. })));
        let none = Auth {
            username: None,
            token_env: None,
            ssh_key_file: None,
            known_hosts_file: None,
        };
        assert_eq!(none.read().unwrap(), None);
    }
}
