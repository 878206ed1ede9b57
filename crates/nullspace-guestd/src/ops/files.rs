//! `read_file` (streamed as `data` frames) and `write_file` (input frames into a
//! temporary file in the target's directory, renamed over the target on
//! `input_end`, so readers never see a half-written file).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nullspace_guest_proto::{CallId, GuestMsg, OpResult};
use tokio::io::AsyncWriteExt;

use super::entry::describe;
use super::error::{check_mode, OpError};
use super::paths::{Access, Final};
use super::tree::{create_dirs, owner_ids};
use super::{CallCtx, Input};
use crate::serve::outbox::{Outbox, CHUNK};
use crate::users::UserDb;

/// Stream a file's bytes from `offset`, at most `limit` of them.
pub async fn read(
    ctx: &CallCtx,
    path: &str,
    root: Option<&str>,
    offset: u64,
    limit: Option<u64>,
) -> Result<OpResult, OpError> {
    let r = ctx
        .state
        .paths
        .resolve(path, root, Final::Follow, Access::Read)?;
    let out = ctx.out.clone();
    let id = ctx.id;
    tokio::task::spawn_blocking(move || read_blocking(&r.shown, &r.real, offset, limit, &out, id))
        .await
        .map_err(|_| OpError::Internal("read task panicked"))?
}

fn read_blocking(
    shown: &Path,
    real: &Path,
    offset: u64,
    limit: Option<u64>,
    out: &Outbox,
    id: CallId,
) -> Result<OpResult, OpError> {
    let mut file = File::open(real).map_err(|e| OpError::io("open", shown, e))?;
    let meta = file.metadata().map_err(|e| OpError::io("stat", shown, e))?;
    if meta.is_dir() {
        return Err(OpError::IsDir(shown.into()));
    }
    if offset > 0 {
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| OpError::io("seek", shown, e))?;
    }
    let mut left = limit.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    let mut buf = vec![0u8; CHUNK];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(OpError::io("read", shown, e)),
        };
        out.blocking_send_data(&GuestMsg::Data { id }, &buf[..n]);
        sent += n as u64;
        left -= n as u64;
    }
    Ok(OpResult::Read { size: sent })
}

/// The arguments of `write_file`.
#[derive(Debug, Clone)]
pub struct WriteReq {
    /// Target path.
    pub path: String,
    /// Confining root.
    pub root: Option<String>,
    /// Permission bits.
    pub mode: Option<u32>,
    /// Owner user name.
    pub owner: Option<String>,
    /// Create missing parents.
    pub create_parents: bool,
    /// Append instead of replacing.
    pub append: bool,
}

/// Receive the call's input into the target and commit it on `input_end`.
pub async fn write(mut ctx: CallCtx, req: WriteReq) -> Result<OpResult, OpError> {
    let mut input = ctx
        .input
        .take()
        .ok_or(OpError::Internal("write_file without input"))?;
    let state = ctx.state.clone();
    let id = ctx.id;
    let prep = tokio::task::spawn_blocking(move || prepare(&state, &req, id))
        .await
        .map_err(|_| OpError::Internal("write task panicked"))??;
    let (prep, file) = prep.split();
    let mut file = tokio::fs::File::from_std(file);
    loop {
        match input.recv().await {
            Some(Input::Data(bytes)) => file
                .write_all(&bytes)
                .await
                .map_err(|e| OpError::io("write", &prep.shown, e))?,
            Some(Input::End) => break,
            None => return Err(OpError::InputAborted),
        }
    }
    file.flush()
        .await
        .map_err(|e| OpError::io("write", &prep.shown, e))?;
    let file = file.into_std().await;
    tokio::task::spawn_blocking(move || prep.commit(file))
        .await
        .map_err(|_| OpError::Internal("write task panicked"))?
}

