//! Errors of the client.

use std::time::Duration;

use nullspace_api::{ErrorCode, PartialOutput, PreviewReadiness};

/// Why a request did not produce the expected answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL given to [`Client::new`](crate::Client::new) does not parse.
    #[error("invalid API URL {url:?}: {source}")]
    InvalidUrl {
        /// The rejected URL.
        url: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// The server answered with an error body (`{"error":{"code","message"}}`).
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: ErrorCode,
        /// Server's explanation.
        message: String,
        /// What a command printed before it was cut short (`command_timeout`,
        /// `output_limit_exceeded`).
        output: Option<PartialOutput>,
        /// How long the server asks to wait before trying again (`Retry-After`, sent
        /// with `rate_limited`).
        retry_after: Option<Duration>,
    },
    /// The server answered with a non-success status and a body that is not an error body
    /// (a proxy's page, an unknown code).
    #[error("HTTP {status} from {url}: {body}")]
    Http {
        /// HTTP status.
        status: u16,
        /// URL requested.
        url: String,
        /// Start of the body, as text.
        body: String,
        /// How long the server asks to wait before trying again (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The request could not be sent or its answer not received.
    #[error("request to {url} failed: {}", root_cause(source))]
    Transport {
        /// URL requested.
        url: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// A WebSocket channel could not be opened, or failed while open.
    #[error("stream channel {url} failed: {source}")]
    WebSocket {
        /// URL of the channel.
        url: String,
        /// What failed.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// A stream channel closed before its `end` (or an `error`) was read.
    #[error("stream channel {url} closed before the end{}{}", code.map(|c| format!(" (close code {c})")).unwrap_or_default(), if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    StreamClosed {
        /// URL of the channel.
        url: String,
        /// WebSocket close code, if the server sent one (4404 gone, 4409 not running…).
        code: Option<u16>,
        /// Reason given with it.
        reason: String,
    },
    /// A stream channel sent a message that does not follow `spec/websocket.md`.
    #[error("stream channel {url} sent {what}")]
    StreamMessage {
        /// URL of the channel.
        url: String,
        /// What was wrong with it.
        what: String,
    },
    /// [`Client::wait_for_preview`](crate::Client::wait_for_preview) reached its timeout
    /// before the port was ready.
    #[error(
        "the {} of port {port} of machine {machine_id} was not ready after {:.1} s (last readiness: {})",
        if *require_service { "service" } else { "preview route" },
        waited.as_secs_f64(),
        crate::previews::describe_readiness(last)
    )]
    PreviewNotReady {
        /// The machine.
        machine_id: String,
        /// The machine port.
        port: u16,
        /// Whether the service had to answer (else only the route be ready).
        require_service: bool,
        /// How long it waited.
        waited: Duration,
        /// The last readiness read.
        last: Box<PreviewReadiness>,
    },
    /// A local file to send (a template context) could not be read.
    #[error("cannot read {path}: {source}")]
    LocalFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A success answer whose body is not the expected JSON.
    #[error("cannot decode the answer of {url} (HTTP {status}): {source}")]
    Decode {
        /// URL requested.
        url: String,
        /// HTTP status.
        status: u16,
        /// What did not match.
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The API error code, if the server sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. }
            | ClientError::Http { status, .. }
            | ClientError::Decode { status, .. } => Some(*status),
            ClientError::InvalidUrl { .. }
            | ClientError::Transport { .. }
            | ClientError::WebSocket { .. }
            | ClientError::StreamClosed { .. }
            | ClientError::StreamMessage { .. }
            | ClientError::PreviewNotReady { .. }
            | ClientError::LocalFile { .. } => None,
        }
    }

    /// What the command printed before it was cut short, when the server sent it
    /// (`command_timeout`, `output_limit_exceeded`).
    pub fn output(&self) -> Option<&PartialOutput> {
        match self {
            ClientError::Api { output, .. } => output.as_ref(),
            _ => None,
        }
    }

    /// How long the server asks to wait before trying again (its `Retry-After`, in
    /// seconds on the wire), when it said (`rate_limited` answers do).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Api { retry_after, .. } | ClientError::Http { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Whether the server could not be reached at all (refused, DNS, timeout on connect).
    pub fn is_connect(&self) -> bool {
        match self {
            ClientError::Transport { source, .. } => source.is_connect() || source.is_timeout(),
            ClientError::WebSocket { source, .. } => {
                matches!(**source, tokio_tungstenite::tungstenite::Error::Io(_))
            }
            _ => false,
        }
    }

    /// The WebSocket close code of a channel that closed early, if the server sent one.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            ClientError::StreamClosed { code, .. } => *code,
            _ => None,
        }
    }
}

/// The innermost cause of `err` ("Connection refused (os error 111)"), which says more
/// than reqwest's outer "error sending request".
fn root_cause(err: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The delay of a `Retry-After` value in its delta-seconds form (`"3"`); an HTTP date
/// or anything else is `None`.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The snake_case name of an error code, as it appears on the wire.
pub fn code_name(code: ErrorCode) -> String {
    code.name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_delta_seconds_only() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after(""), None);
    }

    #[test]
    fn output_and_retry_after_are_read_from_api_errors_only() {
        let output = PartialOutput {
            stdout: "so far".into(),
            stderr: String::new(),
            truncated: true,
        };
        let err = ClientError::Api {
            status: 504,
            code: ErrorCode::CommandTimeout,
            message: "killed after 1s".into(),
            output: Some(output.clone()),
            retry_after: None,
        };
        assert_eq!(err.output(), Some(&output));
        assert_eq!(err.retry_after(), None);
        let err = ClientError::Http {
            status: 429,
            url: "http://x/v1/machines".into(),
            body: "slow down".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(err.output(), None);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    }
}
