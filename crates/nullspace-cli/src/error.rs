//! Errors of the CLI and how they are reported.

use nullspace_api::ErrorCode;
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
    /// A local input is larger than the CLI sends in one piece.
    #[error("{what} is larger than {max} bytes, the most it may be")]
    TooLarge {
        /// What was read.
        what: String,
        /// The most bytes accepted.
        max: u64,
    },
    /// A command was stopped (`command_timeout`, `output_limit_exceeded`) after
    /// printing what the error carries.
    #[error("{source}; output cut: what the command printed before it was stopped is {shown}")]
    CommandCut {
        /// The server's error, with the partial output.
        #[source]
        source: ClientError,
        /// Where that output went: "above", or "in error.output" with `--json`.
        shown: &'static str,
    },
    /// A process was stopped by its timeout.
    #[error("process {pid} ran past its timeout and was killed")]
    ProcessTimedOut {
        /// The process.
        pid: u32,
    },
    /// A stream channel ended without saying how the process ended.
    #[error("the stream ended before the process did")]
    StreamEnded,
    /// Process logs that do not decode as the encoding asked for.
    #[error("the server sent logs that are not base64: {0}")]
    BadLogs(String),
    /// `process stdin` was given nothing to send.
    #[error("nothing to send: pipe the input, or give --data or --close")]
    NothingToSend,
    /// The local terminal could not be put in raw mode.
    #[error("cannot set up the terminal: {0}")]
    Terminal(#[source] std::io::Error),
    /// Standard output could not be written.
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] std::io::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A resumable upload failed part way; `next` resumes it.
    #[error("{source}; upload {upload_id} keeps what arrived: resume with `{next}`")]
    UploadInterrupted {
        /// Why it failed.
        #[source]
        source: Box<CliError>,
        /// The session to resume.
        upload_id: String,
        /// The command that resumes it.
        next: String,
    },
    /// `sandbox upload` flags that do not fit the source.
    #[error("{0}")]
    UploadUsage(String),
    /// A local program (`ssh`, `ssh-keygen`) or file it needs failed.
    #[error("cannot {what}: {source}")]
    LocalTool {
        /// What was being done.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
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
            CliError::Client(e) | CliError::CommandCut { source: e, .. } => {
                Exit::for_client_error(e)
            }
            CliError::Config(_) | CliError::NotConfigured => Exit::NotConfigured,
            CliError::NoKeyGiven | CliError::UnknownCommand { .. } | CliError::NothingToSend => {
                Exit::Usage
            }
            CliError::ProcessTimedOut { .. } => Exit::Timeout,
            CliError::StreamEnded | CliError::BadLogs(_) => Exit::Server,
            CliError::ReadInput { .. } | CliError::NotUtf8 { .. } | CliError::TooLarge { .. } => {
                Exit::InvalidInput
            }
            CliError::Stdout(_) | CliError::Runtime(_) | CliError::Terminal(_) => Exit::Unexpected,
            CliError::UploadInterrupted { source, .. } => source.exit(),
            CliError::UploadUsage(_) => Exit::Usage,
            CliError::LocalTool { .. } => Exit::Unexpected,
        }
    }

    /// The stable code printed with the message: the API's error code when the server
    /// sent one, else a CLI code.
    pub fn code(&self) -> String {
        match self {
            CliError::Client(ClientError::Api { code, .. })
            | CliError::CommandCut {
                source: ClientError::Api { code, .. },
                ..
            } => code_name(*code),
            CliError::CommandCut { .. } => "command_cut".into(),
            CliError::Client(ClientError::Http { .. }) => "http_error".into(),
            CliError::Client(ClientError::Transport { .. } | ClientError::WebSocket { .. }) => {
                "network_error".into()
            }
            CliError::Client(ClientError::Decode { .. } | ClientError::StreamMessage { .. }) => {
                "invalid_response".into()
            }
            CliError::Client(ClientError::PreviewNotReady { .. }) => "wait_timeout".into(),
            CliError::Client(ClientError::StreamClosed { .. }) | CliError::StreamEnded => {
                "stream_closed".into()
            }
            CliError::ProcessTimedOut { .. } => "command_timeout".into(),
            CliError::NothingToSend => "usage".into(),
            CliError::BadLogs(_) => "invalid_response".into(),
            CliError::Terminal(_) => "unexpected".into(),
            CliError::Client(ClientError::InvalidUrl { .. }) => "invalid_api_url".into(),
            CliError::Config(_) => "config_error".into(),
            CliError::NotConfigured => "not_configured".into(),
            CliError::NoKeyGiven | CliError::UnknownCommand { .. } => "usage".into(),
            CliError::ReadInput { .. } | CliError::NotUtf8 { .. } => "invalid_input".into(),
            CliError::TooLarge { .. } => "payload_too_large".into(),
            CliError::Stdout(_) | CliError::Runtime(_) => "unexpected".into(),
            CliError::UploadInterrupted { source, .. } => source.code(),
            CliError::UploadUsage(_) => "usage".into(),
            CliError::LocalTool { .. } => "local_tool_failed".into(),
        }
    }

    /// The client error inside, if a request failed.
    fn client(&self) -> Option<&ClientError> {
        match self {
            CliError::Client(e) | CliError::CommandCut { source: e, .. } => Some(e),
            CliError::UploadInterrupted { source, .. } => source.client(),
            _ => None,
        }
    }

    /// What to do about it, when there is more to say than the message.
    pub fn hint(&self) -> Option<String> {
        if let CliError::NotUtf8 { .. } = self {
            return Some(
                "a command's standard input is text; put binary data in a file of the machine \
                 (`nullspace sandbox file write`) and read it from there"
                    .into(),
            );
        }
        let err = self.client()?;
        match err.code()? {
            ErrorCode::FileTooLarge => {
                Some("read it raw (a stream), or in parts with --offset and --limit".into())
            }
            ErrorCode::RateLimited => Some(match err.retry_after() {
                Some(wait) => format!("retry after {} s", wait.as_secs()),
                None => "retry later".into(),
            }),
            _ => None,
        }
    }

    /// The error as the API's error body, `{"error":{"code","message"}}`, plus the HTTP
    /// status, the exit code, and when there are any the command's partial `output`,
    /// `retry_after_secs` and a `hint`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({
            "code": self.code(),
            "message": self.to_string(),
            "exit_code": self.exit().code(),
        });
        if let Some(e) = self.client() {
            if let Some(status) = e.status() {
                error["status"] = status.into();
            }
            if let Some(output) = e.output() {
                error["output"] = serde_json::json!(output);
            }
            if let Some(wait) = e.retry_after() {
                error["retry_after_secs"] = wait.as_secs().into();
            }
            if let ClientError::PreviewNotReady { last, .. } = e {
                error["readiness"] = serde_json::json!(last);
            }
        }
        if let Some(hint) = self.hint() {
            error["hint"] = hint.into();
        }
        serde_json::json!({ "error": error })
    }

    /// The error as people read it on stderr: `error: <message> (<code>)`, and a
    /// `hint:` line when there is one.
    pub fn to_text(&self) -> String {
        let mut text = format!("error: {self} ({})", self.code());
        if let Some(hint) = self.hint() {
            text.push_str(&format!("\nhint: {hint}"));
        }
        text
    }

    /// Whether this is a closed standard output (`nullspace … | head`), which is not worth
    /// reporting.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

