//! API errors: a stable code, a message, and the status that fits.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nullspace_api::{ErrorBody, ErrorCode, ErrorDetail, PartialOutput};
use nullspace_guest_proto::ErrorCode as Guest;
use nullspace_host::agent::AgentError;
use nullspace_host::RuntimeError;

use crate::store::StoreError;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Stable code.
    pub code: ErrorCode,
    /// Explanation.
    pub message: String,
    /// What a command printed before it was cut short.
    pub output: Option<Box<PartialOutput>>,
    /// Seconds to wait before retrying (`Retry-After`).
    pub retry_after: Option<u64>,
    /// Methods the route takes (`Allow`).
    pub allow: Option<String>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            output: None,
            retry_after: None,
            allow: None,
        }
    }

    /// 422 naming the offending field.
    pub fn field(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::ValidationError, format!("{field}: {problem}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(code = ?self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                output: self.output.map(|o| *o),
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            headers.insert(header::ALLOW, allow);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::new(ErrorCode::Internal, format!("state store: {e}"))
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        let message = e.to_string();
        let code = match &e {
            RuntimeError::MachineNotFound(_) | RuntimeError::SnapshotNotFound(_) => {
                ErrorCode::NotFound
            }
            RuntimeError::InvalidState { .. } => ErrorCode::MachineNotRunning,
            RuntimeError::InputAborted(_) => ErrorCode::BadRequest,
            RuntimeError::MachineDied { .. } => ErrorCode::MachineDied,
            RuntimeError::Agent(a) => match a {
                AgentError::Guest(g) => match g.code {
                    Guest::NotFound => ErrorCode::NotFound,
                    Guest::PermissionDenied => ErrorCode::PermissionDenied,
                    Guest::AlreadyExists => ErrorCode::AlreadyExists,
                    Guest::NotADirectory | Guest::IsADirectory => ErrorCode::WrongEntryType,
                    Guest::NotEmpty => ErrorCode::NotEmpty,
                    Guest::InvalidArgument => ErrorCode::ValidationError,
                    Guest::PathEscapesRoot => ErrorCode::PathEscapesRoot,
                    Guest::ReservedPath => ErrorCode::ReservedPath,
                    Guest::UserNotFound => ErrorCode::UserNotFound,
                    Guest::NoSpace => ErrorCode::NoSpace,
                    Guest::CwdNotFound => ErrorCode::CwdNotFound,
                    Guest::CommandNotFound => ErrorCode::CommandNotFound,
                    Guest::ProcessNotFound => ErrorCode::ProcessNotFound,
                    Guest::ProcessExited => ErrorCode::ProcessExited,
                    Guest::StdinClosed => ErrorCode::StdinClosed,
                    Guest::NotAPty => ErrorCode::NotAPty,
                    Guest::TagInUse => ErrorCode::TagInUse,
                    Guest::Unsupported => ErrorCode::AgentOutdated,
                    Guest::UnknownCall | Guest::Io | Guest::Internal => ErrorCode::Internal,
                },
                AgentError::Outdated { .. } => ErrorCode::AgentOutdated,
                AgentError::CommandTimeout { .. } => ErrorCode::CommandTimeout,
                AgentError::OutputLimit { .. } => ErrorCode::OutputLimitExceeded,
                AgentError::Timeout { .. } => ErrorCode::Unavailable,
                AgentError::Disconnected | AgentError::Unreachable { .. } => ErrorCode::MachineDied,
                AgentError::Protocol(_) => ErrorCode::Internal,
            },
            RuntimeError::Net(_) => ErrorCode::Unavailable,
            RuntimeError::StateCorrupt { .. } => ErrorCode::StateCorrupt,
            RuntimeError::SnapshotInUse { .. } => ErrorCode::SnapshotInUse,
            _ => ErrorCode::Internal,
        };
        // Guest errors already say what failed; strip the layers' prefixes.
        let message = match &e {
            RuntimeError::Agent(AgentError::Guest(g)) => g.message.clone(),
            _ => message,
        };
        let mut err = Self::new(code, message);
        if let RuntimeError::Agent(
            AgentError::CommandTimeout { partial, .. } | AgentError::OutputLimit { partial, .. },
        ) = &e
        {
            err.output = Some(Box::new(PartialOutput {
                stdout: String::from_utf8_lossy(&partial.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&partial.stderr).into_owned(),
                truncated: true,
            }));
        }
        err
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use nullspace_guest_proto::GuestError;

    #[test]
    fn runtime_errors_map_to_stable_codes() {
        let e: ApiError = RuntimeError::Agent(AgentError::Guest(GuestError::new(
            Guest::CwdNotFound,
            "/nope",
        )))
        .into();
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::CwdNotFound, "/nope")
        );
        let partial = Box::new(nullspace_host::agent::Partial {
            stdout: b"so far".to_vec(),
            stderr: Vec::new(),
        });
        let e: ApiError = RuntimeError::Agent(AgentError::OutputLimit { limit: 1, partial }).into();
        assert_eq!(e.code, ErrorCode::OutputLimitExceeded);
        assert_eq!(e.output.unwrap().stdout, "so far");
        let e: ApiError =
            RuntimeError::MachineNotFound(nullspace_types::MachineId::random()).into();
        assert_eq!(e.code.status(), 404);
    }
}
