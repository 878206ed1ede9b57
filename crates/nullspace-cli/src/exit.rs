//! The stable exit codes of `nullspace`.
//!
//! | code | name            | meaning |
//! |------|-----------------|---------|
//! | 0    | ok              | success |
//! | 1    | unexpected      | an unexpected error (local I/O, a bug) |
//! | 2    | usage           | invalid command line (unknown flag, bad value, no command to run); nothing is sent |
//! | 3    | not_configured  | no API key, or an unreadable configuration file |
//! | 4    | unauthorized    | the API key was rejected |
//! | 5    | not_found       | no such machine, snapshot, file, template, template build or process |
//! | 6    | conflict        | the machine is not running, or the request conflicts with its state (a snapshot or template in use, corrupt saved state, a non-empty directory, a full disk, a process that ended or whose stdin is closed, an old guest agent); also a template build that failed |
//! | 7    | invalid_input   | the server rejected the input (validation, missing cwd/command/user, bad path, too large, output cap), or a local input is unreadable, not text, or over 128 MiB |
//! | 8    | timeout         | the command ran past its timeout, or a preview `--wait` ran past its own |
//! | 9    | server_error    | server or network failure (5xx, unavailable, machine died, rate limited, connection refused) |
//!
//! `sandbox exec` (and `process stream|attach`, `pty create|connect`) exits with the
//! command's own exit code when the command ran, so
//! these codes only describe failures to run it. A command stopped by its timeout (8)
//! or the output cap (7) prints what it printed until then first.

use nullspace_api::ErrorCode;
use nullspace_client::ClientError;

/// One documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok,
    /// 1: an unexpected error.
    Unexpected,
    /// 2: invalid command line.
    Usage,
    /// 3: no API key or an unreadable configuration.
    NotConfigured,
    /// 4: the API key was rejected.
    Unauthorized,
    /// 5: no such machine, snapshot, file or template.
    NotFound,
    /// 6: the machine is not running, or a conflict with its state (snapshot in use, corrupt
    /// saved state).
    Conflict,
    /// 7: the server rejected the input.
    InvalidInput,
    /// 8: the command timed out.
    Timeout,
    /// 9: server or network failure.
    Server,
}

