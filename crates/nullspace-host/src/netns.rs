//! Per-machine network: a namespace holding the guest's tap, a veth to the host,
//! and NAT so the guest can reach what the host can route to.
//!
//! Every guest sees the same inside addresses (guest `10.0.2.2`, gateway
//! `10.0.2.1` on `tap0`) because each lives in its own namespace. The namespace
//! reaches the host over a veth pair numbered from the machine's slot in
//! `10.200.0.0/16` (one /30 per slot).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::cmd::{run, CmdError};

/// Name of the tap device inside every machine namespace.
pub const TAP: &str = "tap0";
/// Address of the guest NIC.
pub const GUEST_IP: &str = "10.0.2.2/24";
/// Gateway address (the tap) seen by the guest.
pub const GATEWAY: &str = "10.0.2.1";
/// MAC of every guest NIC (each guest is alone on its segment).
pub const GUEST_MAC: &str = "02:4e:53:00:00:02";
/// MAC of every namespace's tap, the guest's gateway: the same in every
/// namespace, so a guest resumed or restored in a new one keeps a valid
/// neighbour entry for its gateway.
pub const GATEWAY_MAC: &str = "02:4e:53:00:00:01";
/// Number of slots (one /30 each in 10.200.0.0/16).
const SLOTS: u32 = 16384;
/// Prefix of namespace names made by Nullspace.
pub const NETNS_PREFIX: &str = "nullspace-";

/// Why the network of a machine could not be set up or removed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// All network slots are in use.
    #[error("no free network slot (all {SLOTS} in use)")]
    Exhausted,
    /// A host tool failed.
    #[error(transparent)]
    Cmd(#[from] CmdError),
    /// Enabling forwarding failed.
    #[error("enable IPv4 forwarding: {0}")]
    Forwarding(std::io::Error),
}

/// Allocator of network slots.
#[derive(Debug, Default)]
pub struct Slots {
    used: Mutex<BTreeSet<u32>>,
}

/// The slots of this process (every runtime in it shares them).
pub fn process_slots() -> std::sync::Arc<Slots> {
    static SLOTS_OF_PROCESS: std::sync::OnceLock<std::sync::Arc<Slots>> =
        std::sync::OnceLock::new();
    SLOTS_OF_PROCESS.get_or_init(Default::default).clone()
}

impl Slots {
    fn take(&self) -> Result<u32, NetError> {
        let mut used = self.used.lock().expect("slots lock");
        // Skip slots whose veth exists: another process (or a crashed one) holds them.
        let slot = (0..SLOTS)
            .find(|s| {
                !used.contains(s)
                    && !PathBuf::from("/sys/class/net")
                        .join(format!("nsv{s}"))
                        .exists()
            })
            .ok_or(NetError::Exhausted)?;
        used.insert(slot);
        Ok(slot)
    }

    fn give_back(&self, slot: u32) {
        self.used.lock().expect("slots lock").remove(&slot);
    }

    /// Mark `slot` as used (a machine taken over from an earlier process).
    pub fn claim(&self, slot: u32) {
        self.used.lock().expect("slots lock").insert(slot);
    }

    /// Number of slots in use.
    pub fn in_use(&self) -> usize {
        self.used.lock().expect("slots lock").len()
    }
}

/// The host and namespace ends of slot `slot`'s /30.
fn veth_addrs(slot: u32) -> (Ipv4Addr, Ipv4Addr) {
    let base = u32::from(Ipv4Addr::new(10, 200, 0, 0)) + slot * 4;
    (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
}

/// A machine's network namespace and its devices.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MachineNet {
    /// Namespace name (under `/run/netns`).
    pub name: String,
    /// Slot number.
    pub slot: u32,
    /// Host end of the veth pair.
    pub host_veth: String,
}

