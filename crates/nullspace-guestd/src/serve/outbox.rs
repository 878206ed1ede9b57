//! The sending half of the agent channel: encodes frames and queues them for the
//! writer thread on a bounded channel, so producers wait when the host is slow.
//! A call's outbox also carries its credit window (protocol 2): data frames wait
//! for credit, other frames never do.

use std::sync::Arc;

use nullspace_guest_proto::{encode, GuestMsg};
use tokio::sync::mpsc;

use super::credit::Window;

/// Largest data payload guestd puts in one frame.
pub const CHUNK: usize = 64 * 1024;

/// Frames queued for the writer thread before senders wait.
pub const QUEUE_FRAMES: usize = 64;

/// A cloneable handle that queues frames for the host.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Vec<u8>>,
    window: Option<Arc<Window>>,
}

impl Outbox {
    /// An outbox feeding `tx`, not limited by credit.
    pub fn new(tx: mpsc::Sender<Vec<u8>>) -> Self {
        Self { tx, window: None }
    }

    /// The same outbox whose data frames take credit from `window`.
    pub fn with_window(&self, window: Arc<Window>) -> Self {
        Self {
            tx: self.tx.clone(),
            window: Some(window),
        }
    }

    /// Queue a frame without data. Frames are dropped only once the writer is gone.
    pub async fn send(&self, msg: &GuestMsg) {
        let _ = self.tx.send(encode(msg, &[])).await;
    }

    /// Queue `data` under `msg`, split into frames of at most [`CHUNK`] bytes,
    /// each once the window has credit for it. False if the call was abandoned
    /// (the rest was not sent).
    pub async fn send_data(&self, msg: &GuestMsg, data: &[u8]) -> bool {
        for chunk in data.chunks(CHUNK) {
            if let Some(w) = &self.window {
                if !w.acquire(chunk.len() as u64).await {
                    return false;
                }
            }
            let _ = self.tx.send(encode(msg, chunk)).await;
        }
        true
    }

    /// Like [`Outbox::send`], for blocking threads.
    pub fn blocking_send(&self, msg: &GuestMsg) {
        let _ = self.tx.blocking_send(encode(msg, &[]));
    }

    /// Like [`Outbox::send_data`], for blocking threads.
    pub fn blocking_send_data(&self, msg: &GuestMsg, data: &[u8]) -> bool {
        for chunk in data.chunks(CHUNK) {
            if let Some(w) = &self.window {
                if !w.blocking_acquire(chunk.len() as u64) {
                    return false;
                }
            }
            let _ = self.tx.blocking_send(encode(msg, chunk));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nullspace_guest_proto::{decode, CallId};

    #[tokio::test]
    async fn data_is_chunked() {
        let (tx, mut rx) = mpsc::channel(QUEUE_FRAMES);
        let out = Outbox::new(tx);
        let data = vec![7u8; CHUNK * 2 + 5];
        out.send_data(&GuestMsg::Stdout { id: CallId(1) }, &data)
            .await;
        drop(out);
        let mut sizes = Vec::new();
        while let Some(bytes) = rx.recv().await {
            let mut buf = bytes;
            let frame = decode::<GuestMsg>(&mut buf).unwrap().unwrap();
            assert_eq!(frame.msg, GuestMsg::Stdout { id: CallId(1) });
            sizes.push(frame.data.len());
        }
        assert_eq!(sizes, [CHUNK, CHUNK, 5]);
    }
}