impl Exit {
    /// Every exit code, in numeric order.
    pub const ALL: [Exit; 10] = [
        Exit::Ok,
        Exit::Unexpected,
        Exit::Usage,
        Exit::NotConfigured,
        Exit::Unauthorized,
        Exit::NotFound,
        Exit::Conflict,
        Exit::InvalidInput,
        Exit::Timeout,
        Exit::Server,
    ];

    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Unexpected => 1,
            Exit::Usage => 2,
            Exit::NotConfigured => 3,
            Exit::Unauthorized => 4,
            Exit::NotFound => 5,
            Exit::Conflict => 6,
            Exit::InvalidInput => 7,
            Exit::Timeout => 8,
            Exit::Server => 9,
        }
    }

    /// Stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Unexpected => "unexpected",
            Exit::Usage => "usage",
            Exit::NotConfigured => "not_configured",
            Exit::Unauthorized => "unauthorized",
            Exit::NotFound => "not_found",
            Exit::Conflict => "conflict",
            Exit::InvalidInput => "invalid_input",
            Exit::Timeout => "timeout",
            Exit::Server => "server_error",
        }
    }

    /// One-line meaning.
    pub fn description(self) -> &'static str {
        match self {
            Exit::Ok => "success",
            Exit::Unexpected => "an unexpected error (local I/O, a bug)",
            Exit::Usage => {
                "invalid command line (unknown flag, bad value, no command to run); nothing \
                 is sent"
            }
            Exit::NotConfigured => "no API key, or an unreadable configuration file",
            Exit::Unauthorized => {
                "the API key was rejected (unauthorized), or a preview credential \
                 (preview_token_required, preview_token_invalid)"
            }
            Exit::NotFound => {
                "no such machine, snapshot, file, template, template build, process, upload, git \
                 repository or git ref, or preview grant (not_found, process_not_found, \
                 upload_not_found, template_not_found, build_not_found, git_repository_not_found, \
                 git_ref_not_found, preview_grant_not_found)"
            }
            Exit::Conflict => {
                "the machine is not running, or the request conflicts with its state \
                 (machine_not_running, conflict, already_exists, not_empty, snapshot_in_use, \
                 state_corrupt, no_space, process_exited, stdin_closed, not_a_pty, tag_in_use, \
                 agent_outdated, upload_state, upload_conflict, upload_expired, upload_chunk_invalid, \
                 git_push_rejected, \
                 git_conflict, git_nothing_to_commit, template_in_use); also a template build that \
                 ended in error (build_failed: its step, exit code and last lines on stderr), and \
                 a local file that exists (already_exists)"
            }
            Exit::InvalidInput => {
                "the server rejected the input (bad_request, validation_error, cwd_not_found, \
                 command_not_found, user_not_found, path_escapes_root, reserved_path, \
                 permission_denied, wrong_entry_type, payload_too_large, output_limit_exceeded, \
                 file_too_large, method_not_allowed, idempotency_key_reused, invalid_pattern, \
                 upload_checksum_mismatch, upload_too_large, upload_path_invalid, \
                 git_auth_failed, git_not_a_repository, git_failed); \
                 also a local \
                 input that is unreadable, not UTF-8 (a command's stdin) or over 128 MiB \
                 (payload_too_large). output_limit_exceeded prints the output up to the cap \
                 first"
            }
            Exit::Timeout => {
                "the command ran past its timeout (command_timeout; also a streamed process \
                 its timeout killed); what it printed until then is printed first. Also a \
                 preview `--wait` whose service did not answer in time (wait_timeout)"
            }
            Exit::Server => {
                "server or network failure (5xx, internal, unavailable, machine_died, \
                 preview_upstream_unavailable, rate_limited, connection refused, a stream that closed before its end)"
            }
        }
    }

    /// The exit code of an API error code.
    pub fn for_api_code(code: ErrorCode) -> Exit {
        use ErrorCode::*;
        match code {
            Unauthorized | PreviewTokenRequired | PreviewTokenInvalid => Exit::Unauthorized,
            NotFound
            | ProcessNotFound
            | UploadNotFound
            | GitRepositoryNotFound
            | GitRefNotFound
            | PreviewGrantNotFound
            | SshAccessNotFound
            | TemplateNotFound
            | BuildNotFound => Exit::NotFound,
            MachineNotRunning | Conflict | AlreadyExists | NotEmpty | SnapshotInUse
            | StateCorrupt | NoSpace | ProcessExited | StdinClosed | NotAPty | TagInUse
            | AgentOutdated | UploadState | UploadConflict | UploadExpired | UploadChunkInvalid
            | GitPushRejected | GitConflict | GitNothingToCommit | TemplateInUse => Exit::Conflict,
            BadRequest
            | ValidationError
            | SshKeyInvalid
            | CwdNotFound
            | CommandNotFound
            | UserNotFound
            | PathEscapesRoot
            | ReservedPath
            | PermissionDenied
            | WrongEntryType
            | PayloadTooLarge
            | OutputLimitExceeded
            | FileTooLarge
            | MethodNotAllowed
            | IdempotencyKeyReused
            | InvalidPattern
            | UploadChecksumMismatch
            | UploadTooLarge
            | UploadPathInvalid
            | GitAuthFailed
            | GitNotARepository
            | GitFailed => Exit::InvalidInput,
            CommandTimeout => Exit::Timeout,
            RateLimited | MachineDied | PreviewUpstreamUnavailable | Unavailable | Internal => {
                Exit::Server
            }
        }
    }

    /// The exit code of an HTTP status without an API error body.
    pub fn for_status(status: u16) -> Exit {
        match status {
            401 | 403 => Exit::Unauthorized,
            404 => Exit::NotFound,
            409 => Exit::Conflict,
            504 => Exit::Timeout,
            400..=499 => Exit::InvalidInput,
            _ => Exit::Server,
        }
    }

    /// The exit code of a stream channel closed early with WebSocket close `code`.
    pub fn for_close_code(code: Option<u16>) -> Exit {
        match code {
            Some(4404) => Exit::NotFound,
            Some(4409) => Exit::Conflict,
            Some(1008) => Exit::InvalidInput,
            _ => Exit::Server,
        }
    }

    /// The exit code of a client error.
    pub fn for_client_error(err: &ClientError) -> Exit {
        match err {
            ClientError::Api { code, .. } => Exit::for_api_code(*code),
            ClientError::Http { status, .. } => Exit::for_status(*status),
            ClientError::InvalidUrl { .. } => Exit::NotConfigured,
            ClientError::LocalFile { .. } => Exit::InvalidInput,
            ClientError::StreamClosed { code, .. } => Exit::for_close_code(*code),
            ClientError::Transport { .. }
            | ClientError::Decode { .. }
            | ClientError::WebSocket { .. }
            | ClientError::StreamMessage { .. } => Exit::Server,
            ClientError::PreviewNotReady { .. } => Exit::Timeout,
        }
    }
}

