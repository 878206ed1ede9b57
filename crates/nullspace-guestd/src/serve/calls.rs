//! The table of calls in flight: where their input goes, which process group
//! their signals reach, their output credit window and their cancel token.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nullspace_guest_proto::CallId;
use tokio::sync::Notify;

use super::credit::Window;
use super::input::InputTx;

/// A call's registration.
pub struct Entry {
    /// Where its input goes, while it takes input.
    pub input: Option<InputTx>,
    /// Process group of its process (0 until spawned).
    pub pgid: Arc<AtomicI32>,
    /// Its output credit.
    pub window: Arc<Window>,
    /// Set when the call is cancelled (or, for a viewer, when its host is gone).
    pub cancel: Cancel,
    /// A `process_attach` or `process_wait`: only a viewer, ended when a new host connects.
    pub viewer: bool,
}

/// A flag a call can wait on: set once, never cleared.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<CancelInner>);

#[derive(Debug, Default)]
struct CancelInner {
    set: AtomicBool,
    notify: Notify,
}

impl Cancel {
    /// Set the flag and wake every waiter.
    pub fn cancel(&self) {
        self.0.set.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether the flag is set.
    pub fn is_cancelled(&self) -> bool {
        self.0.set.load(Ordering::SeqCst)
    }

    /// Wait until the flag is set.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// Why a frame for a call could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Undeliverable {
    /// No call with this id is in flight.
    #[error("no call with this id is in flight")]
    UnknownCall,
    /// The call takes no input, or its input already ended.
    #[error("the call takes no (more) input")]
    NoInput,
    /// The call has no process to signal (yet).
    #[error("the call has no process to signal")]
    NoProcess,
}

/// Calls in flight, shared by the dispatcher and the call tasks.
#[derive(Clone, Default)]
pub struct Calls(Arc<Mutex<HashMap<CallId, Entry>>>);

impl Calls {
    fn lock(&self) -> MutexGuard<'_, HashMap<CallId, Entry>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a call; false if its id is already in flight.
    pub fn insert(&self, id: CallId, entry: Entry) -> bool {
        let mut map = self.lock();
        if map.contains_key(&id) {
            return false;
        }
        map.insert(id, entry);
        true
    }

    /// Forget a finished call.
    pub fn remove(&self, id: CallId) {
        self.lock().remove(&id);
    }

    /// Where the call's input goes; with `end`, input is closed for later frames.
    pub fn input(&self, id: CallId, end: bool) -> Result<InputTx, Undeliverable> {
        let mut map = self.lock();
        let entry = map.get_mut(&id).ok_or(Undeliverable::UnknownCall)?;
        let tx = if end {
            entry.input.take()
        } else {
            entry.input.clone()
        };
        tx.ok_or(Undeliverable::NoInput)
    }

    /// End the call's input without an end marker (the call sees it abort).
    pub fn abort_input(&self, id: CallId) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.input = None;
        }
    }

    /// The call's output window, if it is in flight.
    pub fn window(&self, id: CallId) -> Option<Arc<Window>> {
        self.lock().get(&id).map(|e| e.window.clone())
    }

    /// Abandon a call: drop its input without an end marker (the call sees its
    /// input abort), stop its output, set its cancel flag, and return its
    /// process group, if it has one.
    pub fn cancel(&self, id: CallId) -> Result<Option<i32>, Undeliverable> {
        let mut map = self.lock();
        let entry = map.get_mut(&id).ok_or(Undeliverable::UnknownCall)?;
        drop(entry.input.take());
        entry.window.close();
        entry.cancel.cancel();
        Ok(match entry.pgid.load(Ordering::SeqCst) {
            0 => None,
            pgid => Some(pgid),
        })
    }

    /// A new host connected: calls of the old one are no longer limited by
    /// credit it will never send, and its viewers (attaches) end.
    pub fn new_connection(&self) {
        for entry in self.lock().values() {
            entry.window.unlimit();
            if entry.viewer {
                entry.cancel.cancel();
            }
        }
    }

    /// The process group of the call's process.
    pub fn pgid(&self, id: CallId) -> Result<i32, Undeliverable> {
        let map = self.lock();
        let entry = map.get(&id).ok_or(Undeliverable::UnknownCall)?;
        match entry.pgid.load(Ordering::SeqCst) {
            0 => Err(Undeliverable::NoProcess),
            pgid => Ok(pgid),
        }
    }

    /// Number of calls in flight.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no call is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::input;

    fn entry(input: Option<InputTx>, viewer: bool) -> Entry {
        Entry {
            input,
            pgid: Arc::default(),
            window: Arc::new(Window::new(true)),
            cancel: Cancel::default(),
            viewer,
        }
    }

    #[test]
    fn input_can_be_ended_once() {
        let calls = Calls::default();
        let (tx, _rx) = input::channel(CallId(1), None);
        assert!(calls.insert(CallId(1), entry(Some(tx), false)));
        assert!(!calls.insert(CallId(1), entry(None, false)));
        assert!(calls.input(CallId(1), false).is_ok());
        assert!(calls.input(CallId(1), true).is_ok());
        assert_eq!(
            calls.input(CallId(1), false).unwrap_err(),
            Undeliverable::NoInput
        );
        assert_eq!(calls.pgid(CallId(1)).unwrap_err(), Undeliverable::NoProcess);
        assert_eq!(calls.cancel(CallId(1)), Ok(None));
        calls.remove(CallId(1));
        assert_eq!(calls.cancel(CallId(1)), Err(Undeliverable::UnknownCall));
        assert_eq!(
            calls.input(CallId(1), false).unwrap_err(),
            Undeliverable::UnknownCall
        );
        assert!(calls.is_empty());
    }

    #[tokio::test]
    async fn a_new_connection_frees_windows_and_ends_viewers() {
        let calls = Calls::default();
        let (viewer, exec) = (entry(None, true), entry(None, false));
        let (vc, ec, ew) = (
            viewer.cancel.clone(),
            exec.cancel.clone(),
            exec.window.clone(),
        );
        assert!(ew.acquire(nullspace_guest_proto::CALL_WINDOW).await);
        calls.insert(CallId(1), viewer);
        calls.insert(CallId(2), exec);
        calls.new_connection();
        vc.cancelled().await;
        assert!(!ec.is_cancelled());
        // The exec's window no longer limits it.
        assert!(ew.acquire(1 << 30).await);
        assert!(calls.window(CallId(3)).is_none());
    }
}
