//! Reaping a process started by `posix_spawn`, which tokio does not know: a
//! pidfd that becomes readable when it ends (a blocking `waitpid` on the
//! blocking pool where the kernel has no `pidfd_open`), and a reap in the
//! background if it is dropped first, so no zombie is left.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::task::JoinHandle;

/// A process started by `posix_spawn`, until reaped.
pub struct RawChild {
    pid: libc::pid_t,
    status: Option<ExitStatus>,
    pub(super) exit: Option<Exit>,
}

/// How its end is noticed.
pub(super) enum Exit {
    /// A pidfd, readable once the process has ended.
    Pidfd(AsyncFd<OwnedFd>),
    /// A blocking `waitpid` on the blocking pool (kernels without pidfd_open).
    Blocking(JoinHandle<io::Result<ExitStatus>>),
}

impl RawChild {
    /// Watch `pid` (a child of the agent) for its end.
    pub fn new(pid: libc::pid_t) -> Self {
        let pidfd = pidfd_open(pid).and_then(|fd| {
            // SAFETY: `fd` is an open descriptor owned by the OwnedFd, which the
            // AsyncFd owns until it is dropped; its raw fd never changes.
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
                .map_err(io::Error::from)
        });
        let exit = match pidfd {
            Ok(fd) => Exit::Pidfd(fd),
            Err(_) => Exit::Blocking(tokio::task::spawn_blocking(move || wait_blocking(pid))),
        };
        Self {
            pid,
            status: None,
            exit: Some(exit),
        }
    }

    /// Wait for it to end and reap it; after that, return the same status again.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let result = match self.exit.as_mut() {
            Some(exit) => exit.wait(self.pid).await,
            None => return Err(io::Error::from_raw_os_error(libc::ECHILD)),
        };
        // A finished blocking wait cannot be polled again, whatever it returned.
        if result.is_ok() || matches!(self.exit, Some(Exit::Blocking(_))) {
            self.exit = None;
        }
        let status = result?;
        self.status = Some(status);
        Ok(status)
    }
}

impl Exit {
    async fn wait(&mut self, pid: libc::pid_t) -> io::Result<ExitStatus> {
        match self {
            Exit::Pidfd(fd) => loop {
                let mut ready = fd.readable().await?;
                match try_wait(pid)? {
                    Some(status) => return Ok(status),
                    None => ready.clear_ready(),
                }
            },
            Exit::Blocking(handle) => handle
                .await
                .map_err(|_| io::Error::other("waitpid task failed"))?,
        }
    }
}

impl Drop for RawChild {
    fn drop(&mut self) {
        // Dropped before it was reaped (the call's task ended early): reap it in
        // the background rather than leave a zombie.
        let Some(mut exit) = self.exit.take() else {
            return;
        };
        let pid = self.pid;
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let _ = exit.wait(pid).await;
                });
            }
            Err(_) => {
                if let Exit::Pidfd(_) = exit {
                    std::thread::spawn(move || wait_blocking(pid));
                }
            }
        }
    }
}

/// `pidfd_open(2)`: a close-on-exec descriptor that becomes readable when `pid` ends.
fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and only returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call succeeded, so `fd` is an open descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Reap `pid` if it has ended.
fn try_wait(pid: libc::pid_t) -> io::Result<Option<ExitStatus>> {
    waitpid(pid, libc::WNOHANG)
}

/// Wait for `pid` to end and reap it.
pub(super) fn wait_blocking(pid: libc::pid_t) -> io::Result<ExitStatus> {
    waitpid(pid, 0)?.ok_or_else(|| io::Error::from_raw_os_error(libc::ECHILD))
}

fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid, writable int.
        match unsafe { libc::waitpid(pid, &mut status, flags) } {
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            0 => return Ok(None),
            _ => return Ok(Some(ExitStatus::from_raw(status))),
        }
    }
}
