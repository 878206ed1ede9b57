//! Background processes and PTY sessions: processes kept in the machine's
//! process table, which outlive the request and any client connection.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most bytes of stdin one `POST …/processes/{pid}/stdin` carries.
pub const MAX_STDIN_BYTES: usize = 1 << 20;
/// Bytes of each output stream a process keeps (the newest ones).
pub const PROCESS_RING_BYTES: u64 = 1 << 20;
/// Largest PTY side (columns or rows).
pub const MAX_PTY_SIDE: u16 = 1000;

/// Size of a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PtySize {
    /// Columns (1 to 1000).
    #[serde(deserialize_with = "crate::de::int")]
    pub cols: u16,
    /// Rows (1 to 1000).
    #[serde(deserialize_with = "crate::de::int")]
    pub rows: u16,
}

/// Body of `POST /v1/machines/{id}/processes`: exactly one of `command` (run by
/// `bash -c`) or `args` (argv, looked up in `PATH`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartProcessRequest {
    /// Shell command line.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub command: Option<String>,
    /// Program and arguments.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub args: Option<Vec<String>>,
    /// Working directory (default: the machine's `cwd`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub cwd: Option<String>,
    /// Extra environment variables (over the machine's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub envs: BTreeMap<String, String>,
    /// Guest user (default `user`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub user: Option<String>,
    /// Keep stdin open for `…/stdin` (default false: stdin is `/dev/null`).
    /// A PTY process always takes input.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub stdin: Option<bool>,
    /// A name to find the process by, unique among running processes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub tag: Option<String>,
    /// Seconds after which the process group is killed (default 0: no limit).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub timeout: Option<f64>,
    /// Run on a new terminal of this size.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub pty: Option<PtySize>,
}

/// Facts about one output stream of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamFacts {
    /// Bytes written so far (the offset of the next byte).
    pub total_bytes: u64,
    /// Offset of the oldest byte still kept; earlier bytes were dropped.
    pub kept_from: u64,
}

/// A process of a machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Guest process id: the handle of every process route.
    pub pid: u32,
    /// Its tag.
    pub tag: Option<String>,
    /// The shell command line, if it was started as one.
    pub command: Option<String>,
    /// Program and arguments as run.
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// User it runs as.
    pub user: String,
    /// Its terminal, for a PTY process.
    pub pty: Option<PtySize>,
    /// Start time (RFC 3339, UTC, guest clock).
    pub started_at: String,
    /// Whether it still runs.
    pub running: bool,
    /// Whether its stdin (or terminal) still takes input.
    pub stdin_open: bool,
    /// Exit code, once it exited by itself.
    pub exit_code: Option<i32>,
    /// Signal that ended it, if one did.
    pub signal: Option<i32>,
    /// Whether its timeout killed it.
    pub timed_out: bool,
    /// Run time in milliseconds, once it ended.
    pub duration_ms: Option<u64>,
    /// Its stdout (a terminal's output, for a PTY process).
    pub stdout: StreamFacts,
    /// Its stderr.
    pub stderr: StreamFacts,
}

/// Answer of `GET /v1/machines/{id}/processes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessList {
    /// Processes by pid: running ones and recently exited ones.
    pub processes: Vec<ProcessInfo>,
}

/// How log bytes are written in a JSON answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogEncoding {
    /// UTF-8 text, invalid bytes replaced (U+FFFD).
    #[default]
    Utf8,
    /// Standard base64 of the raw bytes.
    Base64,
}

/// Answer of `GET /v1/machines/{id}/processes/{pid}/logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessLogs {
    /// The process.
    pub pid: u32,
    /// How `stdout` and `stderr` are written.
    pub encoding: LogEncoding,
    /// Kept stdout from the asked offset.
    pub stdout: String,
    /// Kept stderr from the asked offset.
    pub stderr: String,
    /// Offset to ask next time for only newer stdout.
    pub stdout_next: u64,
    /// Offset to ask next time for only newer stderr.
    pub stderr_next: u64,
    /// Stdout bytes from the asked offset that were dropped before they could be read.
    pub stdout_dropped: u64,
    /// Stderr bytes from the asked offset that were dropped.
    pub stderr_dropped: u64,
    /// Whether the process still runs.
    pub running: bool,
    /// Exit code, once it exited by itself.
    pub exit_code: Option<i32>,
}

/// Body of `POST /v1/machines/{id}/processes/{pid}/stdin`: at most one of
/// `data` and `data_base64`, at most 1 MiB.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinRequest {
    /// Text to write.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub data: Option<String>,
    /// Bytes to write, standard base64.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub data_base64: Option<String>,
    /// Close stdin after writing (the process reads end of file).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub close: bool,
}