impl MachineNet {
    /// Path of the namespace file, for `setns`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Create the namespace, tap, veth pair, routes and NAT for machine `key`.
    pub async fn create(slots: &Slots, key: &str) -> Result<Self, NetError> {
        let mut attempt = 0;
        loop {
            let slot = slots.take()?;
            let net = MachineNet {
                name: format!("{NETNS_PREFIX}{key}"),
                slot,
                host_veth: format!("nsv{slot}"),
            };
            match net.setup().await {
                Ok(()) => return Ok(net),
                // Another process took the same slot between our check and the
                // veth's creation: the veth is theirs, so remove only our
                // namespace and try another slot.
                Err(NetError::Cmd(e)) if e.detail.contains("File exists") && attempt < 8 => {
                    attempt += 1;
                    if net.path().exists() {
                        let _ = run("ip", ["netns", "del", &net.name], None, None).await;
                    }
                    slots.give_back(slot);
                    tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
                }
                Err(e) => {
                    let _ = net.delete(slots).await;
                    return Err(e);
                }
            }
        }
    }

    async fn setup(&self) -> Result<(), NetError> {
        let (host_ip, ns_ip) = veth_addrs(self.slot);
        let root = format!(
            "netns add {name}\n\
             link add {veth} type veth peer name veth0 netns {name}\n\
             addr add {host_ip}/30 dev {veth}\n\
             link set {veth} up\n",
            name = self.name,
            veth = self.host_veth,
        );
        run("ip", ["-batch", "-"], Some(&root), None).await?;
        let inner = format!(
            "link set lo up\n\
             link set veth0 up\n\
             addr add {ns_ip}/30 dev veth0\n\
             route add default via {host_ip}\n\
             tuntap add dev {TAP} mode tap\n\
             link set {TAP} address {GATEWAY_MAC}\n\
             addr add {GATEWAY}/24 dev {TAP}\n\
             link set {TAP} up\n"
        );
        run("ip", ["-batch", "-"], Some(&inner), Some(&self.path())).await?;
        let path = self.path();
        tokio::task::spawn_blocking(move || enable_forwarding(Some(&path)))
            .await
            .expect("forwarding task")?;
        let nat = "table ip nullspace {\n chain postrouting {\n  type nat hook postrouting priority srcnat;\n  oifname \"veth0\" masquerade\n }\n}\n";
        run("nft", ["-f", "-"], Some(nat), Some(&self.path())).await?;
        Ok(())
    }

    /// Delete the namespace (and with it the tap and both veth ends) and free the slot.
    pub async fn delete(&self, slots: &Slots) -> Result<(), NetError> {
        let result = if self.path().exists() {
            run("ip", ["netns", "del", &self.name], None, None)
                .await
                .map(drop)
        } else {
            Ok(())
        };
        // The host end goes with the namespace; remove it explicitly if it lingers.
        if PathBuf::from("/sys/class/net")
            .join(&self.host_veth)
            .exists()
        {
            let _ = run("ip", ["link", "del", &self.host_veth], None, None).await;
        }
        slots.give_back(self.slot);
        Ok(result?)
    }
}

impl MachineNet {
    /// [`MachineNet::delete`] without an async runtime (for `Drop` paths).
    pub fn delete_blocking(&self, slots: &Slots) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        if PathBuf::from("/sys/class/net")
            .join(&self.host_veth)
            .exists()
        {
            // The veth may vanish on its own between the check and the delete.
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &self.host_veth])
                .stderr(std::process::Stdio::null())
                .status();
        }
        slots.give_back(self.slot);
    }
}

/// Turn on IPv4 forwarding in the namespace at `netns` (or the host's).
fn enable_forwarding(netns: Option<&std::path::Path>) -> Result<(), NetError> {
    let write = || std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
    match netns {
        None => write().map_err(NetError::Forwarding),
        Some(path) => {
            let path = path.to_owned();
            // A fresh thread enters the namespace so the caller's thread is untouched.
            std::thread::spawn(move || {
                let f = std::fs::File::open(&path).map_err(NetError::Forwarding)?;
                use std::os::fd::AsRawFd;
                // SAFETY: setns(2) on a valid open namespace descriptor; it only
                // changes this short-lived thread's network namespace.
                if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(NetError::Forwarding(std::io::Error::last_os_error()));
                }
                write().map_err(NetError::Forwarding)
            })
            .join()
            .expect("forwarding thread")
        }
    }
}

