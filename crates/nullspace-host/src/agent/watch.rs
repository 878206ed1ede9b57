//! Directory watches in the guest (`watch_dir`).

use std::time::Duration;

use nullspace_guest_proto::{FsEvent, GuestMsg, Op};

use super::{Agent, AgentError, Call};

/// Longest wait for a watch to be in place.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A watch in place: changes as they happen; dropping it stops the watch.
pub struct Watch {
    call: Call,
    done: bool,
}

impl Watch {
    /// The next change; `None` once the watched directory is gone.
    pub async fn next(&mut self) -> Result<Option<FsEvent>, AgentError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let frame = self.call.next().await?;
            match frame.msg {
                GuestMsg::FsEvent { event, .. } => return Ok(Some(event)),
                GuestMsg::Ready { .. } => continue,
                GuestMsg::Done { .. } => self.done = true,
                GuestMsg::Failed { error, .. } => {
                    self.done = true;
                    return Err(error.into());
                }
                other => {
                    self.done = true;
                    return Err(AgentError::Protocol(format!("{other:?}")));
                }
            }
        }
    }
}

impl Agent {
    /// Start `op` (a `watch_dir`) and answer once the watch is in place; a path
    /// that cannot be watched is this call's error.
    pub async fn watch(&self, op: Op) -> Result<Watch, AgentError> {
        let mut call = self.start(op).await?;
        let first = tokio::time::timeout(READY_TIMEOUT, call.next())
            .await
            .map_err(|_| AgentError::Timeout {
                what: "watch_dir",
                after: READY_TIMEOUT,
            })??;
        match first.msg {
            GuestMsg::Ready { .. } => Ok(Watch { call, done: false }),
            GuestMsg::Failed { error, .. } => Err(error.into()),
            other => Err(AgentError::Protocol(format!("{other:?}"))),
        }
    }
}
