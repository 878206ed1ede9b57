//! Git in a machine: `POST /v1/machines/{id}/git/{op}`.
//!
//! Every request names the repository directory (`path`, default
//! [`DEFAULT_GIT_PATH`]), the guest user git runs as (`user`, default `user`) and a
//! time limit (`timeout`, seconds, default [`DEFAULT_GIT_TIMEOUT_SECS`]). Calls that
//! reach a remote take optional [`GitAuth`]: an HTTPS username and password (or
//! token), or an SSH private key. Credentials are used for the one call and never
//! stored in the repository.

use serde::{Deserialize, Serialize};

/// Repository directory when a request names none.
pub const DEFAULT_GIT_PATH: &str = "/workspace";
/// Seconds a git call may run when the request names no `timeout`.
pub const DEFAULT_GIT_TIMEOUT_SECS: f64 = 300.0;
/// Commits `git/log` returns when the request names no `limit`.
pub const DEFAULT_GIT_LOG_LIMIT: u32 = 50;
/// Most commits one `git/log` returns.
pub const MAX_GIT_LOG_LIMIT: u32 = 1000;

/// A request struct with the fields every git call takes (`path`, `user`,
/// `timeout`) before its own.
macro_rules! git_request {
    ($(#[$doc:meta])* $name:ident { $($body:tt)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Repository directory in the machine (default `/workspace`; a relative path is under it).
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
            pub path: Option<String>,
            /// Guest user git runs as (default `user`).
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
            pub user: Option<String>,
            /// Seconds before git is killed (default 300; 0 means no limit).
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
            pub timeout: Option<f64>,
            $($body)*
        }
    };
}

/// Credentials for a remote, used for one call and never stored: an HTTPS
/// `username` and `password` (or `token`, its alias), or an SSH `ssh_key`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitAuth {
    /// HTTPS user name (default `x-access-token` when only a password or token is given).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub username: Option<String>,
    /// HTTPS password or access token.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub password: Option<String>,
    /// Alias of `password`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub token: Option<String>,
    /// SSH private key (PEM or OpenSSH format) for `ssh://` and `git@host:` remotes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub ssh_key: Option<String>,
    /// `known_hosts` lines the SSH remote's key must match (default: accept a host
    /// key the user has not seen before, refuse a changed one).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub known_hosts: Option<String>,
}

git_request! {
    /// Body of `POST …/git/clone`.
    GitCloneRequest {
        /// Repository URL (credentials in it are used for the clone, never stored).
        pub url: String,
        /// Branch to check out (default: the remote's HEAD).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub branch: Option<String>,
        /// Clone only this many latest commits.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some_int")]
        pub depth: Option<u32>,
        /// Credentials for the remote.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub auth: Option<GitAuth>,
    }
}

git_request! {
    /// Body of `POST …/git/init`.
    GitInitRequest {
        /// Name of the first branch (default git's).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub initial_branch: Option<String>,
        /// Make a bare repository.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub bare: Option<bool>,
    }
}

git_request! {
    /// Body of `POST …/git/pull`.
    GitPullRequest {
        /// Remote (default: the branch's upstream).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub remote: Option<String>,
        /// Remote branch (default: the branch's upstream).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub branch: Option<String>,
        /// Rebase instead of merging.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub rebase: Option<bool>,
        /// Credentials for the remote.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub auth: Option<GitAuth>,
    }
}

git_request! {
    /// Body of `POST …/git/push`.
    GitPushRequest {
        /// Remote (default: the branch's upstream, else `origin`).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub remote: Option<String>,
        /// Branch to push (default: the current one).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub branch: Option<String>,
        /// Make the pushed branch the local one's upstream.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub set_upstream: Option<bool>,
        /// Overwrite the remote branch unless it moved since the last fetch
        /// (`--force-with-lease`).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub force: Option<bool>,
        /// Credentials for the remote.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub auth: Option<GitAuth>,
    }
}

git_request! {
    /// Body of `POST …/git/fetch`.
    GitFetchRequest {
        /// Remote (default: `origin`, or every remote with `all`).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub remote: Option<String>,
        /// Remove remote-tracking branches that no longer exist on the remote.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub prune: Option<bool>,
        /// Credentials for the remote.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub auth: Option<GitAuth>,
    }
}

