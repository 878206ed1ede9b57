//! `process_wait`: answer a process's facts once it has ended. The call holds
//! nothing but a subscription to the process's changes; a `cancel` (or a new
//! host connection) ends it.

use nullspace_guest_proto::{OpResult, Selector};

use super::error::ProcError;
use crate::services::call::CallCtx;
use crate::services::error::OpError;

/// Run the call.
pub async fn run(ctx: &CallCtx, process: &Selector) -> Result<OpResult, OpError> {
    let proc = ctx
        .state
        .procs
        .select(process)
        .ok_or_else(|| ProcError::not_found(process))?;
    let mut changes = proc.subscribe();
    loop {
        changes.borrow_and_update();
        if proc.end().is_some() {
            return Ok(OpResult::Process(proc.info()));
        }
        tokio::select! {
            changed = changes.changed() => {
                // The process is gone from memory without an end: say so.
                if changed.is_err() && proc.end().is_none() {
                    return Err(ProcError::not_found(process).into());
                }
            }
            _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    use nullspace_guest_proto::{CallId, ExecResult};
    use tokio::sync::mpsc;

    use crate::serve::calls::Cancel;
    use crate::serve::outbox::{Outbox, QUEUE_FRAMES};
    use crate::services::fs::paths::PathPolicy;
    use crate::services::process::table::{Proc, ProcMeta};
    use crate::services::state::GuestState;

    fn ctx(state: &Arc<GuestState>, cancel: Cancel) -> CallCtx {
        let (tx, _rx) = mpsc::channel(QUEUE_FRAMES);
        CallCtx {
            id: CallId(3),
            out: Outbox::new(tx),
            input: None,
            pgid: Arc::default(),
            cancel,
            state: state.clone(),
        }
    }

    #[tokio::test]
    async fn answers_once_the_process_ends_and_ends_when_cancelled() {
        let state = Arc::new(GuestState::new(PathPolicy::default(), false));
        let proc = state
            .procs
            .insert(Proc::new(41, ProcMeta::default(), None, None));
        let waiter = tokio::spawn({
            let ctx = ctx(&state, Cancel::default());
            async move { run(&ctx, &Selector::Pid(41)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "answered before the process ended");
        let end = ExecResult {
            exit_code: Some(3),
            signal: None,
            timed_out: false,
            duration_ms: 5,
        };
        proc.finish(end.clone());
        let OpResult::Process(info) = waiter.await.unwrap().unwrap() else {
            panic!("not a process answer")
        };
        assert_eq!((info.pid, info.end), (41, Some(end.clone())));
        // An ended process answers at once; an unknown one is refused.
        let ctx_now = ctx(&state, Cancel::default());
        let OpResult::Process(again) = run(&ctx_now, &Selector::Pid(41)).await.unwrap() else {
            panic!("not a process answer")
        };
        assert_eq!(again.end, Some(end));
        let e = run(&ctx_now, &Selector::Pid(999)).await.unwrap_err();
        assert_eq!(e.code(), nullspace_guest_proto::ErrorCode::ProcessNotFound);
        // A cancelled wait on a running process ends without an answer.
        let _live = state
            .procs
            .insert(Proc::new(42, ProcMeta::default(), None, None));
        let cancel = Cancel::default();
        cancel.cancel();
        let e = run(&ctx(&state, cancel), &Selector::Pid(42))
            .await
            .unwrap_err();
        assert!(matches!(e, OpError::Cancelled), "{e:?}");
    }
}
