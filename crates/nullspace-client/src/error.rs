//! Errors of the client.

use nullspace_api::ErrorCode;

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
            ClientError::InvalidUrl { .. } | ClientError::Transport { .. } => None,
        }
    }

    /// Whether the server could not be reached at all (refused, DNS, timeout on connect).
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Transport { source, .. } if source.is_connect() || source.is_timeout())
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

/// The snake_case name of an error code, as it appears on the wire.
pub fn code_name(code: ErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{code:?}"),
    }
}
