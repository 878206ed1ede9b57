//! Directory-level file calls: `list`, `stat`, `exists`, `mkdir`, `remove`,
//! `rename`, `chmod`. They are blocking and run on tokio's blocking pool, with
//! the file-system rights of the call's user (see [`super::creds`]).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nullspace_guest_proto::{EntryInfo, Op, OpResult};

use super::creds::FsUser;
use super::entry::{describe, from_metadata};
use super::paths::{Access, Final, Resolved};
use crate::services::error::{check_mode, OpError};
use crate::services::state::GuestState;
use crate::users::UserDb;

/// Run one of the directory-level calls on the current thread, which already has
/// `who`'s rights; `db` names owners.
pub fn run(state: &GuestState, db: &UserDb, who: &FsUser, op: Op) -> Result<OpResult, OpError> {
    let p = &state.paths;
    match op {
        Op::List {
            path, root, depth, ..
        } => {
            if depth == 0 {
                return Err(OpError::ZeroDepth);
            }
            let r = p.resolve(&path, root.as_deref(), Final::Follow, Access::Read)?;
            list(&r, depth, db).map(OpResult::Entries)
        }
        Op::Stat { path, root, .. } => {
            let r = p.resolve(&path, root.as_deref(), Final::NoFollow, Access::Read)?;
            describe(&r.shown, &r.real, db).map(OpResult::Entry)
        }
        Op::Exists { path, root, .. } => {
            let r = p.resolve(&path, root.as_deref(), Final::NoFollow, Access::Read)?;
            match fs::symlink_metadata(&r.real) {
                Ok(_) => Ok(OpResult::Exists(true)),
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    Ok(OpResult::Exists(false))
                }
                Err(e) => Err(OpError::io("stat", r.shown, e)),
            }
        }
        Op::Mkdir {
            path,
            root,
            mode,
            owner,
            ..
        } => {
            let mode = check_mode(mode.unwrap_or(0o755))?;
            let ids = owner_ids(db, who, owner.as_deref())?;
            let r = p.resolve(&path, root.as_deref(), Final::Follow, Access::Write)?;
            create_dirs(&r.real, mode, ids).map(OpResult::Created)
        }
        Op::Remove {
            path,
            root,
            recursive,
            ..
        } => {
            let r = p.resolve(&path, root.as_deref(), Final::NoFollow, Access::Destroy)?;
            remove(&r, recursive).map(|()| OpResult::Unit)
        }
        Op::Rename { from, to, root, .. } => {
            let from = p.resolve(&from, root.as_deref(), Final::NoFollow, Access::Destroy)?;
            let to = p.resolve(&to, root.as_deref(), Final::NoFollow, Access::Destroy)?;
            fs::rename(&from.real, &to.real).map_err(|e| OpError::io("rename", &from.shown, e))?;
            describe(&to.shown, &to.real, db).map(OpResult::Entry)
        }
        Op::Chmod {
            path, root, mode, ..
        } => {
            let mode = check_mode(mode)?;
            let r = p.resolve(&path, root.as_deref(), Final::Follow, Access::Write)?;
            fs::set_permissions(&r.real, fs::Permissions::from_mode(mode))
                .map_err(|e| OpError::io("chmod", &r.shown, e))?;
            Ok(OpResult::Unit)
        }
        Op::Hello { .. }
        | Op::Health
        | Op::Metrics { .. }
        | Op::Exec(_)
        | Op::ReadFile { .. }
        | Op::WriteFile { .. }
        | Op::ProcessStart(_)
        | Op::ProcessList
        | Op::ProcessAttach(_)
        | Op::ProcessInput { .. }
        | Op::ProcessSignal { .. }
        | Op::ProcessResize { .. }
        | Op::ProcessWait { .. }
        | Op::SearchFiles(_)
        | Op::FindInFiles(_)
        | Op::ReplaceInFiles(_)
        | Op::WatchDir(_)
        | Op::ExtractArchive(_)
        | Op::CreateArchive(_)
        | Op::DigestFile(_) => Err(OpError::Internal("not a directory-level call")),
    }
}

