//! HTTP wire types of the Nullspace control plane (`/v1`).
//!
//! These structs are the JSON bodies of `spec/openapi.yaml`, shared by the server,
//! the Rust client and the CLI so the three cannot drift apart. Request bodies
//! reject unknown fields, so a misspelled field is an error that names it rather
//! than a silently ignored option.

mod commands;
pub mod de;
mod error;
mod files;
mod machines;
mod snapshots;

pub use commands::{CommandResult, RunCommandRequest};
pub use error::{ErrorBody, ErrorCode, ErrorDetail, PartialOutput};
pub use files::{
    ChmodRequest, EntryInfo, EntryType, ExistsResponse, ListResponse, MkdirRequest, MkdirResponse,
    RenameRequest, WriteFileEntry, WriteFilesRequest, WriteFilesResponse, MAX_FILE_BYTES,
};
pub use machines::{
    CreateMachineRequest, KillOutcome, KillResponse, Machine, MachineList, SetTimeoutRequest,
    TimeoutAction, DEFAULT_HISTORY_RETENTION_SECS, DEFAULT_TEMPLATE, DEFAULT_TIMEOUT_SECS,
    DEFAULT_USER, MAX_TIMEOUT_SECS,
};
pub use snapshots::{
    CreateSnapshotRequest, ForkRequest, ForkResponse, MachineMetrics, Snapshot, SnapshotList,
    MAX_FORK_COUNT,
};

/// Header carrying an idempotency key on create requests.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Prefix of API keys.
pub const API_KEY_PREFIX: &str = "ns_live_";
