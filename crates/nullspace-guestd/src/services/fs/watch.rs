//! `watch_dir`: inotify on a directory (and, when recursive, on every
//! subdirectory, including ones created later), reported as `fs_event` frames
//! until the call is cancelled or the directory goes away. The loop runs on a
//! blocking thread with the call's user's rights, so a user watches only what
//! it may read.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nullspace_guest_proto::{CallId, FsEvent, FsEventKind, GuestMsg, OpResult, WatchRequest};

use super::paths::{Access, Final};
use super::walk::walk;
use crate::serve::calls::Cancel;
use crate::serve::outbox::Outbox;
use crate::services::error::OpError;
use crate::services::state::GuestState;

/// How long one wait for events lasts before the cancel flag is checked again, ms.
const POLL_MS: i32 = 200;
/// Most directories one recursive watch holds.
const MAX_WATCHES: usize = 65_536;

/// The events every watch asks for.
const MASK: u32 = libc::IN_CREATE
    | libc::IN_MODIFY
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

/// Watch until `cancel` is set (an error) or the directory is removed (done).
pub fn watch(
    state: &GuestState,
    req: &WatchRequest,
    out: &Outbox,
    id: CallId,
    cancel: &Cancel,
) -> Result<OpResult, OpError> {
    let s = &req.scope;
    let r = state
        .paths
        .resolve(&s.path, s.root.as_deref(), Final::Follow, Access::Read)?;
    let meta = std::fs::metadata(&r.real).map_err(|e| OpError::io("stat", &r.shown, e))?;
    if !meta.is_dir() {
        return Err(OpError::NotDir(r.shown));
    }
    let mut w = Watcher::new(req.recursive)?;
    let top = w.add(&r.shown, &r.real)?;
    if req.recursive {
        w.add_below(&r.shown, &r.real);
    }
    out.blocking_send(&GuestMsg::Ready { id });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if cancel.is_cancelled() {
            return Err(OpError::Cancelled);
        }
        let mut pfd = libc::pollfd {
            fd: w.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `pfd` is one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(OpError::Sys {
                op: "poll",
                source: e,
            });
        }
        if n == 0 {
            continue;
        }
        // SAFETY: `buf` is valid for writes of its length; the fd is open.
        let got = unsafe { libc::read(w.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if got < 0 {
            let e = io::Error::last_os_error();
            if matches!(
                e.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
            ) {
                continue;
            }
            return Err(OpError::Sys {
                op: "read inotify",
                source: e,
            });
        }
        for raw in parse(&buf[..got as usize]) {
            if raw.wd == top && raw.mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF) != 0 {
                return Ok(OpResult::Unit);
            }
            for event in w.translate(&raw) {
                out.blocking_send(&GuestMsg::FsEvent { id, event });
            }
        }
    }
}

/// One inotify record.
#[derive(Debug, PartialEq, Eq)]
struct Raw {
    wd: i32,
    mask: u32,
    name: Vec<u8>,
}

/// The records of one `read` of an inotify descriptor.
fn parse(mut buf: &[u8]) -> Vec<Raw> {
    const HEAD: usize = 16;
    let mut out = Vec::new();
    while buf.len() >= HEAD {
        let word = |i: usize| [buf[i], buf[i + 1], buf[i + 2], buf[i + 3]];
        let wd = i32::from_ne_bytes(word(0));
        let mask = u32::from_ne_bytes(word(4));
        let len = u32::from_ne_bytes(word(12)) as usize;
        let Some(name) = buf.get(HEAD..HEAD + len) else {
            break;
        };
        let end = name.iter().position(|&b| b == 0).unwrap_or(len);
        out.push(Raw {
            wd,
            mask,
            name: name[..end].to_vec(),
        });
        buf = &buf[HEAD + len..];
    }
    out
}

/// An inotify descriptor and the directories it watches.
struct Watcher {
    fd: OwnedFd,
    recursive: bool,
    /// Watch descriptor → (shown path, real path) of its directory.
    dirs: HashMap<i32, (PathBuf, PathBuf)>,
}

