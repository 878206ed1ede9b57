//! The calls guestd serves, in three services, each with its own dispatcher:
//! [`system`] (`hello`, `health`, `metrics`), [`process`] (`exec` and the
//! process table) and [`fs`] (files and directories, with a user's rights).
//! [`run`] is the one entry point: it routes a call by
//! [`Op::service`](nullspace_guest_proto::Op::service), which places every
//! operation in exactly one service.
//!
//! What the services share lives beside them: the call's context ([`call`]),
//! the guest-wide state ([`state`]) and the call error ([`error`]). Imports
//! point one way: from a service to these files, never from them (or from one
//! service's files) back to the dispatchers.

pub mod call;
pub mod error;
pub mod fs;
pub mod process;
pub mod state;
pub mod system;

use nullspace_guest_proto::{Op, OpResult, Service};

pub use call::CallCtx;
pub use error::OpError;

/// Whether `op` reads `input` frames.
pub fn takes_input(op: &Op) -> bool {
    match op {
        Op::Exec(req) => req.stdin,
        Op::WriteFile { .. } | Op::ProcessInput { .. } => true,
        Op::ExtractArchive(req) => req.source.is_none(),
        _ => false,
    }
}

/// Run one call to its result, in the service the operation belongs to.
pub async fn run(op: Op, ctx: CallCtx) -> Result<OpResult, OpError> {
    match op.service() {
        Service::System => system::run(op, ctx).await,
        Service::Process => process::run(op, ctx).await,
        Service::Filesystem => fs::run(op, ctx).await,
    }
}
