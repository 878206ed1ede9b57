//! Client of `nullspace-guestd`: many concurrent calls over one agent socket.
//!
//! A reader task routes incoming frames to the call they name; a writer task
//! serialises outgoing frames. When the socket closes (the VM died or was
//! destroyed) every call in flight fails with [`AgentError::Disconnected`].

mod exec;
mod files;
mod process;
#[cfg(test)]
mod tests;
mod watch;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nullspace_guest_proto::{
    decode, encode, CallId, Frame, GuestError, GuestInfo, GuestMetrics, GuestMsg, HostMsg,
    Identity, Op, OpResult, CALL_WINDOW, PROTOCOL_VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Semaphore};

pub use exec::{ExecOutput, OutputStream, Partial};
pub use files::{write_op, ReadStream, WriteError, WriteOptions};
pub use process::{Attach, AttachEvent};
pub use watch::Watch;

/// Largest input chunk sent in one frame.
const INPUT_CHUNK: usize = 256 * 1024;

/// Why a call to the guest agent failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent socket could not be reached.
    #[error("guest agent unreachable at {path}: {source}")]
    Unreachable {
        /// Socket path.
        path: String,
        /// Last connect error.
        source: std::io::Error,
    },
    /// The connection closed (the VM stopped or died) before the call finished.
    #[error("guest agent disconnected")]
    Disconnected,
    /// The call did not finish in time.
    #[error("guest agent did not answer {what} within {after:?}")]
    Timeout {
        /// The operation.
        what: &'static str,
        /// The time waited.
        after: Duration,
    },
    /// The guest refused or failed the call.
    #[error("guest error: {0}")]
    Guest(#[from] GuestError),
    /// A command printed more than the caller accepts.
    #[error("command output exceeded {limit} bytes; the command was killed")]
    OutputLimit {
        /// The limit in bytes.
        limit: usize,
        /// What it printed up to the limit.
        partial: Box<Partial>,
    },
    /// A command ran past its timeout and was killed.
    #[error("command timed out after {after:?} and was killed")]
    CommandTimeout {
        /// The timeout.
        after: Duration,
        /// What it printed before.
        partial: Box<Partial>,
    },
    /// The guest answered with something the call did not expect.
    #[error("unexpected answer from guest agent: {0}")]
    Protocol(String),
    /// The guest's agent speaks an older protocol that lacks the operation.
    #[error(
        "the guest agent speaks protocol {guest}, and {what} needs protocol {needs}: \
         recreate the machine from a current template"
    )]
    Outdated {
        /// The operation.
        what: &'static str,
        /// The guest's protocol version.
        guest: u32,
        /// The version the operation needs.
        needs: u32,
    },
}

/// Bytes of consumed output the host lets gather before it credits them.
const CREDIT_BATCH: u64 = CALL_WINDOW / 4;

struct Slot {
    tx: mpsc::UnboundedSender<Frame<GuestMsg>>,
    input_credit: Arc<Semaphore>,
}

struct Inner {
    write: mpsc::Sender<Vec<u8>>,
    calls: Mutex<HashMap<CallId, Slot>>,
    next: AtomicU64,
    alive: AtomicBool,
    /// The guest's protocol version, from its `hello` (0 before).
    protocol: AtomicU32,
}

/// A connection to one guest agent.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("alive", &self.is_connected())
            .finish()
    }
}