/// The exit-code table as JSON (`[{"code","name","description"}]`).
pub fn table_json() -> serde_json::Value {
    Exit::ALL
        .iter()
        .map(|e| serde_json::json!({"code": e.code(), "name": e.name(), "description": e.description()}))
        .collect()
}

/// The exit-code table as text, for `--help`.
pub fn table_text() -> String {
    let mut text = String::from("Exit codes:\n");
    for e in Exit::ALL {
        text.push_str(&format!(
            "  {}  {:<15} {}\n",
            e.code(),
            e.name(),
            e.description()
        ));
    }
    text.push_str(
        "  `sandbox exec`, `process stream`, `process attach` and `pty create|connect` exit \
         with the process's own exit code when it ran (128+N when signal N killed it).\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        for (i, e) in Exit::ALL.iter().enumerate() {
            assert_eq!(usize::from(e.code()), i);
        }
    }

    #[test]
    fn api_codes_map_to_their_class() {
        use ErrorCode::*;
        let cases = [
            (Unauthorized, 4),
            (NotFound, 5),
            (ProcessNotFound, 5),
            (ProcessExited, 6),
            (StdinClosed, 6),
            (NotAPty, 6),
            (TagInUse, 6),
            (AgentOutdated, 6),
            (MachineNotRunning, 6),
            (Conflict, 6),
            (AlreadyExists, 6),
            (NotEmpty, 6),
            (SnapshotInUse, 6),
            (StateCorrupt, 6),
            (NoSpace, 6),
            (BadRequest, 7),
            (ValidationError, 7),
            (SshKeyInvalid, 7),
            (SshAccessNotFound, 5),
            (TemplateNotFound, 5),
            (BuildNotFound, 5),
            (TemplateInUse, 6),
            (CwdNotFound, 7),
            (CommandNotFound, 7),
            (UserNotFound, 7),
            (PathEscapesRoot, 7),
            (ReservedPath, 7),
            (WrongEntryType, 7),
            (PermissionDenied, 7),
            (PayloadTooLarge, 7),
            (OutputLimitExceeded, 7),
            (FileTooLarge, 7),
            (MethodNotAllowed, 7),
            (IdempotencyKeyReused, 7),
            (GitAuthFailed, 7),
            (GitNotARepository, 7),
            (GitFailed, 7),
            (GitRepositoryNotFound, 5),
            (GitRefNotFound, 5),
            (GitPushRejected, 6),
            (GitConflict, 6),
            (GitNothingToCommit, 6),
            (CommandTimeout, 8),
            (RateLimited, 9),
            (MachineDied, 9),
            (Unavailable, 9),
            (Internal, 9),
        ];
        for (code, exit) in cases {
            assert_eq!(Exit::for_api_code(code).code(), exit, "{code:?}");
        }
    }

    #[test]
    fn early_closes_map_by_close_code() {
        assert_eq!(Exit::for_close_code(Some(4404)), Exit::NotFound);
        assert_eq!(Exit::for_close_code(Some(4409)), Exit::Conflict);
        assert_eq!(Exit::for_close_code(Some(1008)), Exit::InvalidInput);
        assert_eq!(Exit::for_close_code(Some(4502)), Exit::Server);
        assert_eq!(Exit::for_close_code(None), Exit::Server);
    }

    #[test]
    fn bare_statuses_map_by_class() {
        assert_eq!(Exit::for_status(401), Exit::Unauthorized);
        assert_eq!(Exit::for_status(404), Exit::NotFound);
        assert_eq!(Exit::for_status(409), Exit::Conflict);
        assert_eq!(Exit::for_status(418), Exit::InvalidInput);
        assert_eq!(Exit::for_status(504), Exit::Timeout);
        assert_eq!(Exit::for_status(502), Exit::Server);
    }

    #[test]
    fn table_lists_every_code() {
        let table = table_json();
        assert_eq!(table.as_array().unwrap().len(), 10);
        assert_eq!(table[8]["name"], "timeout");
        assert!(table_text().contains("sandbox exec"));
        for code in [
            "file_too_large",
            "no_space",
            "idempotency_key_reused",
            "rate_limited",
        ] {
            let listed = table.as_array().unwrap().iter().any(|row| {
                row["description"]
                    .as_str()
                    .is_some_and(|d| d.contains(code))
            });
            assert!(listed, "{code} is in the table");
        }
    }
}
