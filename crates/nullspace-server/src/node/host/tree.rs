//! Tree-wide file calls of the host node: conversions to and from the guest's
//! tree operations, archives both ways and watches.

use std::sync::Arc;

use nullspace_guest_proto as guest;
use nullspace_host::agent::WriteError;
use nullspace_host::{Machine, RuntimeError};

use super::convert::scope;
use super::{download, FILE_STEP};
use crate::node::{
    ArchiveFacts, ArchiveSpec, Conflict, Download, FsEvent, FsEventKind, NodeError, NodeResult,
    TextQuery, Upload, WatchStream,
};

impl From<TextQuery> for guest::TextMatch {
    fn from(t: TextQuery) -> Self {
        Self {
            pattern: t.pattern,
            regex: t.regex,
            case_sensitive: t.case_sensitive,
            include: t.include,
        }
    }
}

fn conflict(c: Conflict) -> guest::Conflict {
    match c {
        Conflict::Merge => guest::Conflict::Merge,
        Conflict::Skip => guest::Conflict::Skip,
        Conflict::Replace => guest::Conflict::Replace,
        Conflict::Error => guest::Conflict::Error,
    }
}

fn event(e: guest::FsEvent) -> FsEvent {
    let kind = match e.kind {
        guest::FsEventKind::Create => FsEventKind::Create,
        guest::FsEventKind::Write => FsEventKind::Write,
        guest::FsEventKind::Remove => FsEventKind::Remove,
        guest::FsEventKind::Rename => FsEventKind::Rename,
        guest::FsEventKind::Chmod => FsEventKind::Chmod,
    };
    FsEvent {
        kind,
        path: e.path,
        is_dir: e.is_dir,
    }
}

/// Unpack an archive from `body` (or the guest file `spec.source`).
pub async fn extract(
    m: Arc<Machine>,
    spec: ArchiveSpec,
    body: Option<Upload>,
) -> NodeResult<ArchiveFacts> {
    let op = guest::Op::ExtractArchive(guest::ExtractRequest {
        scope: scope(spec.path, spec.user),
        conflict: conflict(spec.conflict),
        source: spec.source,
    });
    let agent = m.agent()?;
    let r = match body {
        Some(body) => match agent.input_stream(op, body, FILE_STEP).await {
            Ok(r) => Ok(r),
            Err(WriteError::Agent(e)) => Err(e),
            Err(WriteError::Source(why)) => return Err(RuntimeError::InputAborted(why).into()),
        },
        None => agent.file_op(op).await,
    };
    match m.check(r).await? {
        guest::OpResult::Extracted(f) => Ok(ArchiveFacts {
            path: f.path,
            files: f.files,
            dirs: f.dirs,
            symlinks: f.symlinks,
            bytes: f.bytes,
        }),
        other => Err(NodeError::unexpected(&other)),
    }
}

/// A directory as a tar stream.
pub async fn archive(m: Arc<Machine>, path: String, user: Option<String>) -> NodeResult<Download> {
    let op = guest::Op::CreateArchive(scope(path, user));
    download(m, op).await
}

/// Watch a directory once the guest has the watch in place.
pub async fn watch(
    m: Arc<Machine>,
    path: String,
    user: Option<String>,
    recursive: bool,
) -> NodeResult<WatchStream> {
    let op = guest::Op::WatchDir(guest::WatchRequest {
        scope: scope(path, user),
        recursive,
    });
    let r = m.agent()?.watch(op).await;
    let w = m.check(r).await?;
    let events = futures_util::stream::unfold(Some((w, m)), |st| async move {
        let (mut w, m) = st?;
        match w.next().await {
            Ok(Some(e)) => Some((Ok(event(e)), Some((w, m)))),
            Ok(None) => None,
            Err(e) => {
                let err = m.check::<()>(Err(e)).await.err()?;
                Some((Err(err.into()), None))
            }
        }
    });
    Ok(Box::pin(events))
}
