//! Template builds and their versions, tags and step cache (`spec/templates.md`).

use std::collections::BTreeMap;

use nullspace_types::{TemplateBuildId, TemplateId};
use serde::{Deserialize, Serialize};

/// Most steps one build runs.
pub const MAX_BUILD_STEPS: usize = 256;
/// Most extra tags one build or tag request names.
pub const MAX_BUILD_TAGS: usize = 16;
/// Default seconds a ready command may take to first succeed.
pub const DEFAULT_READY_TIMEOUT_SECS: u64 = 60;
/// Longest ready timeout, seconds.
pub const MAX_READY_TIMEOUT_SECS: u64 = 3600;
/// Default seconds one `run` step may take.
pub const DEFAULT_STEP_TIMEOUT_SECS: u64 = 1800;
/// Longest step timeout, seconds.
pub const MAX_STEP_TIMEOUT_SECS: u64 = 86_400;
/// Most log entries one poll answers.
pub const MAX_LOG_PAGE: usize = 1000;
/// Largest build context upload, bytes.
pub const MAX_CONTEXT_BYTES: u64 = 1 << 30;
/// Tag every build moves to its version.
pub const LATEST_TAG: &str = "latest";

/// One step of a build, run in order in the build machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TemplateStep {
    /// Run a command through `bash -c` (`sh -c` in images without bash); a non-zero exit fails the build.
    Run {
        /// The command line.
        cmd: String,
        /// User for this step only (default: the current one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// Add build-time environment variables for the following steps.
    Env {
        /// Names and values.
        envs: BTreeMap<String, String>,
    },
    /// Working directory of the following steps (made if missing) and of machines.
    Workdir {
        /// Absolute path.
        path: String,
    },
    /// User of the following steps.
    User {
        /// `user` or `root`.
        user: String,
    },
    /// Unpack an uploaded context (a tar, plain or gzip'd) into `dest`.
    Copy {
        /// SHA-256 (hex) of the context uploaded with `PUT /v1/templates/contexts/{sha256}`.
        context: String,
        /// Absolute directory to unpack into.
        dest: String,
    },
}

/// Credentials for a private registry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RegistryAuth {
    /// User name and password (or token).
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
    /// A GCP service account key (JSON), for Artifact Registry and GCR.
    Gcp {
        /// The key file's contents.
        service_account_json: String,
    },
    /// AWS keys, exchanged by the node for an ECR token (`GetAuthorizationToken`).
    Aws {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
        /// Region of the registry (`us-east-1`).
        region: String,
        /// Session token of temporary credentials.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_token: Option<String>,
    },
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::Gcp { .. } => f.write_str("Gcp(<redacted>)"),
            Self::Aws {
                access_key_id,
                region,
                ..
            } => write!(f, "Aws({access_key_id}, {region}, <redacted>)"),
        }
    }
}

/// Body of `POST /v1/templates/builds`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateBuildRequest {
    /// `name` or `name:tag`.
    pub name: String,
    /// More tags for the new version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Parent: `base` (default) or a ref of the tenant's templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_template: Option<String>,
    /// Parent: an OCI image (`python:3.12`, `registry:5000/team/app:1`), instead of a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_image: Option<String>,
    /// Login to `from_image`'s registry; never stored or shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_auth: Option<RegistryAuth>,
    /// Steps, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<TemplateStep>,
    /// Started as background process `start` once the steps are done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_cmd: Option<String>,
    /// Run every 500 ms until it exits 0 before the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_cmd: Option<String>,
    /// Seconds the ready command may take to succeed (1–3600, default 60).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub ready_timeout_secs: Option<u64>,
    /// Seconds one `run` step may take (1–86400, default 1800).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub step_timeout_secs: Option<u64>,
    /// Environment of machines created from the template and of its start command.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runtime_envs: BTreeMap<String, String>,
    /// vCPUs (must equal the parent's).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub cpu_count: Option<u32>,
    /// Memory in MiB (must equal the parent's).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub memory_mb: Option<u64>,
    /// Whether the build machine reaches destinations outside (default true).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub internet_access: Option<bool>,
    /// Rerun every step instead of restoring cached ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_cache: bool,
}

/// Where a build is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    /// Waiting for a build slot.
    Waiting,
    /// Running its steps.
    Building,
    /// Done: the version is usable.
    Ready,
    /// Failed: see `error`.
    Error,
}

impl BuildStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Building => "building",
            Self::Ready => "ready",
            Self::Error => "error",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Waiting, Self::Building, Self::Ready, Self::Error]
            .into_iter()
            .find(|b| b.as_str() == s)
    }

    /// Whether the build has ended.
    pub fn is_done(self) -> bool {
        matches!(self, Self::Ready | Self::Error)
    }
}

/// Why a build failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildErrorCode {
    /// A `run` step exited non-zero.
    StepFailed,
    /// A `run` step ran past its timeout.
    StepTimeout,
    /// The ready command never succeeded in time.
    ReadyTimeout,
    /// The start command could not be started, or exited before it was ready.
    StartFailed,
    /// A `copy` step names a context that was never uploaded.
    ContextNotFound,
    /// The build machine could not be made or died.
    MachineFailed,
    /// `from_image` could not be pulled (registry unreachable, refused, not found) or unpacked.
    ImagePullFailed,
    /// Anything else.
    Internal,
}

