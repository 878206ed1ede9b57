//! The system service: `hello` (a new host connection, and a fresh identity
//! after a restore), `health` (facts about the guest) and `metrics` (resource
//! use). Its calls touch the machine as a whole, never a user's files or
//! processes.

pub mod identity;
pub mod metrics;

use nullspace_guest_proto::{Op, OpResult, Service};

use crate::services::call::CallCtx;
use crate::services::error::OpError;

/// Run one call of the system service.
pub async fn run(op: Op, ctx: CallCtx) -> Result<OpResult, OpError> {
    match op {
        Op::Hello { identity, .. } => identity::hello(&ctx.state, identity).await,
        Op::Health => Ok(OpResult::Info(ctx.state.info())),
        Op::Metrics { sample_ms } => metrics::run(sample_ms).await,
        other => Err(OpError::misrouted(&other, Service::System)),
    }
}
