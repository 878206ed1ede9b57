//! The agent: a transport (virtio port or unix socket) on two blocking threads,
//! and a tokio runtime that dispatches host frames to concurrently running calls.

pub mod calls;
pub mod outbox;
pub mod port;

use std::sync::atomic::AtomicI32;
use std::sync::Arc;

use nullspace_guest_proto::{CallId, Frame, GuestError, GuestMsg, HostMsg, Op};
use tokio::sync::mpsc;

use crate::ops::identity::GuestState;
use crate::ops::{self, CallCtx, Input, OpError};
use calls::Calls;
use outbox::{Outbox, QUEUE_FRAMES};
pub use port::Transport;

/// Input frames buffered per call before the dispatcher waits for the call.
const INPUT_QUEUE: usize = 16;

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The transport could not start.
    #[error(transparent)]
    Transport(#[from] port::TransportError),
}

/// Serve calls on `transport` until the transport ends (never, for the virtio port).
pub fn run(transport: Transport, state: GuestState) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(32)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let (in_tx, in_rx) = mpsc::channel(QUEUE_FRAMES);
    let (out_tx, out_rx) = mpsc::channel(QUEUE_FRAMES);
    port::start(transport, in_tx, out_rx)?;
    crate::log!("serving");
    runtime.block_on(dispatch(in_rx, Outbox::new(out_tx), Arc::new(state)));
    Ok(())
}

/// Route host frames: calls start tasks, input and signals go to running calls.
pub async fn dispatch(
    mut frames: mpsc::Receiver<Frame<HostMsg>>,
    out: Outbox,
    state: Arc<GuestState>,
) {
    let calls = Calls::default();
    while let Some(Frame { msg, data }) = frames.recv().await {
        match msg {
            HostMsg::Call { id, op } => start(id, op, &calls, &out, &state).await,
            HostMsg::Input { id } => match calls.input(id, false) {
                // A call that stopped reading (its process exited) drops the bytes.
                Ok(tx) => {
                    let _ = tx.send(Input::Data(data)).await;
                }
                Err(why) => crate::log!("input for call {}: {why}", id.0),
            },
            HostMsg::InputEnd { id } => match calls.input(id, true) {
                Ok(tx) => {
                    let _ = tx.send(Input::End).await;
                }
                Err(why) => crate::log!("input_end for call {}: {why}", id.0),
            },
            HostMsg::Signal { id, signal } => match calls.pgid(id) {
                Ok(pgid) => {
                    if let Err(e) = crate::sys::kill_group(pgid, signal) {
                        crate::log!("signal {signal} for call {}: {e}", id.0);
                    }
                }
                Err(why) => crate::log!("signal for call {}: {why}", id.0),
            },
            HostMsg::Cancel { id } => match calls.cancel(id) {
                Ok(Some(pgid)) => {
                    if let Err(e) = crate::sys::kill_group(pgid, libc::SIGKILL) {
                        crate::log!("cancel of call {}: {e}", id.0);
                    }
                }
                Ok(None) => {}
                // The call may have ended while the cancel was on its way.
                Err(why) => crate::log!("cancel of call {}: {why}", id.0),
            },
        }
    }
}

async fn start(id: CallId, op: Op, calls: &Calls, out: &Outbox, state: &Arc<GuestState>) {
    let (input_tx, input_rx) = if ops::takes_input(&op) {
        let (tx, rx) = mpsc::channel(INPUT_QUEUE);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let pgid = Arc::new(AtomicI32::new(0));
    if !calls.insert(id, input_tx, pgid.clone()) {
        let error = GuestError::from(OpError::DuplicateCall(id.0));
        out.send(&GuestMsg::Failed { id, error }).await;
        return;
    }
    let ctx = CallCtx {
        id,
        out: out.clone(),
        input: input_rx,
        pgid,
        state: state.clone(),
    };
    let (calls, out) = (calls.clone(), out.clone());
    tokio::spawn(async move {
        // The call runs in its own task so a panic still ends it with `failed`.
        let result = tokio::spawn(ops::run(op, ctx)).await;
        let msg = match result {
            Ok(Ok(result)) => GuestMsg::Done { id, result },
            Ok(Err(e)) => GuestMsg::Failed {
                id,
                error: e.into(),
            },
            Err(_) => GuestMsg::Failed {
                id,
                error: OpError::Internal("call task panicked").into(),
            },
        };
        // Forget the call before its last frame, so the host may reuse the id at once.
        calls.remove(id);
        out.send(&msg).await;
    });
}
