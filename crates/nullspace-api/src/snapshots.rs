//! Reusable snapshots and forks of running machines.

use std::collections::BTreeMap;

use nullspace_types::{MachineId, SnapshotId};
use serde::{Deserialize, Serialize};

use crate::Machine;

/// Most children one fork request makes.
pub const MAX_FORK_COUNT: u32 = 16;

/// Body of `POST /v1/machines/{id}/snapshots`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSnapshotRequest {
    /// Free-form labels, filterable in list.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A reusable snapshot: memory, processes and disk of a machine at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Snapshot id (`snap_…`).
    pub id: SnapshotId,
    /// Machine it was taken from.
    pub machine_id: MachineId,
    /// Template of that machine.
    pub template: String,
    /// vCPUs of machines started from it.
    pub cpu_count: u32,
    /// Memory in MiB of machines started from it.
    pub memory_mb: u64,
    /// Labels.
    pub metadata: BTreeMap<String, String>,
    /// Bytes it takes on disk.
    pub size_bytes: u64,
    /// How long the source machine was stopped while it was taken, in ms.
    pub source_stall_ms: u64,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
}

/// Body of `GET /v1/snapshots`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotList {
    /// One page of snapshots, newest first.
    pub snapshots: Vec<Snapshot>,
    /// Cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// Body of `POST /v1/machines/{id}/fork`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkRequest {
    /// Number of children (1..=16, default 1).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub count: Option<u32>,
    /// Labels of the children (default: the source's).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some"
    )]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Seconds until the children's timeout (1..=2592000, default 300).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::some_int"
    )]
    pub timeout: Option<i64>,
}

/// Body of a fork's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForkResponse {
    /// The children, running.
    pub machines: Vec<Machine>,
    /// How long the source machine was stopped, in ms.
    pub source_stall_ms: u64,
}

/// Body of `GET /v1/machines/{id}/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineMetrics {
    /// vCPUs.
    pub cpu_count: u32,
    /// CPU busy over a short sample, percent of all vCPUs (0-100).
    pub cpu_used_pct: f64,
    /// Guest memory in bytes.
    pub mem_total_bytes: u64,
    /// Guest memory in use (total minus available), bytes.
    pub mem_used_bytes: u64,
    /// Size of the root filesystem, bytes.
    pub disk_total_bytes: u64,
    /// Used space on the root filesystem, bytes.
    pub disk_used_bytes: u64,
    /// Seconds since the machine was created.
    pub uptime_secs: u64,
    /// When the sample was taken (RFC 3339, UTC).
    pub timestamp: String,
}
