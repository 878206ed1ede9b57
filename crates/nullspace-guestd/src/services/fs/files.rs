//! `read_file` (streamed as `data` frames) and `write_file` (input frames into a
//! temporary file in the target's directory, renamed over the target on
//! `input_end`, so readers never see a half-written file).
//!
//! Every system call of both runs on a blocking thread with the rights of the
//! call's user ([`blocking_as`]): a read resolves, opens and reads on one thread;
//! a write prepares (resolves, creates parents, opens), writes each input chunk
//! and commits on such threads, passing the open file from one to the next while
//! the input arrives asynchronously. Writes themselves need the user's rights
//! too: the kernel charges quotas and reserved blocks, and clears set-id bits,
//! according to the writer.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nullspace_guest_proto::{CallId, GuestMsg, OpResult};

use super::creds::{blocking_as, FsUser};
use super::entry::describe;
use super::paths::{Access, Final};
use super::tree::{create_dirs, owner_ids};
use crate::serve::input::Input;
use crate::serve::outbox::{Outbox, CHUNK};
use crate::services::call::CallCtx;
use crate::services::error::{check_mode, OpError};
use crate::services::state::GuestState;
use crate::users::UserDb;

/// The arguments of `read_file`.
#[derive(Debug, Clone)]
pub struct ReadReq {
    /// Path to read.
    pub path: String,
    /// Confining root.
    pub root: Option<String>,
    /// Byte offset to start at.
    pub offset: u64,
    /// Most bytes to read.
    pub limit: Option<u64>,
}

/// Stream a file's bytes from `offset`, at most `limit` of them, as `who`.
pub async fn read(ctx: &CallCtx, who: &FsUser, req: ReadReq) -> Result<OpResult, OpError> {
    let (state, out, id) = (ctx.state.clone(), ctx.out.clone(), ctx.id);
    blocking_as(who, move || read_blocking(&state, &req, &out, id)).await
}

fn read_blocking(
    state: &GuestState,
    req: &ReadReq,
    out: &Outbox,
    id: CallId,
) -> Result<OpResult, OpError> {
    let r = state
        .paths
        .resolve(&req.path, req.root.as_deref(), Final::Follow, Access::Read)?;
    let shown = &r.shown;
    let mut file = File::open(&r.real).map_err(|e| OpError::io("open", shown, e))?;
    let meta = file.metadata().map_err(|e| OpError::io("stat", shown, e))?;
    if meta.is_dir() {
        return Err(OpError::IsDir(r.shown));
    }
    if req.offset > 0 {
        file.seek(SeekFrom::Start(req.offset))
            .map_err(|e| OpError::io("seek", shown, e))?;
    }
    let mut left = req.limit.unwrap_or(u64::MAX);
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
        if !out.blocking_send_data(&GuestMsg::Data { id }, &buf[..n]) {
            return Err(OpError::Cancelled);
        }
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
    /// Write in place at this offset, keeping the rest of the file.
    pub offset: Option<u64>,
}

/// Receive the call's input into the target and commit it on `input_end`, as `who`.
pub async fn write(
    mut ctx: CallCtx,
    who: FsUser,
    db: UserDb,
    req: WriteReq,
) -> Result<OpResult, OpError> {
    let mut input = ctx
        .input
        .take()
        .ok_or(OpError::Internal("write_file without input"))?;
    let (state, id) = (ctx.state.clone(), ctx.id);
    let as_who = who.clone();
    let mut prep = blocking_as(&who, move || prepare(&state, &req, &as_who, db, id)).await?;
    loop {
        match input.recv().await {
            // A failed chunk drops `prep` on its thread, removing the temporary file.
            Some(Input::Data(bytes)) => {
                let n = bytes.len();
                prep = blocking_as(&who, move || {
                    let mut prep = prep;
                    prep.write(&bytes)?;
                    Ok(prep)
                })
                .await?;
                input.consumed(n).await;
            }
            Some(Input::End) => break,
            None => {
                blocking_as(&who, move || {
                    drop(prep);
                    Ok(())
                })
                .await?;
                return Err(OpError::InputAborted);
            }
        }
    }
    blocking_as(&who, move || prep.commit()).await
}

/// A write being received: the open file and what to do with it at the end.
struct Prepared {
    /// The path the caller named (for errors).
    shown: PathBuf,
    /// The file written: the named path with symlinks resolved.
    real: PathBuf,
    /// Temporary file to rename over `real` (none when writing in place).
    temp: Option<PathBuf>,
    file: File,
    /// Permission bits to set at the end, if any.
    mode: Option<u32>,
    /// Owner to set at the end, if any.
    ids: Option<(u32, u32)>,
    /// Names the owner in the answer.
    db: UserDb,
}

impl Prepared {
    fn write(&mut self, bytes: &[u8]) -> Result<(), OpError> {
        self.file
            .write_all(bytes)
            .map_err(|e| OpError::io("write", &self.shown, e))
    }

