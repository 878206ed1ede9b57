//! Error bodies and their stable codes.

use serde::{Deserialize, Serialize};

/// Body of every error response: `{"error":{"code","message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// What a command printed before it was cut short (`command_timeout`,
    /// `output_limit_exceeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<PartialOutput>,
}

/// Output a command produced before it timed out or hit the output cap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialOutput {
    /// Standard output so far (UTF-8, invalid bytes replaced).
    pub stdout: String,
    /// Standard error so far (UTF-8, invalid bytes replaced).
    pub stderr: String,
    /// Always true: the command was cut short, so this is not all it would have printed.
    pub truncated: bool,
}

/// Stable error codes of the HTTP API, with the status each is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not valid JSON or the request is malformed.
    BadRequest,
    /// 422: a field is missing, has the wrong type or an invalid value.
    ValidationError,
    /// 401: no API key, or an unknown or revoked one.
    Unauthorized,
    /// 404: no such machine or snapshot (or not this tenant's), file or template.
    NotFound,
    /// 409: the machine is not running (killed, failed).
    MachineNotRunning,
    /// 409: the request conflicts with the current state.
    Conflict,
    /// 409: the snapshot is used by a machine (running or paused) started from it.
    SnapshotInUse,
    /// 409: saved state (a paused machine's or a snapshot's) failed its size or checksum check.
    StateCorrupt,
    /// 413: the body is larger than the server accepts.
    PayloadTooLarge,
    /// 429: too many requests (the answer carries `Retry-After`).
    RateLimited,
    /// 405: the route exists but not with this method (the answer carries `Allow`).
    MethodNotAllowed,
    /// 422: an `Idempotency-Key` was reused with a different request body.
    IdempotencyKeyReused,
    /// 413: the file is larger than one read returns; read it in ranges (`offset`, `limit`).
    FileTooLarge,
    /// 507: the machine's disk is full.
    NoSpace,
    /// 422: the working directory does not exist in the machine.
    CwdNotFound,
    /// 422: the program does not exist in the machine.
    CommandNotFound,
    /// 422: the user does not exist in the machine.
    UserNotFound,
    /// 422: the path leaves its confining root.
    PathEscapesRoot,
    /// 403: the path is reserved (`/workspace/.nullspace`).
    ReservedPath,
    /// 403: the guest refused the operation.
    PermissionDenied,
    /// 409: the path already exists.
    AlreadyExists,
    /// 409: the directory is not empty.
    NotEmpty,
    /// 422: a directory where a file was expected, or the reverse.
    WrongEntryType,
    /// 504: the command ran past its timeout and was killed.
    CommandTimeout,
    /// 413: the command printed more output than the API returns.
    OutputLimitExceeded,
    /// 404: no process of the machine has this pid (or tag).
    ProcessNotFound,
    /// 409: the process has already exited.
    ProcessExited,
    /// 409: the process's stdin is closed, or was never opened.
    StdinClosed,
    /// 409: the process has no terminal (a resize of a process that is not a PTY).
    NotAPty,
    /// 409: a running process of the machine already has this tag.
    TagInUse,
    /// 409: the machine's guest agent is too old for the operation (a machine
    /// from an old template, snapshot or pause); recreate it.
    AgentOutdated,
    /// 422: a glob or regular expression does not parse.
    InvalidPattern,
    /// 404: no such upload session for this machine.
    UploadNotFound,
    /// 410: the upload session expired; its chunks are gone.
    UploadExpired,
    /// 422: a chunk's or the whole upload's SHA-256 differs from the one declared.
    UploadChecksumMismatch,
    /// 409: the upload session is complete or aborted, or chunks are missing.
    UploadState,
    /// 409: the destination cannot take the upload's content.
    UploadConflict,
    /// 413: the upload is larger than the server takes.
    UploadTooLarge,
    /// 422: the upload's destination path is not allowed.
    UploadPathInvalid,
    /// 409: a chunk index out of the session's range, or a chunk of the wrong length for it.
    UploadChunkInvalid,
    /// 422: the git remote refused the credentials, or needs some and none were given.
    GitAuthFailed,
    /// 404: the git remote has no such repository.
    GitRepositoryNotFound,
    /// 422: the path is not inside a git repository.
    GitNotARepository,
    /// 404: no such branch, tag, commit or remote branch.
    GitRefNotFound,
    /// 409: the remote refused the push (it has commits the branch lacks: pull first).
    GitPushRejected,
    /// 409: the change conflicts with the repository's files (merge conflicts, local
    /// changes a checkout or pull would overwrite).
    GitConflict,
    /// 409: there is nothing to commit.
    GitNothingToCommit,
    /// 422: git failed otherwise; the message has its exit code and what it printed.
    GitFailed,
    /// 401: preview traffic to a machine that takes none without a credential.
    PreviewTokenRequired,
    /// 403: the preview credential does not grant this machine port now (wrong,
    /// expired, revoked or for another port).
    PreviewTokenInvalid,
    /// 404: the machine has no such preview grant.
    PreviewGrantNotFound,
    /// 502: nothing accepts connections on the machine port.
    PreviewUpstreamUnavailable,
    /// 422: the SSH public key is not an OpenSSH `ssh-ed25519`, `ecdsa-sha2-*` or
    /// `ssh-rsa` public key line.
    SshKeyInvalid,
    /// 404: the machine has no such SSH access grant.
    SshAccessNotFound,
    /// 404: the tenant has no template with this name, tag or id.
    TemplateNotFound,
    /// 404: the tenant has no template build with this id.
    BuildNotFound,
    /// 409: machines use the template (a version of it); kill them first.
    TemplateInUse,
    /// 502: the machine died while serving the request.
    MachineDied,
    /// 503: the server cannot create machines now (capacity, runtime down).
    Unavailable,
    /// 500: a bug or an unexpected host failure.
    Internal,
}

