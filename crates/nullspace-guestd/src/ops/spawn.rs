//! Starting `exec` processes, cheaply where possible.
//!
//! When the process runs as the agent's own user, it is started with
//! `posix_spawn` (glibc clones with `CLONE_VM | CLONE_VFORK`, so the agent's
//! memory is never copied): much cheaper than `fork` under software emulation.
//! `std` cannot take that path itself in the static build, since it finds
//! `posix_spawn_file_actions_addchdir_np` through a weak-symbol lookup that
//! fails there. Switching user needs code between fork and exec, so that case
//! keeps tokio's fork path with a `pre_exec` hook.
//!
//! Either way the caller gets a [`Child`]: its pid (which is also its process
//! group id), its pipes as async handles, and [`Child::wait`].

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest};
use tokio::net::unix::pipe;
use tokio::process::Command;
use tokio::task::JoinHandle;

use super::error::OpError;
use super::exec::Plan;
use crate::sys;

/// The write end of a child's stdin.
pub type ChildIn = Box<dyn AsyncWrite + Send + Unpin>;
/// The read end of a child's stdout or stderr.
pub type ChildOut = Box<dyn AsyncRead + Send + Unpin>;

/// A started process.
pub struct Child {
    pid: u32,
    /// Its stdin, when asked for.
    pub stdin: Option<ChildIn>,
    /// Its stdout.
    pub stdout: Option<ChildOut>,
    /// Its stderr.
    pub stderr: Option<ChildOut>,
    waiter: Waiter,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("spawned", &self.spawned())
            .finish_non_exhaustive()
    }
}

enum Waiter {
    /// Started by tokio, which also reaps it.
    Tokio(tokio::process::Child),
    /// Started by `posix_spawn`; reaped by us.
    Raw(RawChild),
}

impl Child {
    /// Its process id, which is also its process group id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// How it was started: `"posix_spawn"` or `"fork"`.
    pub fn spawned(&self) -> &'static str {
        match self.waiter {
            Waiter::Tokio(_) => "fork",
            Waiter::Raw(_) => "posix_spawn",
        }
    }

    /// Wait for it to end and reap it. Cancel safe, and may be called again
    /// after it returned (it returns the same status).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        match &mut self.waiter {
            Waiter::Tokio(child) => child.wait().await,
            Waiter::Raw(raw) => raw.wait().await,
        }
    }
}

/// Start `plan`'s process with its output piped (and its input, if `stdin`),
/// in a new process group whose id is its pid.
pub fn spawn(plan: &Plan, stdin: bool) -> Result<Child, OpError> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    // SAFETY: getegid has no preconditions.
    let egid = unsafe { libc::getegid() };
    let privileged = euid == 0;
    let spawned = if plan.uid == euid && plan.gid == egid {
        posix_spawn(plan, stdin)
    } else if !privileged && plan.uid != euid {
        return Err(OpError::Sys {
            op: "switch user",
            source: io::Error::from_raw_os_error(libc::EPERM),
        });
    } else {
        fork_as_user(plan, stdin, privileged)
    };
    spawned.map_err(|e| spawn_error(plan, e))
}

/// The error of a failed spawn of `plan`: a program that cannot be executed is
/// `command_not_found`.
pub fn spawn_error(plan: &Plan, e: io::Error) -> OpError {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::EACCES | libc::ENOEXEC) => {
            OpError::CommandNotFound(plan.argv[0].clone())
        }
        _ => OpError::Sys {
            op: "spawn",
            source: e,
        },
    }
}

impl Child {
    /// A process started by tokio (which reaps it once waited, or in the
    /// background if dropped), with no pipes taken from it.
    pub fn from_tokio(child: tokio::process::Child) -> Child {
        Child {
            pid: child.id().unwrap_or(0),
            stdin: None,
            stdout: None,
            stderr: None,
            waiter: Waiter::Tokio(child),
        }
    }
}

