//! Resumable uploads (`spec/files.md`): a session recorded in the store, its
//! chunks written in place into a staging file beside the destination (so the
//! final move is a rename on the same file system), checked by SHA-256 and
//! moved (or unpacked) into place at completion.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use futures_util::StreamExt;
use nullspace_api::{
    CompleteUploadRequest, Conflict, CreateUploadRequest, ErrorCode, Upload, UploadKind,
    UploadState, DEFAULT_CHUNK_BYTES, DEFAULT_UPLOAD_SECS, MAX_CHUNK_BYTES, MAX_UPLOAD_SECS,
    MIN_CHUNK_BYTES,
};
use nullspace_types::{MachineId, UploadId};
use sha2::{Digest, Sha256};

use super::files;
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::node::{
    ArchiveFacts, ArchiveSpec, Entry, FileAnswer, FileOp, FileWrite, Upload as Body, RESERVED_DIR,
};
use crate::params;
use crate::state::AppState;
use crate::store::{self, UploadRow};

/// What a completion produced.
#[derive(Debug)]
pub enum Completed {
    /// The file now in place.
    File(Entry),
    /// What the archive held.
    Archive(ArchiveFacts),
}

fn err(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

/// A lower-case hex SHA-256, checked.
fn sha256_hex(field: &str, v: &str) -> ApiResult<String> {
    let v = v.to_ascii_lowercase();
    if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::field(
            field,
            "must be 64 hexadecimal digits (SHA-256)",
        ));
    }
    Ok(v)
}

/// The destination checked, and the staging file beside it.
fn destination(path: &str, id: &UploadId, kind: UploadKind) -> ApiResult<(String, String)> {
    let bad = |why: &str| {
        err(
            ErrorCode::UploadPathInvalid,
            format!("path {path:?}: {why}"),
        )
    };
    let p = params::path("path", path).map_err(|_| bad("not a valid path"))?;
    let abs = if p.starts_with('/') {
        p
    } else {
        format!("/workspace/{p}")
    };
    if abs.split('/').any(|c| c == "..") {
        return Err(bad("`..` is not allowed"));
    }
    let abs = abs.trim_end_matches('/').to_owned();
    if abs == RESERVED_DIR || abs.starts_with(&format!("{RESERVED_DIR}/")) {
        return Err(bad("the path is reserved"));
    }
    let Some((dir, name)) = abs.rsplit_once('/').filter(|(_, n)| !n.is_empty()) else {
        return Err(bad("a file or directory name is needed"));
    };
    let dir = if dir.is_empty() { "" } else { dir };
    let ext = match kind {
        UploadKind::File => "part",
        UploadKind::Archive => "tar.part",
    };
    Ok((abs.clone(), format!("{dir}/.{name}.{id}.{ext}")))
}

fn kind_of(row: &UploadRow) -> UploadKind {
    if row.kind == "archive" {
        UploadKind::Archive
    } else {
        UploadKind::File
    }
}

/// The API view of a session.
pub fn view(row: &UploadRow) -> Upload {
    let received: Vec<u64> = (0..row.chunks()).filter(|&i| row.has(i)).collect();
    let bytes_received = received.iter().map(|&i| row.chunk_len(i)).sum();
    Upload {
        upload_id: row.id.clone(),
        machine_id: row.machine_id.clone(),
        path: row.path.clone(),
        kind: kind_of(row),
        size: row.size,
        chunk_size: row.chunk_size,
        chunks: row.chunks(),
        received,
        bytes_received,
        sha256: row.sha256.clone(),
        state: match row.state.as_str() {
            "complete" => UploadState::Complete,
            "aborted" => UploadState::Aborted,
            _ => UploadState::Open,
        },
        user: row.user.clone(),
        created_at: store::rfc3339(row.created_unix),
        expires_at: store::rfc3339(row.expires_unix),
    }
}

