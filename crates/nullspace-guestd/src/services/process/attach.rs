//! `process_attach`: send a process's kept output from given offsets, and with
//! `follow` its output as it arrives, until it has ended and all was sent.
//!
//! The reader copies at most one frame (64 KiB) out of a ring at a time and
//! sends it within the call's credit; while it waits, the ring goes on
//! dropping old bytes, so a reader that falls more than the ring behind gets a
//! `gap` frame and continues at the oldest kept byte. Wakeups come from the
//! process's watch channel, marked seen before each pass, so none is lost. A
//! `cancel` (or a new host connection) ends only the attach.

use nullspace_guest_proto::{AttachEnd, GuestMsg, OpResult, ProcessAttach, StreamKind};

use super::error::ProcError;
use crate::serve::outbox::CHUNK;
use crate::services::call::CallCtx;
use crate::services::error::OpError;

const STREAMS: [StreamKind; 2] = [StreamKind::Stdout, StreamKind::Stderr];

/// Run the call.
pub async fn run(ctx: &CallCtx, req: ProcessAttach) -> Result<OpResult, OpError> {
    let proc = ctx
        .state
        .procs
        .select(&req.process)
        .ok_or_else(|| ProcError::not_found(&req.process))?;
    let (out_info, err_info, _) = proc.snapshot();
    let mut next = [0u64; 2];
    for (i, (from, info)) in [(req.stdout_from, out_info), (req.stderr_from, err_info)]
        .into_iter()
        .enumerate()
    {
        next[i] = match from {
            Some(offset) if offset > info.total => {
                return Err(ProcError::OffsetBeyondEnd {
                    stream: STREAMS[i],
                    offset,
                    total: info.total,
                }
                .into())
            }
            Some(offset) => offset,
            None => info.kept_from,
        };
    }
    let id = ctx.id;
    ctx.out.send(&GuestMsg::Started { id, pid: proc.pid }).await;
    // Without follow, the attach ends at what had been written when it began.
    let stop = (!req.follow).then_some([out_info.total, err_info.total]);
    let mut changes = proc.subscribe();
    'follow: loop {
        changes.borrow_and_update();
        let mut progressed = false;
        for (i, stream) in STREAMS.into_iter().enumerate() {
            let max = stop.map_or(CHUNK, |s| CHUNK.min(s[i].saturating_sub(next[i]) as usize));
            if max == 0 {
                continue;
            }
            let chunk = proc.read(stream, next[i], max);
            if chunk.gap > 0 {
                let gap = GuestMsg::Gap {
                    id,
                    stream,
                    bytes: chunk.gap,
                };
                ctx.out.send(&gap).await;
            }
            if !chunk.bytes.is_empty() {
                let msg = match stream {
                    StreamKind::Stdout => GuestMsg::Stdout { id },
                    StreamKind::Stderr => GuestMsg::Stderr { id },
                };
                let sent = tokio::select! {
                    sent = ctx.out.send_data(&msg, &chunk.bytes) => sent,
                    _ = ctx.cancel.cancelled() => false,
                };
                if !sent {
                    break 'follow;
                }
            }
            progressed |= chunk.next != next[i];
            next[i] = chunk.next;
        }
        if progressed {
            continue;
        }
        if stop.is_some() {
            break;
        }
        let (o, e, end) = proc.snapshot();
        let caught_up = o.total == next[0] && e.total == next[1];
        if !caught_up {
            continue;
        }
        if end.is_some() || ctx.cancel.is_cancelled() {
            break;
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = ctx.cancel.cancelled() => break,
        }
    }
    Ok(OpResult::Attached(AttachEnd {
        stdout_next: next[0],
        stderr_next: next[1],
        end: proc.end(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use nullspace_guest_proto::{decode, CallId, ExecResult, Selector};
    use tokio::sync::mpsc;

    use crate::serve::calls::Cancel;
    use crate::serve::outbox::{Outbox, QUEUE_FRAMES};
    use crate::services::fs::paths::PathPolicy;
    use crate::services::process::table::{Proc, ProcMeta};
    use crate::services::state::GuestState;

    fn ctx(state: &Arc<GuestState>, out: Outbox, cancel: Cancel) -> CallCtx {
        CallCtx {
            id: CallId(9),
            out,
            input: None,
            pgid: Arc::default(),
            cancel,
            state: state.clone(),
        }
    }

    fn req(pid: u32, from: Option<u64>, follow: bool) -> ProcessAttach {
        ProcessAttach {
            process: Selector::Pid(pid),
            stdout_from: from,
            stderr_from: None,
            follow,
        }
    }

    #[tokio::test]
    async fn replays_from_an_offset_with_a_gap_and_follows_to_the_end() {
        let state = Arc::new(GuestState::new(PathPolicy::default(), false));
        let proc = state
            .procs
            .insert(Proc::new(77, ProcMeta::default(), None, None));
        let big = vec![b'a'; nullspace_guest_proto::RING_BYTES + 10];
        proc.push(StreamKind::Stdout, &big);
        proc.push(StreamKind::Stderr, b"err");
        let (tx, mut rx) = mpsc::channel(QUEUE_FRAMES);
        let out = Outbox::new(tx);
        let follower = tokio::spawn({
            let ctx = ctx(&state, out.clone(), Cancel::default());
            async move { run(&ctx, req(77, Some(0), true)).await }
        });
        let mut frames = Vec::new();
        let mut stdout = 0;
        while stdout < nullspace_guest_proto::RING_BYTES {
            let mut bytes = rx.recv().await.unwrap();
            let f = decode::<GuestMsg>(&mut bytes).unwrap().unwrap();
            if matches!(f.msg, GuestMsg::Stdout { .. }) {
                stdout += f.data.len();
            }
            frames.push(f);
        }
        assert!(matches!(frames[0].msg, GuestMsg::Started { pid: 77, .. }));
        assert!(frames.iter().any(|f| f.msg
            == GuestMsg::Gap {
                id: CallId(9),
                stream: StreamKind::Stdout,
                bytes: 10
            }));
        let end = ExecResult {
            exit_code: Some(0),
            signal: None,
            timed_out: false,
            duration_ms: 1,
        };
        proc.push(StreamKind::Stdout, b"tail");
        proc.finish(end.clone());
        let OpResult::Attached(done) = follower.await.unwrap().unwrap() else {
            panic!()
        };
        assert_eq!(done.stdout_next, big.len() as u64 + 4);
        assert_eq!((done.stderr_next, done.end), (3, Some(end)));

        // Offsets beyond the end are refused; a cancelled follower ends at once.
        let e = run(
            &ctx(&state, out.clone(), Cancel::default()),
            req(77, Some(u64::MAX), false),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code(), nullspace_guest_proto::ErrorCode::InvalidArgument);
        let live = state
            .procs
            .insert(Proc::new(78, ProcMeta::default(), None, None));
        let cancel = Cancel::default();
        cancel.cancel();
        let OpResult::Attached(stopped) = run(&ctx(&state, out, cancel), req(78, None, true))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!((stopped.stdout_next, stopped.end), (0, None));
        drop(live);
    }
}
