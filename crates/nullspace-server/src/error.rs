//! API errors: a stable code, a message, and the status that fits.

use crate::node::{NodeError, NodeErrorCode};
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nullspace_api::{ErrorBody, ErrorCode, ErrorDetail, PartialOutput};

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

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        use NodeErrorCode as N;
        let code = match e.code {
            N::MachineNotFound | N::SnapshotNotFound | N::TemplateNotFound | N::NotFound => {
                ErrorCode::NotFound
            }
            N::NotRunning => ErrorCode::MachineNotRunning,
            N::MachineDied => ErrorCode::MachineDied,
            N::InputAborted => ErrorCode::BadRequest,
            N::StateCorrupt => ErrorCode::StateCorrupt,
            N::SnapshotInUse => ErrorCode::SnapshotInUse,
            N::Unavailable | N::ImagePullFailed => ErrorCode::Unavailable,
            N::AgentOutdated => ErrorCode::AgentOutdated,
            N::CommandTimeout => ErrorCode::CommandTimeout,
            N::OutputLimit => ErrorCode::OutputLimitExceeded,
            N::PermissionDenied => ErrorCode::PermissionDenied,
            N::AlreadyExists => ErrorCode::AlreadyExists,
            N::WrongEntryType => ErrorCode::WrongEntryType,
            N::NotEmpty => ErrorCode::NotEmpty,
            N::InvalidArgument => ErrorCode::ValidationError,
            N::InvalidPattern => ErrorCode::InvalidPattern,
            N::PathEscapesRoot => ErrorCode::PathEscapesRoot,
            N::ReservedPath => ErrorCode::ReservedPath,
            N::UserNotFound => ErrorCode::UserNotFound,
            N::NoSpace => ErrorCode::NoSpace,
            N::CwdNotFound => ErrorCode::CwdNotFound,
            N::CommandNotFound => ErrorCode::CommandNotFound,
            N::ProcessNotFound => ErrorCode::ProcessNotFound,
            N::ProcessExited => ErrorCode::ProcessExited,
            N::StdinClosed => ErrorCode::StdinClosed,
            N::NotAPty => ErrorCode::NotAPty,
            N::TagInUse => ErrorCode::TagInUse,
            N::PortClosed => ErrorCode::PreviewUpstreamUnavailable,
            N::Internal => ErrorCode::Internal,
        };
        let mut err = Self::new(code, e.message);
        err.output = e.partial.map(|p| {
            Box::new(PartialOutput {
                stdout: String::from_utf8_lossy(&p.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&p.stderr).into_owned(),
                truncated: true,
            })
        });
        err
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Partial;

    #[test]
    fn node_errors_map_to_stable_codes() {
        let e: ApiError = NodeError::new(NodeErrorCode::CwdNotFound, "/nope").into();
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::CwdNotFound, "/nope")
        );
        let partial = Partial {
            stdout: b"so far".to_vec(),
            stderr: Vec::new(),
        };
        let e: ApiError = NodeError::new(NodeErrorCode::OutputLimit, "too much")
            .with_partial(partial)
            .into();
        assert_eq!(e.code, ErrorCode::OutputLimitExceeded);
        assert_eq!(e.output.unwrap().stdout, "so far");
        let e: ApiError = NodeError::new(NodeErrorCode::MachineNotFound, "gone").into();
        assert_eq!(e.code.status(), 404);
        let e: ApiError = NodeError::new(NodeErrorCode::AgentOutdated, "old").into();
        assert_eq!(e.code, ErrorCode::AgentOutdated);
    }
}