/// Fork through tokio, switch to the plan's user in the child (when
/// `privileged`; otherwise only the group differs and stays the agent's), exec.
fn fork_as_user(plan: &Plan, stdin: bool, privileged: bool) -> io::Result<Child> {
    let mut cmd = Command::new(&plan.program);
    cmd.arg0(&plan.argv[0])
        .args(&plan.argv[1..])
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&plan.cwd)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    let (uid, gid, groups) = (plan.uid, plan.gid, plan.groups.clone());
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls on data allocated before the fork.
    unsafe {
        cmd.pre_exec(move || {
            // Keep descriptors the agent inherited without close-on-exec out of
            // the child. Marking them (rather than closing) spares std's own
            // close-on-exec error pipe; kernels before 5.11 refuse, harmlessly.
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            if privileged
                && (libc::setgroups(groups.len(), groups.as_ptr()) == -1
                    || libc::setgid(gid) == -1
                    || libc::setuid(uid) == -1)
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    Ok(Child {
        pid: child.id().unwrap_or(0),
        stdin: child.stdin.take().map(|s| Box::new(s) as ChildIn),
        stdout: child.stdout.take().map(|s| Box::new(s) as ChildOut),
        stderr: child.stderr.take().map(|s| Box::new(s) as ChildOut),
        waiter: Waiter::Tokio(child),
    })
}

/// Start the process with `posix_spawn` as the agent's own user.
fn posix_spawn(plan: &Plan, stdin: bool) -> io::Result<Child> {
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
    // From here the child runs and must be reaped whatever else fails.
    let raw = RawChild::new(pid);
    let stdin = stdin
        .map(pipe::Sender::from_owned_fd)
        .transpose()?
        .map(|s| Box::new(s) as ChildIn);
    let stdout = Box::new(pipe::Receiver::from_owned_fd(out_rx)?) as ChildOut;
    let stderr = Box::new(pipe::Receiver::from_owned_fd(err_rx)?) as ChildOut;
    Ok(Child {
        pid: pid as u32,
        stdin,
        stdout: Some(stdout),
        stderr: Some(stderr),
        waiter: Waiter::Raw(raw),
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
fn sigset(full: bool) -> libc::sigset_t {
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

/// A process started by [`posix_spawn`], until reaped.
struct RawChild {
    pid: libc::pid_t,
    status: Option<ExitStatus>,
    exit: Option<Exit>,
}

/// How its end is noticed.
enum Exit {
    /// A pidfd, readable once the process has ended.
    Pidfd(AsyncFd<OwnedFd>),
    /// A blocking `waitpid` on the blocking pool (kernels without pidfd_open).
    Blocking(JoinHandle<io::Result<ExitStatus>>),
}

impl RawChild {
    fn new(pid: libc::pid_t) -> Self {
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

    async fn wait(&mut self) -> io::Result<ExitStatus> {
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
fn wait_blocking(pid: libc::pid_t) -> io::Result<ExitStatus> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn plan(argv: &[&str], cwd: &str) -> Plan {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        // SAFETY: getegid has no preconditions.
        let gid = unsafe { libc::getegid() };
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        Plan {
            program: super::super::exec::find_program(&argv[0], path, "/".as_ref()).unwrap(),
            argv,
            env: vec![("PATH".into(), path.into())],
            cwd: PathBuf::from(cwd),
            uid,
            gid,
            groups: vec![gid],
        }
    }

    async fn run(plan: &Plan, input: Option<&[u8]>) -> (String, String, ExitStatus) {
        let mut child = spawn(plan, input.is_some()).unwrap();
        assert_eq!(child.spawned(), "posix_spawn");
        if let Some(bytes) = input {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(bytes).await.unwrap();
        }
        let (mut out, mut err) = (String::new(), String::new());
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .await
            .unwrap();
        let status = child.wait().await.unwrap();
        // Waiting again returns the same status.
        assert_eq!(child.wait().await.unwrap(), status);
        (out, err, status)
    }

    #[tokio::test]
    async fn posix_spawn_pipes_cwd_and_status() {
        let p = plan(&["sh", "-c", "pwd; echo e >&2; exit 7"], "/tmp");
        let (out, err, status) = run(&p, None).await;
        assert_eq!((out.as_str(), err.as_str()), ("/tmp\n", "e\n"));
        assert_eq!(status.code(), Some(7));

        let p = plan(&["sh", "-c", "kill -TERM $$"], "/");
        let (_, _, status) = run(&p, None).await;
        assert_eq!(status.signal(), Some(libc::SIGTERM));

        let p = plan(&["cat"], "/");
        let (out, _, status) = run(&p, Some(b"fed")).await;
        assert_eq!((out.as_str(), status.code()), ("fed", Some(0)));

        // Without input, stdin is /dev/null.
        let p = plan(&["wc", "-c"], "/");
        assert_eq!(run(&p, None).await.0.trim(), "0");
    }

    #[tokio::test]
    async fn posix_spawn_child_state_is_clean() {
        // Only 0, 1 and 2 are open (3 is ls's own directory).
        let (out, _, _) = run(&plan(&["ls", "/proc/self/fd"], "/"), None).await;
        assert_eq!(out, "0\n1\n2\n3\n");

        // No signal is blocked or ignored, even though this thread blocks SIGUSR2
        // and the test harness ignores SIGPIPE: `yes` dies of SIGPIPE quietly.
        let mut block = sigset(false);
        let mut old = sigset(false);
        // SAFETY: both sets are initialised; SIGUSR2 is a valid signal.
        unsafe {
            libc::sigaddset(&mut block, libc::SIGUSR2);
            libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        }
        let status_lines = plan(&["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"], "/");
        let (out, _, _) = run(&status_lines, None).await;
        let (yes, yes_err, yes_status) =
            run(&plan(&["sh", "-c", "yes | head -1"], "/"), None).await;
        // SAFETY: `old` is the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
        // Signals 1 to 31; glibc's posix_spawn leaves its two internal signals
        // (32 and 33, below SIGRTMIN) ignored, which programs cannot use anyway.
        let masks: Vec<u64> = out
            .lines()
            .map(|l| u64::from_str_radix(l[7..].trim(), 16).unwrap() & 0x7fff_ffff)
            .collect();
        assert_eq!(masks, [0, 0], "{out}");
        assert_eq!((yes.as_str(), yes_err.as_str()), ("y\n", ""));
        assert_eq!(yes_status.code(), Some(0));

        // The child leads its own process group.
        let p = plan(&["sh", "-c", "echo $$; cut -d' ' -f5 /proc/$$/stat"], "/");
        let (out, _, _) = run(&p, None).await;
        let ids: Vec<&str> = out.lines().collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0], ids[1]);
    }

    #[tokio::test]
    async fn blocking_wait_without_pidfd() {
        let mut child = spawn(&plan(&["sh", "-c", "exit 5"], "/"), false).unwrap();
        let pid = child.id() as libc::pid_t;
        let Waiter::Raw(raw) = &mut child.waiter else {
            panic!("not spawned with posix_spawn");
        };
        raw.exit = Some(Exit::Blocking(tokio::task::spawn_blocking(move || {
            wait_blocking(pid)
        })));
        assert_eq!(child.wait().await.unwrap().code(), Some(5));
        assert_eq!(child.wait().await.unwrap().code(), Some(5));
    }

    #[tokio::test]
    async fn posix_spawn_errors_are_mapped() {
        let mut p = plan(&["true"], "/");
        p.program = PathBuf::from("/nonexistent/program");
        assert!(matches!(spawn(&p, false), Err(OpError::CommandNotFound(_))));
        p.program = PathBuf::from("/etc/passwd");
        assert!(matches!(spawn(&p, false), Err(OpError::CommandNotFound(_))));
    }
}