/// Address of the guest NIC without its prefix length.
pub const GUEST_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

/// Open a TCP connection to `port` of the guest, from inside the namespace at
/// `netns`, so the host reaches guest ports without any route or forwarding.
pub async fn connect_guest(
    netns: &std::path::Path,
    port: u16,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = socket_in(netns.to_owned()).await?;
    socket
        .connect(std::net::SocketAddr::from((GUEST_ADDR, port)))
        .await
}

/// A TCP socket made inside the namespace at `netns` (a socket belongs to the
/// namespace it was made in, wherever it is used after).
async fn socket_in(netns: PathBuf) -> std::io::Result<tokio::net::TcpSocket> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A fresh thread enters the namespace so no runtime thread ever changes its own.
    std::thread::Builder::new()
        .name("netns-socket".into())
        .spawn(move || {
            let made = (|| {
                let f = std::fs::File::open(&netns)?;
                use std::os::fd::AsRawFd;
                // SAFETY: setns(2) on a valid open namespace descriptor; it only
                // changes this short-lived thread's network namespace.
                if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.set_nodelay(true)?;
                Ok(socket)
            })();
            let _ = tx.send(made);
        })?;
    rx.await
        .map_err(|_| std::io::Error::other("namespace socket thread ended"))?
}

/// Host-wide egress: forwarding on, and masquerade of machine traffic leaving
/// the host. Idempotent; failures are logged (machines then have no egress).
pub async fn setup_host_egress() {
    if let Err(e) = enable_forwarding(None) {
        tracing::warn!(error = %e, "machines will have no egress");
        return;
    }
    let rules = "table ip nullspace\ndelete table ip nullspace\n\
        table ip nullspace {\n\
         chain postrouting {\n  type nat hook postrouting priority srcnat;\n  ip saddr 10.200.0.0/16 oifname != \"nsv*\" masquerade\n }\n\
         chain forward {\n  type filter hook forward priority filter - 1;\n  ip saddr 10.200.0.0/16 accept\n  ip daddr 10.200.0.0/16 ct state established,related accept\n }\n\
        }\n";
    if let Err(e) = run("nft", ["-f", "-"], Some(rules), None).await {
        tracing::warn!(error = %e, "machines will have no egress");
    }
}

/// The tag naming what the runtime of `data_dir` makes on the host (its
/// namespaces), so that a start or stop can tell its own leftovers from those of
/// other data directories (a user's server beside the tests).
pub fn owner_tag(data_dir: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    let digest = Sha256::digest(dir.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..4])
}

/// Names of namespaces that Nullspace made and that still exist.
pub fn leftover_namespaces() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(NETNS_PREFIX))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_addresses_are_disjoint_30s() {
        assert_eq!(
            veth_addrs(0),
            ("10.200.0.1".parse().unwrap(), "10.200.0.2".parse().unwrap())
        );
        assert_eq!(veth_addrs(64).0, "10.200.1.1".parse::<Ipv4Addr>().unwrap());
        assert_eq!(
            veth_addrs(SLOTS - 1).1,
            "10.200.255.254".parse::<Ipv4Addr>().unwrap()
        );
    }

    #[test]
    fn slots_are_reused_lowest_first() {
        // Slots whose veth exists belong to someone else (a server running on
        // this host), so only the order among ours is known.
        let s = Slots::default();
        let first = s.take().unwrap();
        let second = s.take().unwrap();
        assert!(second > first);
        s.give_back(first);
        assert_eq!(s.take().unwrap(), first);
        assert_eq!(s.in_use(), 2);
    }

    #[test]
    fn owner_tags_differ_by_data_dir() {
        let a = owner_tag(std::path::Path::new("/var/lib/nullspace"));
        assert_eq!(a.len(), 8);
        assert_eq!(a, owner_tag(std::path::Path::new("/var/lib/nullspace")));
        assert_ne!(
            a,
            owner_tag(std::path::Path::new("/var/lib/nullspace-test"))
        );
    }
}