#[cfg(test)]
mod tests {
    use nullspace_api::PartialOutput;

    use super::*;

    /// The API error `code` as the client reports it.
    fn api(code: ErrorCode, message: &str) -> ClientError {
        api_with(code, message, None, None)
    }

    fn api_with(
        code: ErrorCode,
        message: &str,
        output: Option<PartialOutput>,
        retry_after: Option<std::time::Duration>,
    ) -> ClientError {
        ClientError::Api {
            status: code.status(),
            code,
            message: message.into(),
            output,
            retry_after,
        }
    }

    #[test]
    fn api_errors_keep_their_code_and_status() {
        let err = CliError::Client(api(ErrorCode::MachineNotRunning, "machine sb_a is killed"));
        assert_eq!(err.exit(), Exit::Conflict);
        assert_eq!(err.code(), "machine_not_running");
        let json = err.to_json();
        assert_eq!(json["error"]["code"], "machine_not_running");
        assert_eq!(json["error"]["message"], "machine sb_a is killed");
        assert_eq!(json["error"]["status"], 409);
        assert_eq!(json["error"]["exit_code"], 6);
        assert_eq!(json["error"].get("output"), None);
        assert_eq!(json["error"].get("hint"), None);
        assert_eq!(
            err.to_text(),
            "error: machine sb_a is killed (machine_not_running)"
        );
    }

    #[test]
    fn cut_commands_keep_the_code_and_carry_the_output() {
        let output = PartialOutput {
            stdout: "1\n2\n".into(),
            stderr: "w".into(),
            truncated: true,
        };
        for (code, exit) in [
            (ErrorCode::CommandTimeout, Exit::Timeout),
            (ErrorCode::OutputLimitExceeded, Exit::InvalidInput),
        ] {
            let err = CliError::CommandCut {
                source: api_with(code, "stopped", Some(output.clone()), None),
                shown: "above",
            };
            assert_eq!(err.exit(), exit);
            assert_eq!(err.code(), code_name(code));
            assert!(err.to_string().starts_with("stopped; output cut"), "{err}");
            assert!(err.to_string().ends_with("is above"), "{err}");
            let json = err.to_json();
            assert_eq!(json["error"]["output"]["stdout"], "1\n2\n");
            assert_eq!(json["error"]["output"]["truncated"], true);
            assert_eq!(json["error"]["exit_code"], exit.code());
        }
    }

    #[test]
    fn rate_limits_and_large_files_have_hints() {
        let err = CliError::Client(api_with(
            ErrorCode::RateLimited,
            "too many requests",
            None,
            Some(std::time::Duration::from_secs(3)),
        ));
        assert_eq!(err.exit(), Exit::Server);
        assert_eq!(err.hint().as_deref(), Some("retry after 3 s"));
        assert_eq!(err.to_json()["error"]["retry_after_secs"], 3);
        assert!(
            err.to_text().ends_with("\nhint: retry after 3 s"),
            "{}",
            err.to_text()
        );
        let err = CliError::Client(api(ErrorCode::FileTooLarge, "too large"));
        assert_eq!(err.exit(), Exit::InvalidInput);
        assert!(err.hint().unwrap().contains("--offset and --limit"));
        assert!(err.to_json()["error"]["hint"].is_string());
    }

    #[test]
    fn local_errors_have_their_own_codes() {
        let err = CliError::TooLarge {
            what: "standard input".into(),
            max: crate::input::MAX_INLINE_BYTES,
        };
        assert_eq!(err.exit(), Exit::InvalidInput);
        assert_eq!(err.code(), "payload_too_large");
        assert!(err.to_string().contains("134217728"), "{err}");
        assert_eq!(CliError::NotConfigured.exit().code(), 3);
        assert_eq!(CliError::NotConfigured.code(), "not_configured");
        let err = CliError::NotUtf8 {
            what: "stdin".into(),
        };
        assert_eq!(err.exit(), Exit::InvalidInput);
    }
}
