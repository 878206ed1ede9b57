//! The `posix_spawn` path: the agent's own user needs no code between fork and
//! exec, so the child is started by glibc's `posix_spawn` (a `CLONE_VM |
//! CLONE_VFORK` clone that never copies the agent's memory), with file actions
//! for its descriptors and working directory and attributes for its process
//! group and signals.

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::services::process::plan::Plan;
use crate::sys;

/// A process just started by [`spawn`], which the caller must reap, and the
/// agent's ends of its pipes.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid, which is also its process group id.
    pub pid: libc::pid_t,
    /// The write end of its stdin, when asked for.
    pub stdin: Option<OwnedFd>,
    /// The read end of its stdout.
    pub stdout: OwnedFd,
    /// The read end of its stderr.
    pub stderr: OwnedFd,
}

/// Start `plan`'s process with `posix_spawn` as the agent's own user, in a new
/// process group; its output piped, and its input if `stdin`.
pub fn spawn(plan: &Plan, stdin: bool) -> io::Result<Spawned> {
    let program = sys::cpath(&plan.program)?;
    let cwd = sys::cpath(&plan.cwd)?;
    let argv = plan
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = plan
        .env
        .iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")))
        .collect::<Result<Vec<_>, _>>()?;
    let argv_ptrs = nul_terminated(&argv);
    let envp_ptrs = nul_terminated(&envp);

    // All four ends are close-on-exec; the child's ends reach it only through
    // the dup2 actions below (dup2 clears the flag on the copy), so no other
    // child started meanwhile inherits them.
    let (out_rx, out_tx) = pipe_cloexec()?;
    let (err_rx, err_tx) = pipe_cloexec()?;
    let input = if stdin { Some(pipe_cloexec()?) } else { None };
    let out_tx = above_stdio(out_tx)?;
    let err_tx = above_stdio(err_tx)?;
    let input = match input {
        Some((rx, tx)) => Some((above_stdio(rx)?, tx)),
        None => None,
    };

    let mut actions = FileActions::new()?;
    match &input {
        Some((rx, _)) => actions.dup2(rx.as_raw_fd(), 0)?,
        None => actions.open(0, c"/dev/null", libc::O_RDONLY)?,
    }
    actions.dup2(out_tx.as_raw_fd(), 1)?;
    actions.dup2(err_tx.as_raw_fd(), 2)?;
    // Whatever the agent may hold without close-on-exec stays out of the child.
    actions.close_from(3)?;
    actions.chdir(&cwd)?;
    let attr = SpawnAttr::new()?;

    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid for the call: `program` is a C string,
    // `actions` and `attr` are initialised, and both pointer arrays point at C
    // strings owned by `argv`/`envp` and end with a null pointer. posix_spawn
    // keeps none of them.
    let ret = unsafe {
        libc::posix_spawn(
            &mut pid,
            program.as_ptr(),
            actions.as_ptr(),
            attr.as_ptr(),
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
        )
    };
    // The child has its copies (or failed); ours must go so that end of file
    // reaches the output pumps once the child is gone.
    drop((out_tx, err_tx));
    let stdin = match input {
        Some((rx, tx)) => {
            drop(rx);
            Some(tx)
        }
        None => None,
    };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(Spawned {
        pid,
        stdin,
        stdout: out_rx,
        stderr: err_rx,
    })
}

/// Pointers to `strings`, then a null pointer: an `argv` or `envp`.
fn nul_terminated(strings: &[CString]) -> Vec<*mut libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr().cast_mut())
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect()
}

/// A pipe whose two ends are close-on-exec: (read end, write end).
fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [RawFd; 2] = [-1; 2];
    // SAFETY: `fds` is a valid, writable array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are open descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Move `fd` above 2 (keeping it close-on-exec), so the dup2 actions onto 0, 1
