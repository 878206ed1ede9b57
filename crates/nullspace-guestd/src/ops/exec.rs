//! `exec`: run a process as a user, stream its output, end with its exit status.
//!
//! Everything that can be checked before spawning is (user, working directory,
//! program), so those failures get precise codes. The child gets its own process
//! group, whose id is its pid (a new session too when it runs as another user;
//! see [`super::spawn`]): `signal` frames and the timeout act on the whole group.
//! Output is read in chunks and queued on the bounded outbox as it arrives, so
//! memory stays bounded however much is printed.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use nullspace_guest_proto::{ExecRequest, ExecResult, GuestMsg, OpResult};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::error::OpError;
use super::paths::normalize;
use super::spawn::{spawn, Child};
use super::{CallCtx, Input};
use crate::serve::input::InputRx;
use crate::serve::outbox::{Outbox, CHUNK};
use crate::sys;
use crate::users::{User, UserDb};

/// `PATH` of the clean base environment.
pub const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long output pipes may stay open after a timed-out process group was killed
/// (a process that left the group can hold them); then they are abandoned.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// A checked `exec` request, ready to spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Absolute path of the program.
    pub program: PathBuf,
    /// Arguments, `argv[0]` first.
    pub argv: Vec<String>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// All group ids (primary first).
    pub groups: Vec<u32>,
}

/// Check `req` against the machine: user, environment, working directory, program.
pub fn plan(req: &ExecRequest, db: &UserDb, workspace: &Path) -> Result<Plan, OpError> {
    let argv: Vec<String> = match (req.argv.is_empty(), &req.shell) {
        (false, None) => req.argv.clone(),
        (true, Some(cmd)) => {
            let shell = if is_executable(Path::new("/bin/bash")) {
                "/bin/bash"
            } else {
                "/bin/sh"
            };
            vec![shell.into(), "-c".into(), cmd.clone()]
        }
        _ => return Err(OpError::CommandShape),
    };
    let name = req.user.as_deref().unwrap_or("root");
    let user = match db.user(name) {
        Some(u) => u.clone(),
        // A root without a passwd line is still root.
        None if name == "root" => User {
            name: "root".into(),
            uid: 0,
            gid: 0,
            home: "/root".into(),
            shell: "/bin/sh".into(),
        },
        None => return Err(OpError::UserNotFound(name.into())),
    };
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), BASE_PATH.into()),
        ("HOME".into(), user.home.clone()),
        ("USER".into(), user.name.clone()),
        ("LOGNAME".into(), user.name.clone()),
        ("SHELL".into(), user.shell.clone()),
        ("LANG".into(), "C.UTF-8".into()),
        ("TERM".into(), "xterm-256color".into()),
    ];
    for (k, v) in &req.env {
        match env.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.clone(),
            None => env.push((k.clone(), v.clone())),
        }
    }
    let cwd = match &req.cwd {
        Some(dir) => {
            let dir = normalize(workspace, dir)?;
            if !dir.is_dir() {
                return Err(OpError::CwdNotFound(dir));
            }
            dir
        }
        None if Path::new(&user.home).is_dir() => PathBuf::from(&user.home),
        None => PathBuf::from("/"),
    };
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("", |(_, v)| v.as_str());
    let program = find_program(&argv[0], path_var, &cwd)
        .ok_or_else(|| OpError::CommandNotFound(argv[0].clone()))?;
    Ok(Plan {
        program,
        argv,
        env,
        cwd,
        uid: user.uid,
        gid: user.gid,
        groups: db.group_ids(&user),
    })
}

/// Locate `name` like `execvp`: as a path if it has a slash, else along `path_var`.
pub fn find_program(name: &str, path_var: &str, cwd: &Path) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = cwd.join(name);
        return is_executable(&p).then_some(p);
    }
    path_var
        .split(':')
        .map(|dir| {
            if dir.is_empty() {
                cwd.to_path_buf()
            } else {
                cwd.join(dir)
            }
        })
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Run the call: spawn, stream, wait, report.
pub async fn run(req: ExecRequest, mut ctx: CallCtx) -> Result<OpResult, OpError> {
    let plan = plan(&req, &ctx.state.users(), ctx.state.paths.workspace())?;
    let mut child = spawn(&plan, req.stdin)?;
    let started = Instant::now();
    let pid = child.id();
    ctx.pgid.store(pid as i32, Ordering::SeqCst);
    let id = ctx.id;
    ctx.out.send(&GuestMsg::Started { id, pid }).await;

    let mut pumps = Vec::new();
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(
            err,
            ctx.out.clone(),
            GuestMsg::Stderr { id },
        )));
    }
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(
            out,
            ctx.out.clone(),
            GuestMsg::Stdout { id },
        )));
    }
    let feeder = match (child.stdin.take(), ctx.input.take()) {
        (Some(stdin), Some(rx)) => Some(tokio::spawn(feed(stdin, rx))),
        _ => None,
    };

    let end = wait_end(&mut child, &mut pumps, started, req.timeout_ms).await;
    if let Some(f) = feeder {
        f.abort();
    }
    end.map(OpResult::Exec)
}

