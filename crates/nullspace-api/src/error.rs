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
    /// 429: too many requests.
    RateLimited,
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
    /// 502: the machine died while serving the request.
    MachineDied,
    /// 503: the server cannot create machines now (capacity, runtime down).
    Unavailable,
    /// 500: a bug or an unexpected host failure.
    Internal,
}

impl ErrorCode {
    /// HTTP status code sent with this error.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest => 400,
            Unauthorized => 401,
            ReservedPath | PermissionDenied => 403,
            NotFound => 404,
            MachineNotRunning | Conflict | AlreadyExists | NotEmpty | SnapshotInUse
            | StateCorrupt => 409,
            PayloadTooLarge | OutputLimitExceeded => 413,
            ValidationError | CwdNotFound | CommandNotFound | UserNotFound | PathEscapesRoot
            | WrongEntryType => 422,
            RateLimited => 429,
            Internal => 500,
            MachineDied => 502,
            Unavailable => 503,
            CommandTimeout => 504,
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
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"machine_not_running","message":"gone"}}"#
        );
        assert_eq!(ErrorCode::NotFound.status(), 404);
        assert_eq!(ErrorCode::ValidationError.status(), 422);
    }
}
