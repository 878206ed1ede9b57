//! Wire protocol between the Nullspace host runtime and `nullspace-guestd`.
//!
//! The agent channel is a single byte stream (a virtio-serial port) that survives
//! snapshot and restore, so the protocol multiplexes many concurrent calls over it
//! with small self-delimiting frames. Every frame starts with a magic number so a
//! reader that joins a stream mid-frame (after a restore, or a host restart) can
//! resynchronise by scanning for the next magic. Control data is JSON (easy to
//! inspect and evolve); bulk bytes (stdout, file contents) travel raw beside it.
//! Operations are grouped in three services (system, process, filesystem;
//! [`Service`]), while the wire keeps one flat `op` tag.
//! The full contract is `spec/guest/protocol.md`.

mod envelope;
mod error;
mod frame;
mod fs;
mod msg;
mod process;
mod service;

pub use envelope::{parse_host, Rejected, KNOWN_OPS};
pub use frame::{decode, encode, DecodeError, Frame, MAGIC, MAX_DATA, MAX_HEADER};
pub use fs::{
    ArchiveFacts, Conflict, Digest, ExtractRequest, FindRequest, FindResult, FoundMatch, FsEvent,
    FsEventKind, ReplaceRequest, ReplaceResult, ReplacedFile, Scope, SearchRequest, TextMatch,
    WatchRequest, DEFAULT_MAX_FILE_BYTES, MAX_LINE_TEXT, MAX_RESULTS,
};
pub use msg::{
    CallId, EntryInfo, EntryKind, ErrorCode, ExecRequest, ExecResult, GuestError, GuestInfo,
    GuestMetrics, GuestMsg, HostMsg, Identity, Op, OpResult, Owner,
};
pub use process::{
    AttachEnd, ProcessAttach, ProcessInfo, ProcessStart, PtySize, Selector, StreamInfo, StreamKind,
    EXITED_BYTES, MAX_EXITED, MAX_PTY_SIDE, RING_BYTES,
};
pub use service::Service;

/// Name of the virtio-serial port the agent listens on.
pub const PORT_NAME: &str = "agent0";
/// Reserved directory no file operation may write into.
pub const RESERVED_DIR: &str = "/workspace/.nullspace";
/// Protocol version spoken by this crate; sent in `hello` and `GuestInfo`.
pub const PROTOCOL_VERSION: u32 = 4;
/// Data bytes of one call either side may send before the other credits them
/// (protocol 2 flow control, in each direction).
pub const CALL_WINDOW: u64 = 1 << 20;
/// Capabilities of this guest: protocol 2's process table, PTYs and credit,
/// protocol 3's waits, protocol 4's tree-wide searches, archives and watches.
pub const CAPABILITIES: &[&str] = &[
    "process", "pty", "credit", "wait", "tree", "archive", "watch",
];