/// Uid and gid to give what `who` creates, when `owner` is named. Root may name
/// anyone; another user only itself (what it creates is its own anyway, so
/// nothing needs changing), else [`OpError::ForeignOwner`].
pub fn owner_ids(
    db: &UserDb,
    who: &FsUser,
    owner: Option<&str>,
) -> Result<Option<(u32, u32)>, OpError> {
    let Some(name) = owner else {
        return Ok(None);
    };
    let asked = db
        .user(name)
        .ok_or_else(|| OpError::UserNotFound(name.to_string()))?;
    match who {
        FsUser::Root => Ok(Some((asked.uid, asked.gid))),
        FsUser::User(creds) if asked.uid == creds.uid => Ok(None),
        FsUser::User(creds) => Err(OpError::ForeignOwner {
            user: creds.name.clone(),
            owner: name.to_string(),
        }),
    }
}

/// `mkdir -p`: create `path` and its missing parents with `mode` and `owner`.
/// Returns whether `path` itself was created.
pub fn create_dirs(path: &Path, mode: u32, owner: Option<(u32, u32)>) -> Result<bool, OpError> {
    let mut missing = Vec::new();
    let mut cur = path;
    loop {
        match fs::metadata(cur) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) if cur == path => return Err(OpError::NotADirectoryExists(path.into())),
            Ok(_) => {
                return Err(OpError::io(
                    "mkdir",
                    cur,
                    std::io::Error::from_raw_os_error(libc::ENOTDIR),
                ))
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => missing.push(cur.to_path_buf()),
            Err(e) => return Err(OpError::io("mkdir", cur, e)),
        }
        match cur.parent() {
            Some(parent) => cur = parent,
            None => break,
        }
    }
    if missing.is_empty() {
        return Ok(false);
    }
    for dir in missing.iter().rev() {
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && dir.is_dir() => continue,
            Err(e) => return Err(OpError::io("mkdir", dir, e)),
        }
        // Owner before mode: chown clears set-id bits.
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .map_err(|e| OpError::io("chown", dir, e))?;
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .map_err(|e| OpError::io("chmod", dir, e))?;
    }
    Ok(true)
}

fn remove(r: &Resolved, recursive: bool) -> Result<(), OpError> {
    let meta = fs::symlink_metadata(&r.real).map_err(|e| OpError::io("remove", &r.shown, e))?;
    let res = if !meta.is_dir() {
        fs::remove_file(&r.real)
    } else if recursive {
        fs::remove_dir_all(&r.real)
    } else {
        fs::remove_dir(&r.real)
    };
    res.map_err(|e| OpError::io("remove", &r.shown, e))
}

fn list(r: &Resolved, depth: u32, db: &UserDb) -> Result<Vec<EntryInfo>, OpError> {
    let meta = fs::metadata(&r.real).map_err(|e| OpError::io("list", &r.shown, e))?;
    if !meta.is_dir() {
        return Err(OpError::NotDir(r.shown.clone()));
    }
    let mut out = Vec::new();
    walk(&r.shown, &r.real, depth, db, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(
    shown: &Path,
    real: &Path,
    depth: u32,
    db: &UserDb,
    out: &mut Vec<EntryInfo>,
) -> Result<(), OpError> {
    let entries = fs::read_dir(real).map_err(|e| OpError::io("list", shown, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| OpError::io("list", shown, e))?;
        let name = entry.file_name();
        let (child_shown, child_real): (PathBuf, PathBuf) = (shown.join(&name), real.join(&name));
        // An entry removed while listing is simply not listed.
        let Ok(meta) = fs::symlink_metadata(&child_real) else {
            continue;
        };
        out.push(from_metadata(&child_shown, &child_real, &meta, db));
        if meta.is_dir() && depth > 1 {
            match walk(&child_shown, &child_real, depth - 1, db, out) {
                // A subdirectory the user may not read is listed, not descended
                // (as `ls -R` goes on past one).
                Err(OpError::Io { source, .. })
                    if matches!(source.raw_os_error(), Some(libc::EACCES)) => {}
                other => other?,
            }
        }
    }
    Ok(())
}
