//! The fake node's process table: a process prints its own command line and
//! exits 0, except one whose command starts with `sleep` or that has a terminal,
//! which runs until it is signalled; its stdin (when open) is echoed to stdout,
//! as `cat` would. For HTTP-layer tests only.

use std::collections::BTreeMap;
use std::sync::Mutex;

use nullspace_guest_proto::{
    AttachEnd, ErrorCode, ExecResult, ProcessAttach, ProcessInfo, ProcessStart, PtySize, Selector,
    StreamInfo, StreamKind, MAX_PTY_SIDE,
};
use nullspace_host::agent::AttachEvent;
use nullspace_host::RuntimeError;
use nullspace_types::MachineId;

use super::fake::guest;

struct FakeProc {
    info: ProcessInfo,
    stdout: Vec<u8>,
}

/// Processes of every fake machine.
#[derive(Default)]
pub struct FakeProcs {
    procs: Mutex<BTreeMap<(MachineId, u32), FakeProc>>,
    next_pid: Mutex<u32>,
}

impl std::fmt::Debug for FakeProcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProcs").finish_non_exhaustive()
    }
}

fn ended(code: Option<i32>, signal: Option<i32>) -> ExecResult {
    ExecResult {
        exit_code: code,
        signal,
        timed_out: false,
        duration_ms: 0,
    }
}

impl FakeProcs {
    /// Start a fake process.
    pub fn start(&self, id: &MachineId, start: ProcessStart) -> Result<ProcessInfo, RuntimeError> {
        let mut procs = self.procs.lock().expect("lock");
        if let Some(tag) = &start.tag {
            if procs
                .iter()
                .any(|((m, _), p)| m == id && p.info.running() && p.info.tag.as_ref() == Some(tag))
            {
                return Err(guest(ErrorCode::TagInUse, &format!("tag {tag} is in use")));
            }
        }
        let text = start
            .exec
            .shell
            .clone()
            .unwrap_or_else(|| start.exec.argv.join(" "));
        let runs = text.starts_with("sleep") || start.pty.is_some();
        let pid = {
            let mut next = self.next_pid.lock().expect("lock");
            *next += 1;
            100 + *next
        };
        let mut stdout = text.clone().into_bytes();
        stdout.push(b'\n');
        let info = ProcessInfo {
            pid,
            tag: start.tag,
            argv: start.exec.argv.clone(),
            shell: start.exec.shell.clone(),
            cwd: start.exec.cwd.clone().unwrap_or_else(|| "/".into()),
            user: start.exec.user.clone().unwrap_or_else(|| "root".into()),
            pty: start.pty,
            started_unix_ms: 0,
            stdin_open: runs && (start.exec.stdin || start.pty.is_some()),
            end: (!runs).then(|| ended(Some(0), None)),
            stdout: StreamInfo {
                total: stdout.len() as u64,
                kept_from: 0,
            },
            stderr: StreamInfo::default(),
        };
        procs.insert(
            (id.clone(), pid),
            FakeProc {
                info: info.clone(),
                stdout,
            },
        );
        Ok(info)
    }

    /// The machine's processes.
    pub fn list(&self, id: &MachineId) -> Vec<ProcessInfo> {
        let procs = self.procs.lock().expect("lock");
        procs
            .iter()
            .filter(|((m, _), _)| m == id)
            .map(|(_, p)| p.info.clone())
            .collect()
    }

    fn with<T>(
        &self,
        id: &MachineId,
        sel: &Selector,
        f: impl FnOnce(&mut FakeProc) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError> {
        let mut procs = self.procs.lock().expect("lock");
        let found = procs.iter_mut().find(|((m, pid), p)| {
            m == id
                && match sel {
                    Selector::Pid(want) => pid == want,
                    Selector::Tag(t) => p.info.tag.as_ref() == Some(t),
                }
        });
        match found {
            Some((_, p)) => f(p),
            None => Err(guest(ErrorCode::ProcessNotFound, "no such process")),
        }
    }

    /// What an attach would send: everything kept, then the end.
    pub fn attach(
        &self,
        id: &MachineId,
        attach: &ProcessAttach,
    ) -> Result<Vec<AttachEvent>, RuntimeError> {
        self.with(id, &attach.process, |p| {
            let from = attach.stdout_from.unwrap_or(0);
            if from > p.stdout.len() as u64 {
                return Err(guest(
                    ErrorCode::InvalidArgument,
                    "offset beyond the output",
                ));
            }
            let mut events = vec![AttachEvent::Started { pid: p.info.pid }];
            let data = p.stdout[from as usize..].to_vec();
            if !data.is_empty() {
                events.push(AttachEvent::Output {
                    stream: StreamKind::Stdout,
                    data,
                });
            }
            events.push(AttachEvent::End(AttachEnd {
                stdout_next: p.stdout.len() as u64,
                stderr_next: 0,
                end: p.info.end.clone(),
            }));
            Ok(events)
        })
    }

    /// Echo input of a running process with open stdin.
    pub fn input(
        &self,
        id: &MachineId,
        sel: &Selector,
        data: &[u8],
        close: bool,
    ) -> Result<(), RuntimeError> {
        self.with(id, sel, |p| {
            if !p.info.running() {
                return Err(guest(ErrorCode::ProcessExited, "the process has exited"));
            }
            if !p.info.stdin_open {
                return Err(guest(ErrorCode::StdinClosed, "stdin is closed"));
            }
            p.stdout.extend_from_slice(data);
            p.info.stdout.total = p.stdout.len() as u64;
            if close {
                p.info.stdin_open = false;
            }
            Ok(())
        })
    }

    /// End a running process by a signal.
    pub fn signal(&self, id: &MachineId, sel: &Selector, signal: i32) -> Result<(), RuntimeError> {
        self.with(id, sel, |p| {
            if !p.info.running() {
                return Err(guest(ErrorCode::ProcessExited, "the process has exited"));
            }
            p.info.end = Some(ended(None, Some(signal)));
            p.info.stdin_open = false;
            Ok(())
        })
    }

    /// Resize a running PTY process.
    pub fn resize(
        &self,
        id: &MachineId,
        sel: &Selector,
        size: PtySize,
    ) -> Result<(), RuntimeError> {
        self.with(id, sel, |p| {
            if size.cols == 0
                || size.rows == 0
                || size.cols > MAX_PTY_SIDE
                || size.rows > MAX_PTY_SIDE
            {
                return Err(guest(ErrorCode::InvalidArgument, "bad terminal size"));
            }
            if p.info.pty.is_none() {
                return Err(guest(ErrorCode::NotAPty, "the process has no terminal"));
            }
            if !p.info.running() {
                return Err(guest(ErrorCode::ProcessExited, "the process has exited"));
            }
            p.info.pty = Some(size);
            Ok(())
        })
    }

    /// Forget a machine's processes (it was killed).
    pub fn forget(&self, id: &MachineId) {
        self.procs.lock().expect("lock").retain(|(m, _), _| m != id);
    }
}
