//! Git in a machine: `POST /v1/machines/{id}/git/{op}`, one method per operation.
//! Failures keep the API's typed codes (`git_auth_failed`, `git_push_rejected` …).

use nullspace_api::{
    GitAddRequest, GitBranchCreateRequest, GitBranchDeleteRequest, GitBranchList,
    GitCheckoutRequest, GitCloneRequest, GitCommitRequest, GitCommitResult, GitConfigGetRequest,
    GitConfigSetRequest, GitConfigValue, GitDiff, GitDiffRequest, GitFetchRequest, GitFetchResult,
    GitInitRequest, GitLog, GitLogRequest, GitPullRequest, GitPushRequest, GitPushResult,
    GitRemoteList, GitRemoteRemoveRequest, GitRemoteRequest, GitRepoRequest, GitRepoState,
    GitStatus,
};
use nullspace_types::MachineId;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/machines/{id}/git/{op}` with `request`.
    async fn git<Q: Serialize, A: DeserializeOwned>(
        &self,
        id: &MachineId,
        op: &str,
        request: &Q,
    ) -> Result<A, ClientError> {
        let url = self.url(&format!("v1/machines/{id}/git/{op}"), &[])?;
        self.json(self.request(Method::POST, &url).json(request), &url)
            .await
    }

    /// `POST …/git/clone`: clone a repository (credentials in `auth` or the URL are used once, never stored).
    pub async fn git_clone(
        &self,
        id: &MachineId,
        request: &GitCloneRequest,
    ) -> Result<GitRepoState, ClientError> {
        self.git(id, "clone", request).await
    }

    /// `POST …/git/init`: make a new repository.
    pub async fn git_init(
        &self,
        id: &MachineId,
        request: &GitInitRequest,
    ) -> Result<GitRepoState, ClientError> {
        self.git(id, "init", request).await
    }

    /// `POST …/git/status`: branch, upstream, ahead/behind and changed paths.
    pub async fn git_status(
        &self,
        id: &MachineId,
        request: &GitRepoRequest,
    ) -> Result<GitStatus, ClientError> {
        self.git(id, "status", request).await
    }

    /// `POST …/git/log`: commits, newest first.
    pub async fn git_log(
        &self,
        id: &MachineId,
        request: &GitLogRequest,
    ) -> Result<GitLog, ClientError> {
        self.git(id, "log", request).await
    }

    /// `POST …/git/diff`: unified diff of the working tree (or with `staged`, the index).
    pub async fn git_diff(
        &self,
        id: &MachineId,
        request: &GitDiffRequest,
    ) -> Result<GitDiff, ClientError> {
        self.git(id, "diff", request).await
    }

    /// `POST …/git/add`: stage paths (default every change); the status after.
    pub async fn git_add(
        &self,
        id: &MachineId,
        request: &GitAddRequest,
    ) -> Result<GitStatus, ClientError> {
        self.git(id, "add", request).await
    }

    /// `POST …/git/commit`: record a commit of what is staged.
    pub async fn git_commit(
        &self,
        id: &MachineId,
        request: &GitCommitRequest,
    ) -> Result<GitCommitResult, ClientError> {
        self.git(id, "commit", request).await
    }

    /// `POST …/git/checkout`: switch to a branch or commit.
    pub async fn git_checkout(
        &self,
        id: &MachineId,
        request: &GitCheckoutRequest,
    ) -> Result<GitRepoState, ClientError> {
        self.git(id, "checkout", request).await
    }

    /// `POST …/git/branch/list`: local branches.
    pub async fn git_branches(
        &self,
        id: &MachineId,
        request: &GitRepoRequest,
    ) -> Result<GitBranchList, ClientError> {
        self.git(id, "branch/list", request).await
    }

    /// `POST …/git/branch/create`: make a branch; the branches after.
    pub async fn git_branch_create(
        &self,
        id: &MachineId,
        request: &GitBranchCreateRequest,
    ) -> Result<GitBranchList, ClientError> {
        self.git(id, "branch/create", request).await
    }

    /// `POST …/git/branch/delete`: delete a branch; the branches after.
    pub async fn git_branch_delete(
        &self,
        id: &MachineId,
        request: &GitBranchDeleteRequest,
    ) -> Result<GitBranchList, ClientError> {
        self.git(id, "branch/delete", request).await
    }

    /// `POST …/git/pull`: fetch and merge (or rebase) the upstream.
    pub async fn git_pull(
        &self,
        id: &MachineId,
        request: &GitPullRequest,
    ) -> Result<GitRepoState, ClientError> {
        self.git(id, "pull", request).await
    }

    /// `POST …/git/push`: push a branch (default the current one).
    pub async fn git_push(
        &self,
        id: &MachineId,
        request: &GitPushRequest,
    ) -> Result<GitPushResult, ClientError> {
        self.git(id, "push", request).await
    }

    /// `POST …/git/fetch`: fetch from a remote.
    pub async fn git_fetch(
        &self,
        id: &MachineId,
        request: &GitFetchRequest,
    ) -> Result<GitFetchResult, ClientError> {
        self.git(id, "fetch", request).await
    }

    /// `POST …/git/remote/list`: remotes.
    pub async fn git_remotes(
        &self,
        id: &MachineId,
        request: &GitRepoRequest,
    ) -> Result<GitRemoteList, ClientError> {
        self.git(id, "remote/list", request).await
    }

    /// `POST …/git/remote/add`: add a remote; the remotes after.
    pub async fn git_remote_add(
        &self,
        id: &MachineId,
        request: &GitRemoteRequest,
    ) -> Result<GitRemoteList, ClientError> {
        self.git(id, "remote/add", request).await
    }

    /// `POST …/git/remote/set-url`: change a remote's URL; the remotes after.
    pub async fn git_remote_set_url(
        &self,
        id: &MachineId,
        request: &GitRemoteRequest,
    ) -> Result<GitRemoteList, ClientError> {
        self.git(id, "remote/set-url", request).await
    }

    /// `POST …/git/remote/remove`: remove a remote; the remotes after.
    pub async fn git_remote_remove(
        &self,
        id: &MachineId,
        request: &GitRemoteRemoveRequest,
    ) -> Result<GitRemoteList, ClientError> {
        self.git(id, "remote/remove", request).await
    }

    /// `POST …/git/config/get`: read a config value (`None` when unset).
    pub async fn git_config_get(
        &self,
        id: &MachineId,
        request: &GitConfigGetRequest,
    ) -> Result<GitConfigValue, ClientError> {
        self.git(id, "config/get", request).await
    }

    /// `POST …/git/config/set`: write a config value.
    pub async fn git_config_set(
        &self,
        id: &MachineId,
        request: &GitConfigSetRequest,
    ) -> Result<GitConfigValue, ClientError> {
        self.git(id, "config/set", request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{Reply, TestServer};
    use nullspace_api::{ErrorCode, GitAuth};

    #[tokio::test]
    async fn git_calls_post_their_operation_and_decode_the_answer() {
        let server = TestServer::start(|_| {
            Reply::json(
                200,
                &GitRepoState {
                    path: "/workspace/r".into(),
                    branch: Some("main".into()),
                    head: None,
                },
            )
        });
        let client = Client::new(server.url(), "k").unwrap();
        let request = GitCloneRequest {
            url: "https://h/r.git".into(),
            auth: Some(GitAuth {
                token: Some("t".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = "sb_a".parse().unwrap();
        let state = client.git_clone(&id, &request).await.unwrap();
        assert_eq!(state.branch.as_deref(), Some("main"));
        let req = server.last();
        assert_eq!(req.route(), "POST /v1/machines/sb_a/git/clone");
        assert_eq!(
            req.json(),
            serde_json::json!({"url": "https://h/r.git", "auth": {"token": "t"}})
        );
    }

    #[tokio::test]
    async fn git_failures_keep_their_codes() {
        let server = TestServer::start(|_| {
            Reply::json(
                409,
                &serde_json::json!({"error": {"code": "git_push_rejected", "message": "fetch first"}}),
            )
        });
        let client = Client::new(server.url(), "k").unwrap();
        let id = "sb_a".parse().unwrap();
        let err = client
            .git_push(&id, &GitPushRequest::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Api {
                    code: ErrorCode::GitPushRejected,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(server.last().route(), "POST /v1/machines/sb_a/git/push");
    }
}
