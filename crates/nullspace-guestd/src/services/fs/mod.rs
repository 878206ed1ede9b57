//! The filesystem service: `read_file`, `write_file` and the directory-level
//! calls (`list`, `stat`, `exists`, `mkdir`, `remove`, `rename`, `chmod`).
//!
//! Path confinement ([`paths`]) and user lookup are free of side effects so
//! they can be unit tested. guestd stays root, but every system call of a file
//! call made for another user runs on a blocking thread that has that user's
//! file-system credentials until the call ends ([`creds`]), so the kernel, not
//! guestd, decides what it may touch.

pub mod archive;
pub mod creds;
pub mod entry;
pub mod files;
pub mod paths;
pub mod pattern;
pub mod search;
pub mod tree;
pub mod walk;
pub mod watch;

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
            offset,
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
                offset,
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
        Op::SearchFiles(req) => {
            let (db, who) = user_of(&ctx, req.scope.user.as_deref())?;
            let state = ctx.state.clone();
            creds::blocking_as(&who, move || search::search(&state, &db, &req)).await
        }
        Op::FindInFiles(req) => {
            let (_, who) = user_of(&ctx, req.scope.user.as_deref())?;
            let state = ctx.state.clone();
            creds::blocking_as(&who, move || search::find(&state, &req)).await
        }
        Op::ReplaceInFiles(req) => {
            let (_, who) = user_of(&ctx, req.user.as_deref())?;
            let state = ctx.state.clone();
            creds::blocking_as(&who, move || search::replace(&state, &req)).await
        }
        Op::DigestFile(scope) => {
            let (_, who) = user_of(&ctx, scope.user.as_deref())?;
            let state = ctx.state.clone();
            creds::blocking_as(&who, move || files::digest(&state, &scope)).await
        }
        Op::WatchDir(req) => {
            let (_, who) = user_of(&ctx, req.scope.user.as_deref())?;
            let (state, out, id, cancel) = (
                ctx.state.clone(),
                ctx.out.clone(),
                ctx.id,
                ctx.cancel.clone(),
            );
            creds::blocking_as(&who, move || watch::watch(&state, &req, &out, id, &cancel)).await
        }
        Op::CreateArchive(scope) => {
            let (_, who) = user_of(&ctx, scope.user.as_deref())?;
            let (state, out, id) = (ctx.state.clone(), ctx.out.clone(), ctx.id);
            creds::blocking_as(&who, move || archive::create(&state, &scope, &out, id)).await
        }
        Op::ExtractArchive(req) => extract(ctx, req).await,
        other => Err(OpError::misrouted(&other, Service::Filesystem)),
    }
}

/// The users database and the file-system user a call runs as.
fn user_of(ctx: &CallCtx, user: Option<&str>) -> Result<(crate::users::UserDb, FsUser), OpError> {
    let db = ctx.state.users();
    let who = FsUser::lookup(&db, user)?;
    Ok((db, who))
}

/// Unpack an archive from the call's input (fed to the blocking side as it
/// arrives) or from a guest file.
async fn extract(
    mut ctx: CallCtx,
    req: nullspace_guest_proto::ExtractRequest,
) -> Result<OpResult, OpError> {
    let (_, who) = user_of(&ctx, req.scope.user.as_deref())?;
    let (state, id) = (ctx.state.clone(), ctx.id);
    if let Some(source) = req.source.clone() {
        return creds::blocking_as(&who, move || {
            let r =
                state
                    .paths
                    .resolve(&source, None, paths::Final::Follow, paths::Access::Read)?;
            let mut file =
                std::fs::File::open(&r.real).map_err(|e| OpError::io("open", &r.shown, e))?;
            archive::extract(&state, &req, &mut file, id)
        })
        .await;
    }
    let input = ctx
        .input
        .take()
        .ok_or(OpError::Internal("extract_archive without input"))?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let feeder = tokio::spawn(archive::feed(input, tx));
    let result = creds::blocking_as(&who, move || {
        let mut reader = archive::PieceReader::new(rx);
        archive::extract(&state, &req, &mut reader, id)
    })
    .await;
    feeder.abort();
    result
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
        | Op::ProcessWait { .. }
        | Op::SearchFiles(_)
        | Op::FindInFiles(_)
        | Op::ReplaceInFiles(_)
        | Op::WatchDir(_)
        | Op::ExtractArchive(_)
        | Op::CreateArchive(_)
        | Op::DigestFile(_) => None,
    }
}
