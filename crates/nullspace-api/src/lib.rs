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
mod git;
mod machines;
mod previews;
mod processes;
mod snapshots;
mod ssh;
mod stream;
mod templates;
mod tree;
mod uploads;

pub use commands::{CommandResult, RunCommandRequest};
pub use error::{ErrorBody, ErrorCode, ErrorDetail, PartialOutput};
pub use files::{
    ChmodRequest, EntryInfo, EntryType, ExistsResponse, FileUrl, FileUrlRequest, ListResponse,
    MkdirRequest, MkdirResponse, RenameRequest, WriteFileEntry, WriteFilesRequest,
    WriteFilesResponse, DEFAULT_URL_SECS, MAX_FILE_BYTES, MAX_URL_SECS,
};
pub use git::{
    GitAddRequest, GitAuth, GitBranch, GitBranchCreateRequest, GitBranchDeleteRequest,
    GitBranchList, GitCheckoutRequest, GitCloneRequest, GitCommit, GitCommitRequest,
    GitCommitResult, GitConfigGetRequest, GitConfigScope, GitConfigSetRequest, GitConfigValue,
    GitDiff, GitDiffRequest, GitFetchRequest, GitFetchResult, GitFileStatus, GitInitRequest,
    GitLog, GitLogRequest, GitPullRequest, GitPushRequest, GitPushResult, GitRemote, GitRemoteList,
    GitRemoteRemoveRequest, GitRemoteRequest, GitRepoRequest, GitRepoState, GitStatus,
    DEFAULT_GIT_LOG_LIMIT, DEFAULT_GIT_PATH, DEFAULT_GIT_TIMEOUT_SECS, MAX_GIT_LOG_LIMIT,
};
pub use machines::{
    CreateMachineRequest, KillOutcome, KillResponse, Machine, MachineList, MachineNetwork,
    NetworkSettings, SetTimeoutRequest, TimeoutAction, DEFAULT_HISTORY_RETENTION_SECS,
    DEFAULT_TEMPLATE, DEFAULT_TIMEOUT_SECS, DEFAULT_USER, MAX_TIMEOUT_SECS,
};
pub use previews::{
    CreatePreviewRequest, CreateProxyTargetRequest, PreviewAuthMode, PreviewGrantError,
    PreviewGrantInfo, PreviewGrantKind, PreviewGrantList, PreviewGrantState, PreviewProxyTarget,
    PreviewReadiness, PreviewTransport, PreviewUrl, ProxyTargetHeaders, RevokePreviewGrantResponse,
    TokenTransport, DEFAULT_PREVIEW_SECS, MAX_PREVIEW_SECS, MIN_PREVIEW_SECS, PREVIEW_TOKEN_HEADER,
    PREVIEW_TOKEN_PARAM, PROXY_TOKEN_HEADER, TRAFFIC_TOKEN_HEADER,
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
pub use ssh::{
    CreateSshAccessRequest, SshAccess, DEFAULT_SSH_MINUTES, MAX_SSH_MINUTES, MIN_SSH_MINUTES,
};
pub use stream::{
    ClientMsg, ServerMsg, StreamName, CLOSE_CONFLICT, CLOSE_INTERNAL, CLOSE_MACHINE_DIED,
    CLOSE_NOT_FOUND, WS_STDERR, WS_STDIN, WS_STDOUT,
};
pub use templates::{
    AssignTagsRequest, BuildError, BuildErrorCode, BuildLogEntry, BuildLogMsg, BuildLogs,
    BuildStatus, PruneCacheResponse, RegistryAuth, Template, TemplateBuild, TemplateBuildRequest,
    TemplateList, TemplateStep, TemplateTag, TemplateTagList, DEFAULT_READY_TIMEOUT_SECS,
    DEFAULT_STEP_TIMEOUT_SECS, LATEST_TAG, MAX_BUILD_STEPS, MAX_BUILD_TAGS, MAX_CONTEXT_BYTES,
    MAX_LOG_PAGE, MAX_READY_TIMEOUT_SECS, MAX_STEP_TIMEOUT_SECS,
};
pub use tree::{
    ArchiveResponse, Conflict, FindRequest, FindResponse, FoundMatch, FsEvent, FsEventKind,
    ReplaceRequest, ReplaceResponse, ReplacedFile, SearchResponse, WatchEnd, WatchMsg,
    DEFAULT_MAX_FILE_BYTES, DEFAULT_SEARCH_RESULTS, MAX_SEARCH_RESULTS,
};
pub use uploads::{
    CompleteUploadRequest, CompleteUploadResponse, CreateUploadRequest, Upload, UploadKind,
    UploadState, CHUNK_SHA256_HEADER, DEFAULT_CHUNK_BYTES, DEFAULT_UPLOAD_SECS, MAX_CHUNK_BYTES,
    MAX_UPLOAD_SECS, MIN_CHUNK_BYTES,
};

/// Header carrying an idempotency key on create requests.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Prefix of API keys.
pub const API_KEY_PREFIX: &str = "ns_live_";