impl Agent {
    /// Connect to the agent socket at `path`, retrying until `timeout`.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Self, AgentError> {
        let stream = nullspace_vmm::connect_with_retry(path, timeout)
            .await
            .map_err(|source| AgentError::Unreachable {
                path: path.display().to_string(),
                source,
            })?;
        let (mut read, mut write) = stream.into_split();
        let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(64);
        let inner = Arc::new(Inner {
            write: wtx,
            calls: Mutex::default(),
            next: AtomicU64::new(1),
            alive: AtomicBool::new(true),
            protocol: AtomicU32::new(0),
        });
        tokio::spawn(async move {
            while let Some(frame) = wrx.recv().await {
                if write.write_all(&frame).await.is_err() {
                    break;
                }
            }
        });
        let reader = inner.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(64 * 1024);
            let mut chunk = vec![0u8; 256 * 1024];
            loop {
                match read.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                loop {
                    match decode::<GuestMsg>(&mut buf) {
                        Ok(Some(frame)) => reader.route(frame),
                        Ok(None) => break,
                        Err(e) => tracing::warn!(error = %e, "bad frame from guest agent"),
                    }
                }
            }
            reader.alive.store(false, Ordering::SeqCst);
            let mut calls = reader.calls.lock().expect("calls lock");
            // Wake calls waiting for input credit: they fail as disconnected.
            calls.values().for_each(|slot| slot.input_credit.close());
            calls.clear();
        });
        Ok(Agent { inner })
    }

    /// Whether the connection is still open.
    pub fn is_connected(&self) -> bool {
        self.inner.alive.load(Ordering::SeqCst)
    }

    /// The guest's protocol version (0 until its `hello` answered).
    pub fn protocol(&self) -> u32 {
        self.inner.protocol.load(Ordering::SeqCst)
    }

    /// Whether calls are flow-controlled with credits (a protocol-2 guest).
    fn credited(&self) -> bool {
        self.protocol() >= 2
    }

    /// Refuse `op` if the guest's protocol is older than the one it needs.
    pub fn check_supports(&self, op: &Op) -> Result<(), AgentError> {
        // Before its hello answered, a guest is taken to speak protocol 1.
        let (guest, needs) = (self.protocol().max(1), op.since());
        if guest < needs {
            return Err(AgentError::Outdated {
                what: op.name(),
                guest,
                needs,
            });
        }
        Ok(())
    }

    /// Start a call; frames about it arrive through the returned [`Call`].
    pub async fn start(&self, op: Op) -> Result<Call, AgentError> {
        if !self.is_connected() {
            return Err(AgentError::Disconnected);
        }
        if !matches!(op, Op::Hello { .. }) {
            self.check_supports(&op)?;
        }
        let id = CallId(self.inner.next.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::unbounded_channel();
        let credited = self.credited();
        let input_credit = Arc::new(Semaphore::new(if credited {
            CALL_WINDOW as usize
        } else {
            0
        }));
        let slot = Slot {
            tx,
            input_credit: input_credit.clone(),
        };
        self.inner
            .calls
            .lock()
            .expect("calls lock")
            .insert(id, slot);
        let call = Call {
            id,
            rx,
            agent: self.clone(),
            finished: false,
            credited,
            input_credit,
            consumed: 0,
        };
        call.send(&HostMsg::Call { id, op }, &[]).await?;
        Ok(call)
    }

    /// Run a call to completion, collecting `data` frames (up to `max_data` bytes).
    pub async fn request(
        &self,
        what: &'static str,
        op: Op,
        timeout: Duration,
    ) -> Result<(OpResult, Vec<u8>), AgentError> {
        let mut call = self.start(op).await?;
        let work = async {
            let mut data = Vec::new();
            loop {
                let frame = call.next().await?;
                match frame.msg {
                    GuestMsg::Data { .. } => data.extend_from_slice(&frame.data),
                    GuestMsg::Done { result, .. } => return Ok((result, data)),
                    GuestMsg::Failed { error, .. } => return Err(error.into()),
                    other => return Err(AgentError::Protocol(format!("{other:?}"))),
                }
            }
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| AgentError::Timeout {
                what,
                after: timeout,
            })?
    }

    /// Greet the agent; with an identity the guest reseeds its RNG, steps its
    /// clock and takes the new hostname.
    pub async fn hello(
        &self,
        identity: Option<Identity>,
        timeout: Duration,
    ) -> Result<GuestInfo, AgentError> {
        let op = Op::Hello {
            identity,
            protocol: PROTOCOL_VERSION,
        };
        match self.request("hello", op, timeout).await? {
            (OpResult::Info(info), _) => {
                // A guest of protocol 1 answers 1 and ignores the host's version.
                self.inner.protocol.store(info.protocol, Ordering::SeqCst);
                Ok(info)
            }
            (other, _) => Err(AgentError::Protocol(format!("{other:?}"))),
        }
    }

    /// Liveness and facts about the guest.
    pub async fn health(&self, timeout: Duration) -> Result<GuestInfo, AgentError> {
        match self.request("health", Op::Health, timeout).await? {
            (OpResult::Info(info), _) => Ok(info),
            (other, _) => Err(AgentError::Protocol(format!("{other:?}"))),
        }
    }
}

impl Agent {
    /// CPU (sampled over `sample`), memory and disk use inside the guest.
    pub async fn metrics(&self, sample: Duration) -> Result<GuestMetrics, AgentError> {
        let op = Op::Metrics {
            sample_ms: sample.as_millis() as u64,
        };
        match self
            .request("metrics", op, sample + Duration::from_secs(10))
            .await?
        {
            (OpResult::Metrics(m), _) => Ok(m),
            (other, _) => Err(AgentError::Protocol(format!("{other:?}"))),
        }
    }
}