/// A failed build's cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildError {
    /// Why.
    pub code: BuildErrorCode,
    /// What happened.
    pub message: String,
    /// 1-based step number, when a step failed.
    #[serde(default)]
    pub step: Option<u32>,
    /// The step's exit code, when it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The last lines it printed.
    #[serde(default)]
    pub last_lines: Vec<String>,
}

/// One build log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildLogEntry {
    /// Position in the build's log, from 0.
    pub offset: u64,
    /// When it was written (RFC 3339, UTC).
    pub at: String,
    /// `info`, `warn` or `error`.
    pub level: String,
    /// 1-based step it belongs to, if any.
    #[serde(default)]
    pub step: Option<u32>,
    /// The line (at most 4 KiB).
    pub message: String,
}

/// A build (one version of a template), with log entries from an offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateBuild {
    /// `tb_…`.
    pub id: TemplateBuildId,
    /// The template.
    pub template_id: TemplateId,
    /// Template name.
    pub name: String,
    /// Tags the build moves to its version when it is ready.
    pub tags: Vec<String>,
    /// Where it is.
    pub status: BuildStatus,
    /// Steps it has.
    pub steps_total: u32,
    /// Steps done (cached or run).
    pub steps_done: u32,
    /// Steps restored from the cache.
    pub steps_cached: u32,
    /// Log entries from the offset asked for.
    pub logs: Vec<BuildLogEntry>,
    /// Offset to ask from next.
    pub logs_next_offset: u64,
    /// Why it failed (`error` only).
    #[serde(default)]
    pub error: Option<BuildError>,
    /// When it was asked for (RFC 3339, UTC).
    pub created_at: String,
    /// When it ended.
    #[serde(default)]
    pub finished_at: Option<String>,
}

/// Body of `GET /v1/templates/builds/{id}/logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildLogs {
    /// Entries from the offset asked for.
    pub logs: Vec<BuildLogEntry>,
    /// Offset to ask from next.
    pub next_offset: u64,
    /// Whether the build has ended (no more entries will come).
    pub done: bool,
}

/// A message of the build log stream (`GET /v1/templates/builds/{id}/logs/stream`,
/// a WebSocket): every entry from the offset asked for as it is written, then
/// `done` once the build has ended and every entry was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BuildLogMsg {
    /// One log entry (its fields beside `"type": "log"`).
    Log(BuildLogEntry),
    /// The build ended; no entry follows.
    Done {
        /// `ready` or `error`.
        status: BuildStatus,
        /// Why it failed (`error` only).
        error: Option<BuildError>,
    },
    /// The server could not go on (its store failed); the stream closes.
    Error {
        /// Stable code.
        code: crate::ErrorCode,
        /// What happened.
        message: String,
    },
}

/// A tag and the version it points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateTag {
    /// The tag.
    pub tag: String,
    /// The version (`tb_…`).
    pub build_id: TemplateBuildId,
}

/// A template as the API shows it (its `latest` version's facts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// `tpl_…` (none for the built-in `base`).
    pub id: Option<TemplateId>,
    /// Name.
    pub name: String,
    /// Whether the host provides it (`base`).
    pub builtin: bool,
    /// Tags and their versions.
    pub tags: Vec<TemplateTag>,
    /// vCPUs of its machines.
    pub cpu_count: u32,
    /// Memory in MiB of its machines.
    pub memory_mb: u64,
    /// Default working directory of its machines.
    pub cwd: String,
    /// Environment of its machines.
    pub envs: BTreeMap<String, String>,
    /// The start command running in its machines.
    #[serde(default)]
    pub start_cmd: Option<String>,
    /// The ready command it was checked with.
    #[serde(default)]
    pub ready_cmd: Option<String>,
    /// Bytes its versions take on disk.
    pub size_bytes: u64,
    /// First build (RFC 3339, UTC).
    #[serde(default)]
    pub created_at: Option<String>,
    /// Newest version.
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// Body of `GET /v1/templates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateList {
    /// The tenant's templates and `base`, by name.
    pub templates: Vec<Template>,
}

/// Body of `GET /v1/templates/{name}/tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateTagList {
    /// Tags, by name.
    pub tags: Vec<TemplateTag>,
}

/// Body of `POST /v1/templates/{name}/tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignTagsRequest {
    /// Tags to move.
    pub tags: Vec<String>,
    /// Ref or `tb_…` of the version (default: `latest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Body of `DELETE /v1/templates/cache`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneCacheResponse {
    /// Cached steps removed.
    pub deleted: u64,
    /// Bytes freed.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_stream_messages_carry_the_entry_fields_beside_their_type() {
        let entry = BuildLogEntry {
            offset: 3,
            at: "2026-01-01T00:00:00Z".into(),
            level: "info".into(),
            step: Some(2),
            message: "echo one".into(),
        };
        let text = serde_json::to_string(&BuildLogMsg::Log(entry.clone())).unwrap();
        assert_eq!(
            text,
            r#"{"type":"log","offset":3,"at":"2026-01-01T00:00:00Z","level":"info","step":2,"message":"echo one"}"#
        );
        assert_eq!(
            serde_json::from_str::<BuildLogMsg>(&text).unwrap(),
            BuildLogMsg::Log(entry)
        );
        let done = BuildLogMsg::Done {
            status: BuildStatus::Ready,
            error: None,
        };
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"type":"done","status":"ready","error":null}"#
        );
    }
}
