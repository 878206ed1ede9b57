//! `extract_archive` (a tar stream unpacked into a directory as it arrives) and
//! `create_archive` (a directory sent as a tar stream in `data` frames). Both
//! run on a blocking thread with the call's user's rights; the input arrives
//! asynchronously and is handed to that thread through a small bounded channel,
//! so memory stays bounded whatever the archive's size.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nullspace_guest_proto::{
    ArchiveFacts, CallId, Conflict, ExtractRequest, GuestMsg, OpResult, Scope,
};
use tokio::sync::mpsc;

use super::paths::{Access, Final, PathError};
use super::walk::walk;
use crate::serve::input::{Input, InputRx};
use crate::serve::outbox::{Outbox, CHUNK};
use crate::services::error::OpError;
use crate::services::state::GuestState;

/// One piece of streamed input for the blocking side.
#[derive(Debug)]
pub enum Piece {
    /// Bytes.
    Data(Vec<u8>),
    /// The input ended normally.
    End,
    /// The host abandoned the call.
    Aborted,
}

/// Forward the call's input to `tx` as it is consumed (at most a few chunks ahead).
pub async fn feed(mut input: InputRx, tx: mpsc::Sender<Piece>) {
    loop {
        match input.recv().await {
            Some(Input::Data(bytes)) => {
                let n = bytes.len();
                if tx.send(Piece::Data(bytes.to_vec())).await.is_err() {
                    return;
                }
                input.consumed(n).await;
            }
            Some(Input::End) => {
                let _ = tx.send(Piece::End).await;
                return;
            }
            None => {
                let _ = tx.send(Piece::Aborted).await;
                return;
            }
        }
    }
}

