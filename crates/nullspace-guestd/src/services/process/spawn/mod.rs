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
//! group id), its pipes as async handles, and [`Child::wait`]. The
//! `posix_spawn` call itself is in `posix`, reaping what it started in `reap`.

mod posix;
mod reap;

use std::io;
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::unix::pipe;
use tokio::process::Command;

use crate::services::error::OpError;
use crate::services::process::plan::Plan;
use reap::RawChild;

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

/// The command that runs `plan` in a new session: only the plan's environment,
/// in its directory, as its user (when `privileged`; otherwise only the group
/// differs and stays the agent's). With `tty`, fd 0 (set by the caller) becomes
/// the session's controlling terminal. The caller sets stdio.
pub fn command_as(plan: &Plan, privileged: bool, tty: bool) -> Command {
    let mut cmd = Command::new(&plan.program);
    cmd.arg0(&plan.argv[0])
        .args(&plan.argv[1..])
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&plan.cwd)
        .kill_on_drop(false);
    let (uid, gid, groups) = (plan.uid, plan.gid, plan.groups.clone());
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls on data allocated before the fork. When it
    // runs, fds 0 to 2 already are the caller's stdio.
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
            if libc::setsid() == -1 || (tty && libc::ioctl(0, libc::TIOCSCTTY, 0) == -1) {
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
    cmd
}

/// Fork through tokio into [`command_as`] with pipes, exec.
fn fork_as_user(plan: &Plan, stdin: bool, privileged: bool) -> io::Result<Child> {
    let mut cmd = command_as(plan, privileged, false);
    cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
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
    let spawned = posix::spawn(plan, stdin)?;
    // From here the child runs and must be reaped whatever else fails.
    let raw = RawChild::new(spawned.pid);
    let stdin = spawned
        .stdin
        .map(pipe::Sender::from_owned_fd)
        .transpose()?
        .map(|s| Box::new(s) as ChildIn);
    let stdout = Box::new(pipe::Receiver::from_owned_fd(spawned.stdout)?) as ChildOut;
    let stderr = Box::new(pipe::Receiver::from_owned_fd(spawned.stderr)?) as ChildOut;
    Ok(Child {
        pid: spawned.pid as u32,
        stdin,
        stdout: Some(stdout),
        stderr: Some(stderr),
        waiter: Waiter::Raw(raw),
    })
}

#[cfg(test)]
mod tests {
    use super::posix::sigset;
    use super::reap::{wait_blocking, Exit};
    use super::*;
    use crate::services::process::plan::find_program;
    use std::os::unix::process::ExitStatusExt;
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
            program: find_program(&argv[0], path, "/".as_ref()).unwrap(),
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
