//! Foreground commands.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Body of `POST /v1/machines/{id}/commands`: exactly one of `command` (run by
/// `bash -c`) or `args` (argv, looked up in `PATH`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunCommandRequest {
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
    /// Seconds before the command is killed (default 60; 0 means no limit).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub timeout: Option<f64>,
    /// Text written to the command's stdin.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub stdin: Option<String>,
}

/// How a foreground command ended. A non-zero exit is a result, not an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    /// Standard output (UTF-8, invalid bytes replaced).
    pub stdout: String,
    /// Standard error (UTF-8, invalid bytes replaced).
    pub stderr: String,
    /// Exit code (128 + signal if a signal ended it).
    pub exit_code: i32,
    /// Wall time in the guest, milliseconds.
    pub duration_ms: u64,
}