/// A signal, by name (`SIGTERM`, `TERM`) or number (`15`, also written `15.0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SignalName {
    /// A number, 1 to 64.
    Number(i32),
    /// A name such as `SIGINT`.
    Name(String),
}

impl<'de> Deserialize<'de> for SignalName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Signal;
        impl serde::de::Visitor<'_> for Signal {
            type Value = SignalName;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a signal name or number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SignalName, E> {
                Ok(SignalName::Name(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SignalName, E> {
                i32::try_from(v)
                    .map(SignalName::Number)
                    .map_err(|_| E::custom(format!("signal {v} is out of range")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SignalName, E> {
                i32::try_from(v)
                    .map(SignalName::Number)
                    .map_err(|_| E::custom(format!("signal {v} is out of range")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<SignalName, E> {
                if v.fract() == 0.0 && v.abs() <= f64::from(i32::MAX) {
                    Ok(SignalName::Number(v as i32))
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(Signal)
    }
}

/// Signals accepted by name, with their Linux numbers.
pub const SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", 1),
    ("SIGINT", 2),
    ("SIGQUIT", 3),
    ("SIGKILL", 9),
    ("SIGUSR1", 10),
    ("SIGUSR2", 12),
    ("SIGTERM", 15),
    ("SIGCONT", 18),
    ("SIGSTOP", 19),
    ("SIGWINCH", 28),
];

impl SignalName {
    /// The Linux signal number, if this names a signal.
    pub fn number(&self) -> Option<i32> {
        match self {
            SignalName::Number(n) => (1..=64).contains(n).then_some(*n),
            SignalName::Name(name) => {
                let upper = name.to_ascii_uppercase();
                let full = if upper.starts_with("SIG") {
                    upper
                } else {
                    format!("SIG{upper}")
                };
                SIGNALS.iter().find(|(n, _)| *n == full).map(|(_, v)| *v)
            }
        }
    }
}

/// Body of `POST /v1/machines/{id}/processes/{pid}/signal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalRequest {
    /// The signal.
    pub signal: SignalName,
}

/// Answer of `DELETE /v1/machines/{id}/processes/{pid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillProcessResponse {
    /// The process.
    pub pid: u32,
    /// Always true: SIGKILL was sent to its process group.
    pub killed: bool,
}

/// Body of `POST /v1/machines/{id}/pty`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePtyRequest {
    /// Columns (default 80).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub cols: Option<u16>,
    /// Rows (default 24).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub rows: Option<u16>,
    /// Working directory (default: the machine's `cwd`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub envs: BTreeMap<String, String>,
    /// Guest user (default `user`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub user: Option<String>,
    /// Program to run on the terminal (default: the user's login shell, `bash -l`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub command: Option<String>,
}

/// Answer of the PTY routes: a PTY session, whose id is its process's pid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PtySession {
    /// Session id: the pid of the terminal's process.
    pub session_id: u32,
    /// The process.
    pub process: ProcessInfo,
}

/// Answer of `GET /v1/machines/{id}/pty`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PtySessionList {
    /// Sessions by id.
    pub sessions: Vec<PtySession>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        let n = |s: SignalName| s.number();
        assert_eq!(n(SignalName::Name("SIGTERM".into())), Some(15));
        assert_eq!(n(SignalName::Name("int".into())), Some(2));
        assert_eq!(n(SignalName::Number(9)), Some(9));
        assert_eq!(n(SignalName::Number(0)), None);
        assert_eq!(n(SignalName::Name("SIGNOPE".into())), None);
        let r: SignalRequest = serde_json::from_str(r#"{"signal":"SIGKILL"}"#).unwrap();
        assert_eq!(r.signal.number(), Some(9));
        let r: SignalRequest = serde_json::from_str(r#"{"signal":15}"#).unwrap();
        assert_eq!(r.signal.number(), Some(15));
        let r: SignalRequest = serde_json::from_str(r#"{"signal":16.0}"#).unwrap();
        assert_eq!(r.signal.number(), Some(16));
        assert!(serde_json::from_str::<SignalRequest>(r#"{"signal":1.5}"#).is_err());
        let size: PtySize = serde_json::from_str(r#"{"cols":80.0,"rows":24}"#).unwrap();
        assert_eq!(size, PtySize { cols: 80, rows: 24 });
    }

    #[test]
    fn start_requests_reject_unknown_fields() {
        let e = serde_json::from_str::<StartProcessRequest>(r#"{"command":"x","bg":true}"#);
        assert!(e.unwrap_err().to_string().contains("bg"));
    }
}
