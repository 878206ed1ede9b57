//! Async typed client of the Nullspace control plane (`/v1`, `spec/openapi.yaml`).
//!
//! The client speaks only in the wire types of `nullspace-api`, so the server, this
//! client and the CLI share one definition of every body. Each route is one method
//! on [`Client`]; a failure is a [`ClientError`] that keeps the API's stable
//! [`ErrorCode`](nullspace_api::ErrorCode) apart from transport and decoding
//! failures, so callers (the CLI's exit codes in particular) can tell them apart
//! without parsing messages. Streams of a process (its output and input) travel over
//! WebSocket channels ([`ProcessStream`]) that yield typed [`StreamEvent`]s.

mod build_logs;
mod client;
mod commands;
mod error;
mod events;
mod files;
mod git;
mod machines;
mod previews;
mod processes;
mod pty;
mod snapshots;
mod ssh;
mod stream;
mod templates;
#[cfg(any(test, feature = "test-server"))]
pub mod test_server;
mod tree;
mod uploads;

pub use build_logs::BuildLogStream;
pub use client::{Client, Health};
pub use error::{code_name, ClientError};
pub use events::{OutputStream, StreamEnd, StreamEvent, StreamStart};
pub use files::{FileBytes, ReadFile};
pub use machines::ListMachines;
pub use previews::{
    redact_preview_text, redact_preview_token, redact_preview_url, PREVIEW_POLL_INTERVAL,
};
pub use processes::LogsQuery;
pub use reqwest::Body;
pub use snapshots::ListSnapshots;
pub use stream::{ProcessStream, StreamInput, StreamOptions, StreamOutput};
pub use tree::{DirWatch, WatchOptions};