/// Start a session on running machine `id`; the staging file is made at once,
/// so a destination the user may not write is refused now.
pub async fn create(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    req: CreateUploadRequest,
    user: String,
) -> ApiResult<Upload> {
    if req.size > nullspace_api::MAX_FILE_BYTES {
        return Err(ApiError::field(
            "size",
            format!("must be at most {}", nullspace_api::MAX_FILE_BYTES),
        ));
    }
    let max = state.settings.max_upload_bytes;
    if req.size > max {
        return Err(err(
            ErrorCode::UploadTooLarge,
            format!("an upload is at most {max} bytes"),
        ));
    }
    let chunk_size = req.chunk_size.unwrap_or(DEFAULT_CHUNK_BYTES);
    if !(MIN_CHUNK_BYTES..=MAX_CHUNK_BYTES).contains(&chunk_size) {
        return Err(ApiError::field(
            "chunk_size",
            format!("must be from {MIN_CHUNK_BYTES} to {MAX_CHUNK_BYTES} bytes"),
        ));
    }
    let expires_in = req.expires_in.unwrap_or(DEFAULT_UPLOAD_SECS);
    if !(1..=MAX_UPLOAD_SECS).contains(&expires_in) {
        return Err(ApiError::field(
            "expires_in",
            format!("must be from 1 to {MAX_UPLOAD_SECS} seconds"),
        ));
    }
    let sha256 = req
        .sha256
        .as_deref()
        .map(|s| sha256_hex("sha256", s))
        .transpose()?;
    // `mode` applies to files and `conflict` to archives; each is ignored for the other.
    let mode = req
        .mode
        .as_deref()
        .map(|m| params::mode("mode", m))
        .transpose()?
        .filter(|_| req.kind == UploadKind::File);
    let conflict = req.conflict.unwrap_or_default();
    let upload_id = UploadId::random();
    let (path, staging) = destination(&req.path, &upload_id, req.kind)?;
    // The destination must be able to take the content.
    let stat = FileOp::Stat {
        path: path.clone(),
        user: Some(user.clone()),
    };
    match files::op(state, id, stat).await {
        Ok(FileAnswer::Entry(e)) => {
            let is_dir = e.kind == crate::node::EntryKind::Dir;
            match req.kind {
                UploadKind::File if is_dir => {
                    return Err(err(
                        ErrorCode::UploadConflict,
                        format!("{path} is a directory; a file upload needs a file path"),
                    ))
                }
                UploadKind::Archive if !is_dir => {
                    return Err(err(
                        ErrorCode::UploadConflict,
                        format!("{path} exists and is not a directory"),
                    ))
                }
                UploadKind::Archive if conflict == Conflict::Error => {
                    return Err(err(
                        ErrorCode::UploadConflict,
                        format!("{path} exists (conflict: error)"),
                    ))
                }
                _ => {}
            }
        }
        Ok(_) => {}
        Err(e) if e.code == ErrorCode::NotFound => {}
        Err(e) => return Err(e),
    }
    let empty: Body = Box::pin(futures_util::stream::empty());
    files::write(state, id, chunk_write(&staging, &user, 0), empty)
        .await
        .map_err(path_error)?;
    let (_, now) = store::now();
    let chunks = req.size.div_ceil(chunk_size).max(1);
    let row = UploadRow {
        id: upload_id.to_string(),
        tenant: tenant.id.clone(),
        machine_id: id.to_string(),
        path,
        staging,
        kind: match req.kind {
            UploadKind::File => "file".into(),
            UploadKind::Archive => "archive".into(),
        },
        size: req.size,
        chunk_size,
        received: vec![0; chunks.div_ceil(8) as usize],
        sha256,
        conflict: serde_json::to_value(conflict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "merge".into()),
        mode,
        user,
        state: "open".into(),
        created_unix: now,
        expires_unix: now + expires_in as i64,
    };
    let r = row.clone();
    state.store_call(move |s| s.insert_upload(&r)).await?;
    Ok(view(&row))
}

/// Path errors of the staging write are the upload's.
fn path_error(e: ApiError) -> ApiError {
    match e.code {
        ErrorCode::ReservedPath | ErrorCode::PathEscapesRoot => {
            err(ErrorCode::UploadPathInvalid, e.message)
        }
        ErrorCode::WrongEntryType => err(ErrorCode::UploadConflict, e.message),
        _ => e,
    }
}

fn chunk_write(staging: &str, user: &str, offset: u64) -> FileWrite {
    FileWrite {
        path: staging.to_owned(),
        user: Some(user.to_owned()),
        mode: Some(0o600),
        owner: None,
        offset: Some(offset),
    }
}

/// Session `upload` of machine `id` for `tenant`, open and unexpired (an expired
/// one is aborted and its staged bytes removed).
async fn open_session(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    upload: &str,
) -> ApiResult<UploadRow> {
    let row = unexpired(state, get_row(state, tenant, id, upload).await?).await?;
    if row.state != "open" {
        return Err(err(
            ErrorCode::UploadState,
            format!("upload {upload} is {}", row.state),
        ));
    }
    Ok(row)
}

/// The row, or `upload_expired` if it is past its expiry (an open one is expired
/// on the spot, before the sweep comes to it).
async fn unexpired(state: &AppState, row: UploadRow) -> ApiResult<UploadRow> {
    let (_, now) = store::now();
    let lapsed = row.state == "expired" || (row.state == "open" && now >= row.expires_unix);
    if !lapsed {
        return Ok(row);
    }
    if row.state == "open" {
        expire(state, &row).await;
    }
    Err(err(
        ErrorCode::UploadExpired,
        format!(
            "upload {} expired at {}",
            row.id,
            store::rfc3339(row.expires_unix)
        ),
    ))
}

