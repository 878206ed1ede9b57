//! `process_input`, `process_signal` and `process_resize`: acting on a process
//! of the table.

use nullspace_guest_proto::{OpResult, PtySize, Selector};

use super::error::ProcError;
use super::pty::check_size;
use super::table::{Proc, ProcessTable, StdinMsg};
use crate::serve::input::Input;
use crate::services::call::CallCtx;
use crate::services::error::OpError;
use std::sync::Arc;

/// A process that is still running, or why not.
fn running(table: &ProcessTable, selector: &Selector) -> Result<Arc<Proc>, ProcError> {
    let proc = table
        .select(selector)
        .ok_or_else(|| ProcError::not_found(selector))?;
    if proc.end().is_some() {
        return Err(ProcError::Exited(proc.pid));
    }
    Ok(proc)
}

/// Why a process no longer takes input.
fn closed(proc: &Proc) -> ProcError {
    if proc.end().is_some() {
        ProcError::Exited(proc.pid)
    } else {
        ProcError::StdinClosed(proc.pid)
    }
}

/// Hand the call's input to the process's stdin writer, crediting each chunk
/// once queued there; with `close`, close stdin after it on `input_end` (for a
/// terminal, closing only means that nothing more is written: the terminal
/// stays open; send `^D` as input for end of file).
pub async fn input(mut ctx: CallCtx, selector: Selector, close: bool) -> Result<OpResult, OpError> {
    let mut rx = ctx
        .input
        .take()
        .ok_or(OpError::Internal("process_input without input"))?;
    let proc = running(&ctx.state.procs, &selector)?;
    let writer = proc.stdin().ok_or_else(|| closed(&proc))?;
    loop {
        let item = tokio::select! {
            item = rx.recv() => item,
            _ = ctx.cancel.cancelled() => None,
        };
        match item {
            Some(Input::Data(bytes)) => {
                let n = bytes.len();
                // A process that does not read its stdin stalls only this call.
                let queued = tokio::select! {
                    queued = writer.send(StdinMsg::Data(bytes)) => queued.is_ok(),
                    _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
                };
                if !queued {
                    return Err(closed(&proc).into());
                }
                rx.consumed(n).await;
            }
            Some(Input::End) => break,
            None => return Err(OpError::InputAborted),
        }
    }
    if close {
        if let Some(last) = proc.take_stdin() {
            let _ = last.send(StdinMsg::Close).await;
        }
        let _ = writer.send(StdinMsg::Close).await;
    }
    Ok(OpResult::Unit)
}

/// Send `signal` to the process's group.
pub fn signal(table: &ProcessTable, selector: &Selector, signal: i32) -> Result<OpResult, OpError> {
    let proc = running(table, selector)?;
    match crate::sys::kill_group(proc.pid as i32, signal) {
        Ok(()) => Ok(OpResult::Unit),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(ProcError::Exited(proc.pid).into()),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            Err(ProcError::BadSignal(signal).into())
        }
        Err(source) => Err(OpError::Sys { op: "kill", source }),
    }
}

/// Resize the process's terminal (its foreground group gets `SIGWINCH`).
pub fn resize(
    table: &ProcessTable,
    selector: &Selector,
    size: PtySize,
) -> Result<OpResult, OpError> {
    let proc = running(table, selector)?;
    let master = proc.master().ok_or(ProcError::NotAPty(proc.pid))?;
    check_size(size)?;
    master.resize(size).map_err(|source| OpError::Sys {
        op: "TIOCSWINSZ",
        source,
    })?;
    proc.set_pty_size(size);
    Ok(OpResult::Unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::process::table::ProcMeta;
    use nullspace_guest_proto::{ErrorCode, ExecResult};

    #[test]
    fn exited_unknown_and_terminal_less_processes_are_refused() {
        let table = ProcessTable::default();
        let code = |r: Result<OpResult, OpError>| r.unwrap_err().code();
        let size = PtySize { cols: 80, rows: 24 };
        let unknown = Selector::Pid(999_999_999);
        assert_eq!(
            code(signal(&table, &unknown, 15)),
            ErrorCode::ProcessNotFound
        );
        assert_eq!(
            code(resize(&table, &unknown, size)),
            ErrorCode::ProcessNotFound
        );
        // A record for a pid that is no process: signals cannot reach it.
        let p = table.insert(Proc::new(999_999_998, ProcMeta::default(), None, None));
        let by_pid = Selector::Pid(p.pid);
        assert_eq!(code(resize(&table, &by_pid, size)), ErrorCode::NotAPty);
        assert_eq!(code(signal(&table, &by_pid, 0)), ErrorCode::ProcessExited);
        p.finish(ExecResult {
            exit_code: Some(0),
            signal: None,
            timed_out: false,
            duration_ms: 0,
        });
        assert_eq!(code(signal(&table, &by_pid, 15)), ErrorCode::ProcessExited);
        assert_eq!(
            code(resize(&table, &by_pid, size)),
            ErrorCode::ProcessExited
        );
        assert_eq!(closed(&p).code(), ErrorCode::ProcessExited);
    }
}
