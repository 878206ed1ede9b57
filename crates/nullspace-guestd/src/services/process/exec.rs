//! `exec`: run a process as a user, stream its output, end with its exit status.
//!
//! The request is planned first ([`super::plan`]). The child gets its own process
//! group, whose id is its pid (a new session too when it runs as another user;
//! see [`super::spawn`]): `signal` frames and the timeout act on the whole group.
//! Output is read in chunks and queued on the bounded outbox as it arrives, so
//! memory stays bounded however much is printed.

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nullspace_guest_proto::{ExecRequest, ExecResult, GuestMsg, OpResult};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::plan::plan;
use super::spawn::{spawn, Child};
use crate::serve::input::{Input, InputRx};
use crate::serve::outbox::{Outbox, CHUNK};
use crate::services::call::CallCtx;
use crate::services::error::OpError;
use crate::sys;

/// How long output pipes may stay open after a timed-out process group was killed
/// (a process that left the group can hold them); then they are abandoned.
const PIPE_GRACE: Duration = Duration::from_secs(1);

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
