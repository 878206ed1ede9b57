//! Machines: create, get, list, kill, timeout.

use std::collections::BTreeMap;

use nullspace_types::{Cidr, MachineId, MachineState, SnapshotId};
use serde::{Deserialize, Serialize};

/// Template used when a create names none.
pub const DEFAULT_TEMPLATE: &str = "base";
/// Seconds a machine lives when a create gives no timeout.
pub const DEFAULT_TIMEOUT_SECS: i64 = 300;
/// Guest user of commands and file operations when a request names none.
pub const DEFAULT_USER: &str = "user";
/// Seconds a killed or failed machine stays listed (`state=killed|failed`) before
/// its record is deleted (7 days; the server's `--history-retention`).
pub const DEFAULT_HISTORY_RETENTION_SECS: i64 = 7 * 24 * 3600;
/// Longest timeout accepted (30 days; there are no session caps beyond it).
pub const MAX_TIMEOUT_SECS: i64 = 30 * 24 * 3600;

/// Body of `POST /v1/machines`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMachineRequest {
    /// Template name (default `base`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub template: Option<String>,
    /// vCPUs (must match what the template allows).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub cpu_count: Option<u32>,
    /// Memory in MiB (must match what the template allows).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub memory_mb: Option<u64>,
    /// Seconds until the machine is destroyed (1..=2592000, default 300).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub timeout: Option<i64>,
    /// Free-form labels, filterable in list.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Environment variables of every command run in the machine.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub envs: BTreeMap<String, String>,
    /// Default working directory of commands (default `/workspace`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub cwd: Option<String>,
    /// Repeating a create with the same key returns the same machine.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub idempotency_key: Option<String>,
    /// Start from this reusable snapshot instead of a template.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub snapshot_id: Option<SnapshotId>,
    /// What happens when the timeout is reached (default `kill`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub timeout_action: Option<TimeoutAction>,
    /// Wake the machine when a request reaches it while paused.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub auto_resume: Option<bool>,
    /// Outbound policy and preview access (a snapshot's when starting from one).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub network: Option<NetworkSettings>,
    /// Whether destinations outside `network.allow_out` are reachable (default true).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub internet_access: Option<bool>,
}

/// The `network` of a create: outbound CIDR lists and preview access.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    /// IPv4 networks always reachable (they win over `deny_out`); alone, the
    /// only ones reachable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_out: Vec<Cidr>,
    /// IPv4 networks dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_out: Vec<Cidr>,
    /// Whether preview traffic needs no token (default true); when false every
    /// request needs a signed preview URL, a proxy token or the machine's
    /// traffic access token.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub allow_public_traffic: Option<bool>,
}

/// A machine's network policy as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineNetwork {
    /// IPv4 networks always reachable.
    pub allow_out: Vec<Cidr>,
    /// IPv4 networks dropped.
    pub deny_out: Vec<Cidr>,
    /// Whether preview traffic needs no token.
    pub allow_public_traffic: bool,
}

impl Default for MachineNetwork {
    fn default() -> Self {
        Self {
            allow_out: Vec::new(),
            deny_out: Vec::new(),
            allow_public_traffic: true,
        }
    }
}

/// What happens to a machine when its timeout is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutAction {
    /// Destroy it.
    #[default]
    Kill,
    /// Pause it (memory, processes and disk kept on disk); `hibernate` is an alias.
    #[serde(alias = "hibernate")]
    Pause,
}

impl TimeoutAction {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Pause => "pause",
        }
    }
}

/// A machine as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Machine id (`sb_…`).
    pub id: MachineId,
    /// Template it was created from.
    pub template: String,
    /// Lifecycle state.
    pub state: MachineState,
    /// vCPUs.
    pub cpu_count: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// Labels.
    pub metadata: BTreeMap<String, String>,
    /// Default working directory of commands.
    pub cwd: String,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
    /// When the timeout is reached (RFC 3339, UTC); for a killed or failed
    /// machine, when it ended.
    pub end_at: String,
    /// What happens when the timeout is reached.
    pub timeout_action: TimeoutAction,
    /// Whether a request to the paused machine wakes it.
    pub auto_resume: bool,
    /// Snapshot it was started from, if any.
    pub snapshot_id: Option<SnapshotId>,
    /// Machine it was forked from, if any.
    pub forked_from: Option<MachineId>,
    /// Why the machine failed (state `failed` only).
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// Outbound policy and preview access.
    #[serde(default)]
    pub network: MachineNetwork,
    /// Whether destinations outside `network.allow_out` are reachable.
    #[serde(default = "crate::de::yes")]
    pub internet_access: bool,
    /// Token for `x-nullspace-traffic-access-token` when the machine takes no
    /// public preview traffic (on create and get only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_access_token: Option<String>,
}

/// What a kill did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillOutcome {
    /// The machine existed (running, paused or failed) and was destroyed.
    Killed,
    /// The machine was still starting: it never became usable, and what its
    /// start made was destroyed as soon as it existed.
    CreateCancelled,
}

/// Answer of `DELETE /v1/machines/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KillResponse {
    /// The machine.
    pub id: MachineId,
    /// What the kill did.
    pub outcome: KillOutcome,
    /// The state the machine was in when the kill arrived.
    pub previous_state: MachineState,
}

/// Body of `GET /v1/machines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineList {
    /// One page of machines, newest first.
    pub machines: Vec<Machine>,
    /// Cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// Body of `POST /v1/machines/{id}/timeout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetTimeoutRequest {
    /// Seconds from now until the timeout is reached.
    #[serde(deserialize_with = "crate::de::int")]
    pub timeout: i64,
    /// What happens then (unchanged when absent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub action: Option<TimeoutAction>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_rejected_by_name() {
        let err =
            serde_json::from_str::<CreateMachineRequest>(r#"{"templte":"base"}"#).unwrap_err();
        assert!(err.to_string().contains("templte"), "{err}");
        let ok: CreateMachineRequest =
            serde_json::from_str(r#"{"template":"base","timeout":60}"#).unwrap();
        assert_eq!(ok.timeout, Some(60));
    }

    #[test]
    fn hibernate_is_pause() {
        let r: SetTimeoutRequest =
            serde_json::from_str(r#"{"timeout":5,"action":"hibernate"}"#).unwrap();
        assert_eq!(r.action, Some(TimeoutAction::Pause));
        assert_eq!(
            serde_json::to_string(&TimeoutAction::Pause).unwrap(),
            "\"pause\""
        );
        assert!(serde_json::from_str::<TimeoutAction>("\"sleep\"").is_err());
    }
}