/// and 2 cannot overwrite one another's source when the agent runs with some of
/// its standard descriptors closed.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: `fd` is open; F_DUPFD_CLOEXEC only creates a new descriptor.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fcntl succeeded, so `new` is an open descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Map a posix_spawn* return value (an error number, not -1) to a result.
fn spawn_check(ret: libc::c_int) -> io::Result<()> {
    match ret {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// `posix_spawn_file_actions_t`, destroyed on drop. Boxed so that it never
/// moves once initialised.
struct FileActions(Box<MaybeUninit<libc::posix_spawn_file_actions_t>>);

impl FileActions {
    fn new() -> io::Result<Self> {
        let mut inner = Box::new(MaybeUninit::uninit());
        // SAFETY: `inner` is valid, writable memory for a file actions object.
        spawn_check(unsafe { libc::posix_spawn_file_actions_init(inner.as_mut_ptr()) })?;
        Ok(Self(inner))
    }

    fn as_ptr(&self) -> *const libc::posix_spawn_file_actions_t {
        self.0.as_ptr()
    }

    fn dup2(&mut self, fd: RawFd, target: RawFd) -> io::Result<()> {
        // SAFETY: the object was initialised in `new` and is not destroyed yet.
        spawn_check(unsafe {
            libc::posix_spawn_file_actions_adddup2(self.0.as_mut_ptr(), fd, target)
        })
    }

    fn open(&mut self, target: RawFd, path: &std::ffi::CStr, flags: libc::c_int) -> io::Result<()> {
        // SAFETY: the object is initialised; `path` is a C string, which glibc copies.
        spawn_check(unsafe {
            libc::posix_spawn_file_actions_addopen(
                self.0.as_mut_ptr(),
                target,
                path.as_ptr(),
                flags,
                0,
            )
        })
    }

    fn close_from(&mut self, from: RawFd) -> io::Result<()> {
        // SAFETY: the object was initialised in `new` and is not destroyed yet.
        spawn_check(unsafe {
            libc::posix_spawn_file_actions_addclosefrom_np(self.0.as_mut_ptr(), from)
        })
    }

    fn chdir(&mut self, dir: &std::ffi::CStr) -> io::Result<()> {
        // SAFETY: the object is initialised; `dir` is a C string, which glibc copies.
        spawn_check(unsafe {
            libc::posix_spawn_file_actions_addchdir_np(self.0.as_mut_ptr(), dir.as_ptr())
        })
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: the object was initialised in `new` and is destroyed only here.
        unsafe { libc::posix_spawn_file_actions_destroy(self.0.as_mut_ptr()) };
    }
}

/// `posix_spawnattr_t` for our children, destroyed on drop: a new process group
/// led by the child, an empty signal mask, and every signal's disposition back
/// to the default (the agent ignores SIGPIPE, as every Rust program does).
struct SpawnAttr(Box<MaybeUninit<libc::posix_spawnattr_t>>);

impl SpawnAttr {
    fn new() -> io::Result<Self> {
        let mut inner = Box::new(MaybeUninit::uninit());
        // SAFETY: `inner` is valid, writable memory for an attributes object.
        spawn_check(unsafe { libc::posix_spawnattr_init(inner.as_mut_ptr()) })?;
        let mut attr = Self(inner);
        let p = attr.0.as_mut_ptr();
        // USEVFORK is a no-op in current glibc (which always clones with
        // CLONE_VM | CLONE_VFORK); older ones honour it.
        let flags = (libc::POSIX_SPAWN_SETPGROUP
            | libc::POSIX_SPAWN_SETSIGMASK
            | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short
            | libc::POSIX_SPAWN_USEVFORK;
        let empty = sigset(false);
        let mut all = sigset(true);
        // SAFETY: `all` is an initialised sigset; both signals are valid.
        unsafe {
            libc::sigdelset(&mut all, libc::SIGKILL);
            libc::sigdelset(&mut all, libc::SIGSTOP);
        }
        // SAFETY: `p` points at the attributes initialised above (destroyed by
        // `attr`'s drop on any error); the sigsets are copied by the calls.
        unsafe {
            spawn_check(libc::posix_spawnattr_setflags(p, flags))?;
            spawn_check(libc::posix_spawnattr_setpgroup(p, 0))?;
            spawn_check(libc::posix_spawnattr_setsigmask(p, &empty))?;
            spawn_check(libc::posix_spawnattr_setsigdefault(p, &all))?;
        }
        Ok(attr)
    }

    fn as_ptr(&self) -> *const libc::posix_spawnattr_t {
        self.0.as_ptr()
    }
}

impl Drop for SpawnAttr {
    fn drop(&mut self) {
        // SAFETY: the object was initialised in `new` and is destroyed only here.
        unsafe { libc::posix_spawnattr_destroy(self.0.as_mut_ptr()) };
    }
}

/// An empty or a full signal set.
pub fn sigset(full: bool) -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset/sigfillset initialise the whole set and cannot fail
    // on a valid pointer.
    unsafe {
        if full {
            libc::sigfillset(set.as_mut_ptr());
        } else {
            libc::sigemptyset(set.as_mut_ptr());
        }
        set.assume_init()
    }
}