/// Wait for a spawned process and then its output pumps, and say how it ended.
///
/// The end is reached when the process has exited **and** its output reached
/// end of file. `timeout_ms` (from `started`) covers both: at the deadline the
/// process group gets `SIGKILL`, and pumps still running [`PIPE_GRACE`] later
/// (a process that left the group holds the pipes) are abandoned.
pub async fn wait_end(
    child: &mut Child,
    pumps: &mut Vec<JoinHandle<()>>,
    started: Instant,
    timeout_ms: Option<u64>,
) -> Result<ExecResult, OpError> {
    let pgid = child.id() as i32;
    let deadline = timeout_ms.map(|ms| started + Duration::from_millis(ms));
    let mut timed_out = false;
    let waited = match deadline {
        Some(at) => match tokio::time::timeout_at(at, child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                timed_out = true;
                let _ = sys::kill_group(pgid, libc::SIGKILL);
                child.wait().await
            }
        },
        None => child.wait().await,
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    // The process is gone; its output may still be in the pipes (or held open by
    // processes it left behind). The deadline covers them too.
    if !timed_out && !drain(pumps, deadline).await {
        timed_out = true;
        let _ = sys::kill_group(pgid, libc::SIGKILL);
    }
    if timed_out && !drain(pumps, Some(Instant::now() + PIPE_GRACE)).await {
        pumps.iter().for_each(JoinHandle::abort);
    }
    let status = waited.map_err(|source| OpError::Sys { op: "wait", source })?;
    Ok(ExecResult {
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        duration_ms,
    })
}

/// Wait for the output pumps, until `until` if given. Returns whether all finished;
/// finished handles are removed so none is polled twice.
async fn drain(pumps: &mut Vec<JoinHandle<()>>, until: Option<Instant>) -> bool {
    let all = async {
        while let Some(h) = pumps.last_mut() {
            let _ = h.await;
            pumps.pop();
        }
    };
    match until {
        Some(at) => tokio::time::timeout_at(at, all).await.is_ok(),
        None => {
            all.await;
            true
        }
    }
}

/// Copy a pipe to the host as frames of `msg` until end of file (within the
/// call's credit; once the call is abandoned the rest is read and dropped).
async fn pump<R: AsyncRead + Unpin>(mut pipe: R, out: Outbox, msg: GuestMsg) {
    let mut buf = vec![0u8; CHUNK];
    let mut sending = true;
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                if sending {
                    sending = out.send_data(&msg, &buf[..n]).await;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

/// Write `input` frames to the child's stdin, crediting each once written;
/// close it on `input_end`.
async fn feed<W: AsyncWrite + Unpin>(mut stdin: W, mut input: InputRx) {
    while let Some(item) = input.recv().await {
        match item {
            Input::Data(bytes) => {
                if stdin.write_all(&bytes).await.is_err() {
                    break;
                }
                input.consumed(bytes.len()).await;
            }
            Input::End => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::{parse_group, parse_passwd};

    fn db() -> UserDb {
        UserDb {
            users: parse_passwd(
                "root:x:0:0::/root:/bin/bash\nu:x:1000:1000::/nonexistent-home:/bin/sh\n",
            ),
            groups: parse_group("wheel:x:10:u\n"),
        }
    }

    fn req(argv: &[&str]) -> ExecRequest {
        ExecRequest {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn argv_and_shell_are_exclusive() {
        let ws = Path::new("/");
        let mut r = req(&["true"]);
        r.shell = Some("true".into());
        assert!(matches!(plan(&r, &db(), ws), Err(OpError::CommandShape)));
        assert!(matches!(
            plan(&req(&[]), &db(), ws),
            Err(OpError::CommandShape)
        ));
        let mut s = req(&[]);
        s.shell = Some("echo hi".into());
        let p = plan(&s, &db(), ws).unwrap();
        assert_eq!(p.argv[1..], ["-c".to_string(), "echo hi".to_string()]);
    }

    #[test]
    fn environment_is_clean_and_overlaid() {
        let mut r = req(&["sh"]);
        r.user = Some("u".into());
        r.env.insert("LANG".into(), "en_US.UTF-8".into());
        r.env.insert("FOO".into(), "bar".into());
        let p = plan(&r, &db(), Path::new("/")).unwrap();
        let get = |k: &str| {
            p.env
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("PATH"), Some(BASE_PATH));
        assert_eq!(get("HOME"), Some("/nonexistent-home"));
        assert_eq!(get("USER"), Some("u"));
        assert_eq!(get("LANG"), Some("en_US.UTF-8"));
        assert_eq!(get("FOO"), Some("bar"));
        assert_eq!(
            (p.uid, p.gid, p.groups.clone()),
            (1000, 1000, vec![1000, 10])
        );
        // The home is missing, so the working directory falls back to /.
        assert_eq!(p.cwd, Path::new("/"));
    }

    #[test]
    fn precise_failures_before_spawning() {
        let ws = Path::new("/");
        let mut r = req(&["true"]);
        r.user = Some("ghost".into());
        assert!(matches!(plan(&r, &db(), ws), Err(OpError::UserNotFound(_))));
        let mut r = req(&["true"]);
        r.cwd = Some("/nonexistent/dir".into());
        assert!(matches!(plan(&r, &db(), ws), Err(OpError::CwdNotFound(_))));
        let r = req(&["definitely-not-a-program-xyz"]);
        assert!(matches!(
            plan(&r, &db(), ws),
            Err(OpError::CommandNotFound(_))
        ));
        let r = req(&["/etc/passwd"]);
        assert!(matches!(
            plan(&r, &db(), ws),
            Err(OpError::CommandNotFound(_))
        ));
    }

    #[test]
    fn programs_are_found_on_path() {
        let sh = find_program("sh", BASE_PATH, Path::new("/")).unwrap();
        assert!(sh.ends_with("sh") && sh.is_absolute());
        assert_eq!(
            find_program("/bin/sh", "", Path::new("/")),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(find_program("", BASE_PATH, Path::new("/")), None);
    }
}
