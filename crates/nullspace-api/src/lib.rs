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
mod processes;
mod snapshots;
mod stream;

pub use commands::{CommandResult, RunCommandRequest};
pub use error::{ErrorBody, ErrorCode, ErrorDetail, PartialOutput};
pub use files::{
    ChmodRequest, EntryInfo, EntryType, ExistsResponse, FileUrl, FileUrlRequest, ListResponse,
    MkdirRequest, MkdirResponse, RenameRequest, WriteFileEntry, WriteFilesRequest,
    WriteFilesResponse, DEFAULT_URL_SECS, MAX_FILE_BYTES, MAX_URL_SECS,
};
pub use machines::{
    CreateMachineRequest, KillOutcome, KillResponse, Machine, MachineList, SetTimeoutRequest,
    TimeoutAction, DEFAULT_HISTORY_RETENTION_SECS, DEFAULT_TEMPLATE, DEFAULT_TIMEOUT_SECS,
    DEFAULT_USER, MAX_TIMEOUT_SECS,
};
pub use processes::{
    CreatePtyRequest, KillProcessResponse, LogEncoding, ProcessInfo, ProcessList, ProcessLogs,
    PtySession, PtySessionList, PtySize, SignalName, SignalRequest, StartProcessRequest,
    StdinRequest, StreamFacts, MAX_PTY_SIDE, MAX_STDIN_BYTES, PROCESS_RING_BYTES, SIGNALS,
};
pub use snapshots::{
    CreateSnapshotRequest, ForkRequest, ForkResponse, MachineMetrics, Snapshot, SnapshotList,
    MAX_FORK_COUNT,
};
pub use stream::{
    ClientMsg, ServerMsg, StreamName, CLOSE_CONFLICT, CLOSE_INTERNAL, CLOSE_MACHINE_DIED,
    CLOSE_NOT_FOUND, WS_STDERR, WS_STDIN, WS_STDOUT,
};

/// Header carrying an idempotency key on create requests.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Prefix of API keys.
pub const API_KEY_PREFIX: &str = "ns_live_";