git_request! {
    /// Body of the calls that name only the repository: `status`, `branch/list`,
    /// `remote/list`.
    GitRepoRequest {}
}

git_request! {
    /// Body of `POST …/git/log`.
    GitLogRequest {
        /// Most commits to return (default 50, at most 1000).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some_int")]
        pub limit: Option<u32>,
        /// Revision to start from (default `HEAD`).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub revision: Option<String>,
    }
}

git_request! {
    /// Body of `POST …/git/diff`.
    GitDiffRequest {
        /// Diff the index against `HEAD` (what a commit would record) instead of the
        /// working tree against the index.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub staged: Option<bool>,
        /// Diff the working tree (or with `staged`, the index) against this revision.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub revision: Option<String>,
        /// Limit the diff to these paths.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub paths: Option<Vec<String>>,
    }
}

git_request! {
    /// Body of `POST …/git/branch/create`.
    GitBranchCreateRequest {
        /// Name of the new branch.
        pub name: String,
        /// Commit it starts at (default `HEAD`).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub start_point: Option<String>,
        /// Switch to it once made.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub checkout: Option<bool>,
    }
}

git_request! {
    /// Body of `POST …/git/branch/delete`.
    GitBranchDeleteRequest {
        /// Branch to delete.
        pub name: String,
        /// Delete it even if it is not merged.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub force: Option<bool>,
    }
}

git_request! {
    /// Body of `POST …/git/checkout`.
    GitCheckoutRequest {
        /// Branch (or, without `create`, any commit) to switch to.
        pub branch: String,
        /// Make the branch first, at `HEAD`.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub create: Option<bool>,
    }
}

git_request! {
    /// Body of `POST …/git/add`.
    GitAddRequest {
        /// Paths to stage (default: every change, new files and deletions included).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub paths: Option<Vec<String>>,
    }
}

git_request! {
    /// Body of `POST …/git/commit`.
    GitCommitRequest {
        /// Commit message.
        pub message: String,
        /// Stage every change of tracked files first (`git commit -a`).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub all: Option<bool>,
        /// Record a commit even with nothing staged.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub allow_empty: Option<bool>,
        /// Author and committer name (default: git's configured `user.name`, else the user name).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub author_name: Option<String>,
        /// Author and committer email (default: git's configured `user.email`, else `USER@nullspace.local`).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub author_email: Option<String>,
    }
}

git_request! {
    /// Body of `POST …/git/remote/add` and `…/git/remote/set-url`.
    GitRemoteRequest {
        /// Remote name.
        pub name: String,
        /// Its URL (no credentials: pass them in `auth` of the calls that use it).
        pub url: String,
    }
}

git_request! {
    /// Body of `POST …/git/remote/remove`.
    GitRemoteRemoveRequest {
        /// Remote name.
        pub name: String,
    }
}

/// Which configuration file a `git/config` call reads or writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GitConfigScope {
    /// The repository's `.git/config` (the default).
    #[default]
    Repository,
    /// The user's `~/.gitconfig`.
    Global,
}

git_request! {
    /// Body of `POST …/git/config/get`.
    GitConfigGetRequest {
        /// Key, `section.name` (`user.email`).
        pub key: String,
        /// File to read (default `repository`; a read in the repository also sees
        /// the user's and system values).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub scope: Option<GitConfigScope>,
    }
}

git_request! {
    /// Body of `POST …/git/config/set`.
    GitConfigSetRequest {
        /// Key, `section.name` (`user.email`).
        pub key: String,
        /// Value.
        pub value: String,
        /// File to write (default `repository`).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::de::some")]
        pub scope: Option<GitConfigScope>,
    }
}

/// Where a repository is and what is checked out: the answer of `clone`, `init`,
/// `pull`, `checkout`, `branch/create` and `branch/delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRepoState {
    /// Repository directory.
    pub path: String,
    /// Current branch (`None`: detached HEAD, or a bare repository).
    pub branch: Option<String>,
    /// Commit checked out (`None`: no commits yet).
    pub head: Option<String>,
}

