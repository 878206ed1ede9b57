//! Errors of the CLI and how they are reported.

use nullspace_client::{code_name, ClientError};

use crate::config::ConfigError;
use crate::exit::Exit;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A request failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The configuration could not be read or written.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No layer of the configuration has an API key.
    #[error("no API key: pass --api-key, set NULLSPACE_API_KEY, or run `nullspace auth login`")]
    NotConfigured,
    /// `auth login` got no key on its flag or standard input.
    #[error("no API key given: pass --api-key or write the key on standard input")]
    NoKeyGiven,
    /// A local input (file, standard input) could not be read.
    #[error("cannot read {what}: {source}")]
    ReadInput {
        /// What was read.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A local input that must be text is not UTF-8.
    #[error("{what} is not valid UTF-8")]
    NotUtf8 {
        /// What was read.
        what: String,
    },
    /// Standard output could not be written.
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] std::io::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// `schema` was asked for a command that does not exist.
    #[error("no command `{path}`")]
    UnknownCommand {
        /// The words given.
        path: String,
    },
}

impl CliError {
    /// The exit code of this error.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Client(e) => Exit::for_client_error(e),
            CliError::Config(_) | CliError::NotConfigured => Exit::NotConfigured,
            CliError::NoKeyGiven | CliError::UnknownCommand { .. } => Exit::Usage,
            CliError::ReadInput { .. } | CliError::NotUtf8 { .. } => Exit::InvalidInput,
            CliError::Stdout(_) | CliError::Runtime(_) => Exit::Unexpected,
        }
    }

    /// The stable code printed with the message: the API's error code when the server
    /// sent one, else a CLI code.
    pub fn code(&self) -> String {
        match self {
            CliError::Client(ClientError::Api { code, .. }) => code_name(*code),
            CliError::Client(ClientError::Http { .. }) => "http_error".into(),
            CliError::Client(ClientError::Transport { .. }) => "network_error".into(),
            CliError::Client(ClientError::Decode { .. }) => "invalid_response".into(),
            CliError::Client(ClientError::InvalidUrl { .. }) => "invalid_api_url".into(),
            CliError::Config(_) => "config_error".into(),
            CliError::NotConfigured => "not_configured".into(),
            CliError::NoKeyGiven | CliError::UnknownCommand { .. } => "usage".into(),
            CliError::ReadInput { .. } | CliError::NotUtf8 { .. } => "invalid_input".into(),
            CliError::Stdout(_) | CliError::Runtime(_) => "unexpected".into(),
        }
    }

    /// The error as the API's error body, `{"error":{"code","message"}}`, plus the HTTP
    /// status and exit code.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({
            "code": self.code(),
            "message": self.to_string(),
            "exit_code": self.exit().code(),
        });
        if let CliError::Client(e) = self {
            if let Some(status) = e.status() {
                error["status"] = status.into();
            }
        }
        serde_json::json!({ "error": error })
    }

    /// Whether this is a closed standard output (`nullspace … | head`), which is not worth
    /// reporting.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

#[cfg(test)]
mod tests {
    use nullspace_api::ErrorCode;

    use super::*;

    #[test]
    fn api_errors_keep_their_code_and_status() {
        let err = CliError::Client(ClientError::Api {
            status: 409,
            code: ErrorCode::MachineNotRunning,
            message: "machine sb_a is killed".into(),
        });
        assert_eq!(err.exit(), Exit::Conflict);
        assert_eq!(err.code(), "machine_not_running");
        let json = err.to_json();
        assert_eq!(json["error"]["code"], "machine_not_running");
        assert_eq!(json["error"]["message"], "machine sb_a is killed");
        assert_eq!(json["error"]["status"], 409);
        assert_eq!(json["error"]["exit_code"], 6);
    }

    #[test]
    fn local_errors_have_their_own_codes() {
        assert_eq!(CliError::NotConfigured.exit().code(), 3);
        assert_eq!(CliError::NotConfigured.code(), "not_configured");
        let err = CliError::NotUtf8 {
            what: "stdin".into(),
        };
        assert_eq!(err.exit(), Exit::InvalidInput);
    }
}