/// A blocking reader over the pieces [`feed`] forwards.
#[derive(Debug)]
pub struct PieceReader {
    rx: mpsc::Receiver<Piece>,
    cur: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl PieceReader {
    /// A reader of what arrives on `rx`.
    pub fn new(rx: mpsc::Receiver<Piece>) -> Self {
        Self {
            rx,
            cur: Vec::new(),
            pos: 0,
            ended: false,
        }
    }
}

impl Read for PieceReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Piece::Data(d)) => (self.cur, self.pos) = (d, 0),
                Some(Piece::End) => self.ended = true,
                Some(Piece::Aborted) | None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "input aborted",
                    ))
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Unpack the archive `from` into the request's directory, as its policy says.
pub fn extract(
    state: &GuestState,
    req: &ExtractRequest,
    from: &mut dyn Read,
    id: CallId,
) -> Result<OpResult, OpError> {
    let s = &req.scope;
    let r = state
        .paths
        .resolve(&s.path, s.root.as_deref(), Final::Follow, Access::Write)?;
    let exists = match fs::metadata(&r.real) {
        Ok(m) if m.is_dir() => true,
        Ok(_) => return Err(OpError::NotDir(r.shown)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => false,
        Err(e) => return Err(OpError::io("stat", &r.shown, e)),
    };
    if exists && req.conflict == Conflict::Error {
        let e = io::Error::from_raw_os_error(libc::EEXIST);
        return Err(OpError::io("extract", &r.shown, e));
    }
    let mut facts = ArchiveFacts {
        path: r.shown.to_string_lossy().into_owned(),
        ..ArchiveFacts::default()
    };
    if req.conflict == Conflict::Replace && exists {
        let (Some(parent), Some(name)) = (r.real.parent(), r.real.file_name()) else {
            return Err(OpError::IsDir(r.shown));
        };
        let tag = format!(
            ".{}.nullspace-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            id.0
        );
        let (staging, old) = (
            parent.join(format!("{tag}.new")),
            parent.join(format!("{tag}.old")),
        );
        fs::create_dir(&staging).map_err(|e| OpError::io("mkdir", &r.shown, e))?;
        let unpacked = unpack(state, from, &r.shown, &staging, Conflict::Merge, &mut facts);
        let swapped = unpacked.and_then(|()| {
            fs::rename(&r.real, &old).map_err(|e| OpError::io("rename", &r.shown, e))?;
            if let Err(e) = fs::rename(&staging, &r.real) {
                let _ = fs::rename(&old, &r.real);
                return Err(OpError::io("rename", &r.shown, e));
            }
            Ok(())
        });
        let _ = fs::remove_dir_all(if swapped.is_ok() { &old } else { &staging });
        swapped?;
    } else {
        if !exists {
            fs::create_dir_all(&r.real).map_err(|e| OpError::io("mkdir", &r.shown, e))?;
        }
        unpack(state, from, &r.shown, &r.real, req.conflict, &mut facts)?;
    }
    // Whatever follows the archive's end (padding) is read, so the input drains.
    io::copy(from, &mut io::sink()).map_err(|e| OpError::io("read archive", &r.shown, e))?;
    Ok(OpResult::Extracted(facts))
}

fn unpack(
    state: &GuestState,
    from: &mut dyn Read,
    shown: &Path,
    dest: &Path,
    conflict: Conflict,
    facts: &mut ArchiveFacts,
) -> Result<(), OpError> {
    let bad = |e: io::Error| OpError::io("read archive", shown, e);
    let mut archive = tar::Archive::new(from);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let rel = entry.path().map_err(bad)?.into_owned();
        let rel = relative(&rel).ok_or_else(|| {
            OpError::Path(PathError::EscapesRoot {
                path: rel.clone(),
                root: shown.to_path_buf(),
            })
        })?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let (entry_shown, target) = (shown.join(&rel), dest.join(&rel));
        if state.paths.is_reserved(&entry_shown) {
            return Err(OpError::Path(PathError::Reserved {
                path: entry_shown,
                reserved: state.paths.workspace().join(".nullspace"),
            }));
        }
        parents(dest, &rel, &entry_shown)?;
        // Symlinks' modes mean nothing, and some archivers leave them blank.
        let mode = entry.header().mode().unwrap_or(0o644) & 0o1777;
        let kind = entry.header().entry_type();
        let existing = fs::symlink_metadata(&target).ok();
        let io_err = |op: &'static str| {
            let p = entry_shown.clone();
            move |e| OpError::io(op, p, e)
        };
        if kind.is_dir() {
            match &existing {
                Some(m) if m.is_dir() => {}
                Some(_) => return Err(OpError::NotDir(entry_shown)),
                None => fs::create_dir(&target).map_err(io_err("mkdir"))?,
            }
            if existing.is_none() || conflict == Conflict::Merge {
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                    .map_err(io_err("chmod"))?;
            }
            facts.dirs += 1;
        } else if kind.is_symlink() {
            let link = entry.link_name().map_err(bad)?.ok_or_else(|| {
                OpError::io("symlink", &entry_shown, io::ErrorKind::InvalidData.into())
            })?;
            match &existing {
                Some(_) if conflict == Conflict::Skip => {}
                Some(m) if m.is_dir() => return Err(OpError::IsDir(entry_shown)),
                Some(_) => {
                    fs::remove_file(&target).map_err(io_err("remove"))?;
                    std::os::unix::fs::symlink(&link, &target).map_err(io_err("symlink"))?;
                }
                None => std::os::unix::fs::symlink(&link, &target).map_err(io_err("symlink"))?,
            }
            facts.symlinks += 1;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            match &existing {
                Some(m) if m.is_dir() => return Err(OpError::IsDir(entry_shown)),
                Some(_) if conflict == Conflict::Skip => {
                    io::copy(&mut entry, &mut io::sink()).map_err(bad)?;
                }
                _ => {
                    facts.bytes += write_file(&mut entry, &entry_shown, &target, mode)?;
                }
            }
            facts.files += 1;
        } else {
            let e = io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "entry type {kind:?} is not supported (files, directories and symlinks are)"
                ),
            );
            return Err(OpError::io("extract", entry_shown, e));
        }
    }
    Ok(())
}