/// A write being received: the open file and what to do with it at the end.
struct Prepared {
    shown: PathBuf,
    real: PathBuf,
    /// Temporary file to rename over `real` (none when appending).
    temp: Option<PathBuf>,
    file: Option<File>,
    /// Permission bits to set, if any.
    mode: Option<u32>,
    /// Owner to set, if any.
    ids: Option<(u32, u32)>,
}

impl Prepared {
    fn split(mut self) -> (Self, File) {
        let file = self.file.take().expect("prepared writes hold a file");
        (self, file)
    }

    fn commit(mut self, file: File) -> Result<OpResult, OpError> {
        let shown = self.shown.clone();
        let io = |op: &'static str| {
            let shown = shown.clone();
            move |e| OpError::io(op, shown, e)
        };
        // Owner before mode: chown clears set-id bits.
        if let Some((uid, gid)) = self.ids {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(io("chown"))?;
        }
        if let Some(mode) = self.mode {
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io("chmod"))?;
        }
        file.sync_all().map_err(io("fsync"))?;
        drop(file);
        if let Some(temp) = self.temp.take() {
            if let Err(e) = fs::rename(&temp, &self.real) {
                let _ = fs::remove_file(&temp);
                return Err(OpError::io("rename", &self.shown, e));
            }
            if let Some(dir) = self.real.parent() {
                let _ = File::open(dir).and_then(|d| d.sync_all());
            }
        }
        describe(&self.shown, &self.real, &UserDb::load()).map(OpResult::Entry)
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // An unfinished write leaves no temporary file behind.
        if let Some(temp) = self.temp.take() {
            let _ = fs::remove_file(temp);
        }
    }
}

fn prepare(
    state: &super::identity::GuestState,
    req: &WriteReq,
    id: CallId,
) -> Result<Prepared, OpError> {
    let r = state
        .paths
        .resolve(&req.path, req.root.as_deref(), Final::Follow, Access::Write)?;
    let db = UserDb::load();
    let asked_ids = owner_ids(&db, req.owner.as_deref())?;
    let asked_mode = req.mode.map(check_mode).transpose()?;
    let (Some(parent), Some(name)) = (r.real.parent(), r.real.file_name()) else {
        return Err(OpError::IsDir(r.shown));
    };
    let existing = match fs::metadata(&r.real) {
        Ok(meta) if meta.is_dir() => return Err(OpError::IsDir(r.shown)),
        Ok(meta) => Some(meta),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
        Err(e) => return Err(OpError::io("stat", &r.shown, e)),
    };
    if existing.is_none() {
        match fs::metadata(parent) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                let e = std::io::Error::from_raw_os_error(libc::ENOTDIR);
                return Err(OpError::io("open", parent, e));
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && req.create_parents => {
                create_dirs(parent, 0o755, asked_ids)?;
            }
            Err(e) => return Err(OpError::io("open", parent, e)),
        }
    }
    let existing_mode = existing.as_ref().map(|m| m.permissions().mode() & 0o7777);
    let existing_ids = existing.as_ref().map(|m| (m.uid(), m.gid()));
    if req.append {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(asked_mode.unwrap_or(0o644))
            .open(&r.real)
            .map_err(|e| OpError::io("open", &r.shown, e))?;
        let new = existing.is_none();
        return Ok(Prepared {
            mode: asked_mode.or(new.then_some(0o644)),
            ids: asked_ids.or(new.then_some((0, 0))),
            shown: r.shown,
            real: r.real,
            temp: None,
            file: Some(file),
        });
    }
    let temp = parent.join(format!(
        ".{}.nullspace-{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        id.0
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| OpError::io("open", &temp, e))?;
    Ok(Prepared {
        mode: Some(asked_mode.or(existing_mode).unwrap_or(0o644)),
        ids: Some(asked_ids.or(existing_ids).unwrap_or((0, 0))),
        shown: r.shown,
        real: r.real,
        temp: Some(temp),
        file: Some(file),
    })
}