    fn commit(mut self) -> Result<OpResult, OpError> {
        let io = |op: &'static str, shown: &Path| {
            let shown = shown.to_path_buf();
            move |e| OpError::io(op, shown, e)
        };
        // Owner before mode: chown clears set-id bits. Both after the bytes, which
        // clear them too when the writer is not root.
        if let Some((uid, gid)) = self.ids {
            std::os::unix::fs::fchown(&self.file, Some(uid), Some(gid))
                .map_err(io("chown", &self.shown))?;
        }
        if let Some(mode) = self.mode {
            self.file
                .set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io("chmod", &self.shown))?;
        }
        let meta = self.file.metadata().map_err(io("stat", &self.shown))?;
        if meta.is_file() {
            self.file.sync_all().map_err(io("fsync", &self.shown))?;
        }
        if let Some(temp) = self.temp.take() {
            if let Err(e) = fs::rename(&temp, &self.real) {
                let _ = fs::remove_file(&temp);
                return Err(OpError::io("rename", &self.shown, e));
            }
            if let Some(dir) = self.real.parent() {
                let _ = File::open(dir).and_then(|d| d.sync_all());
            }
        }
        // The answer is about what was written: through a symlink, its target.
        describe(&self.real, &self.real, &self.db).map(OpResult::Entry)
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

/// Check the request, create missing parents and open the file to write: a new
/// temporary file next to the target, or the target itself when appending, or
/// when `who` may write the target but not create files in its directory.
fn prepare(
    state: &GuestState,
    req: &WriteReq,
    who: &FsUser,
    db: UserDb,
    id: CallId,
) -> Result<Prepared, OpError> {
    let asked_ids = owner_ids(&db, who, req.owner.as_deref())?;
    let asked_mode = req.mode.map(check_mode).transpose()?;
    let r = state
        .paths
        .resolve(&req.path, req.root.as_deref(), Final::Follow, Access::Write)?;
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
    // What a new file gets when nothing is asked: root's files are root's, a
    // user's are its own without any chown.
    let default_ids = match who {
        FsUser::Root => Some((0, 0)),
        FsUser::User(_) => None,
    };
    if req.append || req.offset.is_some() {
        let new_mode = mode_to_set(who, &r.real, existing.as_ref(), asked_mode)?;
        let mut file = OpenOptions::new()
            .append(req.append)
            .write(true)
            .create(true)
            .mode(asked_mode.unwrap_or(0o644))
            .open(&r.real)
            .map_err(|e| OpError::io("open", &r.shown, e))?;
        if let Some(at) = req.offset {
            file.seek(SeekFrom::Start(at))
                .map_err(|e| OpError::io("seek", &r.shown, e))?;
        }
        let new = existing.is_none();
        return Ok(Prepared {
            mode: new_mode.or(new.then_some(0o644)),
            ids: asked_ids.or(default_ids.filter(|_| new)),
            shown: r.shown,
            real: r.real,
            temp: None,
            file,
            db,
        });
    }
    let temp = parent.join(format!(
        ".{}.nullspace-{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        id.0
    ));
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp);
    match (created, existing) {
        (Ok(file), existing) => Ok(Prepared {
            mode: Some(asked_mode.or(existing_mode).unwrap_or(0o644)),
            ids: asked_ids
                .or(match who {
                    FsUser::Root => existing.as_ref().map(|m| (m.uid(), m.gid())),
                    FsUser::User(_) => None,
                })
                .or(default_ids),
            shown: r.shown,
            real: r.real,
            temp: Some(temp),
            file,
            db,
        }),
        // No right to create files here, but maybe to write the target: write it
        // in place, as `echo data > file` would (not atomic).
        (Err(e), Some(meta)) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
            let new_mode = mode_to_set(who, &r.real, Some(&meta), asked_mode)?;
            let file = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&r.real)
                .map_err(|e| OpError::io("open", &r.shown, e))?;
            Ok(Prepared {
                mode: new_mode,
                ids: asked_ids,
                shown: r.shown,
                real: r.real,
                temp: None,
                file,
                db,
            })
        }
        (Err(e), _) => Err(OpError::io("create", &r.shown, e)),
    }
}

/// The mode to set at the end of a write to an existing file (or a new one, when
/// `existing` is `None`): the asked one. A user other than the file's owner may
/// not change its mode, so it may only ask for the mode the file already has;
/// anything else is refused before a byte is written (the kernel would refuse
/// the chmod only at the end, after the content had changed).
fn mode_to_set(
    who: &FsUser,
    real: &Path,
    existing: Option<&fs::Metadata>,
    asked: Option<u32>,
) -> Result<Option<u32>, OpError> {
    let Some(mode) = asked else {
        return Ok(None);
    };
    match (who, existing) {
        (FsUser::User(creds), Some(meta)) if meta.uid() != creds.uid => {
            if meta.permissions().mode() & 0o7777 == mode {
                Ok(None)
            } else {
                Err(OpError::NotOwner(real.to_path_buf()))
            }
        }
        _ => Ok(Some(mode)),
    }
}

/// SHA-256 and size of a file, read on the current thread (which has the
/// call's user's rights).
pub fn digest(
    state: &GuestState,
    scope: &nullspace_guest_proto::Scope,
) -> Result<OpResult, OpError> {
    use sha2::Digest as _;
    let r = state.paths.resolve(
        &scope.path,
        scope.root.as_deref(),
        Final::Follow,
        Access::Read,
    )?;
    let mut file = File::open(&r.real).map_err(|e| OpError::io("open", &r.shown, e))?;
    if file
        .metadata()
        .map_err(|e| OpError::io("stat", &r.shown, e))?
        .is_dir()
    {
        return Err(OpError::IsDir(r.shown));
    }
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(OpError::io("read", &r.shown, e)),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(OpResult::Digest(nullspace_guest_proto::Digest {
        sha256: hex::encode(hasher.finalize()),
        size,
    }))
}