/// An entry's path as plain components below the destination, or none when it
/// is absolute or climbs with `..`.
fn relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Create the missing parents of `rel` below `dest`; a parent that is a symlink
/// (which could lead anywhere) is refused.
fn parents(dest: &Path, rel: &Path, shown: &Path) -> Result<(), OpError> {
    let mut dir = dest.to_path_buf();
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    for c in parent.components() {
        dir.push(c);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(OpError::Path(PathError::EscapesRoot {
                    path: shown.to_path_buf(),
                    root: dest.to_path_buf(),
                }))
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(OpError::NotDir(shown.to_path_buf())),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                fs::create_dir(&dir).map_err(|e| OpError::io("mkdir", shown, e))?;
            }
            Err(e) => return Err(OpError::io("stat", shown, e)),
        }
    }
    Ok(())
}

/// Write one file of the archive through a temporary file renamed into place.
fn write_file(from: &mut dyn Read, shown: &Path, target: &Path, mode: u32) -> Result<u64, OpError> {
    let io = |op: &'static str| move |e| OpError::io(op, shown, e);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned());
    let temp = target.with_file_name(format!(
        ".{}.nullspace-{}.tmp",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io("create"))?;
    let done = (|| {
        let n = io::copy(from, &mut file)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        fs::rename(&temp, target)?;
        Ok(n)
    })();
    done.inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
    .map_err(io("write"))
}

/// Writes tar bytes as `data` frames of the call.
struct Frames<'a> {
    out: &'a Outbox,
    id: CallId,
    buf: Vec<u8>,
    sent: u64,
}

impl Write for Frames<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if !self
            .out
            .blocking_send_data(&GuestMsg::Data { id: self.id }, &self.buf)
        {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "call abandoned"));
        }
        self.sent += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// Send the scope's directory as a tar stream (paths relative to it, symlinks
/// as symlinks, the reserved directory left out).
pub fn create(
    state: &GuestState,
    scope: &Scope,
    out: &Outbox,
    id: CallId,
) -> Result<OpResult, OpError> {
    let r = state.paths.resolve(
        &scope.path,
        scope.root.as_deref(),
        Final::Follow,
        Access::Read,
    )?;
    let meta = fs::metadata(&r.real).map_err(|e| OpError::io("stat", &r.shown, e))?;
    if !meta.is_dir() {
        return Err(OpError::NotDir(r.shown));
    }
    let frames = Frames {
        out,
        id,
        buf: Vec::with_capacity(CHUNK * 2),
        sent: 0,
    };
    let mut builder = tar::Builder::new(frames);
    builder.follow_symlinks(false);
    let mut failed = None;
    walk(&r.shown, &r.real, &mut |v| {
        if state.paths.is_reserved(&v.shown) {
            return Ok(true);
        }
        let added = if v.meta.is_file() {
            File::open(&v.real).and_then(|mut f| builder.append_file(&v.rel, &mut f))
        } else {
            builder.append_path_with_name(&v.real, &v.rel)
        };
        match added {
            Ok(()) => Ok(true),
            Err(e) => {
                failed = Some(OpError::io("archive", &v.shown, e));
                Ok(false)
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    let mut frames = builder
        .into_inner()
        .map_err(|e| OpError::io("archive", &r.shown, e))?;
    frames
        .flush()
        .map_err(|e| OpError::io("archive", &r.shown, e))?;
    Ok(OpResult::Read { size: frames.sent })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_stay_below_the_destination() {
        assert_eq!(relative(Path::new("./a/b")), Some(PathBuf::from("a/b")));
        assert_eq!(relative(Path::new("a/../b")), None);
        assert_eq!(relative(Path::new("/etc/passwd")), None);
        assert_eq!(relative(Path::new(".")), Some(PathBuf::new()));
    }

    #[test]
    fn a_symlinked_parent_is_refused() {
        let dir = std::env::temp_dir().join(format!("ns-arch-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("/tmp", dir.join("l")).unwrap();
        let err = parents(&dir, Path::new("l/x"), Path::new("/s/l/x")).unwrap_err();
        assert!(matches!(err, OpError::Path(PathError::EscapesRoot { .. })));
        parents(&dir, Path::new("a/b/c"), Path::new("/s/a/b/c")).unwrap();
        assert!(dir.join("a/b").is_dir());
        fs::remove_dir_all(&dir).unwrap();
    }
}
