//! Idle upstream connections of the preview proxy, kept per machine port so a
//! keep-alive client does not cost a new connection into the guest per request.
//! A machine's connections are dropped whenever it leaves `running` (its
//! network goes with its VM), and any connection idle for [`IDLE_TIMEOUT`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use hyper::client::conn::http1::SendRequest;
use nullspace_types::MachineId;

/// Most idle connections kept per machine port.
const IDLE_PER_PORT: usize = 32;

/// How long a connection may wait unused before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Idle connections by machine port, each with when it became idle.
type Idle = HashMap<(MachineId, u16), Vec<(Instant, SendRequest<Body>)>>;

/// The pool.
#[derive(Default)]
pub struct ProxyPool {
    idle: Mutex<Idle>,
}

impl std::fmt::Debug for ProxyPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyPool").finish_non_exhaustive()
    }
}

impl ProxyPool {
    /// An idle connection to port `port` of machine `id` ready for a request.
    pub fn take(&self, id: &MachineId, port: u16) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().expect("pool lock");
        let list = idle.get_mut(&(id.clone(), port))?;
        list.retain(|(_, s)| !s.is_closed());
        let at = list.iter().position(|(_, s)| s.is_ready())?;
        Some(list.swap_remove(at).1)
    }

    /// Keep `sender` for the next request (it becomes ready once its answer has
    /// been read to the end).
    pub fn give(&self, id: &MachineId, port: u16, sender: SendRequest<Body>) {
        let mut idle = self.idle.lock().expect("pool lock");
        let list = idle.entry((id.clone(), port)).or_default();
        list.retain(|(_, s)| !s.is_closed());
        if list.len() < IDLE_PER_PORT {
            list.push((Instant::now(), sender));
        }
    }

    /// Close connections idle since before `now - IDLE_TIMEOUT` (and closed
    /// ones); returns how many went.
    pub fn sweep(&self, now: Instant) -> usize {
        let mut idle = self.idle.lock().expect("pool lock");
        let mut gone = 0;
        idle.retain(|_, list| {
            let before = list.len();
            list.retain(|(since, s)| !s.is_closed() && now.duration_since(*since) < IDLE_TIMEOUT);
            gone += before - list.len();
            !list.is_empty()
        });
        gone
    }

    /// Drop every connection of machine `id`.
    pub fn forget(&self, id: &MachineId) {
        self.idle
            .lock()
            .expect("pool lock")
            .retain(|(m, _), _| m != id);
    }

    /// Idle connections held, over all machines.
    pub fn len(&self) -> usize {
        self.idle
            .lock()
            .expect("pool lock")
            .values()
            .map(Vec::len)
            .sum()
    }

    /// Whether no connection is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
