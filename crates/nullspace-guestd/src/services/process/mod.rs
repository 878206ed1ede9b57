//! The process service: `exec`, a process tied to its call, and the process
//! table (`process_start`, `process_list`, `process_attach`, `process_input`,
//! `process_signal`, `process_resize`), whose processes belong to the agent
//! rather than to a call or a host connection.
//!
//! Both plan a request the same way ([`plan`]) and spawn it the same way
//! ([`spawn`], or [`pty`] on a terminal). A table process's output is copied by
//! its pumps into a ring buffer per stream ([`ring`]) that keeps the newest
//! [`RING_BYTES`] bytes under absolute offsets; pumps never wait for a reader or
//! the host, so memory stays bounded and the process runs at full speed.
//! Readers (`process_attach`) copy out of the rings at their own pace and are
//! told about what they missed (`gap`). A waiter task per process reaps it,
//! records its end, and moves it to the kept exited processes ([`table`]).
//! Input goes through the process's own bounded writer, so a process that does
//! not read only stalls the calls that write to it.
//!
//! [`RING_BYTES`]: nullspace_guest_proto::RING_BYTES

pub mod attach;
pub mod control;
pub mod error;
pub mod exec;
pub mod plan;
pub mod pty;
pub mod ring;
pub mod spawn;
pub mod start;
pub mod table;
pub mod wait;

use nullspace_guest_proto::{Op, OpResult, Service};

use crate::services::call::CallCtx;
use crate::services::error::OpError;

/// Run one call of the process service.
pub async fn run(op: Op, ctx: CallCtx) -> Result<OpResult, OpError> {
    match op {
        Op::Exec(req) => exec::run(req, ctx).await,
        Op::ProcessStart(req) => start::run(&ctx.state, req).await,
        Op::ProcessList => Ok(OpResult::Processes(ctx.state.procs.list())),
        Op::ProcessAttach(req) => attach::run(&ctx, req).await,
        Op::ProcessInput { process, close } => control::input(ctx, process, close).await,
        Op::ProcessSignal { process, signal } => {
            control::signal(&ctx.state.procs, &process, signal)
        }
        Op::ProcessResize { process, size } => control::resize(&ctx.state.procs, &process, size),
        Op::ProcessWait { process } => wait::run(&ctx, &process).await,
        other => Err(OpError::misrouted(&other, Service::Process)),
    }
}
