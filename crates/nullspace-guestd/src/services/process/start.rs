//! `process_start`: spawn a process into the table and leave it running.
//!
//! The command is planned exactly as `exec` plans it (same checks, same error
//! codes). With pipes, the process is spawned as `exec` spawns it (its own
//! process group; stdin piped only if asked); with `pty`, on a new terminal.
//! Then three kinds of task take over, none tied to the call: a pump per output
//! stream copying into the process's rings, a stdin writer fed by a small
//! bounded queue, and a waiter that reaps the process, applies `timeout_ms`
//! and records the end.

use std::sync::Arc;

use nullspace_guest_proto::{OpResult, ProcessStart, StreamKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::error::ProcError;
use super::exec::wait_end;
use super::plan::plan;
use super::pty::{self, check_size, Master};
use super::spawn::{spawn, ChildIn, ChildOut};
use super::table::{Proc, ProcMeta, StdinMsg};
use crate::serve::outbox::CHUNK;
use crate::services::error::OpError;
use crate::services::state::GuestState;
use crate::sys;

/// Input frames queued for a process's stdin before its writers wait (at most
/// 4 MiB with the largest frames; a process that does not read stalls only the
/// `process_input` calls that write to it).
const STDIN_QUEUE: usize = 4;

/// Run the call: plan, spawn, hand the process to its tasks, describe it.
pub async fn run(state: &GuestState, req: ProcessStart) -> Result<OpResult, OpError> {
    if let Some(size) = req.pty {
        check_size(size)?;
    }
    let plan = plan(&req.exec, &state.users(), state.paths.workspace())?;
    let table = state.procs.clone();
    let meta = ProcMeta {
        tag: req.tag.clone(),
        argv: plan.argv.clone(),
        shell: req.exec.shell.clone(),
        cwd: plan.cwd.display().to_string(),
        user: req.exec.user.clone().unwrap_or_else(|| "root".into()),
        started_unix_ms: sys::clock(libc::CLOCK_REALTIME).as_millis() as i64,
    };
    let starting = table.starting();
    if let Some(tag) = &req.tag {
        if table.tag_running(tag) {
            return Err(ProcError::TagInUse(tag.clone()).into());
        }
    }
    let started = Instant::now();
    let (mut child, outputs, stdin, pty) = match req.pty {
        Some(size) => {
            let sys_err = |source| OpError::Sys {
                op: "openpty",
                source,
            };
            let (master, slave) = pty::open(size).map_err(sys_err)?;
            let master = Master::new(master).map_err(sys_err)?;
            let child = pty::spawn(&plan, slave)?;
            let out: Vec<(ChildOut, StreamKind)> =
                vec![(Box::new(master.io()), StreamKind::Stdout)];
            let input: ChildIn = Box::new(master.io());
            (child, out, Some(input), Some((master, size)))
        }
        None => {
            let mut child = spawn(&plan, req.exec.stdin)?;
            let mut out = Vec::new();
            if let Some(o) = child.stdout.take() {
                out.push((o, StreamKind::Stdout));
            }
            if let Some(e) = child.stderr.take() {
                out.push((e, StreamKind::Stderr));
            }
            let input = child.stdin.take();
            (child, out, input, None)
        }
    };
    let (stdin_tx, writer) = match stdin {
        Some(w) => {
            let (tx, rx) = mpsc::channel(STDIN_QUEUE);
            (Some(tx), Some(tokio::spawn(write_stdin(w, rx))))
        }
        None => (None, None),
    };
    let proc = table.insert(Proc::new(child.id(), meta, pty, stdin_tx));
    drop(starting);
    crate::log!(
        "process {} started ({}{})",
        proc.pid,
        child.spawned(),
        if req.pty.is_some() { ", pty" } else { "" }
    );
    let mut pumps: Vec<_> = outputs
        .into_iter()
        .map(|(r, kind)| tokio::spawn(pump(r, proc.clone(), kind)))
        .collect();
    let info = proc.info();
    let timeout_ms = req.exec.timeout_ms;
    tokio::spawn(async move {
        let end = match wait_end(&mut child, &mut pumps, started, timeout_ms).await {
            Ok(end) => end,
            Err(e) => {
                crate::log!("process {}: {e}", proc.pid);
                nullspace_guest_proto::ExecResult {
                    exit_code: None,
                    signal: None,
                    timed_out: false,
                    duration_ms: started.elapsed().as_millis() as u64,
                }
            }
        };
        crate::log!("process {} ended: {end:?}", proc.pid);
        proc.finish(end);
        if let Some(w) = writer {
            w.abort();
        }
        table.exited(&proc);
    });
    Ok(OpResult::Process(info))
}

/// Copy output into the process's ring until end of file; never waits for readers.
async fn pump<R: AsyncRead + Unpin>(mut from: R, proc: Arc<Proc>, kind: StreamKind) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match from.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => proc.push(kind, &buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

/// Write queued input to the process until `Close` (or a write fails); then
/// its stdin is dropped (a pipe's reader gets end of file; a terminal stays).
async fn write_stdin(mut to: ChildIn, mut queue: mpsc::Receiver<StdinMsg>) {
    while let Some(msg) = queue.recv().await {
        match msg {
            StdinMsg::Data(bytes) => {
                if to.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            StdinMsg::Close => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::fs::paths::PathPolicy;
    use nullspace_guest_proto::{ExecRequest, Selector};

    fn shell(cmd: &str) -> ProcessStart {
        ProcessStart {
            exec: ExecRequest {
                shell: Some(cmd.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    async fn ended(state: &GuestState, pid: u32) -> Arc<Proc> {
        let p = state.procs.select(&Selector::Pid(pid)).unwrap();
        let mut changes = p.subscribe();
        while p.end().is_none() {
            changes.changed().await.unwrap();
        }
        p
    }

    #[tokio::test]
    async fn a_started_process_is_recorded_to_its_end() {
        let state = GuestState::new(PathPolicy::default(), false);
        let mut req = shell("echo out; echo err >&2; exit 4");
        req.tag = Some("t".into());
        let OpResult::Process(info) = run(&state, req).await.unwrap() else {
            panic!()
        };
        assert_eq!(info.tag.as_deref(), Some("t"));
        assert!(!info.stdin_open);
        let p = ended(&state, info.pid).await;
        assert_eq!(p.end().unwrap().exit_code, Some(4));
        assert_eq!(p.read(StreamKind::Stdout, 0, 100).bytes, b"out\n");
        assert_eq!(p.read(StreamKind::Stderr, 0, 100).bytes, b"err\n");
    }

    #[tokio::test]
    async fn tags_timeouts_and_bad_requests() {
        let state = GuestState::new(PathPolicy::default(), false);
        let mut req = shell("sleep 20");
        req.tag = Some("busy".into());
        req.exec.timeout_ms = Some(200);
        let OpResult::Process(info) = run(&state, req.clone()).await.unwrap() else {
            panic!()
        };
        let again = run(&state, req).await.unwrap_err();
        assert_eq!(again.code(), nullspace_guest_proto::ErrorCode::TagInUse);
        let end = ended(&state, info.pid).await.end().unwrap();
        assert!(end.timed_out);
        assert_eq!(end.signal, Some(libc::SIGKILL));
        let mut bad = shell("true");
        bad.pty = Some(nullspace_guest_proto::PtySize { cols: 0, rows: 5 });
        let e = run(&state, bad).await.unwrap_err();
        assert_eq!(e.code(), nullspace_guest_proto::ErrorCode::InvalidArgument);
        let mut missing = shell("true");
        missing.exec.shell = None;
        missing.exec.argv = vec!["no-such-program-xyz".into()];
        let e = run(&state, missing).await.unwrap_err();
        assert_eq!(e.code(), nullspace_guest_proto::ErrorCode::CommandNotFound);
    }
}