impl Watcher {
    fn new(recursive: bool) -> Result<Self, OpError> {
        // SAFETY: inotify_init1 takes flags only; a negative answer is an error.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            let source = io::Error::last_os_error();
            return Err(OpError::Sys {
                op: "inotify_init1",
                source,
            });
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            fd,
            recursive,
            dirs: HashMap::new(),
        })
    }

    /// Watch one directory.
    fn add(&mut self, shown: &Path, real: &Path) -> Result<i32, OpError> {
        if self.dirs.len() >= MAX_WATCHES {
            let source = io::Error::from_raw_os_error(libc::ENOSPC);
            return Err(OpError::io("watch", shown, source));
        }
        let c = CString::new(real.as_os_str().as_bytes())
            .map_err(|_| OpError::Path(super::paths::PathError::Nul))?;
        // SAFETY: `c` is a NUL-terminated path that outlives the call.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), MASK) };
        if wd < 0 {
            return Err(OpError::io("watch", shown, io::Error::last_os_error()));
        }
        self.dirs
            .insert(wd, (shown.to_path_buf(), real.to_path_buf()));
        Ok(wd)
    }

    /// Watch every directory below one (those it may not read are skipped).
    fn add_below(&mut self, shown: &Path, real: &Path) {
        let mut found = Vec::new();
        let _ = walk(shown, real, &mut |v| {
            if v.meta.is_dir() {
                found.push((v.shown, v.real));
            }
            Ok(found.len() < MAX_WATCHES)
        });
        for (s, r) in found {
            let _ = self.add(&s, &r);
        }
    }

    /// The events one record means; watches new directories when recursive.
    fn translate(&mut self, raw: &Raw) -> Vec<FsEvent> {
        if raw.mask & libc::IN_IGNORED != 0 {
            self.dirs.remove(&raw.wd);
            return Vec::new();
        }
        let Some((dir_shown, dir_real)) = self.dirs.get(&raw.wd).cloned() else {
            return Vec::new();
        };
        if raw.name.is_empty() {
            return Vec::new();
        }
        let name = OsStr::from_bytes(&raw.name);
        let (shown, real) = (dir_shown.join(name), dir_real.join(name));
        let is_dir = raw.mask & libc::IN_ISDIR != 0;
        let kind = if raw.mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 {
            FsEventKind::Create
        } else if raw.mask & libc::IN_DELETE != 0 {
            FsEventKind::Remove
        } else if raw.mask & libc::IN_MOVED_FROM != 0 {
            FsEventKind::Rename
        } else if raw.mask & libc::IN_MODIFY != 0 {
            FsEventKind::Write
        } else if raw.mask & libc::IN_ATTRIB != 0 {
            FsEventKind::Chmod
        } else {
            return Vec::new();
        };
        let mut events = vec![FsEvent {
            kind,
            path: shown.to_string_lossy().into_owned(),
            is_dir,
        }];
        if self.recursive
            && is_dir
            && kind == FsEventKind::Create
            && self.add(&shown, &real).is_ok()
        {
            // What was created inside before the watch was in place is reported too.
            let _ = walk(&shown, &real, &mut |v| {
                let d = v.meta.is_dir();
                if d {
                    let _ = self.add(&v.shown, &v.real);
                }
                events.push(FsEvent {
                    kind: FsEventKind::Create,
                    path: v.shown.to_string_lossy().into_owned(),
                    is_dir: d,
                });
                Ok(events.len() < 10_000)
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(wd: i32, mask: u32, name: &[u8], len: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&wd.to_ne_bytes());
        b.extend_from_slice(&mask.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&(len as u32).to_ne_bytes());
        let mut n = name.to_vec();
        n.resize(len, 0);
        b.extend_from_slice(&n);
        b
    }

    #[test]
    fn records_parse_with_their_padded_names() {
        let mut buf = record(1, libc::IN_CREATE, b"a b\n", 16);
        buf.extend(record(2, libc::IN_DELETE_SELF, b"", 0));
        buf.extend_from_slice(&[1, 2, 3]);
        let got = parse(&buf);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, b"a b\n");
        assert_eq!((got[1].wd, got[1].mask), (2, libc::IN_DELETE_SELF));
    }

    #[test]
    fn changes_in_a_real_directory_are_translated() {
        let dir = std::env::temp_dir().join(format!("ns-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = Watcher::new(true).unwrap();
        w.add(&dir, &dir).unwrap();
        std::fs::write(dir.join("f"), "x").unwrap();
        std::fs::create_dir_all(dir.join("sub/inner")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut buf = vec![0u8; 65536];
        // SAFETY: `buf` is valid for writes of its length; the fd is open.
        let got = unsafe { libc::read(w.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        assert!(got > 0);
        let mut events = Vec::new();
        for raw in parse(&buf[..got as usize]) {
            events.extend(w.translate(&raw));
        }
        let kinds: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.kind,
                    e.path
                        .strip_prefix(dir.to_str().unwrap())
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect();
        assert!(
            kinds.contains(&(FsEventKind::Create, "/f".into())),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&(FsEventKind::Write, "/f".into())),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&(FsEventKind::Create, "/sub".into())),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&(FsEventKind::Create, "/sub/inner".into())),
            "{kinds:?}"
        );
        assert_eq!(w.dirs.len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
