//! The guest's process table: background processes and PTY sessions that
//! outlive any host connection (protocol 2).

use std::time::Duration;

use nullspace_guest_proto::{
    AttachEnd, GuestMsg, Op, OpResult, ProcessAttach, ProcessInfo, ProcessStart, PtySize, Selector,
    StreamKind,
};

use super::{Agent, AgentError, Call};

/// Longest wait for a process-table call that does not stream.
const PROCESS_CALL: Duration = Duration::from_secs(30);

/// What an attached reader of a process receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachEvent {
    /// The process was found; output follows.
    Started {
        /// Its pid.
        pid: u32,
    },
    /// Output bytes.
    Output {
        /// Which stream.
        stream: StreamKind,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Bytes dropped from the process's ring buffer before they could be read.
    Gap {
        /// Which stream.
        stream: StreamKind,
        /// How many.
        bytes: u64,
    },
    /// The attach ended (the process ended, or without follow: caught up).
    End(AttachEnd),
}

/// A reader attached to a process. Dropping it ends the attach in the guest
/// (never the process).
pub struct Attach {
    call: Call,
    done: bool,
}

impl Attach {
    /// The next event; `None` after [`AttachEvent::End`].
    pub async fn next(&mut self) -> Result<Option<AttachEvent>, AgentError> {
        if self.done {
            return Ok(None);
        }
        let frame = self.call.next().await?;
        let event = match frame.msg {
            GuestMsg::Started { pid, .. } => AttachEvent::Started { pid },
            GuestMsg::Stdout { .. } => AttachEvent::Output {
                stream: StreamKind::Stdout,
                data: frame.data,
            },
            GuestMsg::Stderr { .. } => AttachEvent::Output {
                stream: StreamKind::Stderr,
                data: frame.data,
            },
            GuestMsg::Gap { stream, bytes, .. } => AttachEvent::Gap { stream, bytes },
            GuestMsg::Done {
                result: OpResult::Attached(end),
                ..
            } => {
                self.done = true;
                AttachEvent::End(end)
            }
            GuestMsg::Failed { error, .. } => {
                self.done = true;
                return Err(error.into());
            }
            other => return Err(AgentError::Protocol(format!("{other:?}"))),
        };
        Ok(Some(event))
    }
}

impl Agent {
    /// Start a process in the guest's process table.
    pub async fn process_start(&self, start: ProcessStart) -> Result<ProcessInfo, AgentError> {
        match self
            .request("process_start", Op::ProcessStart(start), PROCESS_CALL)
            .await?
        {
            (OpResult::Process(info), _) => Ok(info),
            (other, _) => Err(AgentError::Protocol(format!("{other:?}"))),
        }
    }

    /// Wait for a process to end (no time limit: it ends when the process
    /// does, or when the connection closes); answers its facts then.
    pub async fn process_wait(&self, process: Selector) -> Result<ProcessInfo, AgentError> {
        let mut call = self.start(Op::ProcessWait { process }).await?;
        match call.next().await?.msg {
            GuestMsg::Done {
                result: OpResult::Process(info),
                ..
            } => Ok(info),
            GuestMsg::Failed { error, .. } => Err(error.into()),
            other => Err(AgentError::Protocol(format!("{other:?}"))),
        }
    }

    /// Every process of the guest's table, by pid.
    pub async fn process_list(&self) -> Result<Vec<ProcessInfo>, AgentError> {
        match self
            .request("process_list", Op::ProcessList, PROCESS_CALL)
            .await?
        {
            (OpResult::Processes(list), _) => Ok(list),
            (other, _) => Err(AgentError::Protocol(format!("{other:?}"))),
        }
    }

    /// Attach to a process's output (see [`Attach`]).
    pub async fn process_attach(&self, attach: ProcessAttach) -> Result<Attach, AgentError> {
        let call = self.start(Op::ProcessAttach(attach)).await?;
        Ok(Attach { call, done: false })
    }

    /// Write `data` to a process's stdin (closing it after, with `close`).
    pub async fn process_input(
        &self,
        process: Selector,
        data: &[u8],
        close: bool,
    ) -> Result<(), AgentError> {
        let mut call = self.start(Op::ProcessInput { process, close }).await?;
        let work = async {
            // Callers send at most a window at a time, so this never waits for
            // a guest that refused the call before taking its input.
            call.input(data).await?;
            call.input_end().await?;
            loop {
                let frame = call.next().await?;
                match frame.msg {
                    GuestMsg::Done { .. } => return Ok(()),
                    GuestMsg::Failed { error, .. } => return Err(error.into()),
                    _ => {}
                }
            }
        };
        tokio::time::timeout(PROCESS_CALL, work)
            .await
            .map_err(|_| AgentError::Timeout {
                what: "process_input",
                after: PROCESS_CALL,
            })?
    }

    /// Send signal `signal` to a process's group.
    pub async fn process_signal(&self, process: Selector, signal: i32) -> Result<(), AgentError> {
        let op = Op::ProcessSignal { process, signal };
        self.request("process_signal", op, PROCESS_CALL)
            .await
            .map(drop)
    }

    /// Resize a PTY process's terminal.
    pub async fn process_resize(&self, process: Selector, size: PtySize) -> Result<(), AgentError> {
        let op = Op::ProcessResize { process, size };
        self.request("process_resize", op, PROCESS_CALL)
            .await
            .map(drop)
    }
}
