//! The fake node's process table: a process prints its own command line and
//! exits 0, except one whose command starts with `sleep` or that has a terminal,
//! which runs until it is signalled; its stdin (when open) is echoed to stdout,
//! as `cat` would. For HTTP-layer tests only.

use std::collections::BTreeMap;
use std::sync::Mutex;

use nullspace_api::MAX_PTY_SIDE;
use nullspace_types::MachineId;

use super::{
    AttachEnd, AttachEvent, AttachRequest, Exit, NodeError, NodeErrorCode as Code, NodeResult,
    OutputStream, Process, ProcessRef, ProcessSpec, StreamFacts, TermSize,
};

struct FakeProc {
    info: Process,
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

fn ended(code: Option<i32>, signal: Option<i32>) -> Exit {
    Exit {
        exit_code: code,
        signal,
        timed_out: false,
        duration_ms: 0,
    }
}

impl FakeProcs {
    /// Start a fake process.
    pub fn start(&self, id: &MachineId, spec: ProcessSpec) -> NodeResult<Process> {
        let mut procs = self.procs.lock().expect("lock");
        if let Some(tag) = &spec.tag {
            if procs.iter().any(|((m, _), p)| {
                m == id && p.info.end.is_none() && p.info.tag.as_ref() == Some(tag)
            }) {
                return Err(NodeError::new(
                    Code::TagInUse,
                    format!("tag {tag} is in use"),
                ));
            }
        }
        let text = super::fake::command_text(&spec.command);
        let runs = text.starts_with("sleep") || spec.pty.is_some();
        let code = super::fake::exit_code(&text);
        let pid = {
            let mut next = self.next_pid.lock().expect("lock");
            *next += 1;
            100 + *next
        };
        let mut stdout = text.clone().into_bytes();
        stdout.push(b'\n');
        let info = Process {
            pid,
            tag: spec.tag,
            argv: spec.command.argv.clone(),
            shell: spec.command.shell.clone(),
            cwd: spec.command.cwd.clone().unwrap_or_else(|| "/".into()),
            user: spec.command.user.clone().unwrap_or_else(|| "root".into()),
            pty: spec.pty,
            started_unix_ms: 0,
            stdin_open: runs && (spec.command.stdin || spec.pty.is_some()),
            end: (!runs).then(|| ended(Some(code), None)),
            stdout: StreamFacts {
                total: stdout.len() as u64,
                kept_from: 0,
            },
            stderr: StreamFacts::default(),
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
    pub fn list(&self, id: &MachineId) -> Vec<Process> {
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
        sel: &ProcessRef,
        f: impl FnOnce(&mut FakeProc) -> NodeResult<T>,
    ) -> NodeResult<T> {
        let mut procs = self.procs.lock().expect("lock");
        let found = procs.iter_mut().find(|((m, pid), p)| {
            m == id
                && match sel {
                    ProcessRef::Pid(want) => pid == want,
                    ProcessRef::Tag(t) => p.info.tag.as_ref() == Some(t),
                }
        });
        match found {
            Some((_, p)) => f(p),
            None => Err(NodeError::new(Code::ProcessNotFound, "no such process")),
        }
    }

    /// What an attach would send: everything kept, then the end.
    pub fn attach(&self, id: &MachineId, attach: &AttachRequest) -> NodeResult<Vec<AttachEvent>> {
        self.with(id, &attach.process, |p| {
            let from = attach.stdout_from.unwrap_or(0);
            if from > p.stdout.len() as u64 {
                return Err(NodeError::new(
                    Code::InvalidArgument,
                    "offset beyond the output",
                ));
            }
            let mut events = vec![AttachEvent::Started { pid: p.info.pid }];
            let data = p.stdout[from as usize..].to_vec();
            if !data.is_empty() {
                events.push(AttachEvent::Output {
                    stream: OutputStream::Stdout,
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
        sel: &ProcessRef,
        data: &[u8],
        close: bool,
    ) -> NodeResult<()> {
        self.with(id, sel, |p| {
            if p.info.end.is_some() {
                return Err(NodeError::new(
                    Code::ProcessExited,
                    "the process has exited",
                ));
            }
            if !p.info.stdin_open {
                return Err(NodeError::new(Code::StdinClosed, "stdin is closed"));
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
    pub fn signal(&self, id: &MachineId, sel: &ProcessRef, signal: i32) -> NodeResult<Process> {
        self.with(id, sel, |p| {
            if p.info.end.is_some() {
                return Err(NodeError::new(
                    Code::ProcessExited,
                    "the process has exited",
                ));
            }
            p.info.end = Some(ended(None, Some(signal)));
            p.info.stdin_open = false;
            Ok(p.info.clone())
        })
    }

    /// Resize a running PTY process.
    pub fn resize(&self, id: &MachineId, sel: &ProcessRef, size: TermSize) -> NodeResult<()> {
        self.with(id, sel, |p| {
            if size.cols == 0
                || size.rows == 0
                || size.cols > MAX_PTY_SIDE
                || size.rows > MAX_PTY_SIDE
            {
                return Err(NodeError::new(Code::InvalidArgument, "bad terminal size"));
            }
            if p.info.pty.is_none() {
                return Err(NodeError::new(Code::NotAPty, "the process has no terminal"));
            }
            if p.info.end.is_some() {
                return Err(NodeError::new(
                    Code::ProcessExited,
                    "the process has exited",
                ));
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