/// One changed path of `git/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitFileStatus {
    /// Path relative to the repository root.
    pub path: String,
    /// Where it came from, when renamed or copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// Index column of `git status --short` (` ` unchanged, `M`, `A`, `D`, `R`, `C`,
    /// `T`, `U` unmerged, `?` untracked).
    pub index_status: String,
    /// Working-tree column, with the same letters.
    pub worktree_status: String,
    /// In one word: `modified`, `added`, `deleted`, `renamed`, `copied`,
    /// `typechange`, `untracked`, `conflict`.
    pub status: String,
    /// Whether the change is staged.
    pub staged: bool,
}

/// Answer of `git/status` (and `git/add`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitStatus {
    /// Current branch (`None`: detached HEAD).
    pub branch: Option<String>,
    /// Its upstream (`origin/main`), if it has one.
    pub upstream: Option<String>,
    /// Commits on the branch not on its upstream.
    pub ahead: u32,
    /// Commits on the upstream not on the branch.
    pub behind: u32,
    /// Whether HEAD is detached.
    pub detached: bool,
    /// Commit checked out (`None`: no commits yet).
    pub head: Option<String>,
    /// Changed and untracked paths (ignored ones left out).
    pub files: Vec<GitFileStatus>,
    /// No changes and nothing untracked.
    pub clean: bool,
}

/// One commit of `git/log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCommit {
    /// Full commit id.
    pub sha: String,
    /// Author name.
    pub author_name: String,
    /// Author email.
    pub author_email: String,
    /// Author date, RFC 3339.
    pub date: String,
    /// Whole message, without its final newline.
    pub message: String,
}

/// Answer of `git/log`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitLog {
    /// The commits.
    pub commits: Vec<GitCommit>,
}

/// Answer of `git/diff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitDiff {
    /// Unified diff (empty: no differences).
    pub diff: String,
}

/// One local branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitBranch {
    /// Name.
    pub name: String,
    /// Whether it is checked out.
    pub current: bool,
    /// Its upstream (`origin/main`), if it has one.
    pub upstream: Option<String>,
    /// Commit it points at.
    pub sha: String,
}

/// Answer of `git/branch/list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitBranchList {
    /// Local branches by name.
    pub branches: Vec<GitBranch>,
    /// The one checked out (`None`: detached HEAD or no commits yet).
    pub current: Option<String>,
}

/// Answer of `git/commit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCommitResult {
    /// Id of the new commit.
    pub sha: String,
    /// Branch it was made on (`None`: detached HEAD).
    pub branch: Option<String>,
}

/// Answer of `git/push`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitPushResult {
    /// Remote pushed to.
    pub remote: String,
    /// Branch pushed.
    pub branch: String,
}

/// Answer of `git/fetch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitFetchResult {
    /// Remote fetched (`None`: the default one).
    pub remote: Option<String>,
}

/// One remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRemote {
    /// Name.
    pub name: String,
    /// Fetch URL.
    pub url: String,
    /// Push URL, when it differs from `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_url: Option<String>,
}

/// Answer of the `git/remote/*` calls: the remotes after the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRemoteList {
    /// Remotes by name.
    pub remotes: Vec<GitRemote>,
}

/// Answer of `git/config/get` and `git/config/set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitConfigValue {
    /// Key.
    pub key: String,
    /// Value (`None`: not set).
    pub value: Option<String>,
    /// File read or written.
    pub scope: GitConfigScope,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_take_common_fields_and_refuse_unknown_ones() {
        let r: GitCloneRequest = serde_json::from_str(
            r#"{"url":"https://h/r.git","path":"/w/r","depth":1.0,"auth":{"token":"t"}}"#,
        )
        .unwrap();
        assert_eq!(r.depth, Some(1));
        assert_eq!(r.auth.unwrap().token.as_deref(), Some("t"));
        assert!(serde_json::from_str::<GitRepoRequest>(r#"{"pathh":"/w"}"#).is_err());
        assert!(serde_json::from_str::<GitCloneRequest>(r#"{"url":"u","user":null}"#).is_err());
        assert!(serde_json::from_str::<GitCloneRequest>(r#"{"path":"/w"}"#).is_err());
        let s: GitConfigGetRequest =
            serde_json::from_str(r#"{"key":"user.name","scope":"global"}"#).unwrap();
        assert_eq!(s.scope, Some(GitConfigScope::Global));
    }
}
