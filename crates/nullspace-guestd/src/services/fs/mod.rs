//! The filesystem service: `read_file`, `write_file` and the directory-level
//! calls (`list`, `stat`, `exists`, `mkdir`, `remove`, `rename`, `chmod`).
//!
//! Path confinement ([`paths`]) and user lookup are free of side effects so
//! they can be unit tested. guestd stays root, but every system call of a file
//! call made for another user runs on a blocking thread that has that user's
//! file-system credentials until the call ends ([`creds`]), so the kernel, not
//! guestd, decides what it may touch.

pub mod creds;
pub mod entry;
pub mod files;
pub mod paths;
pub mod tree;

use nullspace_guest_proto::{Op, OpResult, Service};

use crate::services::call::CallCtx;
use crate::services::error::OpError;
use creds::FsUser;

/// Run one call of the filesystem service with the rights of its `user` (see
/// [`creds`]).
pub async fn run(op: Op, ctx: CallCtx) -> Result<OpResult, OpError> {
    match op {
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
        op @ (Op::List { .. }
        | Op::Stat { .. }
        | Op::Exists { .. }
        | Op::Mkdir { .. }
        | Op::Remove { .. }
        | Op::Rename { .. }
        | Op::Chmod { .. }) => {
            let db = ctx.state.users();
            let who = FsUser::lookup(&db, file_user(&op))?;
            let state = ctx.state.clone();
            let as_who = who.clone();
            creds::blocking_as(&as_who, move || tree::run(&state, &db, &who, op)).await
        }
        other => Err(OpError::misrouted(&other, Service::Filesystem)),
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
        | Op::ProcessResize { .. }
        | Op::ProcessWait { .. } => None,
    }
}
