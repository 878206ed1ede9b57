//! Pseudo-terminals for `process_start` with `pty`: opening the pair, spawning
//! a process on the slave as its controlling terminal, async I/O on the master,
//! and resizing.
//!
//! The child gets a new session (`setsid`), the slave as its controlling
//! terminal (`TIOCSCTTY`) and as fds 0, 1 and 2, and the plan's user. guestd
//! keeps only the master: its output is the process's "stdout", writes to it are
//! the terminal's input, and reads fail with `EIO` once every slave descriptor is
//! closed, which is the terminal's end of file.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use nullspace_guest_proto::{PtySize, MAX_PTY_SIDE};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use super::error::ProcError;
use super::plan::Plan;
use super::spawn::{spawn_error, Child};
use crate::services::error::OpError;

/// Check that both sides are within 1 to `MAX_PTY_SIDE`.
pub fn check_size(size: PtySize) -> Result<(), ProcError> {
    let ok = |side: u16| (1..=MAX_PTY_SIDE).contains(&side);
    if ok(size.cols) && ok(size.rows) {
        Ok(())
    } else {
        Err(ProcError::BadSize {
            cols: size.cols,
            rows: size.rows,
        })
    }
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Set the terminal size of `fd` (the kernel sends `SIGWINCH` to its foreground group).
pub fn set_size(fd: RawFd, size: PtySize) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid winsize read by the ioctl; a bad fd only fails.
    check(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// Open a pseudo-terminal pair of `size`: (master, slave), both close-on-exec.
pub fn open(size: PtySize) -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: posix_openpt takes flags and returns a new descriptor or -1.
    let raw =
        check(unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) })?;
    // SAFETY: `raw` is an open descriptor that nothing else owns.
    let master = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: grantpt and unlockpt only act on the open master descriptor.
    unsafe {
        check(libc::grantpt(master.as_raw_fd()))?;
        check(libc::unlockpt(master.as_raw_fd()))?;
    }
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: `name` is a writable buffer of the given length.
    let ret = unsafe { libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    // SAFETY: ptsname_r succeeded, so `name` holds a NUL-terminated path.
    let path = unsafe { CStr::from_ptr(name.as_ptr()) };
    // SAFETY: `path` is a valid C string; open returns a new descriptor or -1.
    let raw = check(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `raw` is an open descriptor that nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(raw) };
    set_size(master.as_raw_fd(), size)?;
    // SAFETY: F_GETFL/F_SETFL on an open descriptor have no memory effects.
    unsafe {
        let flags = check(libc::fcntl(master.as_raw_fd(), libc::F_GETFL))?;
        check(libc::fcntl(
            master.as_raw_fd(),
            libc::F_SETFL,
            flags | libc::O_NONBLOCK,
        ))?;
    }
    Ok((master, slave))
}

/// The master side of a process's terminal, shared by its pump, its stdin
/// writer and resizes.
#[derive(Debug, Clone)]
pub struct Master(Arc<AsyncFd<OwnedFd>>);

impl Master {
    /// Register a non-blocking master with the runtime.
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        // SAFETY: `fd` is an open descriptor owned by the OwnedFd, which the
        // AsyncFd owns until it is dropped; its raw fd never changes.
        let fd =
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE) }
                .map_err(io::Error::from)?;
        Ok(Self(Arc::new(fd)))
    }

    /// Set the terminal size.
    pub fn resize(&self, size: PtySize) -> io::Result<()> {
        set_size(self.0.as_raw_fd(), size)
    }

    /// An async reader and writer of the master.
    pub fn io(&self) -> PtyIo {
        PtyIo(self.0.clone())
    }
}

/// Async I/O on a terminal master; `EIO` on read (no slave left) is end of file.
#[derive(Debug)]
pub struct PtyIo(Arc<AsyncFd<OwnedFd>>);

impl AsyncRead for PtyIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let read = guard.try_io(|fd| {
                // SAFETY: `unfilled` is valid, writable memory of its length.
                let n = unsafe {
                    libc::read(fd.as_raw_fd(), unfilled.as_mut_ptr().cast(), unfilled.len())
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match read {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PtyIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            let written = guard.try_io(|fd| {
                // SAFETY: `data` is valid, readable memory of its length.
                let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match written {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Start `plan`'s process on the terminal whose slave is `slave` (consumed:
/// guestd keeps no slave descriptor, so the master sees end of file when the
/// process and its children are gone).
pub fn spawn(plan: &Plan, slave: OwnedFd) -> Result<Child, OpError> {
    // SAFETY: geteuid has no preconditions.
    let privileged = unsafe { libc::geteuid() } == 0;
    // SAFETY: geteuid has no preconditions.
    if !privileged && plan.uid != unsafe { libc::geteuid() } {
        return Err(OpError::Sys {
            op: "switch user",
            source: io::Error::from_raw_os_error(libc::EPERM),
        });
    }
    let stdio = |fd: &OwnedFd| fd.try_clone().map(Stdio::from);
    let io_err = |e| spawn_error(plan, e);
    let mut cmd = super::spawn::command_as(plan, privileged, true);
    cmd.stdin(stdio(&slave).map_err(io_err)?)
        .stdout(stdio(&slave).map_err(io_err)?)
        .stderr(Stdio::from(slave));
    let child = cmd.spawn().map_err(io_err)?;
    // `cmd` (holding the slave copies) is dropped here.
    Ok(Child::from_tokio(child))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn plan(cmd: &str) -> Plan {
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Plan {
            program: PathBuf::from("/bin/sh"),
            argv: vec!["sh".into(), "-c".into(), cmd.into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            cwd: PathBuf::from("/"),
            uid,
            gid,
            groups: vec![gid],
        }
    }

    #[test]
    fn sizes_are_checked() {
        assert!(check_size(PtySize { cols: 80, rows: 24 }).is_ok());
        assert!(check_size(PtySize { cols: 0, rows: 24 }).is_err());
        let big = MAX_PTY_SIDE + 1;
        assert!(check_size(PtySize {
            cols: 80,
            rows: big
        })
        .is_err());
    }

    #[tokio::test]
    async fn a_process_on_a_terminal_sees_its_size_and_input() {
        let (master, slave) = open(PtySize { cols: 91, rows: 17 }).unwrap();
        let master = Master::new(master).unwrap();
        let mut child = spawn(
            &plan("stty size; tty -s && echo tty; read x; echo got $x"),
            slave,
        )
        .unwrap();
        let mut io = master.io();
        io.write_all(b"hello\n").await.unwrap();
        let mut out = Vec::new();
        io.read_to_end(&mut out).await.unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("17 91"), "{out}");
        assert!(out.contains("tty"), "{out}");
        assert!(out.contains("got hello"), "{out}");
        assert_eq!(child.wait().await.unwrap().code(), Some(0));
        master.resize(PtySize { cols: 1, rows: 1 }).unwrap();
    }
}
