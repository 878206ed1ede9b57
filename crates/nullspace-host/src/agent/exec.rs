//! Running processes in the guest.

use std::time::Duration;

use nullspace_guest_proto::{ExecRequest, ExecResult, GuestMsg, Op, OpResult};

use super::{Agent, AgentError};

/// Time the host waits past a command's own timeout before giving up on the guest.
const HOST_GRACE: Duration = Duration::from_secs(10);
/// SIGKILL.
const SIGKILL: i32 = 9;

/// Which output stream bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What a command printed before it was cut short (timeout, output cap).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partial {
    /// Standard output so far.
    pub stdout: Vec<u8>,
    /// Standard error so far.
    pub stderr: Vec<u8>,
}

/// Collected output of a finished command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// How the process ended.
    pub result: ExecResult,
}

impl Agent {
    /// Run a command and collect its output, killing it if stdout and stderr
    /// together pass `max_output` bytes ([`AgentError::OutputLimit`]).
    pub async fn exec(
        &self,
        req: ExecRequest,
        stdin: Option<&[u8]>,
        max_output: usize,
    ) -> Result<ExecOutput, AgentError> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let result = self
            .exec_stream(req, stdin, |stream, data| {
                if stdout.len() + stderr.len() + data.len() > max_output {
                    // Keep what fits, so the caller sees output up to the limit.
                    let room = max_output - stdout.len() - stderr.len();
                    match stream {
                        OutputStream::Stdout => stdout.extend_from_slice(&data[..room]),
                        OutputStream::Stderr => stderr.extend_from_slice(&data[..room]),
                    }
                    return false;
                }
                match stream {
                    OutputStream::Stdout => stdout.extend_from_slice(data),
                    OutputStream::Stderr => stderr.extend_from_slice(data),
                }
                true
            })
            .await;
        let partial = || {
            Box::new(Partial {
                stdout: stdout.clone(),
                stderr: stderr.clone(),
            })
        };
        match result {
            Ok(result) => Ok(ExecOutput {
                stdout,
                stderr,
                result,
            }),
            Err(AgentError::OutputLimit { .. }) => Err(AgentError::OutputLimit {
                limit: max_output,
                partial: partial(),
            }),
            Err(AgentError::CommandTimeout { after, .. }) => Err(AgentError::CommandTimeout {
                after,
                partial: partial(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Run a command, handing each chunk of output to `on_output` as it arrives.
    /// When `on_output` returns false the process group is killed and the call
    /// fails with [`AgentError::OutputLimit`].
    pub async fn exec_stream(
        &self,
        mut req: ExecRequest,
        stdin: Option<&[u8]>,
        mut on_output: impl FnMut(OutputStream, &[u8]) -> bool + Send,
    ) -> Result<ExecResult, AgentError> {
        req.stdin = stdin.is_some();
        let timeout = req.timeout_ms.map(Duration::from_millis);
        let mut call = self.start(Op::Exec(req)).await?;
        if let Some(bytes) = stdin {
            call.input(bytes).await?;
            call.input_end().await?;
        }
        let mut over_limit = false;
        let work = async {
            loop {
                let frame = call.next().await?;
                let stream = match frame.msg {
                    GuestMsg::Started { .. } => continue,
                    GuestMsg::Stdout { .. } => OutputStream::Stdout,
                    GuestMsg::Stderr { .. } => OutputStream::Stderr,
                    GuestMsg::Done {
                        result: OpResult::Exec(result),
                        ..
                    } => return Ok(result),
                    GuestMsg::Failed { error, .. } => return Err(error.into()),
                    other => return Err(AgentError::Protocol(format!("{other:?}"))),
                };
                if !over_limit && !on_output(stream, &frame.data) {
                    over_limit = true;
                    call.signal(SIGKILL).await?;
                }
            }
        };
        let result = match timeout {
            Some(t) => tokio::time::timeout(t + HOST_GRACE, work)
                .await
                .map_err(|_| AgentError::Timeout {
                    what: "exec",
                    after: t + HOST_GRACE,
                })??,
            None => work.await?,
        };
        if over_limit {
            return Err(AgentError::OutputLimit {
                limit: 0,
                partial: Box::default(),
            });
        }
        if result.timed_out {
            return Err(AgentError::CommandTimeout {
                after: timeout.unwrap_or_default(),
                partial: Box::default(),
            });
        }
        Ok(result)
    }
}
