//! What a running call may use, whichever service runs it.

use std::sync::atomic::AtomicI32;
use std::sync::Arc;

use nullspace_guest_proto::CallId;

use super::state::GuestState;
use crate::serve::calls::Cancel;
use crate::serve::input::InputRx;
use crate::serve::outbox::Outbox;

/// Everything a running call may use.
#[derive(Debug)]
pub struct CallCtx {
    /// The call's id.
    pub id: CallId,
    /// Where its frames go (data frames within its credit window).
    pub out: Outbox,
    /// Its `input` frames, for calls that take input.
    pub input: Option<InputRx>,
    /// Process group of a running `exec` (0 until spawned), for `signal` frames.
    pub pgid: Arc<AtomicI32>,
    /// Set when the call is cancelled (or, for a viewer, its host went away).
    pub cancel: Cancel,
    /// Guest-wide state.
    pub state: Arc<GuestState>,
}
