//! Files of a running machine, through the node. Each call answers a lost race
//! or a dead VM like the other machine operations ([`settle`]).

use nullspace_api::ErrorCode;
use nullspace_types::MachineId;

use super::settle;
use crate::error::{ApiError, ApiResult};
use crate::node::{
    ArchiveFacts, ArchiveSpec, Download, Entry, FileAnswer, FileOp, FileRead, FileWrite, Upload,
    WatchStream,
};
use crate::state::AppState;

/// Run a file call other than a read or a write.
pub async fn op(state: &AppState, id: &MachineId, op: FileOp) -> ApiResult<FileAnswer> {
    settle(state, id, state.node.file_op(id, op).await).await
}

/// Read (part of) a file as its bytes arrive.
pub async fn read(state: &AppState, id: &MachineId, read: FileRead) -> ApiResult<Download> {
    settle(state, id, state.node.read_file(id, read).await).await
}

/// Write a file from an upload as it arrives.
pub async fn write(
    state: &AppState,
    id: &MachineId,
    write: FileWrite,
    body: Upload,
) -> ApiResult<Entry> {
    settle(state, id, state.node.write_file(id, write, body).await).await
}

/// Unpack an archive into a directory.
pub async fn extract(
    state: &AppState,
    id: &MachineId,
    spec: ArchiveSpec,
    body: Option<Upload>,
) -> ApiResult<ArchiveFacts> {
    settle(state, id, state.node.extract_archive(id, spec, body).await).await
}

/// A directory as a tar stream.
pub async fn archive(
    state: &AppState,
    id: &MachineId,
    path: String,
    user: String,
) -> ApiResult<Download> {
    settle(
        state,
        id,
        state.node.read_archive(id, path, Some(user)).await,
    )
    .await
}

/// Watch a directory (in place once this answers).
pub async fn watch(
    state: &AppState,
    id: &MachineId,
    path: String,
    user: String,
    recursive: bool,
) -> ApiResult<WatchStream> {
    let w = state.node.watch(id, path, Some(user), recursive).await;
    settle(state, id, w).await
}

/// Facts about one entry.
pub async fn stat(
    state: &AppState,
    id: &MachineId,
    path: String,
    user: String,
) -> ApiResult<Entry> {
    let o = FileOp::Stat {
        path,
        user: Some(user),
    };
    match op(state, id, o).await? {
        FileAnswer::Entry(e) => Ok(e),
        other => Err(unexpected(other)),
    }
}

/// 500 for a node answer that does not fit the call.
pub fn unexpected(answer: FileAnswer) -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        format!("unexpected node answer {answer:?}"),
    )
}
