//! A call's input queue, which the dispatcher never waits on (protocol 2).
//!
//! Input frames go into an unbounded queue, bounded instead by accounting: the
//! bytes queued and not yet consumed. With protocol 2 the host sends at most
//! [`CALL_WINDOW`] such bytes, and the call credits them (`GuestMsg::Credit`) as
//! it consumes them; input beyond the window is refused, which aborts the call's
//! input. With protocol 1 there is no credit: the dispatcher waits while a call
//! has a window's worth queued (the protocol-1 behaviour: one stalled call
//! stalls the channel), unless the call stopped reading.

use std::sync::{Arc, Mutex};

use nullspace_guest_proto::{CallId, GuestMsg, CALL_WINDOW};
use tokio::sync::{mpsc, Notify};

use super::outbox::Outbox;

/// Input for a call, in order: bytes, then the end marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Bytes of an `input` frame.
    Data(Vec<u8>),
    /// The `input_end` frame.
    End,
}

#[derive(Debug, Default)]
struct Pending {
    bytes: Mutex<u64>,
    notify: Notify,
}

impl Pending {
    fn get(&self) -> u64 {
        *self.bytes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The dispatcher's end of a call's input.
#[derive(Debug, Clone)]
pub struct InputTx {
    tx: mpsc::UnboundedSender<Input>,
    pending: Arc<Pending>,
    credited: bool,
}

/// Input beyond the call's credit window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("input beyond the credit window ({queued} bytes queued, {bytes} more sent)")]
pub struct Overflow {
    /// Bytes queued and not yet credited.
    pub queued: u64,
    /// Bytes of the refused frame.
    pub bytes: u64,
}

/// The call's end of its input.
#[derive(Debug)]
pub struct InputRx {
    rx: mpsc::UnboundedReceiver<Input>,
    pending: Arc<Pending>,
    /// Where credit goes (protocol 2), and for which call.
    credit: Option<(Outbox, CallId)>,
}

/// A new input queue; with `credit`, it speaks protocol 2 for call `id`.
pub fn channel(id: CallId, credit: Option<Outbox>) -> (InputTx, InputRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let pending = Arc::new(Pending::default());
    let tx = InputTx {
        tx,
        pending: pending.clone(),
        credited: credit.is_some(),
    };
    let rx = InputRx {
        rx,
        pending,
        credit: credit.map(|out| (out, id)),
    };
    (tx, rx)
}

impl InputTx {
    /// Queue bytes. With protocol 2 this never waits, and refuses bytes beyond
    /// the window; with protocol 1 it waits while the call has a window queued.
    pub async fn push(&self, data: Vec<u8>) -> Result<(), Overflow> {
        let n = data.len() as u64;
        if self.credited {
            let mut queued = self.pending.bytes.lock().unwrap_or_else(|p| p.into_inner());
            if *queued + n > CALL_WINDOW {
                return Err(Overflow {
                    queued: *queued,
                    bytes: n,
                });
            }
            *queued += n;
        } else {
            loop {
                let notified = self.pending.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.pending.get() < CALL_WINDOW || self.tx.is_closed() {
                    break;
                }
                tokio::select! {
                    _ = notified => {}
                    _ = self.tx.closed() => {}
                }
            }
            *self.pending.bytes.lock().unwrap_or_else(|p| p.into_inner()) += n;
        }
        // A call that stopped reading drops the bytes.
        let _ = self.tx.send(Input::Data(data));
        Ok(())
    }

    /// Queue the end marker (never waits).
    pub fn end(&self) {
        let _ = self.tx.send(Input::End);
    }
}

impl InputRx {
    /// The next input, in order; `None` if input was abandoned.
    pub async fn recv(&mut self) -> Option<Input> {
        self.rx.recv().await
    }

    /// The call has consumed `bytes` of its input: credit them to the host.
    pub async fn consumed(&self, bytes: usize) {
        let bytes = bytes as u64;
        {
            let mut queued = self.pending.bytes.lock().unwrap_or_else(|p| p.into_inner());
            *queued = queued.saturating_sub(bytes);
        }
        self.pending.notify.notify_waiters();
        if let Some((out, id)) = &self.credit {
            if bytes > 0 {
                out.send(&GuestMsg::Credit { id: *id, bytes }).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::outbox::QUEUE_FRAMES;
    use nullspace_guest_proto::decode;

    #[tokio::test]
    async fn protocol_2_refuses_beyond_the_window_and_credits() {
        let (otx, mut orx) = mpsc::channel(QUEUE_FRAMES);
        let (tx, mut rx) = channel(CallId(4), Some(Outbox::new(otx)));
        tx.push(vec![0; CALL_WINDOW as usize - 1]).await.unwrap();
        let over = tx.push(vec![0; 2]).await.unwrap_err();
        assert_eq!(over.bytes, 2);
        let Some(Input::Data(d)) = rx.recv().await else {
            panic!()
        };
        rx.consumed(d.len()).await;
        let mut frame = orx.recv().await.unwrap();
        let f = decode::<GuestMsg>(&mut frame).unwrap().unwrap();
        assert_eq!(
            f.msg,
            GuestMsg::Credit {
                id: CallId(4),
                bytes: CALL_WINDOW - 1
            }
        );
        tx.push(vec![0; 2]).await.unwrap();
        tx.end();
        assert!(matches!(rx.recv().await, Some(Input::Data(_))));
        assert_eq!(rx.recv().await, Some(Input::End));
    }

    #[tokio::test]
    async fn protocol_1_waits_until_consumed_or_closed() {
        let (tx, mut rx) = channel(CallId(1), None);
        tx.push(vec![0; CALL_WINDOW as usize]).await.unwrap();
        let second = tokio::spawn({
            let tx = tx.clone();
            async move { tx.push(vec![1]).await }
        });
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        let Some(Input::Data(d)) = rx.recv().await else {
            panic!()
        };
        rx.consumed(d.len()).await;
        second.await.unwrap().unwrap();
        // A call that stopped reading never stalls the dispatcher.
        tx.push(vec![0; CALL_WINDOW as usize]).await.unwrap();
        drop(rx);
        tx.push(vec![2]).await.unwrap();
    }
}
