//! The flags of `nullspace sandbox create`.

use clap::Args;
use nullspace_api::{CreateMachineRequest, TimeoutAction, DEFAULT_TEMPLATE};
use nullspace_types::SnapshotId;

use crate::args::{merge, JsonMap, KeyValue, NetworkJson, OnTimeout};

/// Flags of `sandbox create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Template to create the machine from (default base; with --snapshot-id, the
    /// snapshot's).
    #[arg(long)]
    pub template: Option<String>,
    /// Start from this snapshot (its memory, processes and disk) instead of a template.
    #[arg(long, value_name = "SNAPSHOT_ID")]
    pub snapshot_id: Option<SnapshotId>,
    /// Seconds until the timeout is reached (1-2592000; server default 300).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i64).range(1..=nullspace_api::MAX_TIMEOUT_SECS))]
    pub timeout: Option<i64>,
    /// What happens at the timeout (server default kill; hibernate is pause).
    #[arg(long, value_enum, value_name = "ACTION")]
    pub on_timeout: Option<OnTimeout>,
    /// --on-timeout under the API's field name.
    #[arg(long, value_enum, value_name = "ACTION", conflicts_with = "on_timeout")]
    pub timeout_action: Option<OnTimeout>,
    /// Wake the machine when a request reaches it while it is paused.
    #[arg(long, overrides_with = "no_auto_resume")]
    pub auto_resume: bool,
    /// Leave the machine paused until it is resumed explicitly (server default).
    #[arg(long, overrides_with = "auto_resume")]
    pub no_auto_resume: bool,
    /// Default working directory of commands (server default /workspace).
    #[arg(long)]
    pub cwd: Option<String>,
    /// Environment variable of every command, KEY=VALUE (repeatable; wins over --env-json).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub envs: Vec<KeyValue>,
    /// Environment variables as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub env_json: Option<JsonMap>,
    /// Label, KEY=VALUE (repeatable; wins over --metadata-json).
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<KeyValue>,
    /// Labels as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub metadata_json: Option<JsonMap>,
    /// Repeating a create with the same key returns the same machine.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// vCPUs (must be what the template allows).
    #[arg(long, value_name = "N")]
    pub cpu_count: Option<u32>,
    /// Memory in MiB (must be what the template allows).
    #[arg(long, value_name = "N")]
    pub memory_mb: Option<u64>,
    /// Outbound policy and preview access as JSON:
    /// `{"allow_out":["203.0.113.0/24"],"deny_out":[…],"allow_public_traffic":false}`.
    #[arg(long, value_name = "JSON")]
    pub network_json: Option<NetworkJson>,
    /// Let the machine reach destinations outside allow_out (server default).
    #[arg(long, overrides_with = "no_internet_access")]
    pub internet_access: bool,
    /// Drop the machine's outbound traffic except to allow_out.
    #[arg(long, overrides_with = "internet_access")]
    pub no_internet_access: bool,
}

impl CreateArgs {
    /// The request these flags describe.
    pub fn request(&self) -> CreateMachineRequest {
        let template = match (&self.template, &self.snapshot_id) {
            (Some(template), _) => Some(template.clone()),
            (None, None) => Some(DEFAULT_TEMPLATE.to_owned()),
            // The snapshot knows its template.
            (None, Some(_)) => None,
        };
        let auto_resume = match (self.auto_resume, self.no_auto_resume) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        CreateMachineRequest {
            template,
            cpu_count: self.cpu_count,
            memory_mb: self.memory_mb,
            timeout: self.timeout,
            metadata: merge(self.metadata_json.clone(), &self.metadata),
            envs: merge(self.env_json.clone(), &self.envs),
            cwd: self.cwd.clone(),
            idempotency_key: self.idempotency_key.clone(),
            snapshot_id: self.snapshot_id.clone(),
            timeout_action: self
                .on_timeout
                .or(self.timeout_action)
                .map(TimeoutAction::from),
            auto_resume,
            network: self.network_json.as_ref().map(|n| (*n.0).clone()),
            internet_access: match (self.internet_access, self.no_internet_access) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
        }
    }
}
