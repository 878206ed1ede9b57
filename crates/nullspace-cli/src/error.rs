//! Errors of the CLI and how they are reported.

use nullspace_api::{ErrorCode, TemplateBuild};
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
    /// Flags that parse but do not fit together (nothing is sent).
    #[error("{0}")]
    Usage(String),
    /// A local JSON input does not hold what it must.
    #[error("{what} is not valid: {source}")]
    InvalidJson {
        /// What was read.
        what: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A local file that would be overwritten exists.
    #[error("{path} exists: pass --force to overwrite it")]
    AlreadyExists {
        /// The file.
        path: String,
    },
    /// A template build ended in `error`.
    #[error("build {} of template {} failed: {}", .0.id, .0.name, build_message(.0))]
    BuildFailed(Box<TemplateBuild>),
}

/// What a failed build's error says.
fn build_message(build: &TemplateBuild) -> String {
    build
        .error
        .as_ref()
        .map_or_else(|| "no cause given".into(), |e| e.message.clone())
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
            CliError::UploadUsage(_) | CliError::Usage(_) => Exit::Usage,
            CliError::LocalTool { .. } => Exit::Unexpected,
            CliError::InvalidJson { .. } => Exit::InvalidInput,
            CliError::AlreadyExists { .. } | CliError::BuildFailed(_) => Exit::Conflict,
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
            CliError::Client(ClientError::LocalFile { .. }) => "invalid_input".into(),
            CliError::Config(_) => "config_error".into(),
            CliError::NotConfigured => "not_configured".into(),
            CliError::NoKeyGiven | CliError::UnknownCommand { .. } => "usage".into(),
            CliError::ReadInput { .. } | CliError::NotUtf8 { .. } => "invalid_input".into(),
            CliError::TooLarge { .. } => "payload_too_large".into(),
            CliError::Stdout(_) | CliError::Runtime(_) => "unexpected".into(),
            CliError::UploadInterrupted { source, .. } => source.code(),
            CliError::UploadUsage(_) | CliError::Usage(_) => "usage".into(),
            CliError::LocalTool { .. } => "local_tool_failed".into(),
            CliError::InvalidJson { .. } => "invalid_input".into(),
            CliError::AlreadyExists { .. } => "already_exists".into(),
            CliError::BuildFailed(_) => "build_failed".into(),
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
        if let CliError::BuildFailed(build) = self {
            return Some(format!(
                "the whole log: `nullspace template logs {}`",
                build.id
            ));
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
        if let CliError::BuildFailed(build) = self {
            error["build_id"] = build.id.to_string().into();
            error["build_error"] = serde_json::json!(build.error);
        }
        if let Some(hint) = self.hint() {
            error["hint"] = hint.into();
        }
        serde_json::json!({ "error": error })
    }

    /// Lines that say more than the message: a failed build's cause, step, exit
    /// code and last lines of output.
    fn details(&self) -> Option<String> {
        let CliError::BuildFailed(build) = self else {
            return None;
        };
        let e = build.error.as_ref()?;
        let mut lines = vec![format!("  code: {}", crate::output::wire_name(&e.code))];
        if let Some(step) = e.step {
            lines.push(format!("  step: {step}/{}", build.steps_total));
        }
        if let Some(code) = e.exit_code {
            lines.push(format!("  exit_code: {code}"));
        }
        if !e.last_lines.is_empty() {
            lines.push("  last lines:".into());
            lines.extend(e.last_lines.iter().map(|l| format!("    {l}")));
        }
        Some(lines.join("\n"))
    }

    /// The error as people read it on stderr: `error: <message> (<code>)`, and a
    /// `hint:` line when there is one.
    pub fn to_text(&self) -> String {
        let mut text = format!("error: {self} ({})", self.code());
        if let Some(details) = self.details() {
            text.push('\n');
            text.push_str(&details);
        }
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

    #[test]
    fn failed_builds_say_where_and_exit_6() {
        let b = nullspace_api::TemplateBuild {
            id: "tb_bbbbbbbbbbbbbbbbbbbb".parse().unwrap(),
            template_id: "tpl_aaaaaaaaaaaaaaaaaaaa".parse().unwrap(),
            name: "web".into(),
            tags: vec!["latest".into()],
            status: nullspace_api::BuildStatus::Error,
            steps_total: 2,
            steps_done: 1,
            steps_cached: 0,
            logs: Vec::new(),
            logs_next_offset: 5,
            error: Some(nullspace_api::BuildError {
                code: nullspace_api::BuildErrorCode::StepFailed,
                message: "step 2/2 run exited 3".into(),
                step: Some(2),
                exit_code: Some(3),
                last_lines: vec!["boom".into()],
            }),
            created_at: "2026-01-01T00:00:00Z".into(),
            finished_at: Some("2026-01-01T00:00:05Z".into()),
        };
        let err = CliError::BuildFailed(Box::new(b));
        assert_eq!(err.exit(), Exit::Conflict);
        assert_eq!(err.exit().code(), 6);
        let text = err.to_text();
        assert!(
            text.starts_with(
                "error: build tb_bbbbbbbbbbbbbbbbbbbb of template web failed: step 2/2 run exited 3 \
                 (build_failed)"
            ),
            "{text}"
        );
        for want in [
            "  code: step_failed",
            "  step: 2/2",
            "  exit_code: 3",
            "    boom",
        ] {
            assert!(text.lines().any(|l| l == want), "{want:?} in {text}");
        }
        assert!(text.contains("nullspace template logs tb_"), "{text}");
        let j = err.to_json();
        assert_eq!(j["error"]["code"], "build_failed");
        assert_eq!(j["error"]["exit_code"], 6);
        assert_eq!(j["error"]["build_id"], "tb_bbbbbbbbbbbbbbbbbbbb");
        assert_eq!(j["error"]["build_error"]["step"], 2);
        assert_eq!(j["error"]["build_error"]["exit_code"], 3);
        assert_eq!(
            j["error"]["build_error"]["last_lines"],
            serde_json::json!(["boom"])
        );
    }
}