impl Inner {
    fn route(&self, frame: Frame<GuestMsg>) {
        let id = frame.msg.id();
        let last = matches!(frame.msg, GuestMsg::Done { .. } | GuestMsg::Failed { .. });
        let mut calls = self.calls.lock().expect("calls lock");
        if let GuestMsg::Credit { bytes, .. } = frame.msg {
            if let Some(slot) = calls.get(&id) {
                let room = Semaphore::MAX_PERMITS - slot.input_credit.available_permits();
                slot.input_credit.add_permits((bytes as usize).min(room));
            }
            return;
        }
        // Frames of a call hold at most a window of data here: the guest sends
        // no more until the call's consumer took them and credited them back.
        if let Some(slot) = calls.get(&id) {
            let _ = slot.tx.send(frame);
        }
        if last {
            calls.remove(&id);
        }
    }
}

/// One call in flight. Dropped before its last frame arrived, it is cancelled in
/// the guest (an unfinished write leaves nothing, a process is killed).
pub struct Call {
    id: CallId,
    rx: mpsc::UnboundedReceiver<Frame<GuestMsg>>,
    agent: Agent,
    finished: bool,
    /// Whether the guest takes and gives credits on this call.
    credited: bool,
    /// Input bytes the guest will take now.
    input_credit: Arc<Semaphore>,
    /// Output bytes consumed and not credited yet.
    consumed: u64,
}

impl Call {
    /// The call's id.
    pub fn id(&self) -> CallId {
        self.id
    }

    async fn send(&self, msg: &HostMsg, data: &[u8]) -> Result<(), AgentError> {
        self.agent
            .inner
            .write
            .send(encode(msg, data))
            .await
            .map_err(|_| AgentError::Disconnected)
    }

    /// Send input bytes (stdin of exec, contents of write_file), within the
    /// guest's credit: waits while the guest has not taken earlier input.
    pub async fn input(&self, data: &[u8]) -> Result<(), AgentError> {
        for chunk in data.chunks(INPUT_CHUNK) {
            if self.credited && !chunk.is_empty() {
                let permits = self
                    .input_credit
                    .acquire_many(chunk.len() as u32)
                    .await
                    .map_err(|_| AgentError::Disconnected)?;
                permits.forget();
            }
            self.send(&HostMsg::Input { id: self.id }, chunk).await?;
        }
        Ok(())
    }

    /// End the input.
    pub async fn input_end(&self) -> Result<(), AgentError> {
        self.send(&HostMsg::InputEnd { id: self.id }, &[]).await
    }

    /// Signal the process group of an exec call.
    pub async fn signal(&self, signal: i32) -> Result<(), AgentError> {
        self.send(
            &HostMsg::Signal {
                id: self.id,
                signal,
            },
            &[],
        )
        .await
    }

    /// The next frame of this call (crediting its data back to the guest).
    pub async fn next(&mut self) -> Result<Frame<GuestMsg>, AgentError> {
        let frame = self.rx.recv().await.ok_or(AgentError::Disconnected)?;
        if let Some(bytes) = self.took(&frame) {
            let credit = HostMsg::Credit { id: self.id, bytes };
            self.send(&credit, &[]).await?;
        }
        Ok(frame)
    }

    /// The next frame of this call if one has arrived already.
    pub fn try_next(&mut self) -> Option<Frame<GuestMsg>> {
        let frame = self.rx.try_recv().ok()?;
        if let Some(bytes) = self.took(&frame) {
            let credit = encode(&HostMsg::Credit { id: self.id, bytes }, &[]);
            if self.agent.inner.write.try_send(credit).is_err() {
                // Credited with the next frame instead.
                self.consumed += bytes;
            }
        }
        Some(frame)
    }

    /// Account for a frame taken by the consumer; returns the credit to send now.
    fn took(&mut self, frame: &Frame<GuestMsg>) -> Option<u64> {
        if matches!(frame.msg, GuestMsg::Done { .. } | GuestMsg::Failed { .. }) {
            self.finished = true;
            return None;
        }
        if !self.credited || frame.data.is_empty() {
            return None;
        }
        self.consumed += frame.data.len() as u64;
        if self.consumed < CREDIT_BATCH {
            return None;
        }
        Some(std::mem::take(&mut self.consumed))
    }

    /// Abandon the call in the guest (see [`Call`]).
    pub async fn cancel(mut self) -> Result<(), AgentError> {
        self.finished = true;
        self.send(&HostMsg::Cancel { id: self.id }, &[]).await
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.finished && self.agent.is_connected() {
            // Best effort: a full queue means the connection is stalled anyway.
            let _ = self
                .agent
                .inner
                .write
                .try_send(encode(&HostMsg::Cancel { id: self.id }, &[]));
        }
        self.agent
            .inner
            .calls
            .lock()
            .expect("calls lock")
            .remove(&self.id);
    }
}
