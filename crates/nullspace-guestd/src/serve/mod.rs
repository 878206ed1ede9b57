//! The agent: a transport (virtio port or unix socket) on two blocking threads,
//! and a tokio runtime that dispatches host frames to concurrently running calls.

pub mod calls;
pub mod credit;
pub mod input;
pub mod outbox;
pub mod port;

use std::sync::atomic::AtomicI32;
use std::sync::Arc;

use nullspace_guest_proto::{
    parse_host, CallId, Frame, GuestError, GuestMsg, HostMsg, Op, Rejected,
};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::services::state::GuestState;
use crate::services::{self, CallCtx, OpError};
use calls::{Calls, Cancel, Entry};
use credit::Window;
use outbox::{Outbox, QUEUE_FRAMES};
pub use port::Transport;

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
///
/// The dispatcher never waits for one call (with protocol 2): input is queued
/// within the call's credit window, and everything else is a quick hand-off.
pub async fn dispatch(
    mut frames: mpsc::Receiver<Frame<Value>>,
    out: Outbox,
    state: Arc<GuestState>,
) {
    let calls = Calls::default();
    // Protocol of the current host, from its `hello` (1 until one says more).
    let mut protocol = 1;
    while let Some(Frame { msg, data }) = frames.recv().await {
        let msg = match parse_host(msg) {
            Ok(msg) => msg,
            Err(Rejected::Call { id, error }) => {
                crate::log!("call {}: {}", id.0, error.message);
                out.send(&GuestMsg::Failed { id, error }).await;
                continue;
            }
            Err(Rejected::Malformed(why)) => {
                crate::log!("dropping a frame: {why}");
                continue;
            }
        };
        match msg {
            HostMsg::Call { id, op } => {
                if let Op::Hello { protocol: p, .. } = &op {
                    // A new host: the old one's calls must not wait for its credit.
                    calls.new_connection();
                    protocol = (*p).max(1);
                }
                start(id, op, protocol, &calls, &out, &state).await
            }
            HostMsg::Input { id } => match calls.input(id, false) {
                Ok(tx) => {
                    if let Err(over) = tx.push(data).await {
                        crate::log!("input for call {}: {over}; aborting its input", id.0);
                        calls.abort_input(id);
                    }
                }
                Err(why) => crate::log!("input for call {}: {why}", id.0),
            },
            HostMsg::InputEnd { id } => match calls.input(id, true) {
                Ok(tx) => tx.end(),
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
            // Credit for a call that already ended is expected; ignore it.
            HostMsg::Credit { id, bytes } => {
                if let Some(window) = calls.window(id) {
                    window.credit(bytes);
                }
            }
        }
    }
}

async fn start(
    id: CallId,
    op: Op,
    protocol: u32,
    calls: &Calls,
    out: &Outbox,
    state: &Arc<GuestState>,
) {
    let credited = protocol >= 2;
    let window = Arc::new(Window::new(credited));
    let call_out = out.with_window(window.clone());
    let (input_tx, input_rx) = if services::takes_input(&op) {
        let (tx, rx) = input::channel(id, credited.then(|| out.clone()));
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let pgid = Arc::new(AtomicI32::new(0));
    let cancel = Cancel::default();
    let entry = Entry {
        input: input_tx,
        pgid: pgid.clone(),
        window,
        cancel: cancel.clone(),
        viewer: matches!(
            op,
            Op::ProcessAttach(_) | Op::ProcessWait { .. } | Op::WatchDir(_)
        ),
    };
    if !calls.insert(id, entry) {
        let error = GuestError::from(OpError::DuplicateCall(id.0));
        out.send(&GuestMsg::Failed { id, error }).await;
        return;
    }
    let ctx = CallCtx {
        id,
        out: call_out,
        input: input_rx,
        pgid,
        cancel,
        state: state.clone(),
    };
    let (calls, out) = (calls.clone(), out.clone());
    tokio::spawn(async move {
        // The call runs in its own task so a panic still ends it with `failed`.
        let result = tokio::spawn(services::run(op, ctx)).await;
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
