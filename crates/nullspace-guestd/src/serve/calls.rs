//! The table of calls in flight: where their input goes and which process group
//! their signals reach.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nullspace_guest_proto::CallId;
use tokio::sync::mpsc;

use crate::ops::Input;

struct Entry {
    input: Option<mpsc::Sender<Input>>,
    pgid: Arc<AtomicI32>,
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
    pub fn insert(
        &self,
        id: CallId,
        input: Option<mpsc::Sender<Input>>,
        pgid: Arc<AtomicI32>,
    ) -> bool {
        let mut map = self.lock();
        if map.contains_key(&id) {
            return false;
        }
        map.insert(id, Entry { input, pgid });
        true
    }

    /// Forget a finished call.
    pub fn remove(&self, id: CallId) {
        self.lock().remove(&id);
    }

    /// Where the call's input goes; with `end`, input is closed for later frames.
    pub fn input(&self, id: CallId, end: bool) -> Result<mpsc::Sender<Input>, Undeliverable> {
        let mut map = self.lock();
        let entry = map.get_mut(&id).ok_or(Undeliverable::UnknownCall)?;
        let tx = if end {
            entry.input.take()
        } else {
            entry.input.clone()
        };
        tx.ok_or(Undeliverable::NoInput)
    }

    /// Abandon a call: drop its input without an end marker (the call sees its
    /// input abort) and return its process group, if it has one.
    pub fn cancel(&self, id: CallId) -> Result<Option<i32>, Undeliverable> {
        let mut map = self.lock();
        let entry = map.get_mut(&id).ok_or(Undeliverable::UnknownCall)?;
        drop(entry.input.take());
        Ok(match entry.pgid.load(Ordering::SeqCst) {
            0 => None,
            pgid => Some(pgid),
        })
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

    #[test]
    fn input_can_be_ended_once() {
        let calls = Calls::default();
        let (tx, _rx) = mpsc::channel(1);
        assert!(calls.insert(CallId(1), Some(tx), Arc::default()));
        assert!(!calls.insert(CallId(1), None, Arc::default()));
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
}
