//! Protocol 2 flow control of a call's output: a credit window.
//!
//! A call may have at most [`CALL_WINDOW`] bytes of data frames sent and not yet
//! credited by the host (`credit` frames). Producers take credit before sending
//! each chunk and wait, async or on a blocking thread, while the window is full.
//! A window is unlimited for protocol-1 hosts, and becomes unlimited when a new
//! host connects (the old host will never credit); a cancelled call's window is
//! closed, so its producers stop instead of waiting forever.

use std::sync::{Condvar, Mutex, MutexGuard};

use nullspace_guest_proto::CALL_WINDOW;
use tokio::sync::Notify;

/// The output credit of one call.
#[derive(Debug, Default)]
pub struct Window {
    state: Mutex<State>,
    blocking: Condvar,
    notify: Notify,
}

#[derive(Debug, Default)]
struct State {
    limited: bool,
    closed: bool,
    outstanding: u64,
}

/// What taking credit decided.
enum Take {
    Granted,
    Closed,
    Wait,
}

impl Window {
    /// A window that limits output (`limited`, protocol 2) or does not.
    pub fn new(limited: bool) -> Self {
        Self {
            state: Mutex::new(State {
                limited,
                ..State::default()
            }),
            ..Self::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(state: &mut State, bytes: u64) -> Take {
        if state.closed {
            Take::Closed
        } else if !state.limited {
            Take::Granted
        } else if state.outstanding + bytes <= CALL_WINDOW || state.outstanding == 0 {
            state.outstanding += bytes;
            Take::Granted
        } else {
            Take::Wait
        }
    }

    fn changed(&self) {
        self.blocking.notify_all();
        self.notify.notify_waiters();
    }

    /// Wait until `bytes` may be sent and count them; false if the call was
    /// abandoned (nothing more should be sent).
    pub async fn acquire(&self, bytes: u64) -> bool {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let take = Self::take(&mut self.lock(), bytes);
            match take {
                Take::Granted => return true,
                Take::Closed => return false,
                Take::Wait => notified.await,
            }
        }
    }

    /// Like [`Window::acquire`], for blocking threads.
    pub fn blocking_acquire(&self, bytes: u64) -> bool {
        let mut state = self.lock();
        loop {
            match Self::take(&mut state, bytes) {
                Take::Granted => return true,
                Take::Closed => return false,
                Take::Wait => {
                    state = self.blocking.wait(state).unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }

    /// The host consumed `bytes`.
    pub fn credit(&self, bytes: u64) {
        let mut state = self.lock();
        state.outstanding = state.outstanding.saturating_sub(bytes);
        drop(state);
        self.changed();
    }

    /// Stop limiting (the host that would credit is gone).
    pub fn unlimit(&self) {
        self.lock().limited = false;
        self.changed();
    }

    /// The call was abandoned: producers stop.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed();
    }

    /// Bytes sent and not yet credited.
    pub fn outstanding(&self) -> u64 {
        self.lock().outstanding
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_full_window_waits_for_credit() {
        let w = Arc::new(Window::new(true));
        assert!(w.acquire(CALL_WINDOW - 10).await);
        assert!(w.acquire(10).await);
        let waiter = tokio::spawn({
            let w = w.clone();
            async move { w.acquire(5).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        w.credit(5);
        assert!(waiter.await.unwrap());
        assert_eq!(w.outstanding(), CALL_WINDOW);
    }

    #[tokio::test]
    async fn unlimit_and_close_release_waiters() {
        let w = Arc::new(Window::new(true));
        assert!(w.acquire(CALL_WINDOW).await);
        let blocked = std::thread::spawn({
            let w = w.clone();
            move || w.blocking_acquire(1)
        });
        let waiter = tokio::spawn({
            let w = w.clone();
            async move { w.acquire(1).await }
        });
        w.unlimit();
        assert!(waiter.await.unwrap());
        assert!(blocked.join().unwrap());
        w.close();
        assert!(!w.acquire(1).await);
        assert!(!w.blocking_acquire(1));
        // An unlimited window never waits.
        let free = Window::new(false);
        assert!(free.acquire(CALL_WINDOW * 4).await);
        assert_eq!(free.outstanding(), 0);
    }
}
