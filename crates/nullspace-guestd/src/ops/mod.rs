//! The calls guestd serves: one async entry point, [`run`], per call.

pub mod creds;
pub mod entry;
pub mod error;
pub mod exec;
pub mod files;
pub mod identity;
pub mod metrics;
pub mod paths;
pub mod spawn;
pub mod tree;

use std::sync::atomic::AtomicI32;
use std::sync::Arc;

use nullspace_guest_proto::{CallId, Op, OpResult};

use crate::procs;
use crate::serve::calls::Cancel;
use crate::serve::input::InputRx;
use crate::serve::outbox::Outbox;
use creds::FsUser;
pub use error::OpError;
use identity::GuestState;

/// Input for a call, in order: bytes, then the end marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes of an `input` frame.
    Data(Vec<u8>),
    /// The `input_end` frame.
    End,
}

/// Everything a running call may use.
#[derive(Debug)]
pub struct CallCtx {
    /// The call's id.
    pub id: CallId,
    /// Where its frames go (data frames within its credit window).
    pub out: Outbox,
    /// Its `input` frames, for calls that take input.
    pub input: Option<InputRx>,
    /// Process group of a running `exec` (0 until spawned), for `signal` frames.
    pub pgid: Arc<AtomicI32>,
    /// Set when the call is cancelled (or, for a viewer, its host went away).
    pub cancel: Cancel,
    /// Guest-wide state.
    pub state: Arc<GuestState>,
}

/// Whether `op` reads `input` frames.
pub fn takes_input(op: &Op) -> bool {
    match op {
        Op::Exec(req) => req.stdin,
        Op::WriteFile { .. } | Op::ProcessInput { .. } => true,
        _ => false,
    }
}

/// Run one call to its result. File calls run with the rights of their `user`
/// (see [`creds`]).
pub async fn run(op: Op, ctx: CallCtx) -> Result<OpResult, OpError> {
    match op {
        Op::Hello { identity, .. } => identity::hello(&ctx.state, identity).await,
        Op::Health => Ok(OpResult::Info(ctx.state.info())),
        Op::Metrics { sample_ms } => metrics::run(sample_ms).await,
        Op::Exec(req) => exec::run(req, ctx).await,
        Op::ProcessStart(req) => procs::start::run(&ctx.state, req).await,
        Op::ProcessList => Ok(OpResult::Processes(ctx.state.procs.list())),
        Op::ProcessAttach(req) => procs::attach::run(&ctx, req).await,
        Op::ProcessInput { process, close } => procs::control::input(ctx, process, close).await,
        Op::ProcessSignal { process, signal } => {
            procs::control::signal(&ctx.state.procs, &process, signal)
        }
        Op::ProcessResize { process, size } => {
            procs::control::resize(&ctx.state.procs, &process, size)
        }
        Op::ReadFile {
            user,
            path,
            root,
            offset,
            limit,
        } => {
            let db = ctx.state.users();
            let who = FsUser::lookup(&db, user.as_deref())?;
            let req = files::ReadReq {
                path,
                root,
                offset,
                limit,
            };
            files::read(&ctx, &who, req).await
        }
        Op::WriteFile {
            user,
            path,
            root,
            mode,
            owner,
            create_parents,
            append,
        } => {
            let db = ctx.state.users();
            let who = FsUser::lookup(&db, user.as_deref())?;
            let req = files::WriteReq {
                path,
                root,
                mode,
                owner,
                create_parents,
                append,
            };
            files::write(ctx, who, db, req).await
        }
        other => {
            let db = ctx.state.users();
            let who = FsUser::lookup(&db, file_user(&other))?;
            let state = ctx.state.clone();
            let as_who = who.clone();
            creds::blocking_as(&as_who, move || tree::run(&state, &db, &who, other)).await
        }
    }
}

/// The `user` of a file call (none for the others).
fn file_user(op: &Op) -> Option<&str> {
    match op {
        Op::List { user, .. }
        | Op::Stat { user, .. }
        | Op::Exists { user, .. }
        | Op::Mkdir { user, .. }
        | Op::Remove { user, .. }
        | Op::Rename { user, .. }
        | Op::Chmod { user, .. }
        | Op::ReadFile { user, .. }
        | Op::WriteFile { user, .. } => user.as_deref(),
        Op::Hello { .. }
        | Op::Health
        | Op::Metrics { .. }
        | Op::Exec(_)
        | Op::ProcessStart(_)
        | Op::ProcessList
        | Op::ProcessAttach(_)
        | Op::ProcessInput { .. }
        | Op::ProcessSignal { .. }
        | Op::ProcessResize { .. } => None,
    }
}
