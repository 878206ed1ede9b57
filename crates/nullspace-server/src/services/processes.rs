//! Processes of a machine's process table: background commands and PTY
//! sessions, reached through the node. Every call first finds the machine
//! running (waking it when it auto-resumes) and answers a lost race like the
//! other machine operations.

use futures_util::StreamExt;
use nullspace_api as api;
use nullspace_types::MachineId;

use super::commands::with_machine_defaults;
use super::{lifecycle, settle};
use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::node::{
    AttachEvent, AttachRequest, AttachStream, Command, OutputStream, Process, ProcessRef,
    ProcessSpec, TermSize,
};
use crate::params::StartSpec;
use crate::state::AppState;
use crate::store::rfc3339;

/// The API's view of a node process.
pub fn to_api(p: Process) -> api::ProcessInfo {
    let end = p.end.clone();
    api::ProcessInfo {
        pid: p.pid,
        tag: p.tag,
        command: p.shell,
        args: p.argv,
        cwd: p.cwd,
        user: p.user,
        pty: p.pty.map(|s| api::PtySize {
            cols: s.cols,
            rows: s.rows,
        }),
        started_at: rfc3339(p.started_unix_ms.div_euclid(1000)),
        running: end.is_none(),
        stdin_open: p.stdin_open,
        exit_code: end.as_ref().and_then(|e| e.exit_code),
        signal: end.as_ref().and_then(|e| e.signal),
        timed_out: end.as_ref().is_some_and(|e| e.timed_out),
        duration_ms: end.as_ref().map(|e| e.duration_ms),
        stdout: api::StreamFacts {
            total_bytes: p.stdout.total,
            kept_from: p.stdout.kept_from,
        },
        stderr: api::StreamFacts {
            total_bytes: p.stderr.total,
            kept_from: p.stderr.kept_from,
        },
    }
}

/// Start a process in running machine `id`.
pub async fn start(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    spec: StartSpec,
) -> ApiResult<api::ProcessInfo> {
    let row = lifecycle::running(state, tenant, id).await?;
    let command = Command {
        argv: spec.argv,
        shell: spec.shell,
        env: spec.envs,
        cwd: spec.cwd,
        user: Some(spec.user),
        timeout_ms: spec.timeout_ms,
        stdin: spec.stdin || spec.pty.is_some(),
    };
    let start = ProcessSpec {
        command: with_machine_defaults(&row, command),
        tag: spec.tag,
        pty: spec.pty.map(|s| TermSize {
            cols: s.cols,
            rows: s.rows,
        }),
    };
    let info = settle(state, id, state.node.process_start(id, start).await).await?;
    Ok(to_api(info))
}

/// Every process of running machine `id`.
pub async fn list(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
) -> ApiResult<Vec<api::ProcessInfo>> {
    lifecycle::running(state, tenant, id).await?;
    let all = settle(state, id, state.node.process_list(id).await).await?;
    Ok(all.into_iter().map(to_api).collect())
}

/// Process `pid` of running machine `id`.
pub async fn get(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    pid: u32,
) -> ApiResult<api::ProcessInfo> {
    list(state, tenant, id)
        .await?
        .into_iter()
        .find(|p| p.pid == pid)
        .ok_or_else(|| not_found(pid))
}

/// 404 for a pid the machine does not have.
pub fn not_found(pid: u32) -> ApiError {
    ApiError::new(
        api::ErrorCode::ProcessNotFound,
        format!("no process {pid} in this machine"),
    )
}

/// Attach to process `pid`'s output.
pub async fn attach(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    attach: AttachRequest,
) -> ApiResult<AttachStream> {
    lifecycle::running(state, tenant, id).await?;
    settle(state, id, state.node.process_attach(id, attach).await).await
}

/// What a process kept of its output from the given offsets (at most the ring
/// size of each stream).
pub async fn logs(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    pid: u32,
    from: (Option<u64>, Option<u64>),
    encoding: api::LogEncoding,
) -> ApiResult<api::ProcessLogs> {
    let request = AttachRequest {
        process: ProcessRef::Pid(pid),
        stdout_from: from.0,
        stderr_from: from.1,
        follow: false,
    };
    let mut events = attach(state, tenant, id, request).await?;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (mut out_gap, mut err_gap) = (0, 0);
    while let Some(event) = events.next().await {
        match settle(state, id, event).await? {
            AttachEvent::Started { .. } => {}
            AttachEvent::Output { stream, data } => match stream {
                OutputStream::Stdout => out.extend_from_slice(&data),
                OutputStream::Stderr => err.extend_from_slice(&data),
            },
            AttachEvent::Gap { stream, bytes } => match stream {
                OutputStream::Stdout => out_gap += bytes,
                OutputStream::Stderr => err_gap += bytes,
            },
            AttachEvent::End(end) => {
                let text = |b: Vec<u8>| match encoding {
                    api::LogEncoding::Utf8 => String::from_utf8_lossy(&b).into_owned(),
                    api::LogEncoding::Base64 => {
                        use base64::Engine as _;
                        base64::engine::general_purpose::STANDARD.encode(b)
                    }
                };
                return Ok(api::ProcessLogs {
                    pid,
                    encoding,
                    stdout: text(out),
                    stderr: text(err),
                    stdout_next: end.stdout_next,
                    stderr_next: end.stderr_next,
                    stdout_dropped: out_gap,
                    stderr_dropped: err_gap,
                    running: end.end.is_none(),
                    exit_code: end.end.and_then(|e| e.exit_code),
                });
            }
        }
    }
    Err(ApiError::new(
        api::ErrorCode::Internal,
        "the guest ended the log read without its end",
    ))
}

/// Write `data` to process `pid`'s stdin, then close it with `close`.
pub async fn input(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    pid: u32,
    data: Vec<u8>,
    close: bool,
) -> ApiResult<()> {
    lifecycle::running(state, tenant, id).await?;
    let r = state
        .node
        .process_input(id, ProcessRef::Pid(pid), data, close)
        .await;
    settle(state, id, r).await
}

/// Send `signal` to process `pid`'s group.
pub async fn signal(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    pid: u32,
    signal: i32,
) -> ApiResult<()> {
    lifecycle::running(state, tenant, id).await?;
    let r = state
        .node
        .process_signal(id, ProcessRef::Pid(pid), signal)
        .await;
    settle(state, id, r).await
}

/// Resize process `pid`'s terminal.
pub async fn resize(
    state: &AppState,
    tenant: &Tenant,
    id: &MachineId,
    pid: u32,
    size: api::PtySize,
) -> ApiResult<()> {
    lifecycle::running(state, tenant, id).await?;
    let size = TermSize {
        cols: size.cols,
        rows: size.rows,
    };
    let r = state
        .node
        .process_resize(id, ProcessRef::Pid(pid), size)
        .await;
    settle(state, id, r).await
}