async fn get_row(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    upload: &str,
) -> ApiResult<UploadRow> {
    let key = upload.to_owned();
    let row = state.store_call(move |s| s.upload(&key)).await?;
    match row {
        Some(r) if r.tenant == tenant.id && r.machine_id == id.as_str() => Ok(r),
        _ => Err(err(
            ErrorCode::UploadNotFound,
            format!("no upload {upload} for this machine"),
        )),
    }
}

/// Mark an open session past its expiry `expired` and remove its staged bytes. A
/// machine that is not running (paused) keeps the session open, so a later sweep
/// finishes the job.
pub async fn expire(state: &AppState, row: &UploadRow) {
    discard(state, row, "expired").await;
}

/// Remove an open session's staged bytes and move it to state `to`.
async fn discard(state: &AppState, row: &UploadRow, to: &'static str) {
    if let Ok(machine) = row.machine_id.parse::<MachineId>() {
        let rm = FileOp::Remove {
            path: row.staging.clone(),
            user: Some(row.user.clone()),
            recursive: false,
        };
        if let Err(e) = files::op(state, &machine, rm).await {
            if e.code == ErrorCode::MachineNotRunning {
                return;
            }
        }
    }
    let key = row.id.clone();
    let _ = state
        .store_call(move |s| s.set_upload_state(&key, "open", to))
        .await;
}

/// Expire every open session past its expiry and remove its staged bytes (a
/// machine that is not running keeps them until it runs or goes).
pub async fn sweep(state: &AppState) {
    let (_, now) = store::now();
    match state.store_call(move |s| s.expired_uploads(now)).await {
        Ok(rows) => {
            for row in rows {
                expire(state, &row).await;
            }
        }
        Err(e) => tracing::warn!(error = ?e, "cannot list expired uploads"),
    }
}

/// The session as it is.
pub async fn get(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    upload: &str,
) -> ApiResult<Upload> {
    let row = unexpired(state, get_row(state, tenant, id, upload).await?).await?;
    Ok(view(&row))
}

/// What a chunk body held: its length and digest.
#[derive(Debug, Default)]
struct Seen {
    bytes: u64,
    hasher: Sha256,
    over: bool,
}

/// Write chunk `index` from `body`; `sha256` (hex), if given, must match.
pub async fn chunk(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    upload: &str,
    index: u64,
    sha256: Option<String>,
    body: Body,
) -> ApiResult<Upload> {
    let row = open_session(state, tenant, id, upload).await?;
    if index >= row.chunks() {
        return Err(err(
            ErrorCode::UploadChunkInvalid,
            format!(
                "chunk {index} is out of range (the upload has {} chunks)",
                row.chunks()
            ),
        ));
    }
    let want_sha = sha256
        .as_deref()
        .map(|s| sha256_hex("x-nullspace-chunk-sha256", s))
        .transpose()?;
    let want = row.chunk_len(index);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let counter = seen.clone();
    let counted: Body = Box::pin(body.map(move |c: Result<Bytes, String>| {
        let c = c?;
        let mut s = counter.lock().expect("lock");
        s.bytes += c.len() as u64;
        if s.bytes > want {
            s.over = true;
            return Err(format!("chunk longer than {want} bytes"));
        }
        s.hasher.update(&c);
        Ok(c)
    }));
    let wrote = files::write(
        state,
        id,
        chunk_write(&row.staging, &row.user, index * row.chunk_size),
        counted,
    )
    .await;
    let (bytes, over, digest) = {
        let s = seen.lock().expect("lock");
        (s.bytes, s.over, hex::encode(s.hasher.clone().finalize()))
    };
    if over {
        return Err(err(
            ErrorCode::UploadChunkInvalid,
            format!("chunk {index} must be {want} bytes; more were sent"),
        ));
    }
    wrote?;
    if bytes != want {
        return Err(err(
            ErrorCode::UploadChunkInvalid,
            format!("chunk {index} must be {want} bytes; {bytes} were sent"),
        ));
    }
    if want_sha.is_some_and(|w| w != digest) {
        return Err(err(
            ErrorCode::UploadChecksumMismatch,
            format!("chunk {index} has SHA-256 {digest}, not the one sent with it"),
        ));
    }
    let key = row.id.clone();
    let row = state
        .store_call(move |s| s.mark_chunk(&key, index))
        .await?
        .ok_or_else(|| err(ErrorCode::UploadNotFound, format!("no upload {upload}")))?;
    if row.state != "open" {
        return Err(err(
            ErrorCode::UploadState,
            format!("upload {upload} is {}", row.state),
        ));
    }
    Ok(view(&row))
}

