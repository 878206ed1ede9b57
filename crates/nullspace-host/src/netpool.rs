//! A small pool of ready machine networks, so creating a machine does not wait
//! for namespace, veth, tap and NAT set-up (tens of milliseconds of tool runs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::netns::{MachineNet, NetError, Slots};

/// How long closing waits for a refill in flight.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Ready networks, refilled in the background after each take.
pub struct NetPool {
    slots: Arc<Slots>,
    owner: String,
    ready: Mutex<Vec<MachineNet>>,
    size: usize,
    refilling: AtomicBool,
    closed: AtomicBool,
}

impl std::fmt::Debug for NetPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetPool")
            .field("size", &self.size)
            .field("ready", &self.ready.lock().expect("pool lock").len())
            .finish()
    }
}

/// Namespace key `<owner>-<kind><creator pid>x<random>`: the owner tag says
/// which data directory's runtime made it, the pid lets a later process find
/// namespaces whose creator died without removing them.
pub fn netns_key(owner: &str, kind: char) -> String {
    let mut rng = rand::thread_rng();
    let body: String = (0..8)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)]))
        .collect();
    format!("{owner}-{kind}{}x{body}", std::process::id())
}

/// Owner tag and creator pid of a namespace name made by [`netns_key`].
fn owner_and_creator(netns: &str) -> Option<(&str, u32)> {
    let rest = netns.strip_prefix(crate::netns::NETNS_PREFIX)?;
    let (owner, rest) = rest.split_once('-')?;
    let rest = rest.get(1..)?;
    Some((owner, rest.split_once('x')?.0.parse().ok()?))
}

/// Delete the namespaces of `owner` whose creating process is gone (after a
/// crash), except those in `keep` (machines to take over); returns their names.
pub async fn reap_orphans(owner: &str, keep: &std::collections::HashSet<String>) -> Vec<String> {
    let mut reaped = Vec::new();
    for name in crate::netns::leftover_namespaces() {
        if keep.contains(&name) {
            continue;
        }
        let Some((tag, pid)) = owner_and_creator(&name) else {
            continue;
        };
        // A crashed creator may linger as a zombie until its parent reaps it.
        if tag != owner || nullspace_vmm::process_alive(pid) {
            continue;
        }
        match crate::cmd::run("ip", ["netns", "del", name.as_str()], None, None).await {
            Ok(_) => reaped.push(name),
            Err(e) => tracing::warn!(netns = %name, error = %e, "cannot remove orphaned namespace"),
        }
    }
    reaped
}

impl NetPool {
    /// A pool keeping `size` networks ready (0 disables pooling), named for `owner`.
    pub fn new(slots: Arc<Slots>, size: usize, owner: &str) -> Arc<Self> {
        Arc::new(Self {
            slots,
            owner: owner.to_owned(),
            ready: Mutex::default(),
            size,
            refilling: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        })
    }

    /// A network for a new machine: a ready one, or one made now if none is.
    pub async fn take(self: &Arc<Self>) -> Result<MachineNet, NetError> {
        let ready = self.ready.lock().expect("pool lock").pop();
        let net = match ready {
            Some(net) => Ok(net),
            None => MachineNet::create(&self.slots, &netns_key(&self.owner, 'p')).await,
        };
        self.refill();
        net
    }

    /// Start filling the pool in the background, unless a fill is running.
    pub fn refill(self: &Arc<Self>) {
        if self.size == 0
            || self.closed.load(Ordering::SeqCst)
            || self.refilling.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            while !pool.closed.load(Ordering::SeqCst)
                && pool.ready.lock().expect("pool lock").len() < pool.size
            {
                match MachineNet::create(&pool.slots, &netns_key(&pool.owner, 'p')).await {
                    Ok(net) => pool.ready.lock().expect("pool lock").push(net),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot fill the network pool");
                        break;
                    }
                }
            }
            pool.refilling.store(false, Ordering::SeqCst);
        });
    }

    /// Stop refilling and delete every pooled network, without an async runtime
    /// (for `Drop`). A refill in flight is waited for, up to a bound.
    pub fn close_blocking(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + CLOSE_WAIT;
        while self.refilling.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.refilling.load(Ordering::SeqCst) {
            tracing::warn!("a network pool refill is still running; it may leave a namespace");
        }
        for net in self.ready.lock().expect("pool lock").drain(..) {
            net.delete_blocking(&self.slots);
        }
    }

    /// Namespace names of the networks ready now.
    pub fn ready_names(&self) -> Vec<String> {
        self.ready
            .lock()
            .expect("pool lock")
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// Number of networks ready now.
    pub fn ready(&self) -> usize {
        self.ready.lock().expect("pool lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_owner_and_creator() {
        let name = format!(
            "{}{}",
            crate::netns::NETNS_PREFIX,
            netns_key("0a1b2c3d", 'p')
        );
        assert_eq!(
            owner_and_creator(&name),
            Some(("0a1b2c3d", std::process::id()))
        );
        let t = format!(
            "{}{}",
            crate::netns::NETNS_PREFIX,
            netns_key("0a1b2c3d", 't')
        );
        assert_eq!(owner_and_creator(&t).map(|o| o.1), Some(std::process::id()));
        assert_eq!(owner_and_creator("nullspace-tplabc"), None);
        assert_eq!(owner_and_creator("other-0a-p12x3"), None);
    }
}