impl ErrorCode {
    /// The code's wire name (`machine_not_running`), as it is serialized.
    pub fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            _ => format!("{self:?}"),
        }
    }

    /// HTTP status code sent with this error.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest => 400,
            MethodNotAllowed => 405,
            Unauthorized | PreviewTokenRequired => 401,
            ReservedPath | PermissionDenied | PreviewTokenInvalid => 403,
            NotFound
            | ProcessNotFound
            | UploadNotFound
            | GitRepositoryNotFound
            | GitRefNotFound
            | PreviewGrantNotFound
            | SshAccessNotFound
            | TemplateNotFound
            | BuildNotFound => 404,
            UploadExpired => 410,
            MachineNotRunning | Conflict | AlreadyExists | NotEmpty | SnapshotInUse
            | StateCorrupt | ProcessExited | StdinClosed | NotAPty | TagInUse | AgentOutdated
            | UploadState | UploadConflict | UploadChunkInvalid | GitPushRejected | GitConflict
            | GitNothingToCommit | TemplateInUse => 409,
            PayloadTooLarge | OutputLimitExceeded | FileTooLarge | UploadTooLarge => 413,
            ValidationError
            | CwdNotFound
            | CommandNotFound
            | UserNotFound
            | PathEscapesRoot
            | WrongEntryType
            | IdempotencyKeyReused
            | InvalidPattern
            | UploadChecksumMismatch
            | UploadPathInvalid
            | GitAuthFailed
            | GitNotARepository
            | GitFailed
            | SshKeyInvalid => 422,
            RateLimited => 429,
            Internal => 500,
            MachineDied | PreviewUpstreamUnavailable => 502,
            Unavailable => 503,
            CommandTimeout => 504,
            NoSpace => 507,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_snake_case_and_have_statuses() {
        let body = ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::MachineNotRunning,
                message: "gone".into(),
                output: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"machine_not_running","message":"gone"}}"#
        );
        assert_eq!(ErrorCode::NotFound.status(), 404);
        assert_eq!(ErrorCode::ValidationError.status(), 422);
        assert_eq!(
            ErrorCode::PreviewUpstreamUnavailable.name(),
            "preview_upstream_unavailable"
        );
    }
}