/// Check every chunk arrived and the digest, then move the file into place (or
/// unpack the archive).
pub async fn complete(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    upload: &str,
    req: CompleteUploadRequest,
) -> ApiResult<(Upload, Completed)> {
    let row = open_session(state, tenant, id, upload).await?;
    let given = req
        .sha256
        .as_deref()
        .map(|s| sha256_hex("sha256", s))
        .transpose()?;
    if let (Some(a), Some(b)) = (&given, &row.sha256) {
        if a != b {
            return Err(err(
                ErrorCode::UploadChecksumMismatch,
                "the SHA-256 given at completion differs from the one declared",
            ));
        }
    }
    let missing = (0..row.chunks()).filter(|&i| !row.has(i)).count();
    if missing > 0 {
        return Err(err(
            ErrorCode::UploadState,
            format!("{missing} of {} chunks have not arrived", row.chunks()),
        ));
    }
    let digest = FileOp::Digest {
        path: row.staging.clone(),
        user: Some(row.user.clone()),
    };
    let (sha, size) = match files::op(state, id, digest).await? {
        FileAnswer::Digest { sha256, size } => (sha256, size),
        other => return Err(files::unexpected(other)),
    };
    if size != row.size {
        return Err(err(
            ErrorCode::UploadState,
            format!("the staged content is {size} bytes, not {}", row.size),
        ));
    }
    if let Some(want) = given.or(row.sha256.clone()) {
        if want != sha {
            return Err(err(
                ErrorCode::UploadChecksumMismatch,
                format!("the content's SHA-256 is {sha}, not {want}"),
            ));
        }
    }
    let done = match kind_of(&row) {
        UploadKind::File => {
            let mv = FileOp::Rename {
                from: row.staging.clone(),
                to: row.path.clone(),
                user: Some(row.user.clone()),
            };
            let e = match files::op(state, id, mv).await.map_err(path_error)? {
                FileAnswer::Entry(e) => e,
                other => return Err(files::unexpected(other)),
            };
            let mode = row.mode.unwrap_or(0o644);
            let chmod = FileOp::Chmod {
                path: row.path.clone(),
                user: Some(row.user.clone()),
                mode,
            };
            files::op(state, id, chmod).await?;
            Completed::File(Entry { mode, ..e })
        }
        UploadKind::Archive => {
            let conflict = serde_json::from_value(serde_json::Value::String(row.conflict.clone()))
                .unwrap_or_default();
            let spec = ArchiveSpec {
                path: row.path.clone(),
                user: Some(row.user.clone()),
                conflict,
                source: Some(row.staging.clone()),
            };
            let facts = files::extract(state, id, spec, None)
                .await
                .map_err(path_error);
            let rm = FileOp::Remove {
                path: row.staging.clone(),
                user: Some(row.user.clone()),
                recursive: false,
            };
            let _ = files::op(state, id, rm).await;
            Completed::Archive(facts?)
        }
    };
    let key = row.id.clone();
    state
        .store_call(move |s| s.set_upload_state(&key, "open", "complete"))
        .await?;
    let upload = view(&UploadRow {
        state: "complete".into(),
        ..row
    });
    Ok((upload, done))
}

/// Abort a session and remove its staged bytes.
pub async fn abort(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    upload: &str,
) -> ApiResult<()> {
    let row = get_row(state, tenant, id, upload).await?;
    if row.state == "complete" {
        return Err(err(
            ErrorCode::UploadState,
            format!("upload {upload} is complete"),
        ));
    }
    discard(state, &row, "aborted").await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_sits_beside_the_destination() {
        let id: UploadId = "upl_abc".parse().unwrap();
        let (p, s) = destination("data/m.bin", &id, UploadKind::File).unwrap();
        assert_eq!(p, "/workspace/data/m.bin");
        assert_eq!(s, "/workspace/data/.m.bin.upl_abc.part");
        let (_, s) = destination("/srv/site/", &id, UploadKind::Archive).unwrap();
        assert_eq!(s, "/srv/.site.upl_abc.tar.part");
        for bad in ["/", "/workspace/.nullspace/x", "/a/../etc/passwd", ""] {
            let e = destination(bad, &id, UploadKind::File).unwrap_err();
            assert_eq!(e.code, ErrorCode::UploadPathInvalid, "{bad}");
        }
        assert!(sha256_hex("s", &"A".repeat(64)).is_ok());
        assert!(sha256_hex("s", "abc").is_err());
    }
}
